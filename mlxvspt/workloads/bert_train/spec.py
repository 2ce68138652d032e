"""BERT-tiny sentence-pair classifier trained on NLI (the seed's second benchmark).

Conneau et al.'s head over a hand-written BERT encoder: each sentence of a pair is padded to `seq`
tokens and encoded alone (pooled [CLS] through dense + tanh), then [u, v, |u-v|, u*v] -> linear ->
contradiction/neutral/entailment, cross-entropy, AdamW (lr 5e-5, bias-corrected in both frameworks,
weight decay 0.01 on every parameter). Both frameworks start from the same seeded weights (LayerNorm
gamma = 1) and see the same pre-tokenised batches in the same order; tokenisation, batching and the
host->framework copy happen in `build`, outside every timing.

Timed unit: one training step (forward of both sentences, backward, optimizer update), synchronised;
samples/s = batch / step time. An epoch is len(pairs) // batch steps (the seed trained `epochs` of
them: total time ~ epochs x epoch time); validation is a forward pass over the dev batches, dropout off. Dropout masks cannot match across frameworks, so timings train
with dropout 0.1 and the cross-check with dropout 0.
"""
from dataclasses import dataclass

import numpy as np

from ...check import CheckResult
from ...devices import Target
from ...errors import Unavailable
from ...paths import cache_dir
from ...presets import sizes as preset_sizes
from ...weights import cached, seeded
from .. import implementation
from . import data

CHECK_STEPS = 20
# Cross-check tolerances (float32, dropout off): first-step loss, gradients relative to each tensor's
# scale, and the loss over CHECK_STEPS steps. Seen at tiny / small: 1.2e-7 / 1.2e-7, 1.2e-6 / 4.2e-6
# and 1.2e-7 / 4.8e-7.
LOSS_ATOL, GRAD_RTOL, HISTORY_ATOL = 1e-5, 1e-4, 1e-5
# bfloat16 (8 mantissa bits): first-step loss, and the gradients against the float32 ones as one vector
# (relative L2 norm). Seen at tiny / small: loss 3.7e-5 / 1.2e-4; gradients torch 0.3%, MLX 1-2%, with
# MLX's attention-projection gradients off by 50-70% on the CPU (torch's 0.5%): the CPU backends
# accumulate bfloat16 products differently, which the check reports without failing.
BF16_LOSS_ATOL, BF16_GRAD_RTOL = 2e-2, 5e-2
# A tensor's scale is its largest |gradient|, floored at this fraction of the largest over all tensors:
# the key biases' true gradient is zero (softmax ignores a constant per query), leaving only rounding.
GRAD_FLOOR = 1e-5


@dataclass(frozen=True)
class Args:
    vocab: int
    hidden: int
    heads: int
    layers: int
    intermediate: int
    dropout: float
    positions: int = 512
    token_types: int = 2
    labels: int = len(data.LABELS)
    norm_eps: float = 1e-12
    init_std: float = 0.02
    lr: float = 5e-5
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.01


def model_args(sizes):
    return Args(**{k: sizes[k] for k in ("vocab", "hidden", "heads", "layers", "intermediate", "dropout")})


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


def build(target, sizes):
    """A Trainer (mlx.py / torch.py) over the preset's pairs; sizes["compile"] wraps its step."""
    if target.dtype_name == "float16":
        raise Unavailable("bert_train trains in float32 or bfloat16: float16 weights need loss scaling, "
                          "which neither implementation has")
    if sizes.get("compile") and target.framework == "torch" and not sizes["torch_compile"]:
        raise Unavailable("torch.compile is left out at this preset: inductor needs 1-3 minutes to compile "
                          "this training step on a 2-core CPU, more than the preset's time budget")
    args = model_args(sizes)
    train = data.batches(data.pairs(sizes, "train"), sizes["batch"])
    dev = data.batches(data.pairs(sizes, "dev"), sizes["batch"])
    trainer = implementation("bert_train", target.framework).Trainer
    return trainer(target, args, initial_weights(args), train, dev, compile=sizes.get("compile", False))


def relative_gaps(mlx_grads, torch_grads):
    """{name: max |mlx - torch| / scale}, scale = the tensor's max |torch grad| (floored, see GRAD_FLOOR)."""
    floor = GRAD_FLOOR * max(float(np.max(np.abs(g))) for g in torch_grads.values())
    return {k: float(np.max(np.abs(mlx_grads[k] - g)) / max(float(np.max(np.abs(g))), floor))
            for k, g in torch_grads.items()}


def check_bfloat16(result, sizes, fp32_grads):
    """bfloat16 weights in both frameworks: the same first-step loss, gradients near the float32 ones."""
    runs = {fw: build(Target(fw, "cpu", "bf16").activate(), sizes).gradients() for fw in ("mlx", "torch")}
    result.close("first-step loss, bfloat16", runs["mlx"][0], runs["torch"][0], atol=BF16_LOSS_ATOL)
    exact = np.concatenate([g.ravel() for g in fp32_grads.values()])
    floor = 1e-3 * max(np.linalg.norm(g) for g in fp32_grads.values())  # key biases' true gradient is zero
    for fw, (_, grads) in runs.items():
        error = np.linalg.norm(np.concatenate([grads[k].ravel() for k in fp32_grads]) - exact) / np.linalg.norm(exact)
        per_tensor = {k: np.linalg.norm(grads[k] - g) / max(np.linalg.norm(g), floor) for k, g in fp32_grads.items()}
        worst = max(per_tensor, key=per_tensor.get)
        result.require(f"{fw} bfloat16 gradients vs float32", error <= BF16_GRAD_RTOL,
                       f"relative L2 {error:.2g} (tolerance {BF16_GRAD_RTOL:g}); worst tensor {worst} "
                       f"{per_tensor[worst]:.2g}")


def check(preset="tiny", device="cpu"):
    """Dropout off, same weights and batches: first-step loss and gradients, then the loss of
    CHECK_STEPS steps, eager and compiled (torch.compile only where the preset allows it)."""
    sizes = {**preset_sizes("bert_train", preset), "dropout": 0.0}
    result = CheckResult("bert_train")
    trainers = {fw: build(Target(fw, "cpu").activate(), sizes) for fw in ("mlx", "torch")}
    (m_loss, m_grads), (t_loss, t_grads) = (trainers[fw].gradients() for fw in ("mlx", "torch"))
    result.close("first-step loss", m_loss, t_loss, atol=LOSS_ATOL)
    check_bfloat16(result, sizes, t_grads)
    same = set(m_grads) == set(t_grads)
    if not result.require("gradient names", same, f"mlx {len(m_grads)}, torch {len(t_grads)} tensors"):
        return result
    gaps = relative_gaps(m_grads, t_grads)
    worst = max(gaps, key=gaps.get)
    result.require("first-step gradients", gaps[worst] <= GRAD_RTOL,
                   f"max |diff| / max |grad| {gaps[worst]:.2g} at {worst} (tolerance {GRAD_RTOL:g})")
    compiled = ("mlx", "torch") if sizes["torch_compile"] else ("mlx",)
    trainers.update({f"{fw} compiled": build(Target(fw, "cpu").activate(), {**sizes, "compile": True})
                     for fw in compiled})
    for trainer in trainers.values():
        for _ in range(CHECK_STEPS):
            trainer.step()
    want = trainers.pop("torch").loss_history()
    for name, trainer in trainers.items():
        result.close(f"loss over {CHECK_STEPS} AdamW steps, {name} vs torch", trainer.loss_history(), want,
                     atol=HISTORY_ATOL)
    return result
