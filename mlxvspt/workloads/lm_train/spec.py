"""TransformerLM training (the seed's first benchmark: mlx-examples transformer_lm on PTB).

One timed step = forward + backward + AdamW update on one batch, synchronised, the loss fetched
(as mlx-examples' loop does). Both frameworks start from the same seeded weights and draw the same
batches from one numpy sampler. Sizes: `layers`, `dim`, `heads`, `context`, `batch`, `vocab` (the
user's PTB overrides it with its own), `warmup` (linear warm-up steps), `eval_batches` (batches in one
validation pass), `steps` (steps the cross-check trains), `paths` and `precisions` (what the preset
publishes). Overrides:
- `path`: "seed" (the seed's mirrored code: additive float mask, AdamW as constructed by default) or
  "best" (each framework's documented fast path: the attention kernel's own causal mask, i.e. MLX
  mask="causal" / PyTorch is_causal=True, and PyTorch's fused AdamW on CUDA, foreach elsewhere);
- `compile`: the same scope in both frameworks, forward + backward + optimizer update: mx.compile of
  the whole step (model and optimizer state as its inputs and outputs); torch.compile of the loss
  (forward and, through AOTAutograd, backward) and of the optimizer step with its LR schedule;
- `forward_only`: only validate() runs (PyTorch then has no optimizer state to read back);
- `measure_first_step`: the runner measures the first compiled step in fresh processes (first_step.py),
  at presets whose `first_step_rows` is true (a cold compile costs 1-2 minutes a sample on 2 cores).
Precisions: fp32, tf32 (GPU), bf16 (weights, activations, optimizer state), bf16-mixed (float32
weights and AdamW, bfloat16 matmuls: PyTorch autocast, MLX Linear layers that cast as autocast does, the
embedding and LayerNorms in float32 in both).

The stored number stays a time; `figures` derives tokens/s and the model's TFLOP/s from it, and the
results layer divides that rate by the machine's best measured matmul rate at that precision (MFU).
"""
import functools
import gc
import json
import os

import numpy as np

from ...measure.check import CheckResult, combinations, norm_floor, own_builds, path_label, relative_l2
from ...measure.devices import FRAMEWORKS, Target
from ...errors import Unavailable, UsageError, device_limits
from ...paths import cache_dir
from ...measure.presets import sizes as preset_sizes
from ...measure.weights import cached, seeded
from .. import cross_check, implementation
from . import data

# AdamW as mlx-examples' newer main.py trains it; betas and eps are both frameworks' defaults, written
# out so neither side depends on them. Weight decay is decoupled in both: w *= 1 - lr * weight_decay.
HYPER = {"lr": 3e-4, "weight_decay": 1e-5, "eps": 1e-8, "betas": (0.9, 0.999)}
PATHS = ("seed", "best")
COMPILED = "forward+backward+optimizer"
ITEMSIZE = {"float32": 4, "float16": 2, "bfloat16": 2}
# A step's peak over memory_floor: at `full` on an H100 MLX's peaked at ~70 GiB and PyTorch's at ~25 GiB
# over a float32 floor of 20 GiB (3.5x and 1.25x), so both runners at once need about 5x; in bfloat16
# (floor 11 GiB) 25 + 15 GB, with float32 weights (floor 12.5 GiB) 34 + 20 GB: within 5x too.
TOGETHER = 5


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


def memory_floor(sizes, weights_itemsize, compute_itemsize):
    """Bytes a step needs at the least: weights, gradients and two Adam moments, float32 logits and
    their gradient, and ~10 saved activations of width `dim` per layer. Used to refuse a batch that
    cannot fit (MLX's CPU allocator crashes the process instead of raising) and by `together`."""
    params = sum(int(np.prod(shape)) for shape, _ in parameter_shapes(sizes).values())
    tokens = sizes["batch"] * sizes["context"]
    activations = 10 * sizes["layers"] * tokens * sizes["dim"] * compute_itemsize
    return 4 * params * weights_itemsize + 2 * tokens * sizes["vocab"] * 4 + activations


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
    """Feeds the sampler's batches to a framework Trainer."""

    def __init__(self, sizes, trainer, batches, valid):
        self.sizes, self.trainer, self.batches, self.valid = sizes, trainer, batches, valid
        self.target = trainer.target
        self.losses = []

    def step(self):
        """One training step."""
        inputs, targets = next(self.batches)
        with device_limits("lm_train: a training step"):
            self.losses.append(self.trainer.step(inputs, targets))

    def validate(self):
        """Mean loss over the fixed validation batches (forward only, never compiled)."""
        with device_limits("lm_train: validation"):
            return float(np.mean([self.trainer.evaluate(x, y) for x, y in self.valid]))

    def ran(self):
        """The trainer's read-back (dtypes, compiled scope, optimizer, attention mask) and the path that
        attention mask and optimizer make."""
        ran = self.trainer.ran(self.valid[0][0])
        return {**ran, "path": "best" if ran["attention"] == "causal" else "seed"}


