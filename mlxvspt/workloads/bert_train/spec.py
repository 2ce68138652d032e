"""BERT-tiny sentence-pair classifier trained on NLI (the seed's second benchmark).

Conneau et al.'s head over a hand-written BERT encoder: each sentence of a pair is padded to `seq`
tokens and encoded alone (pooled [CLS] through dense + tanh), then [u, v, |u-v|, u*v] -> linear ->
contradiction/neutral/entailment, cross-entropy, AdamW (lr 5e-5, bias-corrected in both frameworks,
weight decay 0.01 on every parameter). Both frameworks start from the same seeded weights (LayerNorm
gamma = 1) and see the same pre-tokenised batches in the same order; tokenisation, batching and the
host->framework copy happen in `build`, outside every timing.

Paths (PATHS), each in both frameworks:
- "seed": the mirrored code: each sentence encoded alone, two forwards of batch B, attention as
  matmul + softmax + matmul with an additive padding mask, AdamW as each framework ships it;
- "pairs-batched": as the seed project ran it: both sentences of the pairs in one forward of batch 2B;
- "best": pairs batched, each framework's fused attention kernel (F.scaled_dot_product_attention,
  mx.fast.scaled_dot_product_attention; neither drops attention probabilities, MLX's kernel has no
  dropout) and PyTorch's fused AdamW (MLX has none: its whole-step mx.compile is its fused update).
`compile` wraps the whole step (forward, backward, AdamW update) in torch.compile / mx.compile, on any path.

Precisions: fp32; bf16 = weights, activations and AdamW state in bfloat16; bf16-mixed = float32 weights
and AdamW, bfloat16 compute where autocast puts it (PyTorch autocast; MLX, which has none, computes its
Linear layers and attention matmuls in bfloat16 from the float32 weights and the rest in float32:
workloads/mlx_autocast.py). The loss is float32 in both at every precision.

Timed unit: one training step, synchronised; samples/s = batch / step time. An epoch is
len(pairs) // batch steps (the seed trained `epochs` of them: total time ~ epochs x epoch time);
validation is a forward pass over the dev batches, dropout off. Dropout masks cannot match across
frameworks, so timings train with dropout 0.1 and the cross-check's steps, on the same build before its
warm-up, run with dropout off (`observe`).
"""
import functools
import gc
import json
from dataclasses import dataclass

from ...measure.check import CheckResult, combinations, own_builds, path_label
from ...measure.devices import Target
from ...errors import Unavailable
from ...paths import cache_dir
from ...measure.presets import sizes as preset_sizes
from ...measure.weights import cached, seeded
from .. import cross_check, implementation
from . import data

# Host-bound classes (results.Row.host_bound says what that means); between two one-H100 machines: BERT-tiny's
# 3-18 ms steps and their joules moved 8-49%.
HOST_BOUND = ("BertTrainStep", "BertTrainEnergy", "BertTrainEpoch", "BertTrainValidation")

# path -> (both sentences in one forward of batch 2B, fused attention and optimizer kernels)
PATHS = {"seed": (False, False), "pairs-batched": (True, False), "best": (True, True)}
# What `compile` compiles. Both frameworks wrap the whole `update` (forward, backward, AdamW update). Dynamo
# breaks the graph at zero_grad and backward (AOTAutograd compiles the backward with the forward) and
# traces AdamW's step, except PyTorch's fused AdamW, which it leaves to its own fused kernel.
COMPILED = "forward+backward+optimizer"
COMPILED_FUSED_OPTIMIZER = "forward+backward, optimizer as one fused kernel"
# bf16 on the 2-core CPU (not published there, measured for the record): MLX-bf16 vs PyTorch-bf16 first-step
# gradients differ by 8-23% per attention-projection tensor at `tiny` (depending on the batch) and 12-16% at
# `small` (17-25% under bf16-mixed), above the bf16 tensor limit; each framework's own bf16 gradient is
# 15-24% from the float32 one on those tensors, so the CPU's "MLX 50-70% off" seen before was PyTorch
# training in float32 (issue 13), not MLX.


