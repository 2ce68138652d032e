"""MLX side of one data-parallel rank: the group, its collectives and the all-reduce calibration.

mlx.py and torch.py mirror each other name for name: `diff mlx.py torch.py` shows only the framework.
The training step itself is lm_train's Trainer with `data_parallel=True` (nn.average_gradients).
"""
import os
import time

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten


def init(target, ranks):
    """Join the group mlx.launch started (NCCL on CUDA, ring otherwise); returns (rank, size).
    A single rank is a group of one: mlx.launch hands it an empty ring hostfile, which the ring
    backend (tried by every later init(), average_gradients' included) refuses to parse."""
    if ranks == 1:
        os.environ.pop("MLX_HOSTFILE", None)
        return 0, mx.distributed.init(strict=False).size()
    group = mx.distributed.init(strict=True, backend=backend(target))
    return group.rank(), group.size()


def backend(target):
    return "nccl" if target.backend() == "cuda" else "ring"


def barrier():
    mx.eval(mx.distributed.all_sum(mx.array(1.0)))


def communication_device():
    """MLX reduces arrays on the default device (NCCL on the GPU, ring on the CPU)."""
    return mx.default_device()


def gather(values):
    """Every rank's int32 vector, as a (size, len) numpy array on every rank."""
    gathered = mx.distributed.all_gather(mx.array(np.asarray(values, np.int32)))
    return np.array(gathered).reshape(-1, len(values))


def allreduce_seconds(nbytes, iterations, calls):
    """`iterations` samples, each the mean seconds of `calls` all-sums of `nbytes` of float32 (every rank
    makes the same calls), after two untimed calls."""
    x = mx.ones((nbytes // 4,), mx.float32, stream=communication_device())
    mx.eval(x)
    times = []
    for i in range(iterations + 2):
        calls_now = calls if i >= 2 else 1
        start = time.perf_counter()
        for _ in range(calls_now):
            mx.eval(mx.distributed.all_sum(x))
        times.append((time.perf_counter() - start) / calls_now)
    return times[2:]


def finish():
    """Nothing to tear down: the group's connections close with the process."""


def gpu_count():
    """GPUs this machine gives MLX (one per rank: mlx.launch sets CUDA_VISIBLE_DEVICES per rank)."""
    return mx.device_count(mx.gpu) if mx.is_available(mx.gpu) else 0


def backend_in_use(target, size):
    """The backend init joined (strict, so it is the one asked for); a group of one has none."""
    return backend(target) if size > 1 else "none"


def weights_dtype(trainer):
    """The dtype of the model's parameters as MLX holds them."""
    return str(tree_flatten(trainer.model.parameters())[0][1].dtype).removeprefix("mlx.core.")
