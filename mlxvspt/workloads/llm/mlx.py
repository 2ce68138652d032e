"""TinyLlama generation with mlx-lm: its Llama model (`mlx_lm.models.llama`, built by its own loader) and
its generation loops as mlx-lm users run them: `generate_step` for one prompt (what `generate` and
`stream_generate` run), `BatchGenerator` for several (what `batch_generate` runs).

mlx-lm queues its work on its own stream, `mlx_lm.generate.generation_stream`: every wait here is on
that stream (`mx.synchronize()` alone waits only for the default stream).
"""
import importlib
import inspect
import time
from importlib.metadata import version
from pathlib import Path

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.generate import generate_step, generation_stream
from mlx_lm.models.cache import make_prompt_cache
from mlx_lm.utils import load_model

# mlx-lm before 0.32: generate_step takes no stream (it runs on generation_stream, made on the default
# device); before 0.31: no BatchGenerator.next_generated, the loop batch_generate runs. The release
# history measures those releases where they can run the same work.
STREAM_ARGUMENT = "stream" in inspect.signature(generate_step).parameters
mlx_lm_generate = importlib.import_module("mlx_lm.generate")  # mlx_lm.generate is also a function's name
BATCHED = hasattr(getattr(mlx_lm_generate, "BatchGenerator", None), "next_generated")


def lacks(target, batch):
    """Why this mlx-lm cannot run the generation asked (None if it can)."""
    if batch > 1 and not BATCHED:
        return f"mlx-lm {version('mlx-lm')} has no BatchGenerator.next_generated: batched decode needs mlx-lm >= 0.31"
    if not STREAM_ARGUMENT and generation_stream.device != target.handle:
        return (f"mlx-lm {version('mlx-lm')}'s generate_step runs on the default device ({generation_stream.device}), "
                f"not the {target.device}: needs mlx-lm >= 0.32")
    return None


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


def stream_for(target):
    """mlx-lm's generation stream, made on the default device when mlx_lm.generate was imported; a stream on
    the run's device instead when that differs (MLX on the CPU of a GPU machine)."""
    return generation_stream if generation_stream.device == target.handle else mx.new_stream(target.handle)


class Generator:
    def __init__(self, target, folder, path):
        self.target = target
        self.model = load(folder, target)
        self.stream = stream_for(target)

    def synchronize(self):
        mx.synchronize(self.stream)

    def weights_dtypes(self):
        return {self.target.fw.dtype_name(p) for _, p in tree_flatten(self.model.parameters())}

    def compiled(self):
        """mlx-lm's generation loops compile nothing."""
        return "none"

    def forward(self, ids):
        """Logits of one forward over a batch of equal-length prompts into a fresh KV cache (the prefill of
        generation), evaluated and synchronised."""
        with mx.stream(self.stream):
            out = self.model(mx.array(ids), cache=make_prompt_cache(self.model))
            mx.eval(out)
        self.synchronize()
        return out

    def numpy(self, logits):
        return np.array(logits.astype(mx.float32))

    def generate(self, prompts, tokens, stamps, logits=None):
        """Greedy, exactly `tokens` new tokens per prompt (EOS never stops them); a timestamp whenever a step's
        tokens reach Python. `logits` (a list), if given, receives each step's log-probabilities [batch, vocab]
        as mlx-lm yields them (its logits less their log-normaliser; the checks)."""
        steps = None if logits is None else []  # each step's log-probabilities, one a prompt, held until the end
        outputs = (self.single if len(prompts) == 1 else self.batched)(prompts, tokens, stamps, steps)
        if logits is not None:
            logits += [self.numpy(mx.stack(step)) for step in steps]
        return outputs

    def single(self, prompts, tokens, stamps, steps):
        """`generate` of one prompt: mlx-lm's generate_step."""
        out = []
        stream = {"stream": self.stream} if STREAM_ARGUMENT else {}  # else it is generation_stream (lacks)
        for token, logprobs in generate_step(mx.array(prompts[0]), self.model, max_tokens=tokens, **stream):
            stamps.append(time.perf_counter())
            out.append(token)
            if steps is not None:
                steps.append([logprobs])
        self.synchronize()  # generate_step has queued one more forward than it yielded
        return [out]

    def batched(self, prompts, tokens, stamps, steps):
        """`generate` of several prompts: mlx-lm's BatchGenerator, its responses put back in the prompts' order."""
        gen = mlx_lm_generate.BatchGenerator(self.model, max_tokens=tokens, stream=self.stream,
                                             prefill_batch_size=len(prompts), completion_batch_size=len(prompts))
        uids = gen.insert(prompts)
        out = {uid: [] for uid in uids}
        while responses := gen.next_generated():
            stamps.append(time.perf_counter())
            for r in responses:
                out[r.uid].append(r.token)
            if steps is not None:
                step = {r.uid: r.logprobs for r in responses}
                steps.append([step[uid] for uid in uids])
        gen.close()
        self.synchronize()
        return [out[uid] for uid in uids]
