"""A bfloat16 sum over the rows of a matrix (a column sum): how far each framework lands from the exact sum.

A LayerNorm's bias gradient is such a sum, over every token of a batch. Each result is compared with the
float64 sum of the same bfloat16 values; bfloat16's own rounding of the answer is 0.2-0.4% at most.
Needs only mlx, torch and numpy; runs every device each framework has here.
"""
import platform

import mlx.core as mx
import numpy as np
import torch

ROWS, COLS = 32_768, 1_024
x = torch.randn(ROWS, COLS, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
values = x.float().numpy()  # the bfloat16 values, exactly
exact = {"column sum": values.astype(np.float64).sum(axis=0), "row sum": values.astype(np.float64).sum(axis=1)}


def report(who, column_sum, bias_grad, row_sum):
    """Each sum's relative L2 distance from the float64 one, in percent."""
    got = {"column sum": (column_sum, "column sum"), "LayerNorm bias grad": (bias_grad, "column sum"),
           "row sum": (row_sum, "row sum")}
    print(who + ": " + ", ".join(f"{name} {100 * np.linalg.norm(v - exact[e]) / np.linalg.norm(exact[e]):.2f}%"
                                 for name, (v, e) in got.items()))


print(f"mlx {mx.__version__}, torch {torch.__version__}, numpy {np.__version__}, {platform.platform()}")
print(f"sums of a {ROWS} x {COLS} bfloat16 matrix, relative L2 distance from the exact (float64) sums:")
for device in [mx.cpu] + ([mx.gpu] if mx.is_available(mx.gpu) else []):
    mx.set_default_device(device)
    a = mx.array(values).astype(mx.bfloat16)  # LayerNorm's bias gradient with `a` as the output gradient:
    bias = mx.grad(lambda b: (mx.fast.layer_norm(a, None, b, 1e-5) * a).sum())(mx.zeros(COLS, mx.bfloat16))
    sums = [np.array(s.astype(mx.float32)) for s in (a.sum(axis=0), bias, a.sum(axis=1))]
    report(f"MLX {device}", *sums)
for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
    t, b = x.to(device), torch.zeros(COLS, dtype=torch.bfloat16, device=device, requires_grad=True)
    (torch.nn.functional.layer_norm(t, (COLS,), None, b, 1e-5) * t).sum().backward()
    sums = [s.float().cpu().numpy() for s in (t.sum(dim=0), b.grad, t.sum(dim=1))]
    report(f"PyTorch {device}", *sums)
