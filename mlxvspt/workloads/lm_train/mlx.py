"""TransformerLM of mlx-examples transformer_lm in MLX.

mlx.py and torch.py mirror each other name for name: `diff mlx.py torch.py` shows only the framework.
"""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

from ...measure.weights import to_mlx
from ..mlx_autocast import Linear

CAUSAL = "causal"  # the mask of the `best` path: the attention kernel skips the future itself
COMPILED = type(mx.compile(lambda x: x))


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


def attention(q, k, v, scale, mask):
    """Scaled dot-product attention; `mask` is an additive array (seed) or CAUSAL (best)."""
    return mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=mask)


class Attention(nn.Module):
    def __init__(self, dims, heads, dtype):
        super().__init__()
        self.heads = heads
        self.scale = (dims // heads) ** -0.5
        self.query_proj = Linear(dims, dims, False, dtype)
        self.key_proj = Linear(dims, dims, False, dtype)
        self.value_proj = Linear(dims, dims, False, dtype)
        self.out_proj = Linear(dims, dims, False, dtype)

    def __call__(self, x, mask):
        B, L, D = x.shape
        q, k, v = (proj(x).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3)
                   for proj in (self.query_proj, self.key_proj, self.value_proj))
        out = attention(q, k, v, self.scale, mask)
        return self.out_proj(out.transpose(0, 2, 1, 3).reshape(B, L, D))


class TransformerEncoderLayer(nn.Module):
    """Pre-norm block as MLX's nn.TransformerEncoderLayer(norm_first=True): ReLU, 4x MLP."""

    def __init__(self, dims, heads, dtype):
        super().__init__()
        self.attention = Attention(dims, heads, dtype)
        self.ln1 = nn.LayerNorm(dims)
        self.ln2 = nn.LayerNorm(dims)
        self.linear1 = Linear(dims, 4 * dims, True, dtype)
        self.linear2 = Linear(4 * dims, dims, True, dtype)

    def __call__(self, x, mask):
        x = x + self.attention(self.ln1(x), mask)
        return x + self.linear2(nn.relu(self.linear1(self.ln2(x))))


class TransformerEncoder(nn.Module):
    def __init__(self, layers, dims, heads, dtype):
        super().__init__()
        self.layers = [TransformerEncoderLayer(dims, heads, dtype) for _ in range(layers)]
        self.ln = nn.LayerNorm(dims)

    def __call__(self, x, mask):
        for layer in self.layers:
            x = layer(x, mask)
        return self.ln(x)


class TransformerLM(nn.Module):
    """`causal`: the attention kernel's own causal mask (best path) instead of an additive one (seed).
    `dtype`: the compute dtype of the Linear layers (bf16-mixed: bfloat16 from float32 weights); the
    embedding and LayerNorms compute in the weights' dtype, as under autocast."""

    def __init__(self, vocab, layers, dims, heads, context, dtype, causal):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dims)
        self.transformer = TransformerEncoder(layers, dims, heads, dtype)
        self.out_proj = Linear(dims, vocab, True, dtype)
        self._pe = sinusoidal_encoding(context, dims).astype(dtype)
        self._mask = None if causal else causal_mask(context, dtype)

    def __call__(self, x):
        L = x.shape[1]
        x = self.embedding(x) + self._pe[:L]
        mask = CAUSAL if self._mask is None else self._mask[:L, :L]
        return self.out_proj(self.transformer(x, mask))

    def loss(self, inputs, targets):
        logits = self(inputs).astype(mx.float32)
        return nn.losses.cross_entropy(logits, targets).mean()


def adamw(hyper):
    """AdamW with bias correction (always on in PyTorch, off by default in MLX) after a linear warm-up;
    MLX has one AdamW, so both paths use it."""
    schedule = optim.linear_schedule(0.0, hyper["lr"], hyper["warmup"])
    return optim.AdamW(learning_rate=schedule, betas=list(hyper["betas"]), eps=hyper["eps"],
                       weight_decay=hyper["weight_decay"], bias_correction=True)


