"""PyTorch side of the device layer: device handles, synchronisation, memory, precision, environment."""
import re

from ...errors import Unavailable

NAME = "torch"


def gpu_backend():
    """'cuda', 'mps' or None: what the suite's 'gpu' means for this PyTorch build."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return None


def device(name):
    import torch

    if name == "cpu":
        return torch.device("cpu")
    if gpu_backend() is None:
        raise Unavailable("PyTorch sees no GPU (no CUDA device, no MPS) in this install")
    return torch.device(gpu_backend())


def use(name):
    """Only validates: torch.set_default_device would add a Python hook to every op and slow eager
    PyTorch; the workloads place their tensors on `device(name)` explicitly instead."""
    device(name)


def synchronize(name):
    import torch

    if name == "gpu" and gpu_backend() == "cuda":
        torch.cuda.synchronize()
    elif name == "gpu" and gpu_backend() == "mps":
        torch.mps.synchronize()


def reset_peak_memory(name):
    import torch

    if name == "gpu" and gpu_backend() == "cuda":
        torch.cuda.reset_peak_memory_stats()


def release_memory(name):
    """Hand the allocator's cached blocks back, so the other framework can use them."""
    import torch

    if name == "gpu" and torch.cuda.is_available():
        torch.cuda.empty_cache()


def memory_in_use(name):
    """Bytes the allocator holds for live tensors on a CUDA GPU (None elsewhere)."""
    import torch

    if name == "gpu" and gpu_backend() == "cuda":
        return int(torch.cuda.memory_allocated())
    return None


def free_memory(name):
    """Bytes free on the CUDA device, whichever process or framework holds the rest (None elsewhere)."""
    import torch

    if name == "gpu" and gpu_backend() == "cuda":
        return int(torch.cuda.mem_get_info()[0])
    return None


def peak_memory(name):
    """Peak bytes on the GPU; on CPU (and MPS, which keeps no peak) the process's max RSS."""
    import torch

    if name == "gpu" and gpu_backend() == "cuda":
        return int(torch.cuda.max_memory_allocated())
    if name == "gpu" and gpu_backend() == "mps":
        return int(torch.mps.driver_allocated_memory())
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def apply_precision(policy):
    """fp32 = strict IEEE float32 matmuls (PyTorch's default); tf32 = TF32 allowed, as MLX does."""
    import torch

    from ..devices import TF32_ALLOWED

    allow = policy in TF32_ALLOWED
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow
    torch.set_float32_matmul_precision("high" if allow else "highest")


def dtype(name):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def dtype_name(x):
    """'float32', 'bfloat16'...: the dtype of a tensor (or a torch.dtype) as the suite names it."""
    import torch

    return str(x if isinstance(x, torch.dtype) else x.dtype).removeprefix("torch.")


def matmul_mode(name):
    """'tf32' if a float32 matmul on this device rounds its inputs to TF32, else 'ieee' (measured)."""
    import numpy as np
    import torch

    from ..devices import mode_of

    a, b = (np.random.default_rng(i).standard_normal((256, 256), dtype=np.float32) for i in (1, 2))
    product = (torch.from_numpy(a).to(device(name)) @ torch.from_numpy(b).to(device(name))).cpu().numpy()
    return mode_of(product, a, b)


def fresh_compiler():
    """torch.compile after clearing dynamo's caches. A process that builds several compiled trainers (the
    cross-check builds up to 9) otherwise passes dynamo's cache_size_limit (8 recompilations of one code
    object) and runs the rest eagerly without a word: seen as BERT's 9th combination reading back
    compiled 'none' on an H100. Inductor's on-disk cache still spares the compile."""
    import torch

    torch._dynamo.reset()
    return torch.compile


def blas():
    import torch

    found = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    return found.group(1) if found else "unknown"


def environment():
    import torch

    env = {"torch": torch.__version__, "torch_gpu_backend": gpu_backend() or "none",
           "torch_blas": blas(), "torch_threads": torch.get_num_threads()}
    if gpu_backend() == "cuda":
        env["torch_gpu"] = torch.cuda.get_device_name()
        env["cuda"] = torch.version.cuda
    return env
