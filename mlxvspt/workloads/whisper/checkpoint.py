"""Whisper weights for both frameworks: one seeded checkpoint, or the user's openai-whisper .pt or
Hugging Face folder, always as float32 numpy arrays under openai-whisper's parameter names.

mlx-whisper loads weights with a non-strict update (a misspelt key is silently left at its initial
value), so both framework modules check names and shapes against their model with `require_same`.
"""
import json
from pathlib import Path

import numpy as np

from ...measure import weights
from ...errors import UsageError
from ...paths import cache_dir

DIMENSIONS = ("n_mels", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
              "n_vocab", "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer")
MODELS = {
    # openai-whisper "tiny" (multilingual vocabulary).
    "tiny": dict(n_mels=80, n_audio_ctx=1500, n_audio_state=384, n_audio_head=6, n_audio_layer=4,
                 n_vocab=51865, n_text_ctx=448, n_text_state=384, n_text_head=6, n_text_layer=4),
    # Same vocabulary, contexts and 30-s input as tiny, a fraction of the state and layers: tests.
    "toy": dict(n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
                n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2),
}
# torch.save writes a zip archive (a legacy file is a bare pickle, protocol 2+)
TORCH_FILE_STARTS = (b"PK\x03\x04", b"\x80")
STD = 0.05  # seeded weights: large enough that greedy decoding does not repeat one token forever


