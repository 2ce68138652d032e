"""TransformerLM of mlx-examples transformer_lm in MLX.

mlx.py and torch.py mirror each other name for name: `diff mlx.py torch.py` shows only the framework.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

from ...weights import to_mlx


def sinusoidal_encoding(length, dims, min_freq=1e-4, max_freq=1.0):
    """nn.SinusoidalPositionalEncoding's formula: sin half then cos half, scaled by sqrt(2 / dims)."""
    one_zero = 1 - mx.arange(dims // 2, dtype=mx.float32) / (dims // 2 - 1)
    sigmas = mx.exp(one_zero * (math.log(max_freq) - math.log(min_freq)) + math.log(min_freq))
    angles = mx.arange(length, dtype=mx.float32)[:, None] * sigmas
    return mx.concatenate([mx.sin(angles), mx.cos(angles)], axis=-1) * (2 / dims) ** 0.5


def causal_mask(length, dtype):
    """Additive mask in the compute dtype (MLX's create_additive_causal_mask returns float32, which
    would promote low-precision attention scores)."""
    indices = mx.arange(length)
    return (indices[:, None] < indices[None]).astype(dtype) * mx.finfo(dtype).min


class Attention(nn.Module):
    def __init__(self, dims, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dims // heads) ** -0.5
        self.query_proj = nn.Linear(dims, dims, bias=False)
        self.key_proj = nn.Linear(dims, dims, bias=False)
        self.value_proj = nn.Linear(dims, dims, bias=False)
        self.out_proj = nn.Linear(dims, dims, bias=False)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q, k, v = (proj(x).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
                   for proj in (self.query_proj, self.key_proj, self.value_proj))
        out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=mask)
        return self.out_proj(out.transpose(0, 2, 1, 3).reshape(B, L, D))


class TransformerEncoderLayer(nn.Module):
    """Pre-norm block as MLX's nn.TransformerEncoderLayer(norm_first=True): ReLU, 4x MLP."""

    def __init__(self, dims, heads):
        super().__init__()
        self.attention = Attention(dims, heads)
        self.ln1 = nn.LayerNorm(dims)
        self.ln2 = nn.LayerNorm(dims)
        self.linear1 = nn.Linear(dims, 4 * dims)
        self.linear2 = nn.Linear(4 * dims, dims)

    def __call__(self, x, mask):
        x = x + self.attention(self.ln1(x), mask)
        return x + self.linear2(nn.relu(self.linear1(self.ln2(x))))


class TransformerEncoder(nn.Module):
    def __init__(self, layers, dims, heads):
        super().__init__()
        self.layers = [TransformerEncoderLayer(dims, heads) for _ in range(layers)]
        self.ln = nn.LayerNorm(dims)

    def __call__(self, x, mask):
        for layer in self.layers:
            x = layer(x, mask)
        return self.ln(x)


class TransformerLM(nn.Module):
    def __init__(self, vocab, layers, dims, heads, context, dtype):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dims)
        self.transformer = TransformerEncoder(layers, dims, heads)
        self.out_proj = nn.Linear(dims, vocab)
        self._pe = sinusoidal_encoding(context, dims).astype(dtype)
        self._mask = causal_mask(context, dtype)

    def __call__(self, x):
        L = x.shape[1]
        x = self.embedding(x) + self._pe[:L]
        return self.out_proj(self.transformer(x, self._mask[:L, :L]))

    def loss(self, inputs, targets):
        logits = self(inputs).astype(mx.float32)
        return nn.losses.cross_entropy(logits, targets).mean()


class Trainer:
    """AdamW with bias correction (always on in PyTorch, off by default in MLX) after a linear warm-up.
    `data_parallel`: average the gradients over the distributed group (mx.distributed.init first)."""

    def __init__(self, target, sizes, weights, hyper, compile, data_parallel=False):
        self.target = target
        self.model = TransformerLM(sizes["vocab"], sizes["layers"], sizes["dim"], sizes["heads"],
                                   sizes["context"], target.dtype)
        self.model.load_weights(list(to_mlx(weights, target.dtype).items()), strict=True)
        schedule = optim.linear_schedule(0.0, hyper["lr"], hyper["warmup"])
        self.optimizer = optim.AdamW(learning_rate=schedule, betas=list(hyper["betas"]), eps=hyper["eps"],
                                     weight_decay=hyper["weight_decay"], bias_correction=True)
        self.optimizer.init(self.model.trainable_parameters())
        mx.eval(self.model.parameters(), self.optimizer.state)
        loss_and_grad = nn.value_and_grad(self.model, self.model.loss)

        def train_step(inputs, targets):
            loss, grads = loss_and_grad(inputs, targets)
            if data_parallel:
                grads = nn.average_gradients(grads)
            self.optimizer.update(self.model, grads)
            return loss

        state = [self.model.state, self.optimizer.state]
        self.train_step = mx.compile(train_step, inputs=state, outputs=state) if compile else train_step

    def step(self, inputs, targets):
        """One forward + backward + update, synchronised; returns the batch loss."""
        loss = self.train_step(*(mx.array(x) for x in (inputs, targets)))
        mx.eval(loss, self.model.state, self.optimizer.state)
        return loss.item()

    def evaluate(self, inputs, targets):
        loss = self.model.loss(*(mx.array(x) for x in (inputs, targets)))
        mx.eval(loss)
        return loss.item()

    def weights(self):
        return {k: np.array(v.astype(mx.float32)) for k, v in tree_flatten(self.model.parameters())}


def gpu_memory():
    """Total bytes of GPU memory, or None where the framework does not say."""
    info = mx.device_info(mx.gpu)
    return info.get("total_memory") or info.get("memory_size")
