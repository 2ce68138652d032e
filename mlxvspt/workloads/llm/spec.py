"""TinyLlama-1.1B text generation (the seed's issue 3): transformers vs mlx-lm on the same Llama weights.

Work of one step: each of `prompts` prompts (P tokens) then exactly `tokens` (G) new tokens, greedy,
end-of-sequence disabled, in the run's dtype. Each framework runs the library its users run:
transformers `LlamaForCausalLM.generate` (path "generate": eager, default dynamic cache; path
"static-compile": `cache_implementation="static"`, which makes generate torch.compile the forward) and
mlx-lm's `mlx_lm.models.llama` through `mlx_lm.generate.generate_step` (path "generate").

Timing, the same definition in both frameworks: the clock starts when the library's generation call
starts; a timestamp is taken whenever a new token reaches Python (transformers: its streamer's put(),
which copies the token to the host; mlx-lm: each token generate_step yields, through .item()). This is
also how mlx-lm's `stream_generate` computes its prompt and generation rates.
- time to first token (TTFT) = first timestamp - start: prefill, first sampling and the library's setup;
- prefill ms/token = TTFT / P (summed over prompts);
- decode ms/token = (last timestamp - first timestamp) / (G - 1) (summed over prompts);
- peak memory = `Target.peak_memory()` over the step: MLX's allocator peak; PyTorch's allocator peak on
  CUDA, the process's max RSS on CPU (interpreter and libraries included).

Weights: seeded (written once under the cache as a Hugging Face folder, config.json + model.safetensors,
which both libraries load with their own loaders) or the user's --llm-checkpoint folder, whose tokenizer
and chat template then turn the five PROMPTS into ids.
"""
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from ... import paths, weights
from ...check import CheckResult
from ...devices import Target
from ...errors import Unavailable, UsageError
from ...presets import sizes as preset_sizes
from .. import implementation

# Llama shapes (Hugging Face config.json keys); "tinyllama" = TinyLlama-1.1B-Chat.
MODELS = {
    "toy": {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "vocab_size": 512},
    "tinyllama": {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
                  "num_attention_heads": 32, "num_key_value_heads": 4, "vocab_size": 32000},
}
COMMON = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
          "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 2048,
          "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
          "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
INIT_STD = 0.02  # Hugging Face's initializer_range for Llama

# The seed's five prompts (chat-templated when a checkpoint brings a tokenizer).
PROMPTS = (
    "Explain in simple terms how a transformer language model generates text one token at a time.",
    "Write a short poem about the ocean at night.",
    "What are three practical tips for someone learning to cook at home?",
    "Summarise the causes of the First World War in a few sentences.",
    "Write a Python function that checks whether a string is a palindrome, and explain it.",
)

# Generation paths: which frameworks have each one.
PATHS = {"generate": ("mlx", "torch"), "static-compile": ("torch",)}
DTYPES = {"float32": "fp32", "float16": "fp16", "bfloat16": "bf16"}


def applies(framework, path):
    """NotImplementedError (asv's n/a) for a path the framework's library does not have; nothing loaded."""
    if framework not in PATHS[path]:
        raise NotImplementedError(f"{framework} has no {path!r} generation path (only {', '.join(PATHS[path])})")


def config(model, layers=None):
    """config.json of a seeded model; `layers` keeps the widths and shortens the stack (CPU presets)."""
    cfg = {**COMMON, **MODELS[model]}
    if layers:
        cfg["num_hidden_layers"] = layers
    return cfg


def parameter_shapes(cfg):
    """Hugging Face Llama tensor names -> shapes: what a complete checkpoint must hold."""
    h, inter, v = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    heads = cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or h // heads
    kv = cfg.get("num_key_value_heads", heads) * head_dim
    shapes = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,)}
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (v, h)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
                       p + "self_attn.q_proj.weight": (heads * head_dim, h), p + "self_attn.k_proj.weight": (kv, h),
                       p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, heads * head_dim),
                       p + "mlp.gate_proj.weight": (inter, h), p + "mlp.up_proj.weight": (inter, h),
                       p + "mlp.down_proj.weight": (h, inter)})
    return shapes


