"""Clips for the whisper workload: seeded synthetic speech-like clips (offline default), a user's folder
of wav/flac, or LibriSpeech test-clean fetched with a pinned checksum; plus references and word error rate.

All audio is mono float32 at 16 kHz, the rate both libraries expect.
"""
import re
import shutil
import subprocess
import tarfile
import warnings
import wave
from pathlib import Path

import numpy as np

from ..download import fetch
from ...errors import UsageError

RATE = 16000
WINDOW = 30 * RATE  # both libraries transcribe 30-s windows
SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a")
# LibriSpeech test-clean (2620 utterances, 5.4 h), sha256 from torchaudio's datasets/librispeech.py.
LIBRISPEECH_URL = "https://www.openslr.org/resources/12/test-clean.tar.gz"
LIBRISPEECH_SHA256 = "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"


def synthetic(count, seed=0):
    """{name: clip}: voiced, syllable-modulated harmonics plus noise, with LibriSpeech test-clean-like
    lengths (log-normal around 6 s, 1.3 to 35 s: a few clips need two 30-s windows)."""
    rng = np.random.default_rng(seed)
    clips = {}
    for i in range(count):
        n = int(np.clip(rng.lognormal(np.log(6.0), 0.7), 1.3, 35.0) * RATE)
        t = np.arange(n) / RATE
        pitch = rng.uniform(90, 220) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t))
        phase = 2 * np.pi * np.cumsum(pitch) / RATE
        voiced = sum(np.sin(k * phase) / k for k in range(1, 8))
        envelope = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6)), 0, None)
        clip = voiced * envelope + 0.05 * rng.standard_normal(n)
        clips[f"synthetic-{i:02d}"] = (0.3 * clip / np.max(np.abs(clip))).astype(np.float32)
    return clips


def resample(x, rate):
    """Band-limited FFT resampling to 16 kHz (as scipy.signal.resample): exact for periodic signals,
    no aliasing when downsampling; good enough for speech, and needs nothing beyond numpy."""
    if rate == RATE:
        return x
    n = max(1, round(len(x) * RATE / rate))
    spectrum = np.fft.rfft(x.astype(np.float64))
    return (np.fft.irfft(spectrum[: n // 2 + 1], n) * (n / len(x))).astype(np.float32)


def read_wav(path):
    """16-bit PCM wav via the standard library, mixed to mono, resampled to 16 kHz."""
    try:
        with wave.open(str(path), "rb") as f:
            width, channels, rate, frames = f.getsampwidth(), f.getnchannels(), f.getframerate(), f.readframes(-1)
    except (wave.Error, EOFError) as exc:
        raise UsageError(f"{path}: not a readable wav file ({exc or 'empty'})") from None
    if width != 2:
        raise UsageError(f"{path}: {8 * width}-bit wav; only 16-bit PCM is read (convert with ffmpeg or sox)")
    x = np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0
    x = x.reshape(-1, channels).mean(axis=1)
    if x.size == 0:
        raise UsageError(f"{path}: wav file has no samples")
    return resample(x, rate)


def read_compressed(path):
    """flac/mp3/...: decoded by the ffmpeg command, exactly as whisper.load_audio does."""
    if shutil.which("ffmpeg") is None:
        raise UsageError(f"{path}: reading {path.suffix} needs the ffmpeg command, which is not on PATH "
                         "(install ffmpeg, or convert the clips to 16-bit PCM wav)")
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path), "-f", "s16le", "-ac", "1",
           "-acodec", "pcm_s16le", "-ar", str(RATE), "-"]
    out = subprocess.run(cmd, capture_output=True)
    if out.returncode != 0 or not out.stdout:
        raise UsageError(f"{path}: ffmpeg could not decode it ({out.stderr.decode(errors='replace').strip()[-200:]})")
    return np.frombuffer(out.stdout, "<i2").astype(np.float32) / 32768.0


def read(path):
    path = Path(path)
    return read_wav(path) if path.suffix.lower() == ".wav" else read_compressed(path)


def from_folder(folder, count=None):
    """{name: clip} of the first `count` audio files under `folder` (sorted). An unreadable file is
    skipped with a warning naming it; missing ffmpeg stops with one error; no clip at all is an error."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    clips = {}
    for path in files:
        if count is not None and len(clips) >= count:
            break
        try:
            clips[path.stem] = read(path)
        except UsageError as exc:
            if "ffmpeg command" in str(exc):
                raise
            warnings.warn(f"skipping {exc}", stacklevel=2)
    if not clips:
        raise UsageError(f"--audio {folder}: no readable audio (.wav 16-bit PCM, or {', '.join(SUFFIXES[1:])} "
                         "with ffmpeg) found")
    return clips


def references(folder):
    """{clip name: reference text} from LibriSpeech *.trans.txt files or a <name>.txt beside each clip."""
    refs = {}
    for path in sorted(Path(folder).rglob("*.txt")):
        if path.name.endswith(".trans.txt"):
            for line in path.read_text().splitlines():
                name, _, text = line.partition(" ")
                refs[name] = text
        else:
            refs[path.stem] = path.read_text().strip()
    return refs


def librispeech():
    """Download (pinned sha256) and unpack LibriSpeech test-clean beside the archive; returns the folder to
    pass as --audio (`mlxvspt fetch librispeech`).

    Its clips are flac: reading them needs the ffmpeg command. Members that would land outside the
    destination are refused (tarfile's "data" filter); unpacking goes to a staging folder renamed at the
    end, so an interrupted one is redone, never taken for complete."""
    archive = fetch(LIBRISPEECH_URL, LIBRISPEECH_SHA256)
    target = archive.parent / "librispeech" / "test-clean"
    if target.is_dir():
        return target
    staging = archive.parent / "librispeech" / "unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise UsageError(f"{archive}: cannot unpack it ({exc})") from None
    unpacked = staging / "LibriSpeech" / "test-clean"
    if not unpacked.is_dir():
        raise UsageError(f"{archive}: no LibriSpeech/test-clean folder inside")
    unpacked.rename(target)
    shutil.rmtree(staging)
    return target


def normalise(text):
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_error_rate(hypotheses, refs):
    """Total word edits / total reference words over all clips (lower-cased, punctuation removed)."""
    edits = words = 0
    for hyp, ref in zip(hypotheses, refs):
        h, r = normalise(hyp), normalise(ref)
        row = list(range(len(h) + 1))
        for i, rw in enumerate(r, 1):
            prev, row[0] = row[0], i
            for j, hw in enumerate(h, 1):
                prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (rw != hw))
        edits, words = edits + row[-1], words + len(r)
    return edits / max(words, 1)


def windows(clips):
    """The 30-s windows both libraries transcribe, clip after clip (fixed-length decoding never seeks
    inside a window, so consecutive windows are what transcribe() would feed)."""
    return [clip[start:start + WINDOW] for clip in clips.values() for start in range(0, len(clip), WINDOW)]