class Trainer:
    """One training step: forward + backward + AdamW update, the whole step mx.compile'd if `compile`.

    Precision: the weights, gradients and optimizer state live in `target.weights_dtype`; under
    bf16-mixed the Linear layers compute in bfloat16 from the float32 weights and everything else in
    float32, as PyTorch's autocast runs the same model (an earlier bfloat16 copy of the whole model summed
    the embedding's and LayerNorms' gradients in bfloat16: 24-27% from float32 at `full` on an H100,
    PyTorch's 0.3-0.8%).
    `data_parallel`: average the gradients over the distributed group (mx.distributed.init first)."""

    def __init__(self, target, sizes, weights, hyper, compile, data_parallel=False, path="seed"):
        self.target = target
        shape = (sizes["vocab"], sizes["layers"], sizes["dim"], sizes["heads"], sizes["context"], target.dtype,
                 path == "best")
        self.model = TransformerLM(*shape)
        self.model.load_weights(list(to_mlx(weights, target.weights_dtype).items()), strict=True)
        self.optimizer = adamw(hyper)
        self.optimizer.init(self.model.trainable_parameters())
        mx.eval(self.model.parameters(), self.optimizer.state)
        loss_and_grad = nn.value_and_grad(self.model, self.model.loss)

        def train_step(inputs, targets):
            loss, grads = loss_and_grad(inputs, targets)
            if data_parallel:
                grads = nn.average_gradients(grads)
            self.optimizer.update(self.model, grads)
            return loss, grads

        state = [self.model.state, self.optimizer.state]
        self.train_step = mx.compile(train_step, inputs=state, outputs=state) if compile else train_step
        self.grads = None

    def step(self, inputs, targets):
        """One forward + backward + update, synchronised; returns the batch loss. The gradients stay
        until the next step (as PyTorch's .grad does)."""
        loss, self.grads = self.train_step(*(mx.array(x) for x in (inputs, targets)))
        mx.eval(loss, self.grads, self.model.state, self.optimizer.state)
        return loss.item()

    def logits(self, inputs):
        """The forward pass as the step computes it, not compiled."""
        logits = self.model(mx.array(inputs))
        mx.eval(logits)
        return logits

    def evaluate(self, inputs, targets):
        loss = self.model.loss(*(mx.array(x) for x in (inputs, targets)))
        mx.eval(loss)
        return loss.item()

    def weights(self):
        return {k: np.array(v.astype(mx.float32)) for k, v in tree_flatten(self.model.parameters())}

    def gradients(self):
        """The last step's gradients (as the optimizer received them), by parameter name."""
        return {k: np.array(v.astype(mx.float32)) for k, v in tree_flatten(self.grads)}

    def ran(self, inputs):
        """What ran, read from the objects: the attention mask, dtypes of parameters, optimizer moments
        and logits, and which of the step's parts are compiled."""
        moments = [v for k, v in tree_flatten(self.optimizer.state) if k.rsplit(".", 1)[-1] in ("m", "v")]
        return {"attention": CAUSAL if self.model._mask is None else "additive mask",
                "weights_dtype": dtype_names(v for _, v in tree_flatten(self.model.parameters())),
                "state_dtype": dtype_names(moments) or None,
                "compute_dtype": dtype_names([self.logits(inputs)]),
                "compiled": "forward+backward+optimizer" if isinstance(self.train_step, COMPILED) else "none",
                "optimizer": type(self.optimizer).__name__}


def dtype_names(arrays):
    from ...measure.frameworks.mlx import dtype_name

    return "/".join(sorted({dtype_name(a) for a in arrays}))


def gpu_memory():
    """Total bytes of GPU memory, or None where the framework does not say."""
    info = mx.device_info(mx.gpu)
    return info.get("total_memory") or info.get("memory_size")
