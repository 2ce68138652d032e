"""Whisper speech-to-text (the seed's third benchmark): openai-whisper on PyTorch vs mlx-whisper on MLX,
the same checkpoint in both (seeded, or the user's converted), the same clips, the same fixed work.

Fixed work per 30-s window: the library's log-mel front end, its encoder, then its greedy decoder for
exactly `tokens` tokens (end-of-text and every other special token suppressed, no timestamps, no
temperature fallback, no prompt from the previous window: transcribe()'s condition_on_previous_text
and no-speech/compression/log-prob thresholds have nothing to act on). The timed unit (`phase`):
  mel | encoder | decoder   that phase for one window, inputs prepared untimed;
  clips                     the whole pipeline over every window of the clip set (the default).
The decoder phase decodes seeded stand-in encoder features (the same array in both frameworks): with a
fixed token count its work does not depend on the values, and MLX on a CPU then skips a ~15 s encoder
pass per benchmark process.
"""
import argparse
import time

import numpy as np

from ...check import CheckResult
from ...devices import Target
from ...errors import Unavailable, UsageError
from ...paths import user_input
from ...presets import sizes as preset_sizes
from .. import implementation
from . import audio, checkpoint

PHASES = ("mel", "encoder", "decoder")
PRECISIONS = ("fp32", "fp16")


def cpu_fp16_reason(device, precision, sizes):
    """Why float16 on a CPU is measured only at the tiny preset (None when the combination runs)."""
    if device == "cpu" and precision == "fp16" and not sizes["cpu_fp16"]:
        return ("float16 on the CPU: openai-whisper's transcribe() itself falls back to float32 there, and "
                "both frameworks run CPU float16 matmuls far slower than float32 (no float16 BLAS); "
                "measured at the tiny preset only")
    return None


def fixed_options(tokens, eot, n_vocab):
    """DecodingOptions (both libraries have the same fields) for exactly `tokens` greedy tokens."""
    return dict(task="transcribe", language="en", temperature=0.0, sample_len=tokens,
                suppress_tokens=list(range(eot, n_vocab)), without_timestamps=True)


def natural_options():
    """Greedy decoding that stops at end-of-text, with the libraries' default token suppression."""
    return dict(task="transcribe", language="en", temperature=0.0, without_timestamps=True)


def clips(count):
    """The user's --audio folder (first `count` files), else seeded synthetic clips."""
    folder = user_input("audio")
    return audio.from_folder(folder, count) if folder else audio.synthetic(count)


def model(target, sizes):
    """The framework's Whisper on the user's --whisper-checkpoint, else the seeded one of sizes['model']."""
    if target.precision not in PRECISIONS:
        raise Unavailable(f"whisper runs {' or '.join(PRECISIONS)} (the libraries' fp16 flag), not {target.precision}")
    impl = implementation("whisper", target.framework)
    impl.probe(target)
    dims, arrays = checkpoint.load(user_input("whisper_checkpoint"), sizes["model"])
    return impl.Whisper(target, dims, arrays)


class Runner:
    def __init__(self, target, whisper, clip_set, tokens, phase="clips"):
        if phase not in PHASES + ("clips",):
            raise UsageError(f"unknown whisper phase {phase!r}; choose one of: {', '.join(PHASES + ('clips',))}")
        self.target, self.whisper, self.tokens, self.phase = target, whisper, tokens, phase
        self.windows = audio.windows(clip_set)
        self.audio_seconds = sum(len(c) for c in clip_set.values()) / audio.RATE
        self.phases = {}
        self.results = []
        self.mel = whisper.mel(self.windows[0]) if phase == "encoder" else None
        self.features = whisper.array(stand_in_features(whisper.model.dims)) if phase == "decoder" else None

    def decode(self, features):
        results = self.whisper.decode(features, fixed_options(self.tokens, self.whisper.eot,
                                                              self.whisper.model.dims.n_vocab))
        if any(len(r.tokens) != self.tokens for r in results):
            raise RuntimeError(f"decoding gave {[len(r.tokens) for r in results]} tokens, not {self.tokens}")
        return results

    def step(self):
        w, timer = self.whisper, self.target.timer
        if self.phase == "mel":
            with timer(self.phases, "mel"):
                w.mel(self.windows[0])
        elif self.phase == "encoder":
            with timer(self.phases, "encoder"):
                w.encode(self.mel)
        elif self.phase == "decoder":
            with timer(self.phases, "decoder"):
                self.results = self.decode(self.features)
        else:
            self.results = []
            for window in self.windows:
                with timer(self.phases, "mel"):
                    mel = w.mel(window)
                with timer(self.phases, "encoder"):
                    features = w.encode(mel)
                with timer(self.phases, "decoder"):
                    self.results += self.decode(features)

    def timed_step(self, phase):
        if self.phase != phase:
            raise ValueError(f"this runner times phase {self.phase!r}, not {phase!r}")
        start = time.perf_counter()
        self.step()
        return time.perf_counter() - start

    def real_time_factor(self):
        """Compute seconds per audio second over the clip set (phase 'clips'); below 1 is faster than real time."""
        return self.timed_step("clips") / self.audio_seconds

    def ms_per_token(self):
        """Milliseconds of one window's decode call (the library's setup and the prompt's step included)
        per generated token (phase 'decoder')."""
        return 1000 * self.timed_step("decoder") / self.tokens


