"""BERT-tiny sentence-pair classifier and its training loop in MLX (torch.py mirrors it name for name)."""
import math
from contextlib import contextmanager

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from ...measure.weights import to_mlx
from ..mlx_autocast import Linear
from .spec import COMPILED


class Embeddings(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.word_embeddings = nn.Embedding(args.vocab, args.hidden)
        self.position_embeddings = nn.Embedding(args.positions, args.hidden)
        self.token_type_embeddings = nn.Embedding(args.token_types, args.hidden)
        self.norm = nn.LayerNorm(args.hidden, eps=args.norm_eps)
        self.dropout = nn.Dropout(args.dropout)

    def __call__(self, ids):
        positions = mx.arange(ids.shape[1])
        x = self.word_embeddings(ids) + self.position_embeddings(positions)
        x = x + self.token_type_embeddings(mx.zeros_like(ids))
        return self.dropout(self.norm(x))


class Attention(nn.Module):
    def __init__(self, args, dtype):
        super().__init__()
        self.heads = args.heads
        self.fused = args.fused
        self.scale = 1.0 / math.sqrt(args.hidden // args.heads)
        self.query = Linear(args.hidden, args.hidden, True, dtype)
        self.key = Linear(args.hidden, args.hidden, True, dtype)
        self.value = Linear(args.hidden, args.hidden, True, dtype)
        self.output = Linear(args.hidden, args.hidden, True, dtype)
        self.dropout = nn.Dropout(args.dropout)

    def __call__(self, x, bias):
        B, L, D = x.shape
        q, k, v = (p(x).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for p in (self.query, self.key, self.value))
        if self.fused:  # no dropout on the attention probabilities: MLX's fused kernel has none
            out = mx.fast.scaled_dot_product_attention(q, k, v, scale=self.scale, mask=bias.astype(q.dtype))
        else:
            scores = (q @ k.transpose(0, 1, 3, 2)) * self.scale + bias
            out = self.dropout(mx.softmax(scores, axis=-1)).astype(v.dtype) @ v  # autocast: bf16 matmuls
        return self.output(out.transpose(0, 2, 1, 3).reshape(B, L, D))


class Layer(nn.Module):
    def __init__(self, args, dtype):
        super().__init__()
        self.attention = Attention(args, dtype)
        self.attention_norm = nn.LayerNorm(args.hidden, eps=args.norm_eps)
        self.intermediate = Linear(args.hidden, args.intermediate, True, dtype)
        self.output = Linear(args.intermediate, args.hidden, True, dtype)
        self.output_norm = nn.LayerNorm(args.hidden, eps=args.norm_eps)
        self.dropout = nn.Dropout(args.dropout)

    def __call__(self, x, bias):
        x = self.attention_norm(x + self.dropout(self.attention(x, bias)))
        return self.output_norm(x + self.dropout(self.output(nn.gelu(self.intermediate(x)))))


class Bert(nn.Module):
    """Encoder and pooler: tanh(dense([CLS] of the last layer))."""

    def __init__(self, args, dtype):
        super().__init__()
        self.embeddings = Embeddings(args)
        self.layers = [Layer(args, dtype) for _ in range(args.layers)]
        self.pooler = Linear(args.hidden, args.hidden, True, dtype)

    def __call__(self, ids, mask):
        x = self.embeddings(ids)
        bias = (1.0 - mask[:, None, None, :].astype(x.dtype)) * -1e4
        for layer in self.layers:
            x = layer(x, bias)
        return mx.tanh(self.pooler(x[:, 0]))


class PairClassifier(nn.Module):
    """Conneau et al.: each sentence encoded alone, then [u, v, |u-v|, u*v] -> linear -> labels.
    `pairs_batched`: both sentences of the pairs in one forward of batch 2B (the same math). `dtype`: the
    Linear layers' compute dtype (bf16-mixed: bfloat16 from float32 weights, the rest float32, as under
    autocast)."""

    def __init__(self, args, dtype):
        super().__init__()
        self.pairs_batched = args.pairs_batched
        self.bert = Bert(args, dtype)
        self.classifier = Linear(4 * args.hidden, args.labels, True, dtype)

    def __call__(self, a_ids, a_mask, b_ids, b_mask):
        if self.pairs_batched:
            u, v = mx.split(self.bert(mx.concatenate([a_ids, b_ids]), mx.concatenate([a_mask, b_mask])), 2)
        else:
            u, v = self.bert(a_ids, a_mask), self.bert(b_ids, b_mask)
        return self.classifier(mx.concatenate([u, v, mx.abs(u - v), u * v], axis=-1))


def dtypes(arrays):
    """'float32', or the sorted '/'-joined names when arrays differ."""
    return "/".join(sorted({str(a.dtype).removeprefix("mlx.core.") for a in arrays})) or None


class Trainer:
    """Owns model, optimizer and pre-built batches; `step` is one synchronised training step.

    Weights and AdamW state are held in target.weights_dtype; the Linear layers and the attention matmuls
    compute in target.dtype (bf16-mixed: bfloat16 from the float32 weights, embeddings, LayerNorms,
    softmax and the residual stream float32, as under PyTorch's autocast); the loss is float32 at every
    precision."""

    def __init__(self, target, args, weights, train_batches, dev_batches, compile=False):
        self.target, self.path = target, args.path
        self.model = PairClassifier(args, target.dtype)
        self.model.update(tree_unflatten(list(to_mlx(weights, target.weights_dtype).items())))
        names = {k for k, _ in tree_flatten(self.model.parameters())}
        if names != set(weights):
            raise KeyError(f"parameters not set: {sorted(names ^ set(weights))}")
        self.optimizer = optim.AdamW(learning_rate=args.lr, betas=list(args.betas), eps=args.eps,
                                     weight_decay=args.weight_decay, bias_correction=True)
        self.optimizer.init(self.model.trainable_parameters())
        self.train_batches = [tuple(mx.array(x) for x in batch) for batch in train_batches]
        self.dev_batches = [tuple(mx.array(x) for x in batch) for batch in dev_batches]
        mx.eval(self.model.parameters(), self.optimizer.state, self.train_batches, self.dev_batches)
        self.loss_and_grad = mx.value_and_grad(self.loss)
        self.train_step = self.compiled() if compile else self.update
        self.position = 0
        self.losses = []

    def compiled(self):
        """The whole step mx.compile'd, with the model's, the optimizer's and the random state as its inputs
        and outputs."""
        state = [self.model.state, self.optimizer.state, mx.random.state]
        return mx.compile(self.update, inputs=state, outputs=state)

    def forward(self, params, a_ids, a_mask, b_ids, b_mask):
        """Logits in the compute dtype, from `params` (the weights value_and_grad differentiates)."""
        self.model.update(params)
        return self.model(a_ids, a_mask, b_ids, b_mask)

    def loss(self, params, batch):
        *inputs, labels = batch
        return nn.losses.cross_entropy(self.forward(params, *inputs).astype(mx.float32), labels, reduction="mean")

    def update(self, batch):
        params = self.model.trainable_parameters()
        loss, grads = self.loss_and_grad(params, batch)
        self.model.update(params)  # the arrays again, not value_and_grad's stand-ins
        self.optimizer.update(self.model, grads)
        return loss, grads

    def step(self):
        """One training step, synchronised (its peak memory: asvbench.step_peaks)."""
        batch = self.train_batches[self.position % len(self.train_batches)]
        self.position += 1
        loss, _ = self.train_step(batch)
        mx.eval(loss, self.model.parameters(), self.optimizer.state)
        self.losses.append(loss)

    def epoch(self):
        for _ in range(len(self.train_batches)):
            self.step()

    def logits(self, inputs):
        return self.model(*inputs)

    def validate(self):
        """Accuracy over the dev batches, dropout off."""
        self.model.eval()
        correct = 0
        for *inputs, labels in self.dev_batches:
            correct += (mx.argmax(self.logits(inputs), axis=-1) == labels).sum().item()
        self.model.train()
        return correct / sum(len(batch[-1]) for batch in self.dev_batches)

    @contextmanager
    def dropout_off(self):
        """The cross-check's steps (dropout masks cannot match across frameworks): the model in eval mode
        and, compiled, a step compiled for them alone, since mx.compile traces the Python once (the timed
        step first traced with dropout off would stay off)."""
        timed = self.train_step
        self.model.eval()
        if timed != self.update:
            self.train_step = self.compiled()
        try:
            yield
        finally:
            self.train_step = timed
            self.model.train()

    def gradients(self):
        """Loss and {name: gradient} of the next training step, taken through the (compiled) step."""
        batch = self.train_batches[self.position % len(self.train_batches)]
        self.position += 1
        loss, grads = self.train_step(batch)
        mx.eval(loss, grads, self.model.parameters(), self.optimizer.state)
        self.losses.append(loss)
        return loss.item(), {k: np.array(g.astype(mx.float32)) for k, g in tree_flatten(grads)}

    def loss_history(self):
        return [loss.item() for loss in self.losses]

    def ran(self):
        """Read back from the model, the optimizer and one forward: what this trainer runs."""
        logits = self.logits(self.dev_batches[0][:-1])
        state = [v for k, v in tree_flatten(self.optimizer.state) if k.rsplit(".", 1)[-1] in ("m", "v")]
        return {"weights_dtype": dtypes(v for _, v in tree_flatten(self.model.parameters())),
                "compute_dtype": dtypes([logits]), "state_dtype": dtypes(state),
                "compiled": "none" if self.train_step == self.update else COMPILED, "path": self.path,
                "pairs_batched": self.model.pairs_batched,
                "attention": "sdpa" if self.model.bert.layers[0].attention.fused else "matmul+softmax",
                "optimizer": "AdamW"}
