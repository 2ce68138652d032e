"""TinyLlama generation with transformers: `LlamaForCausalLM` (built by its own loader) and its
`generate`, eager with the default dynamic cache or with a static cache that generate compiles."""
import time

import torch
from transformers import LlamaForCausalLM
from transformers.generation import CompileConfig
from transformers.generation.streamers import BaseStreamer

PATHS = {"generate": {}, "static-compile": {"cache_implementation": "static"}}


def probe(target):
    """Raises if the device cannot multiply in the run's dtype."""
    x = torch.ones((8, 8), dtype=target.dtype, device=target.handle)
    x @ x
    target.synchronize()


def load(folder, target):
    """config.json + model*.safetensors through transformers' loader, in the run's dtype; EOS never stops."""
    model = LlamaForCausalLM.from_pretrained(folder, dtype=target.dtype, local_files_only=True)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = 0
    return model.to(target.handle).eval()


class Stamps(BaseStreamer):
    """generate() puts the prompt, then each new token (copied to the host): timestamp the new ones."""

    def __init__(self, stamps):
        self.stamps, self.prompt_seen = stamps, False

    def put(self, value):
        if self.prompt_seen:
            self.stamps.append(time.perf_counter())
        self.prompt_seen = True

    def end(self):
        pass


class Generator:
    def __init__(self, target, folder, path):
        self.target = target
        self.model = load(folder, target)
        self.options = dict(PATHS[path])
        if path == "static-compile" and target.backend() == "cpu":
            # generate compiles by itself only on accelerators; CompileConfig's private switch extends it to CPU
            config = CompileConfig()
            config._compile_all_devices = True
            self.options["compile_config"] = config

    def logits(self, ids):
        """Logits of one forward over the prompt (float32 numpy): the cross-check."""
        with torch.inference_mode():
            out = self.model(torch.tensor([ids], device=self.target.handle)).logits
        return out[0].float().cpu().numpy()

    def generate(self, ids, tokens, stamps):
        """Greedy, exactly `tokens` new tokens (EOS disabled at load); a timestamp per token."""
        prompt = torch.tensor([ids], device=self.target.handle)
        with torch.inference_mode():
            out = self.model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=tokens,
                                      min_new_tokens=0, do_sample=False, streamer=Stamps(stamps), **self.options)
        self.target.synchronize()
        return out[0, len(ids):].tolist()
