"""What PyTorch's autocast does to a Linear, for MLX (which has no autocast): the training workloads'
mixed precision (bf16-mixed) computes their Linear layers, and only those, in bfloat16."""
import mlx.core as mx
import mlx.nn as nn


class Linear(nn.Linear):
    """nn.Linear that computes in `dtype` from weights of any dtype, as a PyTorch Linear runs under
    autocast (MLX has none): the casts are in the graph, so float32 weights get float32 gradients. At the
    weights' own dtype the casts are no-ops and this is nn.Linear."""

    def __init__(self, input_dims, output_dims, bias, dtype):
        super().__init__(input_dims, output_dims, bias=bias)
        self.compute_dtype = dtype

    def __call__(self, x):
        x, weight = x.astype(self.compute_dtype), self.weight.astype(self.compute_dtype)
        if "bias" in self:
            return mx.addmm(self.bias.astype(self.compute_dtype), x, weight.T)
        return x @ weight.T
