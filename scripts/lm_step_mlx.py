"""When: not by hand: `mlxvspt overhead` runs it (run it directly to check the yardstick alone).

Standalone MLX TransformerLM training step, written the usual fast way (no mlxvspt imports): the
yardstick `mlxvspt overhead` divides the suite's `best` step by. Same shapes as the suite's model
(pre-norm blocks, ReLU 4x MLP, sinusoidal positions, untied output), mx.fast.scaled_dot_product_attention
with mask="causal", AdamW, the whole step mx.compile'd, a numpy batch turned into an mx.array every step.
Prints {"ms_per_step": median, "samples": [...]} as JSON."""
import argparse
import math
import os
from functools import partial

import numpy as np
from step_timing import report


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("layers", "dim", "heads", "context", "batch", "vocab"):
        p.add_argument(f"--{name}", type=int, required=True)
    p.add_argument("--device", default="gpu", choices=["cpu", "gpu"])
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16", "bf16-mixed"])
    p.add_argument("--eager", action="store_true", help="no mx.compile")
    p.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    a = p.parse_args()
    os.environ["MLX_ENABLE_TF32"] = "1" if a.precision in ("tf32", "bf16-mixed") else "0"  # before first use
    import mlx.core as mx
    import mlx.nn as nn
    import mlx.optimizers as optim

    mx.set_default_device(mx.gpu if a.device == "gpu" else mx.cpu)
    compute = mx.bfloat16 if a.precision.startswith("bf16") else mx.float32

    class CastLinear(nn.Linear):
        """bf16-mixed as autocast runs it: the matmul in bfloat16 from float32 weights, the rest float32."""

        def __call__(self, x):
            y = x.astype(compute) @ self.weight.astype(compute).T
            return y + self.bias.astype(compute) if "bias" in self else y

    Linear = CastLinear if a.precision == "bf16-mixed" else nn.Linear

    class Block(nn.Module):
        def __init__(self, dims, heads):
            super().__init__()
            self.heads = heads
            self.ln1, self.ln2 = nn.LayerNorm(dims), nn.LayerNorm(dims)
            self.qkv = [Linear(dims, dims, bias=False) for _ in range(3)]
            self.out = Linear(dims, dims, bias=False)
            self.up, self.down = Linear(dims, 4 * dims), Linear(4 * dims, dims)

        def __call__(self, x):
            B, L, D = x.shape
            h = self.ln1(x)
            q, k, v = (p(h).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for p in self.qkv)
            o = mx.fast.scaled_dot_product_attention(q, k, v, scale=(D // self.heads) ** -0.5, mask="causal")
            x = x + self.out(o.transpose(0, 2, 1, 3).reshape(B, L, D))
            return x + self.down(nn.relu(self.up(self.ln2(x))))

    class LM(nn.Module):
        def __init__(self, vocab, layers, dims, heads, context):
            super().__init__()
            self.embedding = nn.Embedding(vocab, dims)
            self.blocks = [Block(dims, heads) for _ in range(layers)]
            self.ln = nn.LayerNorm(dims)
            self.head = Linear(dims, vocab)
            freqs = mx.exp(-math.log(1e4) * (1 - mx.arange(dims // 2) / (dims // 2 - 1)))
            angles = mx.arange(context)[:, None] * freqs
            self._pe = (mx.concatenate([mx.sin(angles), mx.cos(angles)], -1) * (2 / dims) ** 0.5).astype(compute)

        def __call__(self, x):
            x = self.embedding(x) + self._pe[: x.shape[1]]
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln(x))

        def loss(self, x, y):
            return nn.losses.cross_entropy(self(x).astype(mx.float32), y).mean()

    shape = (a.vocab, a.layers, a.dim, a.heads, a.context)
    model = LM(*shape)
    if a.precision == "bf16":
        model.set_dtype(mx.bfloat16)
    opt = optim.AdamW(learning_rate=optim.linear_schedule(0.0, 3e-4, 200), weight_decay=1e-5, bias_correction=True)
    opt.init(model.trainable_parameters())
    loss_and_grad = nn.value_and_grad(model, model.loss)
    state = [model.state, opt.state]

    def step_fn(x, y):
        loss, grads = loss_and_grad(x, y)
        opt.update(model, grads)
        return loss

    if not a.eager:
        step_fn = partial(mx.compile, inputs=state, outputs=state)(step_fn)
    mx.eval(state)
    tokens = np.random.default_rng(0).integers(0, a.vocab, 1_000_000).astype(np.int32)
    rng = np.random.default_rng(1)

    def step():
        starts = rng.integers(0, len(tokens) - a.context - 1, a.batch)
        windows = tokens[starts[:, None] + np.arange(a.context + 1)]
        loss = step_fn(mx.array(windows[:, :-1]), mx.array(windows[:, 1:]))
        mx.eval(loss, state)
        return loss.item()

    report(step, a.steps)

if __name__ == "__main__":
    main()
