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
    """{name: (shape, init)} -> {name: float32 array}; init is 'zeros', 'ones' or a normal's std."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, (shape, init) in sorted(shapes.items()):
        if init == "zeros":
            arrays[name] = np.zeros(shape, np.float32)
        elif init == "ones":
            arrays[name] = np.ones(shape, np.float32)
        else:
            arrays[name] = rng.normal(0.0, float(init), size=shape).astype(np.float32)
    return arrays


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
