"""BERT-tiny sentence-pair classifier and its training loop in MLX (torch.py mirrors it name for name)."""
import math

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten

from ...weights import to_mlx


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
    def __init__(self, args):
        super().__init__()
        self.heads = args.heads
        self.scale = 1.0 / math.sqrt(args.hidden // args.heads)
        self.query = nn.Linear(args.hidden, args.hidden)
        self.key = nn.Linear(args.hidden, args.hidden)
        self.value = nn.Linear(args.hidden, args.hidden)
        self.output = nn.Linear(args.hidden, args.hidden)
        self.dropout = nn.Dropout(args.dropout)

    def __call__(self, x, bias):
        B, L, D = x.shape
        q, k, v = (p(x).reshape(B, L, self.heads, -1).transpose(0, 2, 1, 3) for p in (self.query, self.key, self.value))
        scores = (q @ k.transpose(0, 1, 3, 2)) * self.scale + bias
        probs = self.dropout(mx.softmax(scores, axis=-1))
        return self.output((probs @ v).transpose(0, 2, 1, 3).reshape(B, L, D))


class Layer(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.attention = Attention(args)
        self.attention_norm = nn.LayerNorm(args.hidden, eps=args.norm_eps)
        self.intermediate = nn.Linear(args.hidden, args.intermediate)
        self.output = nn.Linear(args.intermediate, args.hidden)
        self.output_norm = nn.LayerNorm(args.hidden, eps=args.norm_eps)
        self.dropout = nn.Dropout(args.dropout)

    def __call__(self, x, bias):
        x = self.attention_norm(x + self.dropout(self.attention(x, bias)))
        return self.output_norm(x + self.dropout(self.output(nn.gelu(self.intermediate(x)))))


class Bert(nn.Module):
    """Encoder and pooler: tanh(dense([CLS] of the last layer))."""

    def __init__(self, args):
        super().__init__()
        self.embeddings = Embeddings(args)
        self.layers = [Layer(args) for _ in range(args.layers)]
        self.pooler = nn.Linear(args.hidden, args.hidden)

    def __call__(self, ids, mask):
        x = self.embeddings(ids)
        bias = (1.0 - mask[:, None, None, :].astype(x.dtype)) * -1e4
        for layer in self.layers:
            x = layer(x, bias)
        return mx.tanh(self.pooler(x[:, 0]))


class PairClassifier(nn.Module):
    """Conneau et al.: each sentence encoded alone, then [u, v, |u-v|, u*v] -> linear -> labels."""

    def __init__(self, args):
        super().__init__()
        self.bert = Bert(args)
        self.classifier = nn.Linear(4 * args.hidden, args.labels)

    def __call__(self, a_ids, a_mask, b_ids, b_mask):
        u, v = self.bert(a_ids, a_mask), self.bert(b_ids, b_mask)
        return self.classifier(mx.concatenate([u, v, mx.abs(u - v), u * v], axis=-1))


def loss_fn(model, a_ids, a_mask, b_ids, b_mask, labels):
    logits = model(a_ids, a_mask, b_ids, b_mask).astype(mx.float32)  # the loss in float32 at any precision
    return nn.losses.cross_entropy(logits, labels, reduction="mean")


class Trainer:
    """Owns model, optimizer and pre-built batches; `step` is one synchronised training step."""

    def __init__(self, target, args, weights, train_batches, dev_batches, compile=False):
        self.target = target
        self.model = PairClassifier(args)
        self.model.update(tree_unflatten(list(to_mlx(weights, target.dtype).items())))
        names = {k for k, _ in tree_flatten(self.model.parameters())}
        if names != set(weights):
            raise KeyError(f"parameters not set: {sorted(names ^ set(weights))}")
        self.optimizer = optim.AdamW(learning_rate=args.lr, betas=list(args.betas), eps=args.eps,
                                     weight_decay=args.weight_decay, bias_correction=True)
        self.optimizer.init(self.model.trainable_parameters())
        self.train_batches = [tuple(mx.array(x) for x in batch) for batch in train_batches]
        self.dev_batches = [tuple(mx.array(x) for x in batch) for batch in dev_batches]
        mx.eval(self.model.parameters(), self.optimizer.state, self.train_batches, self.dev_batches)
        self.loss_and_grad = nn.value_and_grad(self.model, loss_fn)
        self.train_step = self.update
        if compile:
            state = [self.model.state, self.optimizer.state, mx.random.state]
            self.train_step = mx.compile(self.update, inputs=state, outputs=state)
        self.position = 0
        self.losses = []

    def update(self, batch):
        loss, grads = self.loss_and_grad(self.model, *batch)
        self.optimizer.update(self.model, grads)
        return loss

    def step(self):
        batch = self.train_batches[self.position % len(self.train_batches)]
        self.position += 1
        loss = self.train_step(batch)
        mx.eval(loss, self.model.parameters(), self.optimizer.state)
        self.losses.append(loss)

    def epoch(self):
        for _ in range(len(self.train_batches)):
            self.step()

    def validate(self):
        """Accuracy over the dev batches, dropout off."""
        self.model.eval()
        correct = 0
        for *inputs, labels in self.dev_batches:
            correct += (mx.argmax(self.model(*inputs), axis=-1) == labels).sum().item()
        self.model.train()
        return correct / sum(len(batch[-1]) for batch in self.dev_batches)

    def gradients(self, index=0):
        """Loss and {name: gradient} of one training batch, without updating."""
        loss, grads = self.loss_and_grad(self.model, *self.train_batches[index])
        return loss.item(), {k: np.array(g.astype(mx.float32)) for k, g in tree_flatten(grads)}

    def loss_history(self):
        return [loss.item() for loss in self.losses]