def write_checkpoint(folder, cfg, seed=0):
    """A Hugging Face folder (config.json + model.safetensors) of seeded float32 weights.

    Tensors are generated and written one at a time (the 1.1B file is 4.4 GB: never all in RAM), into a
    temporary folder renamed into place, so a reader never sees half a checkpoint.
    """
    folder = Path(folder)
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    shapes = parameter_shapes(cfg)
    header, offset = {}, 0
    for name in sorted(shapes):
        size = 4 * int(np.prod(shapes[name]))
        header[name] = {"dtype": "F32", "shape": list(shapes[name]), "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(tmp / "model.safetensors", "wb") as f:
        f.write(len(head).to_bytes(8, "little") + head)
        for i, name in enumerate(sorted(shapes)):
            init = "ones" if name.endswith("norm.weight") else INIT_STD
            f.write(weights.seeded({name: (shapes[name], init)}, seed=seed + i)[name].data)
    (tmp / "config.json").write_text(json.dumps(cfg, indent=1))
    try:
        os.replace(tmp, folder)
    except OSError:  # another process wrote it first
        shutil.rmtree(tmp)
    return folder


def seeded_checkpoint(model, layers=None):
    cfg = config(model, layers)
    folder = paths.cache_dir() / "llm" / f"{model}-{cfg['num_hidden_layers']}layers-seed0"
    if not (folder / "config.json").is_file():
        write_checkpoint(folder, cfg)
    return folder


def validate_checkpoint(folder):
    """The user's folder must be a complete Hugging Face Llama checkpoint in safetensors: else one UsageError.

    Reads only config.json and the safetensors headers, so nothing is loaded before the folder is known good.
    """
    from safetensors import SafetensorError, safe_open

    folder = Path(folder)
    where = f"--llm-checkpoint {folder}"
    if not folder.is_dir():
        raise UsageError(f"{where}: not a folder (expected a Hugging Face Llama folder)")
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except FileNotFoundError:
        raise UsageError(f"{where}: no config.json") from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"{where}: cannot read config.json ({exc})") from None
    if not isinstance(cfg, dict) or cfg.get("model_type") != "llama":
        arch = (cfg.get("architectures") or cfg.get("model_type")) if isinstance(cfg, dict) else "no model"
        raise UsageError(f"{where}: config.json describes {arch}, not a Llama (model_type 'llama')")
    if "quantization_config" in cfg or "quantization" in cfg:
        raise UsageError(f"{where}: quantized checkpoints are not compared; give float weights")
    files = sorted(folder.glob("model*.safetensors"))
    if not files:
        pickles = [p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt")]
        hint = f" (found {', '.join(pickles)}: pickle weights are not loaded; convert them to safetensors)"
        raise UsageError(f"{where}: no model*.safetensors{hint if pickles else ''}")
    found = {}
    for path in files:
        try:
            with safe_open(path, "np") as f:
                found.update({k: tuple(f.get_slice(k).get_shape()) for k in f.keys()})
        except (SafetensorError, OSError) as exc:
            raise UsageError(f"{where}: cannot read {path.name} ({exc})") from None
    try:
        want = parameter_shapes(cfg)
    except (KeyError, TypeError) as exc:
        raise UsageError(f"{where}: config.json lacks {exc}") from None
    missing = sorted(set(want) - set(found))
    if missing:
        raise UsageError(f"{where}: incomplete, {len(missing)} tensors missing (first: {missing[0]})")
    wrong = [k for k in want if found[k] != tuple(want[k])]
    if wrong:
        raise UsageError(f"{where}: {wrong[0]} has shape {found[wrong[0]]}, config.json implies {want[wrong[0]]}")
    return cfg


def tokenizer(folder):
    """The checkpoint's tokenizer, or None when the folder has none (fixed token ids are used then)."""
    if not any((folder / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")):
        return None
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except Exception as exc:  # transformers raises many types for a broken tokenizer
        raise UsageError(f"--llm-checkpoint {folder}: cannot load its tokenizer ({exc})") from None


def prompt_ids(tok, count, length, vocab, seed=0):
    """Token ids of the first `count` PROMPTS: chat-templated by `tok`, or seeded fixed ids of `length`."""
    if tok is None:
        rng = np.random.default_rng(seed)
        return [rng.integers(3, vocab, size=length).tolist() for _ in range(count)]
    if tok.chat_template:
        return [list(tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                             tokenize=True, return_dict=False)) for p in PROMPTS[:count]]
    return [tok(p).input_ids for p in PROMPTS[:count]]


def inputs(sizes):
    """(folder, prompts) for a run: the user's checkpoint, if given, replaces the preset's seeded model."""
    folder = paths.user_input("llm_checkpoint")
    if folder is None:
        folder = seeded_checkpoint(sizes["model"], sizes.get("layers"))
        tok = None
    else:
        validate_checkpoint(folder)
        tok = tokenizer(folder)
    cfg = json.loads((folder / "config.json").read_text())
    return folder, prompt_ids(tok, sizes["prompts"], sizes["prompt_tokens"], cfg["vocab_size"])


def probe(target):
    """Unavailable if the device cannot compute in the run's dtype (e.g. bfloat16 on an old GPU)."""
    try:
        implementation("llm", target.framework).probe(target)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise Unavailable(f"{target.framework} {target.dtype_name} on {target.device}: {exc}") from None


class Runner:
    """One step = every prompt through the library's generation call; keeps timings of the last step."""

    def __init__(self, target, generator, prompts, tokens):
        self.target, self.generator, self.prompts, self.tokens = target, generator, prompts, tokens
        self.outputs, self.stats = [], {}

    def step(self):
        self.target.synchronize()
        self.target.reset_peak_memory()
        ttft = decode = 0.0
        self.outputs = []
        for ids in self.prompts:
            stamps = []
            start = time.perf_counter()
            self.outputs.append(self.generator.generate(ids, self.tokens, stamps))
            if len(stamps) != self.tokens:
                raise RuntimeError(f"{self.target.framework} produced {len(stamps)} tokens, not {self.tokens}")
            ttft += stamps[0] - start
            decode += stamps[-1] - stamps[0]
        self.target.synchronize()
        n = len(self.prompts)
        self.stats = {"ttft_ms": 1e3 * ttft / n,
                      "prefill_ms_per_token": 1e3 * ttft / sum(len(p) for p in self.prompts),
                      "decode_ms_per_token": 1e3 * decode / (n * (self.tokens - 1)),
                      "peak_memory_bytes": self.target.peak_memory()}
        return self.stats


def build(target, sizes):
    path = sizes.get("path", "generate")
    applies(target.framework, path)
    if sizes["tokens"] < 2:
        raise UsageError("llm needs at least 2 new tokens to time decoding")
    if path == "static-compile" and not sizes.get("compile", True):
        raise Unavailable("static-cache torch.compile is off at this preset: compiling takes longer than its "
                          "budget on CPU (37 s for the toy model); it runs at `full`")
    folder, prompts = inputs(sizes)
    probe(target)
    generator = implementation("llm", target.framework).Generator(target, folder, path)
    runner = Runner(target, generator, prompts, sizes["tokens"])
    if path == "static-compile":
        # compiles prefill and decode graphs; the caller's warm-up step then catches any recompile
        start = time.perf_counter()
        runner.step()
        runner.compile_s = time.perf_counter() - start
    return runner


def check(preset="tiny", device="cpu", steps=16):
    """Same weights, float32: first forward's logits within 1e-4 and the first `steps` greedy tokens identical."""
    sizes = {**preset_sizes("llm", preset), "tokens": steps, "prompts": 1}
    result = CheckResult("llm")
    logits, tokens = {}, {}
    for framework in ("mlx", "torch"):
        runner = build(Target(framework, "cpu", "fp32").activate(), sizes)
        logits[framework] = runner.generator.logits(runner.prompts[0])
        runner.step()
        tokens[framework] = runner.outputs[0]
    result.close("first forward logits (fp32)", logits["mlx"], logits["torch"], atol=1e-4)
    result.equal(f"first {steps} greedy tokens", tokens["mlx"], tokens["torch"])
    return result