def unavailable(target, sizes):
    """Why this combination is n/a here (None if it can run): preset, precision, device, memory."""
    if target.dtype_name == "float16":
        return "lm_train trains in float32 or bfloat16: float16 weights need loss scaling, which neither has here"
    if target.precision == "tf32" and target.device == "cpu":
        return "TF32 is a GPU matmul mode: on CPU it is the same run as fp32"
    path = sizes.get("path", "seed")
    if path not in sizes.get("paths", PATHS):
        return f"lm_train: path {path!r} is left out at this preset (paths: {', '.join(sizes.get('paths', PATHS))})"
    if sizes.get("measure_first_step") and not sizes.get("first_step_rows"):
        return ("lm_train: the cold first step is left out at this preset (a cold compile takes 1-2 minutes "
                "a sample on a 2-core CPU)")
    if target.precision not in sizes.get("precisions", [target.precision]):
        return f"lm_train: precision {target.precision} is left out at this preset"
    if target.device == "gpu":
        try:
            target.handle
        except Unavailable as exc:
            return str(exc)
    need = memory_floor(sizes, ITEMSIZE[target.weights_dtype_name], ITEMSIZE[target.dtype_name])
    have = available_memory(target)
    if have is not None and need > have:
        return (f"lm_train: batch {sizes['batch']} x context {sizes['context']} needs at least "
                f"{need / 2**30:.1f} GiB; {target.framework} {target.device} has {have / 2**30:.1f} GiB")
    return None


def expected(target, sizes):
    """What ran() must say for this request (`forward_only`, validation: no optimizer state to read)."""
    want = {"weights_dtype": target.weights_dtype_name, "state_dtype": target.weights_dtype_name,
            "compute_dtype": target.dtype_name, "compiled": COMPILED if sizes.get("compile") else "none",
            "path": sizes.get("path", "seed")}
    if sizes.get("forward_only"):
        del want["state_dtype"]
    return want


def build(target, sizes, weights=None):
    """A Runner (or, with `measure_first_step`, a first_step.FirstSteps); `weights` replaces the seeded
    initial weights (the check's test feeds it wrong ones)."""
    validate(sizes)
    if sizes.get("measure_first_step"):
        from .first_step import FirstSteps

        return FirstSteps(target, sizes)
    corpus = data.corpus(sizes)
    sizes = {**sizes, "vocab": corpus.vocab}
    hyper = {**HYPER, "warmup": sizes["warmup"]}
    with device_limits("lm_train: building the model"):
        trainer = implementation("lm_train", target.framework).Trainer(
            target, sizes, initial_weights(sizes) if weights is None else weights, hyper,
            sizes.get("compile", False), path=sizes.get("path", "seed"))
    batches = data.Batches(corpus.train, sizes["batch"], sizes["context"])
    valid = data.validation_batches(corpus.valid, sizes["batch"], sizes["context"], sizes["eval_batches"])
    return Runner(sizes, trainer, batches, valid)


def observe(runner, sizes, earlier):
    """The check's `steps` training steps on a runner just built, left ready to step on: the losses, the
    first step's gradients, the weight updates over the steps, what ran and what was asked. None for the
    runners the check does not compare (validation only; the first compiled step's child processes)."""
    if not isinstance(runner, Runner) or sizes.get("forward_only"):
        return None
    target = runner.target
    matmul_mode = target.matmul_mode()  # first, as asvbench.prepared: its float64 reference wakes BLAS threads
    start, first = runner.trainer.weights(), len(runner.losses)
    runner.step()
    gradients = runner.trainer.gradients()
    for _ in range(sizes["steps"] - 1):
        runner.step()
    end = runner.trainer.weights()
    want = expected(target, sizes)
    if target.precision == "fp32":  # as asvbench.verify: the label promises IEEE float32 matmuls
        want["matmul_mode"] = "ieee"
    return {"losses": runner.losses[first:], "gradients": gradients,
            "updates": {k: end[k] - start[k] for k in end},
            "ran": {**runner.ran(), "matmul_mode": matmul_mode}, "expected": want}


