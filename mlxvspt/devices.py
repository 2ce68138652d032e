"""Framework x device resolution: the one place that knows how each framework syncs, measures and rounds.

`gpu` means Metal (MLX on macOS), CUDA (mlx-cuda, PyTorch CUDA) or MPS (PyTorch on macOS).
"""
import importlib
import os
import platform
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import Unavailable, UsageError

FRAMEWORKS = ("mlx", "torch")
DEVICES = ("cpu", "gpu")
# Precision policy: dtype of the workload, and for float32 whether matmuls may round to TF32.
PRECISIONS = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def choose(kind, value, valid):
    """Check a user's choice; the error names the valid ones."""
    if value not in valid:
        raise UsageError(f"unknown {kind} {value!r}; choose one of: {', '.join(valid)}")
    return value


def framework_module(framework):
    choose("framework", framework, FRAMEWORKS)
    return importlib.import_module(f"mlxvspt.frameworks.{framework}")


@dataclass(frozen=True)
class Target:
    """One framework on one device under one precision policy: what every workload runs on."""

    framework: str
    device: str
    precision: str = "fp32"

    def __post_init__(self):
        choose("framework", self.framework, FRAMEWORKS)
        choose("device", self.device, DEVICES)
        choose("precision", self.precision, tuple(PRECISIONS))

    @property
    def fw(self):
        return framework_module(self.framework)

    @property
    def dtype_name(self):
        return PRECISIONS[self.precision]

    def activate(self):
        """Apply the precision policy and make the device the default; raises Unavailable if absent."""
        if self.precision == "tf32" and self.device == "cpu":
            raise Unavailable("TF32 is a GPU matmul mode: on CPU it is the same run as fp32")
        self.fw.apply_precision(self.precision)
        self.fw.use(self.device)
        return self

    @property
    def handle(self):
        return self.fw.device(self.device)

    @property
    def dtype(self):
        return self.fw.dtype(self.dtype_name)

    def synchronize(self):
        self.fw.synchronize(self.device)

    def reset_peak_memory(self):
        self.fw.reset_peak_memory(self.device)

    def peak_memory(self):
        return self.fw.peak_memory(self.device)

    def backend(self):
        """The concrete backend name: cpu, cuda, metal or mps."""
        return "cpu" if self.device == "cpu" else (self.fw.gpu_backend() or "none")

    @contextmanager
    def timer(self, into, key):
        """Add the synchronised wall time of the block to into[key] (seconds)."""
        self.synchronize()
        start = time.perf_counter()
        yield
        self.synchronize()
        into[key] = into.get(key, 0.0) + time.perf_counter() - start


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_driver():
    if not shutil.which("nvidia-smi"):
        return None
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or None


def environment():
    """What a result depends on besides the code: versions, BLAS, CPU, GPU, driver."""
    import numpy

    env = {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu_model(),
           "cpu_count": os.cpu_count(), "numpy": numpy.__version__, "nvidia": nvidia_driver()}
    for name in FRAMEWORKS:
        try:
            env.update(framework_module(name).environment())
        except ImportError as exc:
            env[name] = f"not installed ({exc})"
    return env
