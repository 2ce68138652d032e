"""Data-parallel training: lm_train's TransformerLM over R ranks, MLX (mlx.launch, NCCL on CUDA, ring
otherwise, nn.average_gradients) vs PyTorch (torchrun, NCCL / gloo, DistributedDataParallel).

The model, seeded weights, hyperparameters and sampler are lm_train's at the same preset; the global
batch (lm_train's `batch`) is split evenly over the ranks, so every R trains the same steps. Sizes
of dp_train itself: `ranks` (the R measured), `untimed_steps` then `timed_steps` (each timed from a
barrier to rank 0's synchronised end), `allreduce_bytes` (the calibration's message sizes, float32
all-sum), `timeout` (seconds a launch may take before it is killed), `precisions`, `compile`.

A run is one launch (see launch.py); rank 0 writes its figures as JSON, and `build` returns a Runner
whose `step()` hands them to the benchmark. Tokens/s, scaling efficiency (t_1 / (R t_R)) and bus
bandwidth (2 (R-1)/R x bytes / t) are derived from the stored times.
"""
import json
import tempfile
from pathlib import Path

import numpy as np

from ...check import CheckResult
from ...devices import Target
from ...errors import Unavailable
from ...paths import cache_dir, user_input
from ...presets import sizes as preset_sizes
from ...weights import load
from .. import implementation
from ..lm_train import spec as lm_train
from . import launch

CPU_RANKS = 2  # ranks that may share this machine's CPU
ALLREDUCE_ITERATIONS = 10
# Cross-check tolerances at float32 after `steps` steps: the ranks' reductions are ordered differently
# from one process's; across frameworks lm_train's tolerance holds.
SAME_FRAMEWORK_ATOL = 1e-4
CROSS_FRAMEWORK_ATOL = lm_train.WEIGHTS_ATOL


def all_sizes(preset=None):
    """lm_train's model and batch at the preset, under dp_train's own sizes."""
    return {**preset_sizes("lm_train", preset), **preset_sizes("dp_train", preset)}


def hosts():
    path = user_input("hosts")
    return launch.read_hosts(path) if path else None


def require_devices(target, ranks, host_list):
    """Ranks per machine; n/a where that is more than the machine's devices."""
    here = launch.ranks_per_host(ranks, host_list or ["127.0.0.1"])
    if target.device == "cpu":
        have, what = CPU_RANKS, "CPU ranks allowed per machine (CPU_RANKS)"
    else:
        have, what = implementation("dp_train", target.framework).gpu_count(), f"{target.framework} GPUs"
    if here > have:
        raise Unavailable(f"dp_train: {here} ranks per machine, {have} {what} here")
    return here


def run_ranks(target, sizes, ranks, steps, calibrate, keep_weights=None):
    """Launch `ranks` ranks, wait (or kill them at sizes['timeout']), return rank 0's figures."""
    host_list = hosts()
    here = require_devices(target, ranks, host_list)
    if sizes["batch"] % ranks:
        raise Unavailable(f"dp_train: global batch {sizes['batch']} does not split evenly over {ranks} ranks")
    lm_train.initial_weights({**sizes, "vocab": lm_train.data.corpus(sizes).vocab})  # once, before the ranks
    name = f"{target.framework}-{target.device}-{target.precision}-r{ranks}" + ("-allreduce" if calibrate else "")
    folder = cache_dir() / "dp_train" / name
    folder.mkdir(parents=True, exist_ok=True)
    figures = folder / "figures.json"
    figures.unlink(missing_ok=True)
    config = {"framework": target.framework, "device": target.device, "precision": target.precision,
              "ranks": ranks, "sizes": sizes, "steps": steps, "figures": str(figures),
              "weights": str(keep_weights) if keep_weights else None,
              "allreduce_bytes": sizes["allreduce_bytes"] if calibrate and ranks > 1 else [],
              "allreduce_iterations": ALLREDUCE_ITERATIONS}
    dist = implementation("dp_train", target.framework)
    env = launch.rank_environment(here)
    port = launch.free_port(ranks if target.framework == "mlx" else 1)
    args = [json.dumps(config, separators=(",", ":"))]
    commands = (launch.mlx_commands(dist.backend(target), ranks, port, host_list, env, args)
                if target.framework == "mlx" else launch.torch_commands(ranks, port, host_list, env, args))
    what = f"dp_train: {target.framework} {target.device} {ranks} ranks"
    codes = launch.supervise(commands, env, sizes["timeout"], folder / "launch.log", what)
    if any(codes) or not figures.is_file():
        code = next((f" (launcher exit code {c})" for c in codes if c), "")
        raise launch.LaunchError(f"{what} failed{code}: {launch.failure_line(folder / 'launch.log')}")
    return json.loads(figures.read_text())


