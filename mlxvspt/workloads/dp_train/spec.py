"""Data-parallel training: lm_train's TransformerLM over R ranks, MLX (mlx.launch, NCCL on CUDA, ring
otherwise, nn.average_gradients) vs PyTorch (torchrun, NCCL / gloo, DistributedDataParallel).

The model, seeded weights, hyperparameters and sampler are lm_train's at the same preset; the global
batch (lm_train's `batch`) is split evenly over the ranks, so every R trains the same steps. Sizes
of dp_train itself: `ranks` (the R measured), `untimed_steps` then `timed_steps` (each timed from a
barrier to rank 0's synchronised end), `allreduce_bytes` (the calibration's message sizes, float32
all-sum), `timeout` (seconds a launch may take before it is killed), `precisions`, `compile` (a CPU's
under "cpu").

A run is one launch (see launch.py); rank 0 writes its figures as JSON, and `build` returns a Runner
whose `step()` hands them to the benchmark. Tokens/s, scaling efficiency (t_1 / (R t_R)) and bus
bandwidth (2 (R-1)/R x bytes / t) are derived from the stored times.
"""
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from ...measure.check import CheckResult, norm_floor, path_label, relative_l2, worst
from ...measure.devices import Target
from ...errors import Unavailable
from ...paths import cache_dir, user_input
from ...measure.presets import on_device, sizes as preset_sizes
from ...measure.settings import preset as current_preset
from ...measure.weights import load
from .. import implementation
from ..lm_train import spec as lm_train
from . import launch

CPU_RANKS = 2  # ranks that may share this machine's CPU (the cross-check runs 2 on any CPU)
# Timed rows on a CPU give each rank of the largest R measured this many cores: on a 2-core machine two
# ranks, their threads and the launcher shared the cores, and MLX's ring all-reduce of 64 KiB moved
# between ~0.1 and ~0.7 ms a call from one sample to the next (spread 53%): the scheduler, not the frameworks.
CPU_CORES_PER_RANK = 2
ALLREDUCE_ITERATIONS = 10  # samples of the calibration
# Each sample times back-to-back all-sums of one size moving this many bytes in all (at least one call):
# one call of 64 KiB varied 2-3x from call to call on a 2-core CPU.
ALLREDUCE_BYTES_PER_SAMPLE = 64 << 20
# Cross-check limits on each tensor's update after `steps` steps (relative L2 of w_k - w_0, the worst
# tensor): R ranks against one process of the same framework, and MLX against PyTorch at R ranks.
# Measured at fp32 on a CPU (tiny): 1e-4 or less within a framework, 7e-3 across; a rank that skipped
# the averaging (trained on its half batch) is 0.6 off. tf32/bf16 are scaled by their unit roundoff; on
# two H100s (small, compiled) PyTorch's 2 ranks were 0.056 from its one process at tf32 (its kernels
# differ with the per-rank batch; MLX's 5e-6), bf16 0.017 (MLX 0.016), across frameworks 0.079 and 0.046.
UPDATE_LIMITS = {
    "same": {"fp32": 1e-2, "tf32": 1e-1, "bf16": 2e-1},
    "cross": {"fp32": 5e-2, "tf32": 1e-1, "bf16": 3e-1},
}


def all_sizes(preset, device="cpu"):
    """lm_train's model and batch at the preset under dp_train's own sizes, as published on `device`."""
    return on_device({**preset_sizes("lm_train", preset), **preset_sizes("dp_train", preset)}, device)


def completed(sizes, device):
    """The sizes asv passes (dp_train's and the overrides) under lm_train's, with the device's on top."""
    return on_device({**preset_sizes("lm_train", current_preset()), **sizes}, device)


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


def unavailable(target, sizes, preset=None):
    """Why this combination is n/a here (asked before anything is built), or None."""
    here = all_sizes(preset or current_preset(), target.device)
    where = f"at this preset on the {target.device.upper()}"
    if target.precision not in here["precisions"] and not sizes.get("calibrate"):
        return f"{target.precision} is not measured {where} (measured: {', '.join(here['precisions'])})"
    if sizes["ranks"] not in here["ranks"]:
        return f"{sizes['ranks']} ranks are not measured at this preset"
    if here["batch"] % sizes["ranks"]:
        return f"global batch {here['batch']} does not split evenly over {sizes['ranks']} ranks"
    try:
        require_devices(target, sizes["ranks"], hosts())
    except Unavailable as exc:
        return str(exc)
    return None


def untimed(target, sizes, preset=None):
    """Why a benchmark row cannot be timed here though the combination runs (the check still runs it)."""
    ranks = max(all_sizes(preset or current_preset(), target.device)["ranks"], default=1)
    cores, need = len(os.sched_getaffinity(0)), CPU_CORES_PER_RANK * ranks
    if target.device == "cpu" and cores < need:
        return (f"timed on a CPU with {CPU_CORES_PER_RANK} cores per rank ({need} for {ranks} ranks; {cores} here): "
                "with fewer the ranks share cores and the figures measure the scheduler")
    return None


