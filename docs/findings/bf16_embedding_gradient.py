"""The gradient of an embedding lookup in bfloat16: MLX accumulates the scatter in bfloat16.

32,768 lookups of row 0, summed: each lookup adds 1 to row 0's gradient, so the exact answer is 32,768.
In bfloat16 (8 significant bits) a running sum of ones stops at 256 (256 + 1 rounds back to 256).
Needs only mlx, torch and numpy; runs every device each framework has here.
"""
import platform

import mlx.core as mx
import numpy as np
import torch

N, VOCAB, DIM = 32_768, 4, 8
idx = np.zeros(N, dtype=np.int32)  # every token is row 0

print(f"mlx {mx.__version__}, torch {torch.__version__}, numpy {np.__version__}, {platform.platform()}")
print(f"expected row-0 gradient: {N} (float64: {np.ones(N).sum():.0f})")
for device in [mx.cpu] + ([mx.gpu] if mx.is_available(mx.gpu) else []):
    mx.set_default_device(device)
    w = mx.zeros((VOCAB, DIM), dtype=mx.bfloat16)
    grad = mx.grad(lambda w: w[mx.array(idx)].sum())(w)
    added = mx.zeros((VOCAB, DIM), dtype=mx.bfloat16).at[mx.array(idx)].add(mx.ones((N, DIM), dtype=mx.bfloat16))
    f32 = mx.grad(lambda w: w[mx.array(idx)].sum())(w.astype(mx.float32))
    print(f"MLX {device}: grad of w[idx].sum() bf16 {grad[0, 0].item():g}, at[idx].add bf16 "
          f"{added[0, 0].item():g}, float32 {f32[0, 0].item():g}")
for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
    w = torch.zeros(VOCAB, DIM, dtype=torch.bfloat16, device=device, requires_grad=True)
    torch.nn.functional.embedding(torch.from_numpy(idx).long().to(device), w).sum().backward()
    added = torch.zeros(VOCAB, DIM, dtype=torch.bfloat16, device=device).index_put_(
        (torch.from_numpy(idx).long().to(device),), torch.ones(N, DIM, dtype=torch.bfloat16, device=device),
        accumulate=True)
    print(f"PyTorch {device}: grad of embedding(idx, w).sum() bf16 {w.grad[0, 0].item():g}, "
          f"index_put_(accumulate=True) bf16 {added[0, 0].item():g}")
