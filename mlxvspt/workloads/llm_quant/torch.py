"""Quantized TinyLlama generation with transformers and torchao: llm's Generator (transformers' loader and
generate, on the static-cache torch.compile path) on a model whose Linear layers torchao's `quantize_`
turned into weight-only quantized tensor subclasses, as gpt-fast runs them: int4 packed for tinygemm
(Int4TilePackedTo4dTensor, groups of 64), int8 per output channel (Int8Tensor). torchao is optional
(`pip install 'mlxvspt[quant]'`): without it, or without the kernel on a device, the rows are n/a."""
from importlib.metadata import PackageNotFoundError, version

import torch
from packaging.version import Version

from ..llm import torch as llm
from .spec import GROUP_SIZE, one

# What each scheme's quantized Linear weights read back as (spec.expected holds `quantized()` to it): int8's
# scales are float32 at every precision (torchao's choice), tinygemm's int4 scales and zeros bfloat16.
LAYOUT = {"int4": {"bits": 4, "group_size": GROUP_SIZE, "format": "Int4TilePackedTo4dTensor", "packed_dtype": "int32",
                   "scales_dtype": "bfloat16"},
          "int8": {"bits": 8, "group_size": "per-row", "format": "Int8Tensor", "packed_dtype": "int8",
                   "scales_dtype": "float32"}}
# The torchao release that added each scheme's config as used here.
NEEDS = {"int4": ("0.14.0", "Int4WeightOnlyConfig's tile_packed_to_4d packing (tinygemm)"),
         "int8": ("0.15.0", "Int8WeightOnlyConfig version 2 (Int8Tensor)")}
# Where each torchao subclass keeps its scales, and their axes of rows and of groups of inputs: tinygemm's
# int4 scale_and_zero is [groups, rows, 2], Int8Tensor's scale [rows, groups].
SCALES = {"Int4TilePackedTo4dTensor": ("scale_and_zero", 1, 0), "Int8Tensor": ("scale", 0, 1)}


def torchao_version():
    try:
        return version("torchao")
    except PackageNotFoundError:
        return None


def lacks(target, scheme):
    """Why torchao cannot run the scheme here (None if it can): not installed, a release before the scheme's
    config, or no kernel on the device: int4's tinygemm kernel is CUDA-only (compute capability 8.0 or more)
    and takes bfloat16 only. torchao 0.18 has no int4 weight-only kernel for a CPU or MPS: its CPU int4
    layout (Int4OpaqueTensor, torch's _weight_int4pack_mm_for_cpu) was in 0.14 alone; IntxWeightOnlyConfig
    keeps int4 values one a byte and dequantizes the whole weight before each matmul (an export format);
    its packed low-bit CPU kernels quantize activations too (Int8DynamicActivationIntxWeightConfig) and need
    C++ kernels (ARM, KleidiAI) its x86-64 wheel does not ship."""
    installed = torchao_version()
    if installed is None:
        return "torchao is not installed: pip install 'mlxvspt[quant]' (constraints.txt pins the release tested)"
    need, what = NEEDS[scheme]
    if Version(installed) < Version(need):
        return f"torchao {installed} has no {what}: needs torchao >= {need}"
    try:  # installed for another torch, or broken: its rows n/a with the reason, not failed builds
        import torchao.quantization  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"torchao {installed} cannot be imported here: {exc}"
    if scheme == "int4":
        if target.backend() != "cuda":
            return (f"torchao {installed}'s int4 weight-only kernel (tinygemm's _weight_int4pack_mm) is CUDA-only: "
                    f"none for the {target.backend().upper()} (its IntxWeightOnlyConfig int4 dequantizes each weight "
                    f"before the matmul, no kernel)")
        if target.precision != "bf16":
            return f"torchao's int4 tinygemm kernel takes bfloat16 only, not {target.dtype_name}"
        if torch.cuda.get_device_capability() < (8, 0):
            return f"torchao's int4 tinygemm kernel needs compute capability 8.0, this GPU has " \
                   f"{'.'.join(map(str, torch.cuda.get_device_capability()))}"
    return None


