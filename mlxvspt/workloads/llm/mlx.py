"""TinyLlama generation with mlx-lm: its Llama model (`mlx_lm.models.llama`, built by its own loader)
and its generation loop (`generate_step`), as mlx-lm users run them."""
import time
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx_lm.generate import generate_step
from mlx_lm.utils import load_model


def probe(target):
    """Raises if the device cannot multiply in the run's dtype."""
    x = mx.ones((8, 8), dtype=target.dtype)
    mx.eval(x @ x)


def load(folder, target):
    """config.json + model*.safetensors through mlx-lm's loader, cast to the run's dtype before evaluation."""
    model, _ = load_model(Path(folder), lazy=True)
    model.set_dtype(target.dtype)
    mx.eval(model.parameters())
    return model


class Generator:
    def __init__(self, target, folder, path):
        self.target = target
        self.model = load(folder, target)

    def logits(self, ids):
        """Logits of one forward over the prompt (float32 numpy): the cross-check."""
        out = self.model(mx.array(ids)[None])
        return np.array(out[0].astype(mx.float32))

    def generate(self, ids, tokens, stamps):
        """Greedy, exactly `tokens` new tokens (generate_step never stops on EOS); a timestamp per token."""
        out = []
        for token, _ in generate_step(mx.array(ids), self.model, max_tokens=tokens):
            stamps.append(time.perf_counter())
            out.append(token)
        self.target.synchronize()  # generate_step has queued one more forward than it yielded
        return out
