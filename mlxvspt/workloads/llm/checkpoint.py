"""Llama weights for both frameworks: a seeded Hugging Face folder (config.json + model.safetensors, which
transformers and mlx-lm each load with their own loader) or the user's checkpoint folder, validated
before anything is loaded, with its tokenizer when it has one."""
import json
import os
import shutil
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ... import paths
from ...measure import weights
from ...errors import UsageError

# Llama shapes (Hugging Face config.json keys); "tinyllama" = TinyLlama-1.1B-Chat; "toy64": the toy with every
# width a multiple of 64, as quantization in groups of 64 needs (llm_quant).
MODELS = {
    "toy": {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "vocab_size": 512},
    "toy64": {"hidden_size": 64, "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4,
              "num_key_value_heads": 2, "vocab_size": 512},
    "tinyllama": {"hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 22,
                  "num_attention_heads": 32, "num_key_value_heads": 4, "vocab_size": 32000},
}
COMMON = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
          "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 2048,
          "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
          "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
INIT_STD = 0.02  # Hugging Face's initializer_range for Llama


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


def validate_groups(cfg, group_size, where):
    """One UsageError unless every Linear layer's input width is a multiple of `group_size`: weights are
    quantized in groups along it, and mlx-lm and torchao both leave a layer that does not fit in float
    without a word (so the quantized models would not be the ones compared)."""
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // cfg["num_attention_heads"]
    widths = {"hidden_size": cfg["hidden_size"], "intermediate_size": cfg["intermediate_size"],
              "num_attention_heads x head_dim": cfg["num_attention_heads"] * head_dim}
    if "tie_word_embeddings" not in cfg:  # mlx-lm ties the head to the embedding then, transformers does not
        raise UsageError(f"{where}: config.json does not say tie_word_embeddings, and mlx-lm and transformers "
                         "read its absence differently (one quantizes a head the other lacks); add it")
    bad = next((name for name, width in widths.items() if width % group_size), None)
    if bad:
        raise UsageError(f"{where}: {bad} {widths[bad]} is not a multiple of {group_size}, the group size llm_quant "
                         f"quantizes weights in; leave llm_quant out (e.g. --workload llm)")


def drawn(name, shape, seed):
    """One tensor of a seeded checkpoint: its norms' weights ones, the rest normals of INIT_STD from `seed`."""
    return weights.seeded_float32(shape, "ones" if name.endswith("norm.weight") else INIT_STD, seed)


def write_checkpoint(folder, cfg, seed=0):
    """A Hugging Face folder (config.json + model.safetensors) of seeded float32 weights.

    Tensors are drawn on a thread a core (each from its own generator, `drawn`, so the bytes do not depend on
    which thread ends first), at most one a thread ahead of the file they are written to in name order (the 1.1B
    file is 4.4 GB: never all in RAM), into a temporary folder renamed into place, so a reader never sees half a
    checkpoint. They are drawn in float32 (weights.seeded_float32: the GPU point's first TinyLlama build, which
    writes the file, took 29 s on an H100's host; 20.4 s on one thread of a 2-core CPU, 11.4 s on both, the same
    bytes).
    """
    folder = Path(folder)
    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    shapes = parameter_shapes(cfg)
    names, threads = sorted(shapes), os.cpu_count() or 1
    header, offset = {}, 0
    for name in names:
        size = 4 * int(np.prod(shapes[name]))
        header[name] = {"dtype": "F32", "shape": list(shapes[name]), "data_offsets": [offset, offset + size]}
        offset += size
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(tmp / "model.safetensors", "wb") as f, ThreadPoolExecutor(threads) as pool:
        f.write(len(head).to_bytes(8, "little") + head)
        drawing = deque()
        for i, name in enumerate(names):
            drawing.append(pool.submit(drawn, name, shapes[name], seed + i))
            if len(drawing) > threads:  # at most one tensor a thread ahead of the file
                f.write(drawing.popleft().result().data)
        while drawing:
            f.write(drawing.popleft().result().data)
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


def safetensors_files(folder, where):
    """The weight files of a checkpoint: every shard its model.safetensors.index.json names (all present),
    else its model*.safetensors. Pickle weights are refused by name (they run code when loaded)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UsageError(f"{where}: cannot read {index.name} ({exc})") from None
        missing = [name for name in shards if not (folder / name).is_file()]
        if missing:
            raise UsageError(f"{where}: {len(missing)} of the {len(shards)} shards {index.name} lists are missing "
                             f"(first: {missing[0]})")
        return [folder / name for name in shards]
    files = sorted(folder.glob("model*.safetensors"))
    if not files:
        pickles = [p.name for p in folder.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt")]
        hint = f" (found {', '.join(pickles)}: pickle weights are not loaded; convert them to safetensors)"
        raise UsageError(f"{where}: no model*.safetensors{hint if pickles else ''}")
    return files


def validate_checkpoint(folder):
    """The user's folder must be a complete Hugging Face Llama checkpoint in safetensors: else one UsageError.

    Reads only config.json and the safetensors headers, so nothing is loaded before the folder is known good.
    """
    from safetensors import SafetensorError, safe_open

    folder = Path(folder)
    where = f"--llm-checkpoint {folder}"
    if not folder.is_dir():
        raise UsageError(f"{where}: not a folder (expected a Hugging Face Llama folder)")
    files = safetensors_files(folder, where)
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
    found = {}
    for path in files:
        try:
            with safe_open(path, "np") as f:
                found.update({k: tuple(f.get_slice(k).get_shape()) for k in f.keys()})
        except (SafetensorError, OSError) as exc:
            raise UsageError(f"{where}: cannot read {path.name} ({exc})") from None
    sizes = ("hidden_size", "intermediate_size", "vocab_size", "num_attention_heads", "num_hidden_layers")
    bad = next((k for k in sizes if k in cfg and not (isinstance(cfg[k], int) and cfg[k] > 0)), None)
    if bad:
        raise UsageError(f"{where}: config.json's {bad} is {cfg[bad]!r}, not a positive whole number")
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
