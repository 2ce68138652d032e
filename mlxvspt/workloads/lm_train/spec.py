"""TransformerLM training (the seed's first benchmark: mlx-examples transformer_lm on PTB).

One timed step = forward + backward + AdamW update on one batch, synchronised, the loss fetched
(as mlx-examples' loop does). Both frameworks start from the same seeded weights and draw the same
batches from one numpy sampler. Sizes: `layers`, `dim`, `heads`, `context`, `batch`, `vocab` (the
user's PTB overrides it with its own), `warmup` (linear warm-up steps), `eval_batches` (batches in one
validation pass), `steps` (steps the cross-check trains); override `compile` (False/True) selects
mx.compile of the whole step (model and optimizer state as its inputs and outputs) or torch.compile
of the loss (forward and its backward; the optimizer update stays eager).

The stored number stays a time; `figures` derives tokens/s and the model's TFLOP/s from it, and the
results layer divides that rate by the machine's best measured matmul rate at that precision (MFU).
"""
import os
import time

import numpy as np

from ...check import CheckResult
from ...devices import Target
from ...errors import Unavailable, UsageError, device_limits
from ...paths import cache_dir
from ...presets import sizes as preset_sizes
from ...weights import cached, seeded
from .. import implementation
from . import data

# AdamW as mlx-examples' newer main.py trains it; betas and eps are both frameworks' defaults, written
# out so neither side depends on them. Weight decay is decoupled in both: w *= 1 - lr * weight_decay.
HYPER = {"lr": 3e-4, "weight_decay": 1e-5, "eps": 1e-8, "betas": (0.9, 0.999)}
# Cross-check tolerances at float32 (reductions are ordered differently in each framework).
FIRST_LOSS_RTOL = 1e-4
CURVE_RTOL = 1e-4
WEIGHTS_ATOL = 1e-3
ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2}


def validate(sizes):
    dim, heads = sizes["dim"], sizes["heads"]
    if dim % heads or dim % 2 or dim < 4:
        raise UsageError(f"lm_train: dim {dim} must be even, at least 4 and a multiple of heads {heads}")


def parameter_shapes(sizes):
    """{name: (shape, init)}; normal stds match the variance of MLX's default initialisers."""
    v, d, h = sizes["vocab"], sizes["dim"], 4 * sizes["dim"]
    shapes = {"embedding.weight": ((v, d), d**-0.5), "transformer.ln.weight": ((d,), "ones"),
              "transformer.ln.bias": ((d,), "zeros"), "out_proj.weight": ((v, d), (3 * d) ** -0.5),
              "out_proj.bias": ((v,), "zeros")}
    for i in range(sizes["layers"]):
        p = f"transformer.layers.{i}."
        for proj in ("query_proj", "key_proj", "value_proj", "out_proj"):
            shapes[f"{p}attention.{proj}.weight"] = ((d, d), (3 * d) ** -0.5)
        for ln in ("ln1", "ln2"):
            shapes[f"{p}{ln}.weight"] = ((d,), "ones")
            shapes[f"{p}{ln}.bias"] = ((d,), "zeros")
        shapes[f"{p}linear1.weight"] = ((h, d), (3 * d) ** -0.5)
        shapes[f"{p}linear1.bias"] = ((h,), "zeros")
        shapes[f"{p}linear2.weight"] = ((d, h), (3 * h) ** -0.5)
        shapes[f"{p}linear2.bias"] = ((d,), "zeros")
    return shapes


def initial_weights(sizes):
    shapes = parameter_shapes(sizes)
    name = f"weights-{sizes['layers']}x{sizes['dim']}-vocab{sizes['vocab']}.safetensors"
    path = cache_dir() / "lm_train" / name
    return cached(path, lambda: seeded(shapes))


def flops_per_step(sizes):
    """Model matmul FLOPs of one training step: backward = 2x forward; attention counted in full
    (the causal half is not skipped by either framework's kernel here); elementwise ops left out."""
    b, n, d, v = sizes["batch"], sizes["context"], sizes["dim"], sizes["vocab"]
    per_token = sizes["layers"] * (24 * d * d + 4 * n * d) + 2 * d * v
    return 3 * b * n * per_token


def figures(method, params, seconds, sizes):
    """Derived figures of one measured training step: {name: (value, unit)}."""
    if method != "LMTrain.time_step":
        return {}
    flops = flops_per_step(sizes)
    return {"tokens/s": (sizes["batch"] * sizes["context"] / seconds, "tokens/s"),
            "FLOPs per step": (flops / 1e12, "TFLOP per step"), "model rate": (flops / seconds / 1e12, "TFLOP/s")}


