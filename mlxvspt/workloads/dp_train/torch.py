"""PyTorch side of one data-parallel rank: the group, its collectives and the all-reduce calibration.

mlx.py and torch.py mirror each other name for name: `diff mlx.py torch.py` shows only the framework.
The training step itself is lm_train's Trainer with `data_parallel=True` (DistributedDataParallel).
"""
import os
import time

import numpy as np
import torch
import torch.distributed as dist


def init(target, ranks):
    """Join the group torchrun started (NCCL on CUDA, gloo otherwise); returns (rank, size).
    Each rank takes the GPU of its local rank before anything touches CUDA."""
    if target.backend() == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend(target))
    return dist.get_rank(), dist.get_world_size()


def backend(target):
    return "nccl" if target.backend() == "cuda" else "gloo"


def barrier():
    dist.barrier()


def communication_device():
    """NCCL reduces tensors on the rank's GPU, gloo on the CPU."""
    return torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")


def gather(values):
    """Every rank's int32 vector, as a (size, len) numpy array on every rank."""
    mine = torch.tensor(np.asarray(values, np.int32), device=communication_device())
    gathered = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, mine)
    return torch.stack(gathered).cpu().numpy().reshape(-1, len(values))


def allreduce_seconds(nbytes, iterations, calls):
    """`iterations` samples, each the mean seconds of `calls` all-sums of `nbytes` of float32 (every rank
    makes the same calls), after two untimed calls."""
    device = communication_device()
    x = torch.ones(nbytes // 4, dtype=torch.float32, device=device)
    times = []
    for i in range(iterations + 2):
        calls_now = calls if i >= 2 else 1
        start = time.perf_counter()
        for _ in range(calls_now):  # each call waited for, as MLX's mx.eval does
            dist.all_reduce(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
        times.append((time.perf_counter() - start) / calls_now)
    return times[2:]


def finish():
    dist.destroy_process_group()


def gpu_count():
    """GPUs this machine gives PyTorch's distributed backends (CUDA only: NCCL has no MPS)."""
    return torch.cuda.device_count()


def backend_in_use(target, size):
    """The backend the process group runs on, as torch.distributed reports it."""
    return dist.get_backend()


def weights_dtype(trainer):
    """The dtype of the model's parameters as PyTorch holds them."""
    return str(next(trainer.model.parameters()).dtype).removeprefix("torch.")