def train(framework, device, precision, sizes, steps, weights=None, reverse_rows=False):
    """A fresh runner's observation over `steps` steps and its final weights, the runner freed (so the next
    build has the device's memory): the check's references, dp_train's one-process training.
    `reverse_rows`: each batch with its rows in reverse order (the same sums, reordered)."""
    target = Target(framework, device, precision).activate()
    runner = build(target, sizes, weights)
    if reverse_rows:
        runner.batches = (tuple(np.ascontiguousarray(a[::-1]) for a in batch) for batch in runner.batches)
    out = {**observe(runner, {**sizes, "steps": steps}, {}), "weights": runner.trainer.weights()}
    del runner
    gc.collect()
    target.release_memory()
    return out


@functools.lru_cache(maxsize=None)
def eager_reference(device, sizes_json, what):
    """PyTorch's eager IEEE float32 training on the same path, once per process: it serves every compile and
    precision of the path. `what`: "gradients" of the first step (how far each framework's own rounding
    moves every tensor), or "reordered updates" over the check's steps with the batch rows reversed (every
    sum over the batch in another order, the same arithmetic). `sizes_json`: reference_key(sizes)."""
    sizes = json.loads(sizes_json)
    if what == "gradients":
        return train("torch", device, "fp32", sizes, 1)["gradients"]
    return train("torch", device, "fp32", sizes, sizes["steps"], reverse_rows=True)["updates"]


def reference_key(sizes):
    """The sizes an eager reference depends on, hashable: compiled or not, the same reference."""
    return json.dumps({**sizes, "compile": False}, sort_keys=True)


def compare(result, observed, sizes, device):
    """One path x compile x precision: what each framework ran, the first-step loss and gradients (every
    tensor), the loss curve and, in fp32, the weight updates over the curve."""
    m, t, steps, precision = observed["mlx"], observed["torch"], sizes["steps"], result.precision
    reference = reordered = repeated = None
    with own_builds(device, precision):  # before any line: a reference out of memory leaves the combination n/a
        if precision == "fp32":
            updates, flips = set_aside_flips(m["updates"], t["updates"])
            # more training runs (each a build and 10 steps of 0.84-0.93 s on an H100 at `full`), only where
            # they can matter: PyTorch's reordered one (once a path) where the updates exceed the flat limit,
            # MLX's second one (20 s a combination, which explains a failure and judges nothing) only where
            # they fail against that reference too
            if not result.tensors_pass(updates, t["updates"]):
                reordered = eager_reference(device, reference_key(sizes), "reordered updates")
                if not result.tensors_pass(updates, t["updates"], reference=reordered):
                    repeated = train("mlx", device, "fp32", sizes, steps)["updates"]
        else:
            reference = eager_reference(device, reference_key(sizes), "gradients")
    for fw, run in (("mlx", m), ("torch", t)):
        wrong = {k: run["ran"].get(k) for k, v in run["expected"].items() if run["ran"].get(k) != v}
        result.require(f"{fw} ran as asked", not wrong, f"wrong: {wrong}" if wrong else
                       ", ".join(f"{k} {run['ran'][k]}" for k in ("weights_dtype", "compute_dtype", "compiled",
                                                                        "matmul_mode")))
    result.loss("first-step loss", m["losses"][0], t["losses"][0])
    result.tensors("first-step gradients", m["gradients"], t["gradients"], reference=reference)
    result.loss_curve(f"loss curve over {steps} steps", m["losses"], t["losses"])
    if precision == "fp32":
        # Only with IEEE float32 gradients: Adam's update m / sqrt(v) is +-lr wherever a gradient is small,
        # so the rounding noise of TF32 or bfloat16 gradients flips whole updates (16% per tensor seen at
        # bf16-mixed, tiny); in pure bfloat16 the update is also below a weight's rounding (2^-8).
        check_updates(result, updates, t["updates"], steps, reordered, repeated, flips)