def scales(weight):
    """A torchao weight's scales (one a row and group of inputs); an error names a subclass not known here."""
    if type(weight).__name__ not in SCALES:
        raise RuntimeError(f"torchao's {type(weight).__name__}: where it keeps its scales is not known here")
    return getattr(weight, SCALES[type(weight).__name__][0])


def packed_shape(weight):
    """(rows, inputs) of the weight its packed data holds, from its scales: the weight's own, or padded
    where the packing pads (tinygemm's int4: inputs to a multiple of 1024, rows to one of 8)."""
    held = scales(weight)
    _, rows, groups = SCALES[type(weight).__name__]
    return held.shape[rows], held.shape[groups] * weight.block_size[-1]


def bits(weight):
    """Bits a weight value takes in the packed data (torchao's subclasses hold no bit width of their own):
    the data's bits over the values of the (padded) weight it packs."""
    rows, inputs = packed_shape(weight)
    held, values = weight.qdata.numel() * weight.qdata.element_size() * 8, rows * inputs
    return held // values if held % values == 0 else held / values


def quantize(model, scheme):
    """torchao's weight-only config of the scheme, round-to-nearest, on every nn.Linear but a head tied to
    the embedding (the embedding stays float; mlx-lm's model has no head of its own then: it reuses the
    float embedding, so quantizing transformers' tied `lm_head` would be work MLX does not do)."""
    from torchao.quantization import Int4WeightOnlyConfig, Int8WeightOnlyConfig, PerRow, quantize_

    tied = model.config.tie_word_embeddings
    linear = lambda module, name: isinstance(module, torch.nn.Linear) and not (tied and name == "lm_head")  # noqa: E731
    if scheme == "int4":
        config = Int4WeightOnlyConfig(group_size=GROUP_SIZE, int4_packing_format="tile_packed_to_4d")
    else:
        config = Int8WeightOnlyConfig(granularity=PerRow(), version=2)
    quantize_(model, config, filter_fn=linear)


class Generator(llm.Generator):
    def __init__(self, target, folder, path, scheme):
        super().__init__(target, folder, path)
        quantize(self.model, scheme)

    def weights_dtypes(self):
        """The float parameters' dtypes (the embedding, norms); quantized weights are read back by `quantized`."""
        from torchao.utils import TorchAOBaseTensor

        return {self.target.fw.dtype_name(p) for p in self.model.parameters() if not isinstance(p, TorchAOBaseTensor)}

    def quantized(self):
        """Read back from the layers: how many Linear weights are torchao tensors and how many stayed float;
        each one's subclass (its layout), bits (from its packed data), group (block size along the inputs,
        'per-row' where it spans them all) and the dtypes of its packed data and of its scales."""
        linear, layers = self.linear_weights()
        return {"layers": len(layers), "float_linear": len(linear) - len(layers),
                "bits": one(map(bits, layers)),
                "group_size": one("per-row" if w.block_size[-1] == w.shape[-1] else w.block_size[-1] for w in layers),
                "format": one(type(w).__name__ for w in layers),
                "packed_dtype": one(self.target.fw.dtype_name(w.qdata) for w in layers),
                "scales_dtype": one(self.target.fw.dtype_name(scales(w)) for w in layers)}

    def padded_inputs(self):
        """Where the packing pads a weight's inputs (tinygemm's int4: to a multiple of 1024, so the kernel
        does that much more work): 'inputs->padded' of each such weight, else 'none'. Read back, not asked."""
        padded = [(w.shape[-1], packed_shape(w)[1]) for w in self.linear_weights()[1]]
        return one(f"{inputs}->{held}" for inputs, held in padded if held != inputs) or "none"

    def linear_weights(self):
        """(every Linear layer's weight, those that are torchao tensors)."""
        from torchao.utils import TorchAOBaseTensor

        linear = [m.weight for m in self.model.modules() if isinstance(m, torch.nn.Linear)]
        return linear, [w for w in linear if isinstance(w, TorchAOBaseTensor)]
