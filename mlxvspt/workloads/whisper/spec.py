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

Paths: fp16 is not one policy in the two libraries as their users call them.
  library-default  openai-whisper keeps float32 weights (whisper.load_model) and casts them to float16
                   on every call (fp16=True); mlx-whisper holds float16 weights;
  fp16-weights     PyTorch holds float16 weights too (model.half(); LayerNorm's stay float32, as
                   openai-whisper's LayerNorm computes in float32); MLX as its default.
At fp32 both paths hold and compute float32: fp16-weights is n/a there.

Energy (NVIDIA GPUs): NVML's counter read around each clips pass, outside its timed span (measure/energy.py);
the figure is J per audio second pooled over the passes (energy.pooled), n/a with the reason elsewhere.
"""
import time

import numpy as np

from ...measure.check import CheckResult, path_label
from ...measure.devices import FRAMEWORKS, Target, choose
from ...measure.energy import meter
from ...errors import Unavailable
from ...paths import user_input
from ...measure.presets import sizes as preset_sizes
from .. import cross_check, implementation
from . import audio, checkpoint

# Host-bound classes (results.Row.host_bound says what that means); between two one-H100 machines: Whisper's
# rows moved 3-78%.
HOST_BOUND = ("WhisperPhases", "WhisperDecoder", "WhisperClips")

PHASES = ("mel", "encoder", "decoder")
PRECISIONS = ("fp32", "fp16")
PATHS = ("library-default", "fp16-weights")


def path_of(sizes):
    """The path the sizes name; none (a test, the evaluation tool) means how the libraries run by default."""
    return sizes.get("path", PATHS[0])


def unavailable(target, sizes):
    """Why this machine does not run the combination at these sizes (None when it does)."""
    if target.precision not in PRECISIONS:
        return f"whisper runs {' or '.join(PRECISIONS)} (the libraries' fp16 flag), not {target.precision}"
    if path_of(sizes) == "fp16-weights" and target.precision == "fp32":
        return "at fp32 both paths hold and compute float32: the same run as library-default"
    phase = sizes.get("phase", "clips")
    if phase != "clips" and phase not in sizes.get("phases", PHASES):
        return f"the {phase} phase alone is not timed at this preset on the {target.device.upper()} (the clips row times it)"
    if path_of(sizes) == "fp16-weights" and sizes.get("phase") == "mel":
        return "the log-mel front end uses no weights: the same run as library-default"
    if target.device == "cpu" and target.precision == "fp16" and not sizes["cpu_fp16"]:
        return ("float16 on the CPU: openai-whisper's transcribe() itself falls back to float32 there, and "
                "both frameworks run CPU float16 matmuls far slower than float32 (no float16 BLAS); "
                "measured at the tiny preset only")
    try:
        implementation("whisper", target.framework).probe(target)
    except Unavailable as exc:
        return str(exc)
    return None


def expected(target, sizes):
    """What ran() must report. Weights: openai-whisper's default keeps float32 weights; on fp16-weights
    PyTorch holds the compute dtype plus float32 LayerNorm parameters; mlx-whisper holds the compute
    dtype on both paths. Compute: the compute dtype, except the log-mel (float32 in both libraries)."""
    held = {target.dtype_name}
    if target.framework == "torch":
        held = {"float32"} if path_of(sizes) == "library-default" else held | {"float32"}
    return {"weights_dtype": "/".join(sorted(held)),
            "compute_dtype": "float32" if sizes.get("phase") == "mel" else target.dtype_name,
            "state_dtype": None, "compiled": "none", "path": path_of(sizes)}


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
    """The framework's Whisper on the user's --whisper-checkpoint, else the seeded one of sizes['model'],
    its weights held as sizes['path'] says."""
    path = choose("whisper path", path_of(sizes), PATHS)
    dims, arrays = checkpoint.load(user_input("whisper_checkpoint"), sizes["model"])
    return implementation("whisper", target.framework).Whisper(target, dims, arrays, path)


def decode_fixed(whisper, features, tokens):
    """The library's greedy decode of exactly `tokens` tokens per window; any other count is an error."""
    results = whisper.decode(features, fixed_options(tokens, whisper.eot, whisper.model.dims.n_vocab))
    if any(len(r.tokens) != tokens for r in results):
        raise RuntimeError(f"decoding gave {[len(r.tokens) for r in results]} tokens, not {tokens}")
    return results


class Runner:
    def __init__(self, target, whisper, clip_set, tokens, phase, path):
        choose("whisper phase", phase, PHASES + ("clips",))
        self.target, self.whisper, self.tokens, self.phase, self.path = target, whisper, tokens, phase, path
        self.windows = audio.windows(clip_set)
        self.audio_seconds = sum(len(c) for c in clip_set.values()) / audio.RATE
        self.phases = {}
        self.results = []
        self.meter = meter(target)
        self.mel = whisper.mel(self.windows[0]) if phase == "encoder" else None
        self.features = whisper.array(stand_in_features(whisper.model.dims)) if phase == "decoder" else None

    def run_phase(self):
        w, timer = self.whisper, self.target.timer
        if self.phase == "mel":
            with timer(self.phases, "mel"):
                self.mel = w.mel(self.windows[0])
        elif self.phase == "encoder":
            with timer(self.phases, "encoder"):
                self.features = w.encode(self.mel)
        elif self.phase == "decoder":
            with timer(self.phases, "decoder"):
                self.results = decode_fixed(w, self.features, self.tokens)
        else:
            self.results = []
            for window in self.windows:
                with timer(self.phases, "mel"):
                    mel = w.mel(window)
                with timer(self.phases, "encoder"):
                    self.features = w.encode(mel)
                with timer(self.phases, "decoder"):
                    self.results += decode_fixed(w, self.features, self.tokens)

    def step(self):
        """One timed unit, synchronised. Phases clips and decoder return their figures for the track_
        benchmarks: real-time factor (compute s per audio s over the clip set) with the pass's joules and
        audio seconds (pooled into J per audio second), decode ms per token (one window's decode call, the
        library's setup included) and peak memory over the step; mel and encoder return nothing, keeping
        their short timed phases free of the memory counters (the decoder, timed as a time_ row too, of the
        energy counter)."""
        if self.phase in ("mel", "encoder"):
            return self.run_phase()
        self.target.reset_peak_memory()
        if self.phase == "decoder":
            seconds = self.timed_phase()
            return {"peak_memory_bytes": self.target.peak_memory(),
                    "decode_ms_per_token": 1000 * seconds / self.tokens}
        with self.meter.reading() as energy:  # the counter is read outside the timed span
            seconds = self.timed_phase()
        return {"peak_memory_bytes": self.target.peak_memory(), "real_time_factor": seconds / self.audio_seconds,
                "energy_j": energy.total(), "audio_seconds": self.audio_seconds}

    def timed_phase(self):
        """Seconds of one `run_phase`."""
        start = time.perf_counter()
        self.run_phase()
        return time.perf_counter() - start

    def ran(self):
        """After a step, read from the model and the arrays it produced: the parameters' dtypes and the
        compute dtype, that of the encoder output (decoder phase: the stand-in encoder output it reads,
        which both libraries require to match their fp16 flag; mel phase: the log-mel)."""
        produced = self.mel if self.phase == "mel" else self.features
        return {"weights_dtype": "/".join(self.whisper.weight_dtypes()),
                "compute_dtype": self.target.fw.dtype_name(produced), "state_dtype": None,
                "compiled": "none", "path": self.path}


def stand_in_features(dims, seed=0):
    """Encoder-output-shaped float32 values, unit scale like the encoder's final LayerNorm output."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((1, dims.n_audio_ctx, dims.n_audio_state), dtype=np.float32)


def build(target, sizes):
    return Runner(target, model(target, sizes), clips(sizes["clips"]), sizes["tokens"], sizes.get("phase", "clips"),
                  path_of(sizes))


def observe(runner, sizes, earlier):
    """The whole pipeline (phase clips) on the runner's first window, with its own model: {"mel": log-mel as
    (frames, mels), "features": encoder output, "tokens": greedy tokens}, numpy and a list. None for a
    single phase: the check compares the pipeline."""
    if runner.phase != "clips":
        return None
    whisper = runner.whisper
    mel = whisper.mel(runner.windows[0])
    features = whisper.encode(mel)
    tokens = decode_fixed(whisper, features, runner.tokens)[0].tokens
    mel = whisper.numpy(mel)
    return {"mel": mel if runner.target.framework == "mlx" else mel.swapaxes(-1, -2),
            "features": whisper.numpy(features), "tokens": list(tokens)}


def compare(result, observed, sizes, device):
    """MLX against PyTorch on the log-mel of the first window, the encoder output and the greedy tokens."""
    mlx, torch = observed["mlx"], observed["torch"]
    result.output("log-mel of one 30-s window", mlx["mel"], torch["mel"])
    result.output("encoder output", mlx["features"], torch["features"])
    result.equal(f"{sizes['tokens']} greedy tokens", mlx["tokens"], torch["tokens"])


def check(preset="tiny", device="cpu"):
    """On `device`, for every path and precision published there at `preset`: the whole pipeline, as
    `compare` says."""
    sizes = preset_sizes("whisper", preset)
    result = CheckResult("whisper", device)
    for path in PATHS:
        for precision in PRECISIONS:
            chosen = {**sizes, "path": path, "phase": "clips"}
            with result.combination(path_label(path, False), precision):
                reasons = [unavailable(Target(fw, device, precision), chosen) for fw in FRAMEWORKS]
                if any(reasons):
                    raise Unavailable(next(filter(None, reasons)))
                cross_check("whisper", result, chosen, device, precision)
    return result
