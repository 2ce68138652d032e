"""TinyLlama generation with transformers: `LlamaForCausalLM` (built by its own loader) and its `generate`
over a batch of one or more prompts, eager with the default dynamic cache or with a static cache, for
which generate torch.compiles the decoding forward."""
import time

import torch
from transformers import LlamaForCausalLM
from transformers.generation import CompileConfig
from transformers.generation.streamers import BaseStreamer

PATHS = {"generate": {}, "static-compile": {"cache_implementation": "static"}}
PAD = 0  # the pad token id prompts of unequal length are left-padded with (attention mask 0 there)


def probe(target):
    """Raises if the device cannot multiply in the run's dtype."""
    x = torch.ones((8, 8), dtype=target.dtype, device=target.handle)
    x @ x
    target.synchronize()


def lacks(target, batch):
    """Why this transformers cannot run the generation asked: every release the ledger pins can (None)."""
    return None


def load(folder, target):
    """config.json + model*.safetensors through transformers' loader, in the run's dtype; EOS never stops."""
    model = LlamaForCausalLM.from_pretrained(folder, dtype=target.dtype, local_files_only=True)
    model.generation_config.eos_token_id = None
    model.generation_config.pad_token_id = PAD
    return model.to(target.handle).eval()


class Stamps(BaseStreamer):
    """generate() puts the prompt, then each step's new tokens (copied to the host): timestamp the new ones."""

    def __init__(self, stamps):
        self.stamps, self.prompt_seen = stamps, False

    def put(self, value):
        if self.prompt_seen:
            self.stamps.append(time.perf_counter())
        self.prompt_seen = True

    def end(self):
        pass


def left_padded(prompts, device):
    """(ids, attention mask) of a batch, shorter prompts left-padded as transformers' decoder-only models want."""
    width = max(len(p) for p in prompts)
    ids = torch.tensor([[PAD] * (width - len(p)) + list(p) for p in prompts], device=device)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
    return ids, mask


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

    def synchronize(self):
        self.target.synchronize()

    def weights_dtypes(self):
        return {self.target.fw.dtype_name(p) for p in self.model.parameters()}

    def compiled(self):
        """'decode-forward' once generate has torch.compiled the model's forward (static cache: prefill runs
        eager, every decoding step the compiled forward), else 'none'."""
        return "decode-forward" if hasattr(self.model, "_compiled_call") else "none"

    def forward(self, ids):
        """Logits of one forward over a batch of equal-length prompts into a fresh KV cache (the prefill of
        generation), synchronised."""
        with torch.inference_mode():
            out = self.model(torch.tensor(ids, device=self.target.handle), use_cache=True).logits
        self.synchronize()
        return out

    def numpy(self, logits):
        return logits.float().cpu().numpy()

    def generate(self, prompts, tokens, stamps, logits=None):
        """Greedy, exactly `tokens` new tokens per prompt (EOS disabled at load); a timestamp whenever a step's
        tokens reach the host. `logits` (a list), if given, receives each step's logits [batch, vocab] (the check)."""
        ids, mask = left_padded(prompts, self.target.handle)
        keep = {"output_logits": True, "return_dict_in_generate": True} if logits is not None else {}
        with torch.inference_mode():
            out = self.model.generate(ids, attention_mask=mask, max_new_tokens=tokens, min_new_tokens=0,
                                      do_sample=False, streamer=Stamps(stamps), **self.options, **keep)
        self.synchronize()
        if logits is not None:
            logits += [self.numpy(step) for step in out.logits]
            out = out.sequences
        return out[:, ids.shape[1]:].tolist()
