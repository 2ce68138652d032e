"""MLX side of the device layer: device handles, synchronisation, memory, precision, environment."""
import os
import platform
from pathlib import Path

from ...errors import Unavailable

NAME = "mlx"
PRECISION_ENV = "MLX_ENABLE_TF32"  # MLX reads it on first use: set before any float32 matmul


def gpu_backend():
    """'metal', 'cuda' or None: what `mx.gpu` means in this install."""
    import mlx.core as mx

    if not mx.is_available(mx.gpu):
        return None
    return "metal" if platform.system() == "Darwin" else "cuda"


def device(name):
    import mlx.core as mx

    if name == "cpu":
        return mx.cpu
    if gpu_backend() is None:
        raise Unavailable("MLX has no GPU backend in this install (mlx-cpu); use mlx[cuda13] or macOS")
    return mx.gpu


def use(name):
    import mlx.core as mx

    mx.set_default_device(device(name))


def synchronize(name):
    import mlx.core as mx

    mx.synchronize()


def reset_peak_memory(name):
    import mlx.core as mx

    mx.reset_peak_memory()


def release_memory(name):
    """Hand the allocator's cached buffers back, so the other framework can use them."""
    import mlx.core as mx

    mx.clear_cache()


def memory_in_use(name):
    """Bytes MLX's allocator holds for live arrays on a CUDA GPU (None elsewhere)."""
    import mlx.core as mx

    if name == "gpu" and gpu_backend() == "cuda":
        return int(mx.get_active_memory())
    return None


def free_memory(name):
    """None: MLX gives no device-wide figure (PyTorch's, in the same process, does)."""
    return None


def peak_memory(name):
    """Peak bytes of MLX's allocator on the GPU; on CPU the process's max RSS, as PyTorch's CPU side
    reports it (PyTorch keeps no CPU allocator statistics), so the two compare like for like."""
    import mlx.core as mx

    if name == "gpu":
        return int(mx.get_peak_memory())
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def apply_precision(policy):
    """fp32 = strict IEEE float32 matmuls; tf32 = MLX's default reduced-precision float32 path."""
    from ..devices import TF32_ALLOWED

    os.environ[PRECISION_ENV] = "1" if policy in TF32_ALLOWED else "0"


def dtype(name):
    import mlx.core as mx

    return {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}[name]


def dtype_name(x):
    """'float32', 'bfloat16'...: the dtype of an array (or an mx.Dtype) as the suite names it."""
    import mlx.core as mx

    return str(x if isinstance(x, mx.Dtype) else x.dtype).removeprefix("mlx.core.")


def matmul_mode(name):
    """'tf32' if a float32 matmul on this device rounds its inputs to TF32, else 'ieee' (measured)."""
    import mlx.core as mx
    import numpy as np

    from ..devices import mode_of

    a, b = (np.random.default_rng(i).standard_normal((256, 256), dtype=np.float32) for i in (1, 2))
    with mx.stream(device(name)):
        product = mx.array(a) @ mx.array(b)
    return mode_of(np.array(product), a, b)


def blas():
    """Which BLAS the CPU path links: the Linux wheel bundles a reference BLAS, macOS uses Accelerate."""
    if platform.system() == "Darwin":
        return "Accelerate"
    import mlx

    libs = sorted(p.name for p in Path(mlx.__path__[0]).rglob("*.so*") if "blas" in p.name.lower())
    return ", ".join(libs) if libs else "reference BLAS bundled in libmlx (netlib)"


def environment():
    import mlx.core as mx

    env = {"mlx": mx.__version__, "mlx_gpu_backend": gpu_backend() or "none", "mlx_blas": blas()}
    if gpu_backend():
        info = mx.device_info() if hasattr(mx, "device_info") else {}
        env["mlx_gpu"] = str(info.get("device_name", info.get("architecture", "")))
    return env