# Adam's first update of an element is lr x g / |g| = +-lr whatever the gradient's size, so an element whose
# gradient sums to about zero (its terms cancel to rounding) takes the sign of its rounding: at `small` on
# a CPU one element of 1.28 million in the LM's embedding (a row touched once in 10 steps) came out +1.17e-5
# in MLX and -1.16e-5 in PyTorch, and alone put the tensor 0.32% from PyTorch's (flat limit 0.1%). Such
# equal-and-opposite elements are set aside, counted in the line, while they are at most this fraction of
# the updates; more than that is no longer rounding and is judged as it is.
FLIP_FRACTION = 1e-4
FLIP_MAGNITUDE = 0.1  # "equal": |mlx + torch| within 10% of |torch| (both carry the same weight decay)


def set_aside_flips(mlx, torch):
    """(MLX's updates with each element equal and opposite to PyTorch's replaced by PyTorch's, how many were),
    or MLX's as they are and 0 where the names differ or such elements exceed FLIP_FRACTION."""
    if set(mlx) != set(torch):
        return mlx, 0
    kept, flips = {}, 0
    for name, theirs in torch.items():
        mine, theirs = np.asarray(mlx[name]), np.asarray(theirs)
        flip = ((theirs != 0) & (np.sign(mine) == -np.sign(theirs))
                & (np.abs(mine + theirs) <= FLIP_MAGNITUDE * np.abs(theirs)))
        kept[name], flips = np.where(flip, theirs, mine), flips + int(flip.sum())
    if flips > FLIP_FRACTION * sum(np.size(t) for t in torch.values()):
        return mlx, 0
    return kept, flips


def check_updates(result, mlx, torch, steps, reordered=None, repeated=None, flips=0):
    """The fp32 weight updates, each tensor within the flat limit or ROUNDING_MARGIN x the distance of
    PyTorch's updates from `reordered` (its own, sums reordered; `compare` computes it only where a tensor
    exceeds the flat limit, and `repeated` only where one fails against it too). Adam's m / sqrt(v) is +-lr wherever a
    gradient is mostly rounding, so reordered sums grow through 10 steps of the full model: on an H100 MLX's
    and PyTorch's updates were 0.14-0.29% apart (flat limit 0.1%, found at small on a CPU) while their
    first-step gradients agreed to 1e-4 and the loss curves to 7e-7; on a CPU at small, PyTorch with
    reversed rows moved its own embedding update 0.29%, MLX's was 0.43% from it.
    `repeated`: MLX's updates from an identical second run; the line names their distance (MLX's run-to-run
    spread: on an H200 the best path's `embedding.weight` was 0.29% from PyTorch's where PyTorch reordered
    moved 0.002%; whether MLX's own sums vary that much decides what that failure means).
    `flips`: how many equal-and-opposite elements `set_aside_flips` took out of `mlx`, named in the line."""
    note = f"; {flips} equal and opposite element(s) set aside (Adam's +-lr of a gradient at rounding)" if flips else ""
    if repeated is not None:  # per tensor as `tensors` measures it (the same norm floor)
        floor = norm_floor(mlx)
        value, name = max((relative_l2(repeated[k], v, floor), k) for k, v in mlx.items())
        note += (f"; MLX's own distance from an identical second run: {value:.3g} "
                f"({name if value else 'bit-identical'})")
    result.tensors(f"weight updates over {steps} steps", mlx, torch, reference=reordered,
                   reference_is="its updates with the batch rows reversed", note=note)


def together(target, sizes):
    """Whether both frameworks' runners fit the device at once: TOGETHER x the memory floor at the target's
    weight and compute dtypes within its memory. At `full`: 100 GiB in float32 (and tf32), so no on an
    80 GB H100, yes on a 141 GB H200; 56 GiB in bf16 and 62 GiB in bf16-mixed, yes on both."""
    have = available_memory(target)
    floor = memory_floor(sizes, ITEMSIZE[target.weights_dtype_name], ITEMSIZE[target.dtype_name])
    return have is not None and TOGETHER * floor <= have


def check(preset="tiny", device="cpu"):
    """Both frameworks on every path x compile x precision the preset publishes, on `device`, each on builds
    of its own as the benchmarks build them."""
    sizes = preset_sizes("lm_train", preset, device)
    result = CheckResult("lm_train", device)
    for path, compile, precision in combinations(sizes):
        chosen = {**sizes, "path": path, "compile": compile}
        with result.combination(path_label(path, compile), precision):
            reason = next(filter(None, (unavailable(Target(fw, device, precision), chosen) for fw in FRAMEWORKS)),
                          None)
            if reason:
                result.unavailable(reason)
            else:
                cross_check("lm_train", result, chosen, device, precision)
    return result