def sinusoids(length, channels, max_timescale=10000):
    """The encoder's fixed positional embedding, as both libraries compute it."""
    increment = np.log(max_timescale) / (channels // 2 - 1)
    scaled = np.arange(length)[:, None] * np.exp(-increment * np.arange(channels // 2))[None, :]
    return np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1).astype(np.float32)


def shapes(dims):
    """{openai-whisper name: shape} of every tensor in a checkpoint with these dimensions."""
    out = {}

    def block(prefix, state, cross):
        for attn in ("attn", "cross_attn") if cross else ("attn",):
            for proj in ("query", "key", "value", "out"):
                out[f"{prefix}.{attn}.{proj}.weight"] = (state, state)
                if proj != "key":
                    out[f"{prefix}.{attn}.{proj}.bias"] = (state,)
        for norm in ("attn_ln", "cross_attn_ln", "mlp_ln") if cross else ("attn_ln", "mlp_ln"):
            out[f"{prefix}.{norm}.weight"] = out[f"{prefix}.{norm}.bias"] = (state,)
        out[f"{prefix}.mlp.0.weight"], out[f"{prefix}.mlp.0.bias"] = (4 * state, state), (4 * state,)
        out[f"{prefix}.mlp.2.weight"], out[f"{prefix}.mlp.2.bias"] = (state, 4 * state), (state,)

    a, t = dims["n_audio_state"], dims["n_text_state"]
    out["encoder.conv1.weight"], out["encoder.conv1.bias"] = (a, dims["n_mels"], 3), (a,)
    out["encoder.conv2.weight"], out["encoder.conv2.bias"] = (a, a, 3), (a,)
    out["encoder.positional_embedding"] = (dims["n_audio_ctx"], a)
    for i in range(dims["n_audio_layer"]):
        block(f"encoder.blocks.{i}", a, cross=False)
    out["encoder.ln_post.weight"] = out["encoder.ln_post.bias"] = (a,)
    out["decoder.token_embedding.weight"] = (dims["n_vocab"], t)
    out["decoder.positional_embedding"] = (dims["n_text_ctx"], t)
    for i in range(dims["n_text_layer"]):
        block(f"decoder.blocks.{i}", t, cross=True)
    out["decoder.ln.weight"] = out["decoder.ln.bias"] = (t,)
    return out


def require_same(expected, arrays, source):
    """Every expected name present with its shape, nothing extra: else one clear UsageError.
    `arrays` maps names to arrays or to shapes."""
    shape = {k: tuple(getattr(v, "shape", v)) for k, v in arrays.items()}
    missing = sorted(set(expected) - set(arrays))
    extra = sorted(set(arrays) - set(expected))
    wrong = sorted(f"{k} {shape[k]} != {tuple(expected[k])}"
                   for k in set(expected) & set(arrays) if shape[k] != tuple(expected[k]))
    if missing or extra or wrong:
        detail = "; ".join(f"{what}: {', '.join(names[:3])}{' ...' if len(names) > 3 else ''}"
                           for what, names in (("missing", missing), ("unexpected", extra),
                                               ("wrong shape", wrong)) if names)
        raise UsageError(f"{source} does not fit a whisper model of its dimensions ({detail})")


def seeded(model, seed=0):
    """(dims, arrays) of the seeded checkpoint of a named size, cached under the suite's cache."""
    if model not in MODELS:
        raise UsageError(f"unknown whisper model {model!r}; choose one of: {', '.join(MODELS)}")
    dims = MODELS[model]

    def build():
        init = {k: (s, "ones" if k.endswith(("ln.weight", "ln_post.weight")) else "zeros" if k.endswith("bias")
                    else STD) for k, s in shapes(dims).items()}
        init.pop("encoder.positional_embedding")
        arrays = weights.seeded(init, seed)
        arrays["encoder.positional_embedding"] = sinusoids(dims["n_audio_ctx"], dims["n_audio_state"])
        return arrays

    return dict(dims), dict(weights.cached(cache_dir() / "whisper" / f"{model}-seed{seed}.safetensors", build))


def open_openai(path):
    """(dims, {name: torch tensor}) of an openai-whisper .pt ({"dims", "model_state_dict"}), read without
    running code, memory-mapped where the file's format allows (tensors are read when used)."""
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith(TORCH_FILE_STARTS):  # known before paying for `import torch`
        raise UsageError(f"--whisper-checkpoint {path}: not an openai-whisper .pt (not a file torch.save writes) "
                         "nor a Hugging Face whisper folder")
    import torch

    try:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):  # torch's legacy (non-zip) format cannot be mapped
                raise
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle.UnpicklingError, RuntimeError, EOFError...: all mean "not this format"
        raise UsageError(f"--whisper-checkpoint {path}: not a plain openai-whisper checkpoint "
                         f"(torch.load weights_only=True refused it: {(str(exc).splitlines() or [''])[0]})") from None
    if not isinstance(checkpoint, dict) or not {"dims", "model_state_dict"} <= set(checkpoint) or \
            not isinstance(checkpoint["model_state_dict"], dict):
        raise UsageError(f"--whisper-checkpoint {path}: expected an openai-whisper .pt with "
                         "'dims' and 'model_state_dict' (a dict of tensors)")
    tensors = {k: v for k, v in checkpoint["model_state_dict"].items() if k != "alignment_heads"}
    odd = next((k for k, v in tensors.items() if not isinstance(v, torch.Tensor)), None)
    if odd is not None:
        raise UsageError(f"--whisper-checkpoint {path}: model_state_dict[{odd!r}] is a "
                         f"{type(tensors[odd]).__name__}, not a tensor")
    return checkpoint["dims"], tensors


def from_openai(path):
    dims, tensors = open_openai(path)
    return dims, {k: v.float().numpy() for k, v in tensors.items()}


# Hugging Face WhisperForConditionalGeneration name pieces -> openai-whisper's.
HF_NAMES = [(".layers.", ".blocks."), (".self_attn.q_proj", ".attn.query"), (".self_attn.k_proj", ".attn.key"),
            (".self_attn.v_proj", ".attn.value"), (".self_attn.out_proj", ".attn.out"),
            (".self_attn_layer_norm", ".attn_ln"), (".encoder_attn.q_proj", ".cross_attn.query"),
            (".encoder_attn.k_proj", ".cross_attn.key"), (".encoder_attn.v_proj", ".cross_attn.value"),
            (".encoder_attn.out_proj", ".cross_attn.out"), (".encoder_attn_layer_norm", ".cross_attn_ln"),
            (".fc1", ".mlp.0"), (".fc2", ".mlp.2"), (".final_layer_norm", ".mlp_ln"),
            ("encoder.layer_norm", "encoder.ln_post"), ("decoder.layer_norm", "decoder.ln"),
            ("embed_tokens", "token_embedding"), ("embed_positions.weight", "positional_embedding")]
HF_DIMS = {"n_mels": "num_mel_bins", "n_audio_ctx": "max_source_positions", "n_audio_state": "d_model",
           "n_audio_head": "encoder_attention_heads", "n_audio_layer": "encoder_layers",
           "n_vocab": "vocab_size", "n_text_ctx": "max_target_positions", "n_text_state": "d_model",
           "n_text_head": "decoder_attention_heads", "n_text_layer": "decoder_layers"}


def open_hf(folder):
    """(dims, weight files) of a Hugging Face whisper folder (config.json + *.safetensors)."""
    files = sorted(Path(folder).glob("*.safetensors"))
    if not (Path(folder) / "config.json").is_file() or not files:
        raise UsageError(f"--whisper-checkpoint {folder}: expected config.json and *.safetensors")
    try:
        config = json.loads((Path(folder) / "config.json").read_text())
        dims = {k: int(config[v]) for k, v in HF_DIMS.items()}
    except (OSError, KeyError, TypeError, ValueError):
        raise UsageError(f"--whisper-checkpoint {folder}: config.json is not a whisper config") from None
    return dims, files


def openai_name(hf_name):
    """openai-whisper's name of a Hugging Face tensor; None for proj_out (tied to the token embedding)."""
    name = hf_name.removeprefix("model.")
    if name == "proj_out.weight":
        return None
    for hf, openai in HF_NAMES:
        name = name.replace(hf, openai)
    return name


def from_hf(folder):
    """A Hugging Face whisper folder, renamed to openai-whisper's names."""
    from safetensors.numpy import load_file

    dims, files = open_hf(folder)
    arrays = {}
    for file in files:
        for name, value in load_file(file).items():
            if openai_name(name):
                arrays[openai_name(name)] = value.astype(np.float32)
    return dims, arrays


def tensor_shapes(path):
    """(dims, {openai-whisper name: shape}) of the user's checkpoint, from headers and metadata only."""
    from safetensors import SafetensorError, safe_open

    if not path.is_dir():
        dims, tensors = open_openai(path)
        return dims, {k: tuple(v.shape) for k, v in tensors.items()}
    dims, files = open_hf(path)
    found = {}
    for file in files:
        try:
            with safe_open(file, "np") as f:
                found.update({openai_name(k): tuple(f.get_slice(k).get_shape()) for k in f.keys() if openai_name(k)})
        except (SafetensorError, OSError) as exc:
            raise UsageError(f"--whisper-checkpoint {file}: cannot read it ({exc})") from None
    return dims, found


def checked_dims(dims, arrays, path):
    """Whisper's dimensions as ints, every tensor's name and shape checked against them."""
    if not isinstance(dims, dict) or set(dims) != set(DIMENSIONS):
        found = sorted(dims) if isinstance(dims, dict) else type(dims).__name__
        raise UsageError(f"--whisper-checkpoint {path}: dims {found} are not whisper's {list(DIMENSIONS)}")
    try:
        dims = {k: int(dims[k]) for k in DIMENSIONS}
    except (TypeError, ValueError):
        raise UsageError(f"--whisper-checkpoint {path}: dims {dims} are not all whole numbers") from None
    if min(dims.values()) < 1:
        raise UsageError(f"--whisper-checkpoint {path}: dims {dims} must all be positive")
    require_same(shapes(dims), arrays, f"--whisper-checkpoint {path}")
    return dims


def validate(path):
    """A --whisper-checkpoint checked before a run: readable, whisper's tensors with their shapes (no weights read)."""
    dims, found = tensor_shapes(Path(path))
    checked_dims(dims, found, path)


def load(path=None, model=None):
    """(dims, arrays) of the user's checkpoint if given, else of the seeded `model`; shapes checked."""
    if path is None:
        return seeded(model)
    path = Path(path)
    dims, arrays = from_hf(path) if path.is_dir() else from_openai(path)
    return checked_dims(dims, arrays, path), arrays


def to_mlx(arrays, dims):
    """openai-whisper names -> mlx-whisper's: mlp.0/mlp.2 -> mlp1/mlp2, conv weights (out, in, k) ->
    (out, k, in); the encoder's sinusoids are computed by mlx-whisper, so they must be the standard ones."""
    out = {}
    for name, value in arrays.items():
        if name == "encoder.positional_embedding":
            if not np.allclose(value, sinusoids(dims["n_audio_ctx"], dims["n_audio_state"]), atol=1e-3):
                raise UsageError("encoder.positional_embedding is not the sinusoids mlx-whisper computes: "
                                 "this checkpoint cannot run unchanged in mlx-whisper")
            continue
        if name.startswith("encoder.conv") and name.endswith(".weight"):
            value = value.swapaxes(1, 2)
        out[name.replace(".mlp.0.", ".mlp1.").replace(".mlp.2.", ".mlp2.")] = value
    return out
