"""One seeded initialisation, written as safetensors and loaded by both frameworks.

Timing depends on shapes, not values, but cross-checks need identical values: every workload builds
its parameters here once, as numpy arrays keyed by the names both framework models share.
"""
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import UsageError


def seeded(shapes, seed=0):
    """{name: (shape, init)} -> {name: float32 array}, drawn from one generator in name order (`initial`)."""
    rng = np.random.default_rng(seed)
    return {name: initial(shape, init, lambda std, size: rng.normal(0.0, std, size=size).astype(np.float32))
            for name, (shape, init) in sorted(shapes.items())}


def seeded_float32(shape, init, seed):
    """One tensor of its own generator, its normals drawn in float32 (standard normals times the std), not as
    `seeded`'s float64 ones cast down: for files too big for that (llm's 1.1B checkpoint: 16.7 s to write
    against 24.5 s on a 2-core CPU); the other workloads keep `seeded`'s values."""
    def normal(std, size):
        tensor = np.random.default_rng(seed).standard_normal(size, dtype=np.float32)
        tensor *= std
        return tensor

    return initial(shape, init, normal)


def initial(shape, init, normal):
    """A float32 array of `init`: 'zeros', 'ones' or a normal's std, drawn by `normal(std, shape)`."""
    if init == "zeros":
        return np.zeros(shape, np.float32)
    if init == "ones":
        return np.ones(shape, np.float32)
    return normal(float(init), shape)


def save(arrays, path):
    """Write atomically: a reader never sees half a file, an interrupted write leaves the old one."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load(path):
    """Read a safetensors file into numpy; a missing or corrupt file is one clear error."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"weights file not found: {path}")
    try:
        return load_file(path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise UsageError(f"cannot read weights {path}: {exc}") from None


def cached(path, build):
    """Load `path`, or build the arrays with `build()` and write them there first."""
    path = Path(path)
    if not path.is_file():
        save(build(), path)
    return load(path)


def to_mlx(arrays, dtype=None):
    import mlx.core as mx

    return {k: mx.array(v) if dtype is None else mx.array(v).astype(dtype) for k, v in arrays.items()}


def to_torch(arrays, dtype=None, device=None):
    import torch

    return {k: torch.from_numpy(np.array(v)).to(device=device, dtype=dtype) for k, v in arrays.items()}
