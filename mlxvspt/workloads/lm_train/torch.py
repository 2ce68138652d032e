"""TransformerLM of mlx-examples transformer_lm in PyTorch.

mlx.py and torch.py mirror each other name for name: `diff mlx.py torch.py` shows only the framework.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from ...measure.frameworks.torch import fresh_compiler
from ...measure.weights import to_torch

CAUSAL = "causal"  # the mask of the `best` path: the attention kernel skips the future itself


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


def attention(q, k, v, scale, mask):
    """Scaled dot-product attention; `mask` is an additive tensor (seed) or CAUSAL (best: is_causal)."""
    if isinstance(mask, str):
        return F.scaled_dot_product_attention(q, k, v, scale=scale, is_causal=True)
    return F.scaled_dot_product_attention(q, k, v, scale=scale, attn_mask=mask)


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
        out = attention(q, k, v, self.scale, mask)
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
    """`causal`: the attention kernel's own causal mask (best path) instead of an additive one (seed)."""

    def __init__(self, vocab, layers, dims, heads, context, dtype, causal):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dims)
        self.transformer = TransformerEncoder(layers, dims, heads)
        self.out_proj = nn.Linear(dims, vocab)
        self._pe = sinusoidal_encoding(context, dims).to(dtype)
        self._mask = None if causal else causal_mask(context, dtype)

    def forward(self, x):
        L = x.shape[1]
        x = self.embedding(x) + self._pe[:L]
        mask = CAUSAL if self._mask is None else self._mask[:L, :L]
        return self.out_proj(self.transformer(x, mask))

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


def adamw(parameters, hyper, path, compile, device):
    """seed: AdamW as constructed by default; best: the fused kernel on CUDA, foreach elsewhere (the
    fused CPU kernel took 40 ms a step for one small Linear on a loaded 2-core machine, the default
    0.3 ms). A compiled step takes the learning rate as a tensor, so the schedule does not recompile it
    (PyTorch's recipe for a compiled optimizer with an LR scheduler); foreach then needs capturable,
    and the seed's compiled update is that capturable foreach AdamW (CUDA's default under
    torch.compile): compiled, the for-loop AdamW of a CPU turns parameters whose gradient is zero into
    NaN (torch 2.13, seen at the tiny preset)."""
    options = {"lr": torch.tensor(hyper["lr"]) if compile else hyper["lr"], "betas": hyper["betas"],
               "eps": hyper["eps"], "weight_decay": hyper["weight_decay"]}
    if path == "best" and device.type == "cuda":
        options["fused"] = True
    elif path == "best" or compile:
        options.update(foreach=True, capturable=compile)
    return torch.optim.AdamW(parameters, **options)


class Trainer:
    """One training step: forward + backward + AdamW update; `compile` torch.compiles the loss (the
    whole model's forward and, through AOTAutograd, its backward) and the optimizer update.

    Precision: the weights, gradients and optimizer state live in `target.weights_dtype`; under
    bf16-mixed the forward and backward run in autocast(bfloat16) from the float32 weights.
    `data_parallel`: average the gradients over the distributed group (init_process_group first)."""

    def __init__(self, target, sizes, weights, hyper, compile, data_parallel=False, path="seed"):
        self.target = target
        shape = (sizes["vocab"], sizes["layers"], sizes["dim"], sizes["heads"], sizes["context"], target.dtype,
                 path == "best")
        with target.handle:
            self.model = TransformerLM(*shape).to(target.weights_dtype)
        self.model.load_state_dict(to_torch(weights, target.weights_dtype, target.handle), strict=True)
        self.optimizer = adamw(self.model.parameters(), hyper, path, compile, target.handle)
        warmup = hyper["warmup"]
        self.schedule = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: min(s, warmup) / warmup)

        def update():
            self.optimizer.step()
            self.schedule.step()

        loss = DistributedDataParallel(LossModule(self.model)) if data_parallel else self.model.loss
        if compile:
            compiler = fresh_compiler()
            loss, update = compiler(loss), compiler(update)
        self.loss, self.update = loss, update

        def train_step(inputs, targets):
            self.optimizer.zero_grad(set_to_none=True)
            with self.autocast():
                loss = self.loss(inputs, targets)
            loss.backward()
            self.update()
            return loss

        self.train_step = train_step

    def autocast(self):
        """bf16-mixed: autocast to the compute dtype; otherwise a no-op."""
        return torch.autocast(self.target.handle.type, dtype=self.target.dtype,
                              enabled=self.target.weights_dtype != self.target.dtype)

    def step(self, inputs, targets):
        """One forward + backward + update, synchronised; returns the batch loss. The gradients stay
        in .grad until the next step."""
        loss = self.train_step(*(torch.from_numpy(x).to(self.target.handle) for x in (inputs, targets)))
        self.target.synchronize()
        return loss.item()

    def logits(self, inputs):
        """The forward pass as the step computes it (same weights and autocast), not compiled."""
        with torch.no_grad(), self.autocast():
            return self.model(torch.from_numpy(inputs).to(self.target.handle))

    def evaluate(self, inputs, targets):
        with torch.no_grad(), self.autocast():
            loss = self.model.loss(*(torch.from_numpy(x).to(self.target.handle) for x in (inputs, targets)))
        self.target.synchronize()
        return loss.item()

    def weights(self):
        return {k: v.detach().float().cpu().numpy().copy() for k, v in self.model.named_parameters()}

    def gradients(self):
        """The last step's gradients (as the optimizer received them), by parameter name."""
        return {k: v.grad.float().cpu().numpy().copy() for k, v in self.model.named_parameters()}

    def ran(self, inputs):
        """What ran, read from the objects: the attention mask, dtypes of parameters, optimizer moments
        and logits, and which of the step's parts are compiled (torch.compile's wrappers)."""
        moments = [v for state in self.optimizer.state.values() for k, v in state.items()
                   if k in ("exp_avg", "exp_avg_sq")]
        parts = [part for part, fn in (("forward+backward", self.loss), ("optimizer", self.update))
                 if hasattr(fn, "_torchdynamo_orig_callable") or isinstance(fn, torch._dynamo.OptimizedModule)]
        group = self.optimizer.param_groups[0]
        return {"attention": CAUSAL if self.model._mask is None else "additive mask",
                "weights_dtype": dtype_names(self.model.parameters()),
                "state_dtype": dtype_names(moments) or None,  # PyTorch makes the state at the first step
                "compute_dtype": dtype_names([self.logits(inputs)]),
                "compiled": "+".join(parts) or "none",
                "optimizer": type(self.optimizer).__name__ + (" fused" if group.get("fused") else
                                                              " foreach" if group.get("foreach") else "")}


def dtype_names(arrays):
    from ...measure.frameworks.torch import dtype_name

    return "/".join(sorted({dtype_name(a) for a in arrays}))


def gpu_memory():
    """Total bytes of GPU memory, or None where the framework does not say."""
    if torch.cuda.is_available():
        return torch.cuda.mem_get_info()[1]
    if torch.backends.mps.is_available():
        return torch.mps.recommended_max_memory()
    return None