@dataclass(frozen=True)
class Args:
    vocab: int
    hidden: int
    heads: int
    layers: int
    intermediate: int
    dropout: float
    path: str = "seed"
    positions: int = 512
    token_types: int = 2
    labels: int = len(data.LABELS)
    norm_eps: float = 1e-12
    init_std: float = 0.02
    lr: float = 5e-5
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01

    @property
    def pairs_batched(self):
        return PATHS[self.path][0]

    @property
    def fused(self):
        return PATHS[self.path][1]


def model_args(sizes):
    chosen = {k: sizes[k] for k in ("vocab", "hidden", "heads", "layers", "intermediate", "dropout")}
    return Args(**chosen, path=sizes.get("path", "seed"))


def parameter_shapes(args):
    """{name: (shape, init)} in both frameworks' names; BERT's init: normal(0.02), zero bias, unit gamma."""
    h, std = args.hidden, args.init_std
    shapes = {
        "bert.embeddings.word_embeddings.weight": ((args.vocab, h), std),
        "bert.embeddings.position_embeddings.weight": ((args.positions, h), std),
        "bert.embeddings.token_type_embeddings.weight": ((args.token_types, h), std),
        "bert.embeddings.norm.weight": ((h,), "ones"),
        "bert.embeddings.norm.bias": ((h,), "zeros"),
        "bert.pooler.weight": ((h, h), std),
        "bert.pooler.bias": ((h,), "zeros"),
        "classifier.weight": ((args.labels, 4 * h), std),
        "classifier.bias": ((args.labels,), "zeros"),
    }
    linears = {"attention.query": (h, h), "attention.key": (h, h), "attention.value": (h, h),
               "attention.output": (h, h), "intermediate": (args.intermediate, h),
               "output": (h, args.intermediate)}
    for i in range(args.layers):
        for name, shape in linears.items():
            shapes[f"bert.layers.{i}.{name}.weight"] = (shape, std)
            shapes[f"bert.layers.{i}.{name}.bias"] = ((shape[0],), "zeros")
        for norm in ("attention_norm", "output_norm"):
            shapes[f"bert.layers.{i}.{norm}.weight"] = ((h,), "ones")
            shapes[f"bert.layers.{i}.{norm}.bias"] = ((h,), "zeros")
    return shapes


def initial_weights(args, seed=0):
    name = f"bert_train-v{args.vocab}-h{args.hidden}-a{args.heads}-l{args.layers}-i{args.intermediate}-s{seed}"
    return cached(cache_dir() / "bert_train" / f"{name}.safetensors", lambda: seeded(parameter_shapes(args), seed))


def unavailable(target, sizes):
    """Why this combination cannot run here (None if it can)."""
    if target.dtype_name == "float16":
        return ("bert_train trains in float32 or bfloat16: float16 weights need loss scaling, which neither "
                "implementation has")
    if sizes.get("path", "seed") not in PATHS:
        return f"bert_train has no path {sizes['path']!r} (paths: {', '.join(PATHS)})"
    if sizes.get("compile") and target.framework == "torch" and not sizes["torch_compile"]:
        return ("torch.compile is left out at this preset: inductor needs 1-3 minutes to compile this training "
                "step on a 2-core CPU, more than the preset's time budget")
    return None


def expected(target, sizes):
    """What ran() must report for this request."""
    path = sizes.get("path", "seed")
    compiled = "none"
    if sizes.get("compile"):
        compiled = COMPILED_FUSED_OPTIMIZER if target.framework == "torch" and PATHS[path][1] else COMPILED
    want = {"weights_dtype": target.weights_dtype_name, "compute_dtype": target.dtype_name,
            "state_dtype": target.weights_dtype_name, "compiled": compiled, "path": path}
    if not sizes.get("trains", True):  # validation only: PyTorch creates AdamW's state at the first step
        del want["state_dtype"]
    return want


def build(target, sizes):
    """A Trainer (mlx.py / torch.py) over the preset's pairs on sizes["path"]; sizes["compile"] wraps its step."""
    reason = unavailable(target, sizes)
    if reason:
        raise Unavailable(reason)
    args = model_args(sizes)
    train = data.batches(data.pairs(sizes, "train"), sizes["batch"])
    dev = data.batches(data.pairs(sizes, "dev"), sizes["batch"])
    trainer = implementation("bert_train", target.framework).Trainer
    return trainer(target, args, initial_weights(args), train, dev, compile=sizes.get("compile", False))