def memory_floor(sizes, itemsize):
    """Bytes a step needs at the least: weights, gradients and two Adam moments, float32 logits and
    their gradient, and ~10 saved activations of width `dim` per layer. Used only to refuse a batch
    that cannot fit (MLX's CPU allocator crashes the process instead of raising)."""
    params = sum(int(np.prod(shape)) for shape, _ in parameter_shapes(sizes).values())
    tokens = sizes["batch"] * sizes["context"]
    activations = 10 * sizes["layers"] * tokens * sizes["dim"] * itemsize
    return 4 * params * itemsize + 2 * tokens * sizes["vocab"] * 4 + activations


def available_memory(target):
    """Bytes the target may use: MemAvailable (Linux) or physical memory on CPU; the GPU's size."""
    if target.device != "cpu":
        return implementation("lm_train", target.framework).gpu_memory()
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


class Runner:
    """Feeds the sampler's batches to a framework Trainer; times its first (compiling) step apart."""

    def __init__(self, sizes, trainer, batches, valid):
        self.sizes, self.trainer, self.batches, self.valid = sizes, trainer, batches, valid
        self.losses = []
        self.first_step_seconds = None

    def step(self):
        inputs, targets = next(self.batches)
        start = time.perf_counter()
        with device_limits("lm_train: a training step"):
            self.losses.append(self.trainer.step(inputs, targets))
        if self.first_step_seconds is None:
            self.first_step_seconds = time.perf_counter() - start

    def validate(self):
        """Mean loss over the fixed validation batches (forward only, never compiled)."""
        with device_limits("lm_train: validation"):
            return float(np.mean([self.trainer.evaluate(x, y) for x, y in self.valid]))


def require_memory(target, sizes):
    """Refuse (n/a) a batch that cannot fit, before anything is allocated."""
    need, have = memory_floor(sizes, ITEMSIZE[target.dtype_name]), available_memory(target)
    if have is not None and need > have:
        raise Unavailable(f"lm_train: batch {sizes['batch']} x context {sizes['context']} needs at least "
                          f"{need / 2**30:.1f} GiB; {target.framework} {target.device} has {have / 2**30:.1f} GiB")


def build(target, sizes):
    validate(sizes)
    require_memory(target, sizes)
    corpus = data.corpus(sizes)
    sizes = {**sizes, "vocab": corpus.vocab}
    hyper = {**HYPER, "warmup": sizes["warmup"]}
    with device_limits("lm_train: building the model"):
        trainer = implementation("lm_train", target.framework).Trainer(
            target, sizes, initial_weights(sizes), hyper, sizes.get("compile", False))
    batches = data.Batches(corpus.train, sizes["batch"], sizes["context"])
    valid = data.validation_batches(corpus.valid, sizes["batch"], sizes["context"], sizes["eval_batches"])
    return Runner(sizes, trainer, batches, valid)


def train(framework, sizes, steps):
    """Fresh runner on the CPU at float32: (runner, validation loss before, after `steps` steps)."""
    runner = build(Target(framework, "cpu", "fp32").activate(), sizes)
    before = runner.validate()
    for _ in range(steps):
        runner.step()
    return runner, before, runner.validate()


def check(preset="tiny", device="cpu"):
    sizes = preset_sizes("lm_train", preset)
    result = CheckResult("lm_train")
    runs = {fw: train(fw, sizes, sizes["steps"]) for fw in ("mlx", "torch")}
    (m, m_before, m_after), (t, t_before, t_after) = runs["mlx"], runs["torch"]
    first = abs(m.losses[0] - t.losses[0]) / abs(t.losses[0])
    result.require("first-step loss", first <= FIRST_LOSS_RTOL,
                   f"mlx {m.losses[0]:.6f} torch {t.losses[0]:.6f} (relative diff {first:.1e}, "
                   f"limit {FIRST_LOSS_RTOL:g})")
    result.close(f"loss curve over {len(t.losses)} steps", m.losses, t.losses, atol=0.0, rtol=CURVE_RTOL)
    for fw, before, after in (("mlx", m_before, m_after), ("torch", t_before, t_after)):
        result.require(f"{fw} validation loss falls", after < before, f"{before:.4f} -> {after:.4f}")
    start = initial_weights(m.sizes)
    for fw, runner in (("mlx", m), ("torch", t)):
        moved = max(float(np.max(np.abs(w - start[k]))) for k, w in runner.trainer.weights().items())
        result.require(f"{fw} weights change", moved > 0, f"max |w - w0| {moved:.2e}")
    mw, tw = m.trainer.weights(), t.trainer.weights()
    result.require("same parameter names", sorted(mw) == sorted(tw), f"{len(mw)} mlx, {len(tw)} torch")
    diff = max(float(np.max(np.abs(mw[k] - tw[k]))) for k in mw if k in tw)
    result.require("final weights", diff <= WEIGHTS_ATOL, f"max abs diff {diff:.2e} (atol {WEIGHTS_ATOL:g})")
    return result