class Runner:
    """The figures of one launch; `step()` returns them summarised for the benchmark."""

    def __init__(self, sizes, figures):
        self.sizes, self.figures = sizes, figures

    def step(self):
        f, s = self.figures, self.sizes
        summary = {"tokens_per_step": s["batch"] * s["context"], "ranks": f["ranks"],
                   "allreduce_seconds": f["allreduce_seconds"]}
        if "step_seconds" in f:
            timed = f["step_seconds"][s["untimed_steps"]:]
            summary.update(step_seconds=float(np.median(timed)), step_seconds_spread=float(np.std(timed)),
                           seconds_per_token=float(np.median(timed)) / summary["tokens_per_step"],
                           peak_memory_bytes=max(f["peak_memory_bytes"]),
                           ranks_identical=len(set(f["weights_digests"])) == 1)
        return summary


def build(target, sizes):
    """Launch once: training (untimed + timed steps) or, with sizes['calibrate'], the all-reduce only."""
    sizes = {**preset_sizes("lm_train"), **sizes}
    calibrate = sizes.get("calibrate", False)
    steps = 0 if calibrate else sizes["untimed_steps"] + sizes["timed_steps"]
    return Runner(sizes, run_ranks(target, sizes, sizes["ranks"], steps, calibrate))


def scaling_efficiency(single_step_seconds, step_seconds, ranks):
    """Fraction of ideal strong scaling: 1 when R ranks take 1/R of one rank's step time."""
    return single_step_seconds / (ranks * step_seconds)


def bus_bandwidth(nbytes, seconds, ranks):
    """Bytes per second each link carries in a ring all-reduce (nccl-tests' busbw)."""
    return 2 * (ranks - 1) / ranks * nbytes / seconds


def flat(weights):
    return np.concatenate([weights[k].ravel() for k in sorted(weights)])


def check(preset="tiny"):
    """On the CPU at float32: R ranks (each R > 1 of the preset that fits) against one process at
    the same global batch (lm_train's own trainer), within and across frameworks."""
    sizes = {**all_sizes(preset), "compile": False}
    counts = [r for r in sizes["ranks"] if 1 < r <= CPU_RANKS]
    if not counts:
        raise Unavailable(f"dp_train: no rank count in {sizes['ranks']} fits {CPU_RANKS} CPU ranks")
    steps = sizes["steps"]
    result = CheckResult("dp_train")
    single = {fw: lm_train.train(fw, sizes, steps)[0].trainer.weights() for fw in ("mlx", "torch")}
    start = flat(lm_train.initial_weights({**sizes, "vocab": lm_train.data.corpus(sizes).vocab}))
    moved = max(float(np.max(np.abs(flat(w) - start))) for w in single.values())
    result.require(f"weights move in {steps} steps", moved > 2 * CROSS_FRAMEWORK_ATOL,
                   f"max |w - w0| {moved:.2e} (tolerances below are at most {CROSS_FRAMEWORK_ATOL:g})")
    with tempfile.TemporaryDirectory() as tmp:
        for ranks in counts:
            parallel = {}
            for fw in ("mlx", "torch"):
                path = Path(tmp) / f"{fw}-{ranks}.safetensors"
                figures = run_ranks(Target(fw, "cpu", "fp32").activate(), sizes, ranks, steps, False, path)
                digests = figures["weights_digests"]
                result.require(f"{fw} {ranks} ranks: weights identical across ranks", len(set(digests)) == 1,
                               f"digests {digests}")
                parallel[fw] = load(path)
                result.close(f"{fw} {ranks} ranks vs {fw} one process", flat(parallel[fw]), flat(single[fw]),
                             atol=SAME_FRAMEWORK_ATOL)
            result.close(f"mlx vs torch, {ranks} ranks each", flat(parallel["mlx"]), flat(parallel["torch"]),
                         atol=CROSS_FRAMEWORK_ATOL)
    return result
