"""TransformerLM of mlx-examples transformer_lm in PyTorch.

mlx.py and torch.py mirror each other name for name: `diff mlx.py torch.py` shows only the framework.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from ...weights import to_torch


def sinusoidal_encoding(length, dims, min_freq=1e-4, max_freq=1.0):
    """nn.SinusoidalPositionalEncoding's formula: sin half then cos half, scaled by sqrt(2 / dims)."""
    one_zero = 1 - torch.arange(dims // 2, dtype=torch.float32) / (dims // 2 - 1)
    sigmas = torch.exp(one_zero * (math.log(max_freq) - math.log(min_freq)) + math.log(min_freq))
    angles = torch.arange(length, dtype=torch.float32)[:, None] * sigmas
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1) * (2 / dims) ** 0.5


def causal_mask(length, dtype):
    """Additive mask in the compute dtype (MLX's create_additive_causal_mask returns float32, which
    would promote low-precision attention scores)."""
    indices = torch.arange(length)
    return (indices[:, None] < indices[None]).to(dtype) * torch.finfo(dtype).min


class Attention(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dims // heads) ** -0.5
        self.query_proj = nn.Linear(dims, dims, bias=False)
        self.key_proj = nn.Linear(dims, dims, bias=False)
        self.value_proj = nn.Linear(dims, dims, bias=False)
        self.out_proj = nn.Linear(dims, dims, bias=False)

    def forward(self, x, mask):
        B, L, D = x.shape
        q, k, v = (proj(x).reshape(B, L, self.heads, -1).transpose(1, 2)
                   for proj in (self.query_proj, self.key_proj, self.value_proj))
        out = F.scaled_dot_product_attention(q, k, v, scale=self.scale, attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).reshape(B, L, D))


class TransformerEncoderLayer(nn.Module):
    """Pre-norm block as MLX's nn.TransformerEncoderLayer(norm_first=True): ReLU, 4x MLP."""

    def __init__(self, dims, heads):
        super().__init__()
        self.attention = Attention(dims, heads)
        self.ln1 = nn.LayerNorm(dims)
        self.ln2 = nn.LayerNorm(dims)
        self.linear1 = nn.Linear(dims, 4 * dims)
        self.linear2 = nn.Linear(4 * dims, dims)

    def forward(self, x, mask):
        x = x + self.attention(self.ln1(x), mask)
        return x + self.linear2(F.relu(self.linear1(self.ln2(x))))


class TransformerEncoder(nn.Module):
    def __init__(self, layers, dims, heads):
        super().__init__()
        self.layers = nn.ModuleList([TransformerEncoderLayer(dims, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(dims)

    def forward(self, x, mask):
        for layer in self.layers:
            x = layer(x, mask)
        return self.ln(x)


class TransformerLM(nn.Module):
    def __init__(self, vocab, layers, dims, heads, context, dtype):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dims)
        self.transformer = TransformerEncoder(layers, dims, heads)
        self.out_proj = nn.Linear(dims, vocab)
        self._pe = sinusoidal_encoding(context, dims).to(dtype)
        self._mask = causal_mask(context, dtype)

    def forward(self, x):
        L = x.shape[1]
        x = self.embedding(x) + self._pe[:L]
        return self.out_proj(self.transformer(x, self._mask[:L, :L]))

    def loss(self, inputs, targets):
        logits = self(inputs).to(torch.float32)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten().long())


class LossModule(nn.Module):
    """The model's loss as a module's forward: DistributedDataParallel averages the gradients only of
    work done through its own forward."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, inputs, targets):
        return self.model.loss(inputs, targets)


class Trainer:
    """AdamW with bias correction (always on in PyTorch, off by default in MLX) after a linear warm-up.
    `data_parallel`: average the gradients over the distributed group (init_process_group first)."""

    def __init__(self, target, sizes, weights, hyper, compile, data_parallel=False):
        self.target = target
        with target.handle:
            self.model = TransformerLM(sizes["vocab"], sizes["layers"], sizes["dim"], sizes["heads"],
                                       sizes["context"], target.dtype).to(target.dtype)
        self.model.load_state_dict(to_torch(weights, target.dtype, target.handle), strict=True)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=hyper["lr"], betas=hyper["betas"],
                                           eps=hyper["eps"], weight_decay=hyper["weight_decay"])
        warmup = hyper["warmup"]
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(s, warmup) / warmup)
        loss = DistributedDataParallel(LossModule(self.model)) if data_parallel else self.model.loss
        loss = torch.compile(loss) if compile else loss

        def train_step(inputs, targets):
            value = loss(inputs, targets)
            value.backward()
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            self.schedule.step()
            return value

        self.train_step = train_step

    def step(self, inputs, targets):
        """One forward + backward + update, synchronised; returns the batch loss."""
        loss = self.train_step(*(torch.from_numpy(x).to(self.target.handle) for x in (inputs, targets)))
        self.target.synchronize()
        return loss.item()

    def evaluate(self, inputs, targets):
        with torch.no_grad():
            loss = self.model.loss(*(torch.from_numpy(x).to(self.target.handle) for x in (inputs, targets)))
        self.target.synchronize()
        return loss.item()

    def weights(self):
        return {k: v.detach().float().cpu().numpy() for k, v in self.model.named_parameters()}


def gpu_memory():
    """Total bytes of GPU memory, or None where the framework does not say."""
    if torch.cuda.is_available():
        return torch.cuda.mem_get_info()[1]
    if torch.backends.mps.is_available():
        return torch.mps.recommended_max_memory()
    return None
