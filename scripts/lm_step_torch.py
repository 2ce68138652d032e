"""When: not by hand: `mlxvspt overhead` runs it (run it directly to check the yardstick alone).

Standalone PyTorch TransformerLM training step, written the usual fast way (no mlxvspt imports): the
yardstick `mlxvspt overhead` divides the suite's `best` step by. Same shapes as the suite's model
(pre-norm blocks, ReLU 4x MLP, sinusoidal positions, untied output), SDPA with is_causal, AdamW(fused)
on CUDA (foreach elsewhere), torch.compile of the model and of the optimizer step, a numpy batch copied
to the device every step.
Prints {"ms_per_step": median, "samples": [...]} as JSON."""
import argparse
import math

import numpy as np
from step_timing import report
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(dims), nn.LayerNorm(dims)
        self.qkv = nn.ModuleList([nn.Linear(dims, dims, bias=False) for _ in range(3)])
        self.out = nn.Linear(dims, dims, bias=False)
        self.mlp = nn.Sequential(nn.Linear(dims, 4 * dims), nn.ReLU(), nn.Linear(4 * dims, dims))

    def forward(self, x):
        B, L, D = x.shape
        h = self.ln1(x)
        q, k, v = (p(h).view(B, L, self.heads, -1).transpose(1, 2) for p in self.qkv)
        x = x + self.out(F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(B, L, D))
        return x + self.mlp(self.ln2(x))


class LM(nn.Module):
    def __init__(self, vocab, layers, dims, heads, context):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dims)
        self.blocks = nn.Sequential(*[Block(dims, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(dims)
        self.head = nn.Linear(dims, vocab)
        freqs = torch.exp(-math.log(1e4) * (1 - torch.arange(dims // 2) / (dims // 2 - 1)))
        angles = torch.arange(context)[:, None] * freqs
        self.register_buffer("pe", torch.cat([angles.sin(), angles.cos()], -1) * (2 / dims) ** 0.5)

    def forward(self, x):
        return self.head(self.ln(self.blocks(self.embedding(x) + self.pe[: x.shape[1]])))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("layers", "dim", "heads", "context", "batch", "vocab"):
        p.add_argument(f"--{name}", type=int, required=True)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16", "bf16-mixed"])
    p.add_argument("--eager", action="store_true", help="no torch.compile")
    p.add_argument("--steps", type=int, default=20, help="timed steps (default 20)")
    a = p.parse_args()
    torch.set_float32_matmul_precision("high" if a.precision in ("tf32", "bf16-mixed") else "highest")
    device = torch.device(a.device)
    weights = torch.bfloat16 if a.precision == "bf16" else torch.float32
    model = LM(a.vocab, a.layers, a.dim, a.heads, a.context).to(device, weights)
    # fused on CUDA; foreach elsewhere (capturable: a compiled step takes the learning rate as a tensor)
    kind = {"fused": True} if device.type == "cuda" else {"foreach": True, "capturable": not a.eager}
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4 if a.eager else torch.tensor(3e-4), weight_decay=1e-5,
                            **kind)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(s, 200) / 200)

    def update():
        opt.step()
        sched.step()

    forward = model if a.eager else torch.compile(model)
    update = update if a.eager else torch.compile(update)
    tokens = np.random.default_rng(0).integers(0, a.vocab, 1_000_000).astype(np.int32)
    rng = np.random.default_rng(1)

    def step():
        starts = rng.integers(0, len(tokens) - a.context - 1, a.batch)
        windows = torch.from_numpy(tokens[starts[:, None] + np.arange(a.context + 1)]).to(device)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, torch.bfloat16, enabled=a.precision == "bf16-mixed"):
            logits = forward(windows[:, :-1])
        loss = F.cross_entropy(logits.float().flatten(0, 1), windows[:, 1:].flatten().long())
        loss.backward()
        update()
        return loss.item()  # synchronises, as a training loop that logs its loss does

    report(step, a.steps)

if __name__ == "__main__":
    main()