def expected(target, sizes):
    """What the ranks must report: the group's size and, when training, the weights' dtype and each
    rank's share of the global batch."""
    sizes = completed(sizes, target.device)
    if sizes.get("calibrate"):
        return {"ranks": sizes["ranks"]}
    return {"ranks": sizes["ranks"], "weights_dtype": target.dtype_name, "rank_batch": sizes["batch"] // sizes["ranks"]}


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
              "allreduce_iterations": ALLREDUCE_ITERATIONS, "allreduce_bytes_per_sample": ALLREDUCE_BYTES_PER_SAMPLE}
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
    """The figures of one launch; `step()` returns them summarised for the benchmark, each time figure
    as a list of samples (one per timed step or all-reduce), so one launch gives asv its samples."""

    def __init__(self, sizes, figures):
        self.sizes, self.figures = sizes, figures

    def step(self):
        f, s = self.figures, self.sizes
        summary = {"tokens_per_step": s["batch"] * s["context"], "ranks": f["ranks"],
                   "allreduce_seconds": f["allreduce_seconds"]}
        if "step_seconds" in f:
            timed = f["step_seconds"][s["untimed_steps"]:]
            summary.update(step_seconds=timed, seconds_per_token=[t / summary["tokens_per_step"] for t in timed],
                           peak_memory_bytes=max(f["peak_memory_bytes"]),
                           ranks_identical=len(set(f["weights_digests"])) == 1)
            # The same step times under one name per reader: the row's own scaling reads
            # "scaling_step_seconds", and the R-rank row reads the one-rank launch's as
            # "step_seconds_for_scaling_R".
            summary["scaling_step_seconds"] = timed
            summary.update({f"step_seconds_for_scaling_{r}": timed for r in s["ranks_measured"]})
        return summary

    def ran(self):
        """What the ranks reported, read back there: the group's size and backend, the weights' dtype,
        the rows each rank trained on."""
        return self.figures["ran"]


def build(target, sizes):
    """Launch once: training (untimed + timed steps) or, with sizes['calibrate'], the all-reduce only."""
    sizes = completed(sizes, target.device)
    sizes["ranks_measured"] = all_sizes(current_preset(), target.device)["ranks"]
    calibrate = sizes.get("calibrate", False)
    steps = 0 if calibrate else sizes["untimed_steps"] + sizes["timed_steps"]
    return Runner(sizes, run_ranks(target, sizes, sizes["ranks"], steps, calibrate))


def bus_bandwidth(nbytes, seconds, ranks):
    """Bytes per second each link carries in a ring all-reduce (nccl-tests' busbw)."""
    return 2 * (ranks - 1) / ranks * nbytes / seconds


def figures(method, params, value, sizes):
    """Derived figures of one stored value, for the report: {name: (value, unit)}."""
    if method == "DPTrain.track_seconds_per_token":
        return {"tokens/s": (1 / value, "tokens/s")}
    if method == "DPTrain.track_time_over_ideal":
        return {"scaling efficiency": (1 / value, "fraction")}
    if method == "DPAllReduce.track_allreduce":
        return {"bus bandwidth": (bus_bandwidth(int(params["nbytes"]), value, int(params["ranks"])) / 1e9, "GB/s")}
    return {}


def updates(weights, start):
    return {k: np.asarray(w, np.float64) - start[k] for k, w in weights.items()}


def compare_updates(result, what, a, b, limit):
    """The worst tensor's relative L2 between two runs' updates (w_k - w_0) against `limit`."""
    floor = norm_floor(b)
    gaps = {k: relative_l2(a[k], t, floor) for k, t in b.items()}
    name = worst(gaps)
    return result.record(what, gaps[name] <= limit, gaps[name], limit,
                         f"relative L2 of each tensor's update, worst {name}")


def one_process(framework, device, precision, sizes, steps):
    """lm_train's own trainer (no distributed code) at the whole global batch: the reference weights. Its
    device memory is released before the ranks start: MLX's cache of a full-size fp32 step (~68 GB) left
    the first rank on the same H100 out of memory."""
    return lm_train.train(framework, device, precision, sizes, steps)["weights"]


def check(preset="tiny", device="cpu"):
    """For each precision published on `device` and each R > 1 that fits: after lm_train's `steps`
    steps, weights identical across the ranks of each framework, each framework's R-rank updates
    against its own one-process training at the same global batch, and MLX's against PyTorch's."""
    sizes = all_sizes(preset, device)
    result = CheckResult("dp_train", device)
    steps = sizes["steps"]
    start = lm_train.initial_weights({**sizes, "vocab": lm_train.data.corpus(sizes).vocab})
    for precision in sizes["precisions"]:
        result.at(path_label("default", sizes["compile"]), precision)
        for ranks in (r for r in sizes["ranks"] if r > 1):
            reason = unavailable(Target("mlx", device, precision), {"ranks": ranks}, preset)
            reason = reason or unavailable(Target("torch", device, precision), {"ranks": ranks}, preset)
            if reason:
                result.unavailable(reason)
                continue
            parallel = {}
            with tempfile.TemporaryDirectory() as tmp:
                for fw in ("mlx", "torch"):
                    single = updates(one_process(fw, device, precision, sizes, steps), start)
                    path = Path(tmp) / f"{fw}.safetensors"
                    figures = run_ranks(Target(fw, device, precision).activate(), sizes, ranks, steps, False, path)
                    digests = figures["weights_digests"]
                    result.require(f"{fw} {ranks} ranks: weights identical across ranks", len(set(digests)) == 1,
                                   f"digests {digests}")
                    parallel[fw] = updates(load(path), start)
                    moved = max(float(np.max(np.abs(u))) for u in parallel[fw].values())
                    result.require(f"{fw} {ranks} ranks: weights change", moved > 0, f"max |w - w0| {moved:.2e}")
                    compare_updates(result, f"{fw} {ranks} ranks vs {fw} one process", parallel[fw], single,
                                    UPDATE_LIMITS["same"][precision])
            compare_updates(result, f"mlx vs torch, {ranks} ranks each", parallel["mlx"], parallel["torch"],
                            UPDATE_LIMITS["cross"][precision])
    return result