def stand_in_features(dims, seed=0):
    """Encoder-output-shaped float32 values, unit scale like the encoder's final LayerNorm output."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((1, dims.n_audio_ctx, dims.n_audio_state), dtype=np.float32)


def unavailable(target, sizes):
    return cpu_fp16_reason(target.device, target.precision, sizes)


def build(target, sizes):
    return Runner(target, model(target, sizes), clips(sizes["clips"]), sizes["tokens"], sizes.get("phase", "clips"))


def check(preset="tiny", device="cpu"):
    """Log-mel, encoder output and the decoded tokens of the first window, float32 on the CPU."""
    sizes = preset_sizes("whisper", preset)
    window = audio.windows(clips(1))[0]
    out = {}
    for framework in ("mlx", "torch"):
        target = Target(framework, "cpu", "fp32").activate()
        runner = Runner(target, model(target, sizes), {"first": window}, sizes["tokens"])
        mel = runner.whisper.mel(window)
        features = runner.whisper.encode(mel)
        tokens = runner.decode(features)[0].tokens
        out[framework] = (runner.whisper.numpy(mel), runner.whisper.numpy(features), tokens)
    result = CheckResult("whisper")
    result.close("log-mel of one 30-s window", out["mlx"][0], out["torch"][0].swapaxes(-1, -2), atol=1e-4)
    result.close("encoder output", out["mlx"][1], out["torch"][1], atol=2e-3, rtol=1e-3)
    result.equal(f"{sizes['tokens']} greedy tokens", out["mlx"][2], out["torch"][2])
    return result


def evaluate(framework, device="cpu", precision="fp32", count=None):
    """Real transcription: the user's checkpoint on the user's clips, each window decoded until the model
    stops; returns ([(clip, transcript, reference)], word error rate against the references found."""
    folder, weights = user_input("audio"), user_input("whisper_checkpoint")
    if folder is None or weights is None:
        raise UsageError("transcripts need --whisper-checkpoint (a trained model) and --audio (clips with "
                         "LibriSpeech *.trans.txt or <clip>.txt references)")
    target = Target(framework, device, precision).activate()
    whisper = model(target, {"model": None})
    refs = audio.references(folder)
    rows = []
    for name, clip in audio.from_folder(folder, count).items():
        texts = [whisper.decode(whisper.encode(whisper.mel(w)), natural_options())[0].text
                 for w in audio.windows({name: clip})]
        rows.append((name, " ".join(t.strip() for t in texts), refs.get(name)))
    scored = [(text, ref) for _, text, ref in rows if ref is not None]
    wer = audio.word_error_rate(*zip(*scored)) if scored else None
    return rows, wer


def main(argv=None):
    """python -m mlxvspt.workloads.whisper.spec --framework torch (with MLXVSPT_WHISPER_CHECKPOINT, MLXVSPT_AUDIO)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--framework", choices=("mlx", "torch"), default="torch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--clips", type=int)
    args = parser.parse_args(argv)
    rows, wer = evaluate(args.framework, args.device, args.precision, args.clips)
    for name, text, ref in rows:
        print(f"{name}: {text}" + (f"\n{'':{len(name)}}  ref: {ref}" if ref else ""))
    print(f"word error rate: {wer:.2%}" if wer is not None else "word error rate: no references found")


if __name__ == "__main__":
    main()
