"""Quantized TinyLlama generation with mlx-lm: llm's Generator (mlx-lm's loader and generation loops) on a
model whose Linear layers mlx-lm's quantization (`mlx_lm.utils.quantize_model`, what `mlx_lm.convert -q`
runs) turned into QuantizedLinear: affine, each weight's bits packed into uint32, a scale and a bias per
group of 64 inputs."""
import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten
from mlx_lm.utils import quantize_model

from ..llm import mlx as llm
from .spec import GROUP_SIZE, one

# What each scheme's QuantizedLinear layers read back as (spec.expected holds `quantized()` to it).
LAYOUT = {"int4": {"bits": 4, "group_size": GROUP_SIZE, "format": "QuantizedLinear affine", "packed_dtype": "uint32"},
          "int8": {"bits": 8, "group_size": GROUP_SIZE, "format": "QuantizedLinear affine", "packed_dtype": "uint32"}}


def lacks(target, scheme):
    """Why this mlx-lm cannot quantize as asked: every release the ledger pins (0.26 on) quantizes affine 4
    and 8 bits in groups of 64 (None)."""
    return None


def quantize(model, scheme):
    """mlx-lm's quantization of the scheme on the Linear layers only, as torchao's weight-only configs
    quantize (older mlx-lm passes its predicate the model's config as a third argument). The config it
    returns, for saving the model, is not needed: it is given none."""
    layout = LAYOUT[scheme]
    quantize_model(model, {}, layout["group_size"], layout["bits"],
                   quant_predicate=lambda path, module, *config: isinstance(module, nn.Linear))
    mx.eval(model.parameters())


class Generator(llm.Generator):
    def __init__(self, target, folder, path, scheme):
        super().__init__(target, folder, path)
        quantize(self.model, scheme)

    def weights_dtypes(self):
        """The float parameters' dtypes (the embedding, norms, the groups' scales and biases)."""
        return {self.target.fw.dtype_name(p) for _, p in tree_flatten(self.model.parameters())
                if mx.issubdtype(p.dtype, mx.floating)}

    def quantized(self):
        """Read back from the layers: how many are QuantizedLinear and how many Linear stayed float; their bits
        and group size, held to the packed data (a row of 32-bit words holds inputs x bits / 32, its scales
        inputs / group size); their mode and the packed dtype."""
        layers = [m for _, m in self.model.named_modules() if isinstance(m, nn.QuantizedLinear)]
        packed = {m.weight.shape[-1] * 32 // (m.scales.shape[-1] * m.group_size) for m in layers}
        return {"layers": len(layers),
                "float_linear": sum(isinstance(m, nn.Linear) for _, m in self.model.named_modules()),
                "bits": one(m.bits for m in layers) if packed == {m.bits for m in layers} else f"packed {one(packed)}",
                "group_size": one(m.group_size for m in layers),
                "format": one(f"{type(m).__name__} {m.mode}" for m in layers),
                "packed_dtype": one(self.target.fw.dtype_name(m.weight) for m in layers)}

    def padded_inputs(self):
        """mlx-lm packs each weight's inputs as they are (its groups divide them): 'none'."""
        return "none"
