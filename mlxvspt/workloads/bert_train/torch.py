"""BERT-tiny sentence-pair classifier and its training loop in PyTorch (mlx.py mirrors it name for name)."""
import math
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...measure.frameworks.torch import fresh_compiler
from ...measure.weights import to_torch
from .spec import COMPILED, COMPILED_FUSED_OPTIMIZER



class Embeddings(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.word_embeddings = nn.Embedding(args.vocab, args.hidden)
        self.position_embeddings = nn.Embedding(args.positions, args.hidden)
        self.token_type_embeddings = nn.Embedding(args.token_types, args.hidden)
        self.norm = nn.LayerNorm(args.hidden, eps=args.norm_eps)
        self.dropout = nn.Dropout(args.dropout)

    def forward(self, ids):
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.word_embeddings(ids) + self.position_embeddings(positions)
        x = x + self.token_type_embeddings(torch.zeros_like(ids))
        return self.dropout(self.norm(x))


class Attention(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.heads = args.heads
        self.fused = args.fused
        self.scale = 1.0 / math.sqrt(args.hidden // args.heads)
        self.query = nn.Linear(args.hidden, args.hidden)
        self.key = nn.Linear(args.hidden, args.hidden)
        self.value = nn.Linear(args.hidden, args.hidden)
        self.output = nn.Linear(args.hidden, args.hidden)
        self.dropout = nn.Dropout(args.dropout)

    def forward(self, x, bias):
        B, L, D = x.shape
        q, k, v = (p(x).reshape(B, L, self.heads, -1).permute(0, 2, 1, 3) for p in (self.query, self.key, self.value))
        if self.fused:  # no dropout on the attention probabilities: MLX's fused kernel has none
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype), scale=self.scale)
        else:
            scores = (q @ k.permute(0, 1, 3, 2)) * self.scale + bias
            out = self.dropout(torch.softmax(scores, dim=-1)) @ v
        return self.output(out.permute(0, 2, 1, 3).reshape(B, L, D))


class Layer(nn.Module):
    def __init__(self, args):
        super().__init__()
        self.attention = Attention(args)
        self.attention_norm = nn.LayerNorm(args.hidden, eps=args.norm_eps)
        self.intermediate = nn.Linear(args.hidden, args.intermediate)
        self.output = nn.Linear(args.intermediate, args.hidden)
        self.output_norm = nn.LayerNorm(args.hidden, eps=args.norm_eps)
        self.dropout = nn.Dropout(args.dropout)

    def forward(self, x, bias):
        x = self.attention_norm(x + self.dropout(self.attention(x, bias)))
        return self.output_norm(x + self.dropout(self.output(F.gelu(self.intermediate(x)))))


class Bert(nn.Module):
    """Encoder and pooler: tanh(dense([CLS] of the last layer))."""

    def __init__(self, args):
        super().__init__()
        self.embeddings = Embeddings(args)
        self.layers = nn.ModuleList([Layer(args) for _ in range(args.layers)])
        self.pooler = nn.Linear(args.hidden, args.hidden)

    def forward(self, ids, mask):
        x = self.embeddings(ids)
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * -1e4
        for layer in self.layers:
            x = layer(x, bias)
        return torch.tanh(self.pooler(x[:, 0]))


class PairClassifier(nn.Module):
    """Conneau et al.: each sentence encoded alone, then [u, v, |u-v|, u*v] -> linear -> labels.
    `pairs_batched`: both sentences of the pairs in one forward of batch 2B (the same math)."""

    def __init__(self, args):
        super().__init__()
        self.pairs_batched = args.pairs_batched
        self.bert = Bert(args)
        self.classifier = nn.Linear(4 * args.hidden, args.labels)

    def forward(self, a_ids, a_mask, b_ids, b_mask):
        if self.pairs_batched:
            u, v = self.bert(torch.cat([a_ids, b_ids]), torch.cat([a_mask, b_mask])).chunk(2)
        else:
            u, v = self.bert(a_ids, a_mask), self.bert(b_ids, b_mask)
        return self.classifier(torch.cat([u, v, torch.abs(u - v), u * v], dim=-1))


def dtypes(tensors):
    """'float32', or the sorted '/'-joined names when tensors differ."""
    return "/".join(sorted({str(t.dtype).removeprefix("torch.") for t in tensors})) or None


class Trainer:
    """Owns model, optimizer and pre-built batches; `step` is one synchronised training step.

    Weights and AdamW state are held in target.weights_dtype; the forward computes in target.dtype
    (bf16-mixed: autocast to bfloat16 over float32 weights); the loss is float32 at every precision."""

    def __init__(self, target, args, weights, train_batches, dev_batches, compile=False):
        self.target, self.path = target, args.path
        self.mixed = target.dtype != target.weights_dtype
        self.model = PairClassifier(args).to(device=target.handle, dtype=target.weights_dtype)
        self.model.load_state_dict(to_torch(weights, target.weights_dtype, target.handle), strict=True)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=args.lr, betas=args.betas, eps=args.eps,
                                           weight_decay=args.weight_decay, fused=args.fused or None)
        self.train_batches = [tuple(torch.from_numpy(x).to(target.handle) for x in batch) for batch in train_batches]
        self.dev_batches = [tuple(torch.from_numpy(x).to(target.handle) for x in batch) for batch in dev_batches]
        self.train_step = fresh_compiler()(self.update) if compile else self.update
        self.graphs_before = compiled_graphs()
        self.position = 0
        self.losses = []

    def forward(self, a_ids, a_mask, b_ids, b_mask):
        """Logits in the compute dtype."""
        with torch.autocast(self.target.handle.type, dtype=self.target.dtype, enabled=self.mixed):
            return self.model(a_ids, a_mask, b_ids, b_mask)

    def loss(self, batch):
        *inputs, labels = batch
        return F.cross_entropy(self.forward(*inputs).to(torch.float32), labels, reduction="mean")

    def update(self, batch):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss(batch)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def step(self):
        """One training step, synchronised (its peak memory: asvbench.step_peaks)."""
        batch = self.train_batches[self.position % len(self.train_batches)]
        self.position += 1
        loss = self.train_step(batch)
        self.target.synchronize()
        self.losses.append(loss)

    def epoch(self):
        for _ in range(len(self.train_batches)):
            self.step()

    def validate(self):
        """Accuracy over the dev batches, dropout off."""
        self.model.eval()
        correct = 0
        with torch.no_grad():
            for *inputs, labels in self.dev_batches:
                correct += (torch.argmax(self.forward(*inputs), dim=-1) == labels).sum().item()
        self.model.train()
        return correct / sum(len(batch[-1]) for batch in self.dev_batches)

    @contextmanager
    def dropout_off(self):
        """The cross-check's steps (dropout masks cannot match across frameworks): the model in eval mode; a
        compiled step compiles anew for them and again after (dynamo guards on the modules' training flag)."""
        self.model.eval()
        try:
            yield
        finally:
            self.model.train()

    def gradients(self):
        """Loss and {name: gradient} of the next training step, taken through the (compiled) step."""
        batch = self.train_batches[self.position % len(self.train_batches)]
        self.position += 1
        loss = self.train_step(batch)
        self.losses.append(loss)
        return loss.item(), {k: p.grad.float().cpu().numpy().copy() for k, p in self.model.named_parameters()}

    def loss_history(self):
        return [loss.item() for loss in self.losses]

    def ran(self):
        """Read back from the model, the optimizer and one forward: what this trainer runs."""
        with torch.no_grad():
            logits = self.forward(*self.dev_batches[0][:-1])
        state = [v for s in self.optimizer.state.values() for k, v in s.items() if k != "step"]
        graphs = compiled_graphs() - self.graphs_before
        fused = self.optimizer.defaults.get("fused")
        compiled = "none" if not graphs else COMPILED_FUSED_OPTIMIZER if fused else COMPILED
        return {"weights_dtype": dtypes(self.model.parameters()), "compute_dtype": dtypes([logits]),
                "state_dtype": dtypes(state), "compiled": compiled, "compiled_graphs": graphs,
                "path": self.path, "pairs_batched": self.model.pairs_batched,
                "attention": "sdpa" if self.model.bert.layers[0].attention.fused else "matmul+softmax",
                "optimizer": "AdamW fused" if fused else "AdamW"}


def compiled_graphs():
    """Graphs dynamo has compiled in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])