def observe(runner, sizes, earlier):
    """`check_steps` steps through the runner's own (compiled) step with dropout off, the runner left to step
    on with its dropout: the first step's loss and gradients, the losses, what ran and what was asked.
    None for a runner that never trains (validation)."""
    if not sizes.get("trains", True):
        return None
    first = len(runner.losses)
    with runner.dropout_off():
        loss, gradients = runner.gradients()
        for _ in range(sizes["check_steps"] - 1):
            runner.step()
    return {"loss": loss, "gradients": gradients, "losses": runner.loss_history()[first:], "ran": runner.ran(),
            "expected": expected(runner.target, sizes)}


def stand_in(framework, sizes):
    """PyTorch's eager step for its compiled one where torch.compile is left out at the preset (the same
    math); None where `framework` runs this combination itself."""
    if framework == "torch" and sizes.get("compile") and not sizes["torch_compile"]:
        return {**sizes, "compile": False}
    return None


@functools.lru_cache(maxsize=None)
def float32_gradients(device, sizes_json):
    """PyTorch's eager IEEE float32 first-step gradients on the same path, dropout off, once per process (it
    serves every compile and precision of the path): how far each framework's own rounding moves every
    tensor (check.CheckResult.tensors). `sizes_json`: reference_key(sizes)."""
    runner = build(Target("torch", device, "fp32").activate(), json.loads(sizes_json))
    with runner.dropout_off():
        return runner.gradients()[1]


def reference_key(sizes):
    """The sizes the float32 reference depends on, hashable: compiled or not, the same reference."""
    return json.dumps({**sizes, "compile": False}, sort_keys=True)


def compare(result, observed, sizes, device):
    """The lines of one combination, MLX against PyTorch at the same precision: the first step's loss and
    the gradient of every tensor, what each ran, the loss over `check_steps` AdamW steps."""
    m, t = observed["mlx"], observed["torch"]
    reference = None
    if result.precision != "fp32":
        with own_builds(device, result.precision):
            reference = float32_gradients(device, reference_key(sizes))
    result.loss("first-step loss", m["loss"], t["loss"])
    result.tensors("first-step gradients", m["gradients"], t["gradients"], reference=reference)
    for framework in ("mlx", "torch"):
        ran_as_asked(result, framework, observed[framework])
    versus = "; torch eager (torch.compile n/a at this preset)" if stand_in("torch", sizes) else ""
    result.loss_curve(f"loss over {sizes['check_steps']} AdamW steps", m["losses"], t["losses"], versus)


def ran_as_asked(result, framework, observation):
    """A line saying whether the trainer ran the requested dtypes, compile scope and path."""
    want, ran = observation["expected"], observation["ran"]
    wrong = [f"{k} asked {v!r}, ran {ran.get(k)!r}" for k, v in want.items() if ran.get(k) != v]
    result.require(f"{framework} ran what was asked", not wrong, "; ".join(wrong) or
                   ", ".join(f"{k} {ran[k]}" for k in ("weights_dtype", "compute_dtype", "state_dtype", "compiled")))


def check(preset="tiny", device="cpu"):
    """Both frameworks from the same weights and batches as the benchmarks build them, on every path x compile
    x precision the preset publishes: `observe` and `compare` on builds of their own. Where torch.compile is
    n/a at the preset, MLX's compiled step is compared with PyTorch's eager one (`stand_in`)."""
    sizes = preset_sizes("bert_train", preset, device)
    result = CheckResult("bert_train", device)
    for path, compile, precision in combinations(sizes):
        chosen = {**sizes, "path": path, "compile": compile}
        with result.combination(path_label(path, compile), precision):
            instead = stand_in("torch", chosen)
            reason = (unavailable(Target("mlx", device, precision), chosen) or
                      unavailable(Target("torch", device, precision), instead or chosen))
            if reason:
                result.unavailable(reason)
                continue
            taken = {"torch": observe_alone("torch", instead, device, precision)} if instead else {}
            cross_check("bert_train", result, chosen, device, precision, taken)
    return result


def observe_alone(framework, sizes, device, precision):
    """One framework's observation on a build of its own (a stand-in's), the build freed after."""
    target = Target(framework, device, precision).activate()
    observation = observe(build(target, sizes), sizes, {})
    gc.collect()
    target.release_memory()
    return observation
