"""Framework x device resolution: the one place that knows how each framework syncs, measures and rounds.

`gpu` means Metal (MLX on macOS), CUDA (mlx-cuda, PyTorch CUDA) or MPS (PyTorch on macOS).
"""
import importlib
import math
import os
import platform
import shutil
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass

from ..errors import Unavailable, UsageError

FRAMEWORKS = ("mlx", "torch")
DEVICES = ("cpu", "gpu")
# Precision policy -> compute dtype. fp32 rounds matmuls to IEEE float32, tf32 lets them round to TF32;
# fp16/bf16 hold weights, activations and optimizer state in that dtype; bf16-mixed computes in bfloat16
# from float32 master weights (PyTorch autocast; MLX: lm_train's Linear layers cast to bfloat16 as autocast
# does, bert_train runs a bfloat16 copy of the whole model per step).
PRECISIONS = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16",
              "bf16-mixed": "bfloat16"}
# TF32 is allowed for float32 matmuls under these policies (mixed-precision users allow it too).
TF32_ALLOWED = ("tf32", "bf16-mixed")


def choose(kind, value, valid):
    """Check a user's choice; the error names the valid ones."""
    if value not in valid:
        raise UsageError(f"unknown {kind} {value!r}; choose one of: {', '.join(valid)}")
    return value


def framework_module(framework):
    choose("framework", framework, FRAMEWORKS)
    return importlib.import_module(f"mlxvspt.measure.frameworks.{framework}")


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

    @property
    def weights_dtype_name(self):
        """dtype the parameters are held in: float32 master weights under bf16-mixed, else the compute dtype."""
        return "float32" if self.precision == "bf16-mixed" else self.dtype_name

    @property
    def weights_dtype(self):
        return self.fw.dtype(self.weights_dtype_name)

    def matmul_mode(self):
        """How this framework rounds float32 matmuls here, measured: 'ieee' or 'tf32'."""
        return self.fw.matmul_mode(self.device)

    def synchronize(self):
        self.fw.synchronize(self.device)

    def reset_peak_memory(self):
        self.fw.reset_peak_memory(self.device)

    def peak_memory(self):
        return self.fw.peak_memory(self.device)

    def release_memory(self):
        self.fw.release_memory(self.device)

    def memory_in_use(self):
        return self.fw.memory_in_use(self.device)

    def free_memory(self):
        return self.fw.free_memory(self.device)

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


def mode_of(product, a, b):
    """'tf32' or 'ieee' from a float32 product's error against float64: TF32 keeps 10 mantissa bits
    (error ~1e-4), IEEE float32 24 (~1e-6)."""
    import numpy as np

    exact = a.astype(np.float64) @ b.astype(np.float64)
    return "tf32" if np.max(np.abs(product - exact)) / np.max(np.abs(exact)) > 2e-5 else "ieee"


def gpu_anywhere():
    """Whether either framework has a GPU backend in this install."""
    for name in FRAMEWORKS:
        try:
            if framework_module(name).gpu_backend():
                return True
        except ImportError:
            pass
    return False


CPUINFO = "/proc/cpuinfo"


def cpu_model():
    try:
        with open(CPUINFO) as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_driver():
    """The GPUs this process may use (CUDA_VISIBLE_DEVICES, where set, of the host's) and the driver."""
    if not shutil.which("nvidia-smi"):
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    only = ["-i", visible] if visible.replace(",", "").isdigit() else []
    out = subprocess.run(["nvidia-smi", *only, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or None


# The CPU's matrix and vector extensions (/proc/cpuinfo's x86 flags, Arm's features): two hosts with one model
# name, "Intel(R) Xeon(R) Processor", ran PyTorch's float16 512^3 matmul in 131 ms and in about 1 ms, the second
# with AVX-512 FP16 and AMX; an AMD EPYC took 105 ms.
MATH_FEATURES = ("avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "avx512_vnni", "amx_tile", "amx_bf16",
                 "amx_fp16", "amx_int8", "asimd", "asimdhp", "bf16", "i8mm", "sve", "sve2", "sme")


def cpu_features():
    """MATH_FEATURES this CPU has, space-separated ("" for none), or None where /proc/cpuinfo does not say."""
    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as f:
            line = next((line for line in f if line.startswith(("flags", "Features"))), None)
    except OSError:
        return None
    if line is None:
        return None
    have = set(line.split(":", 1)[1].split())
    return " ".join(name for name in MATH_FEATURES if name in have)


def usable_core_ids():
    """The ids of the cores this process may run on (a run pinned to some of a host's has those); all of them
    where the platform does not say (macOS)."""
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))


def cores_usable():
    """How many cores this process may run on (`usable_core_ids`)."""
    return len(usable_core_ids())


def host_kind():
    """What makes two runs' hosts one machine, as `environment` records it: the CPU model, the cores a run may
    use and the CPU's math extensions (results.host_of reads them back)."""
    return {"cpu": cpu_model(), "cpu_count": cores_usable(), "cpu_features": cpu_features()}


def environment():
    """What a result depends on besides the code: versions, BLAS, CPU (the cores this process may run on:
    a run pinned to some of a host's cores counts those), GPU, driver."""
    import numpy

    env = {"python": platform.python_version(), "platform": platform.platform(), **host_kind(),
           "host_cores": os.cpu_count(), "host_load": host_load(),
           "numpy": numpy.__version__, "nvidia": nvidia_driver()}
    for name in FRAMEWORKS:
        try:
            env.update(framework_module(name).environment())
        except ImportError as exc:
            env[name] = f"not installed ({exc})"
    return {**env, **library_versions()}


OTHERS_SHARE = 0.1  # of the CPU time of a run's cores taken by other work at its start: a host shared with it


def others_cpu_share(seconds=0.5):
    """The share of the CPU time of the cores this process may use that went to work over `seconds` while it
    slept (/proc/stat's line per core; None where there is none): other work's, and the hypervisor's steal, since
    this process's own is waited for. The 1-minute load average counts the run's own install and imports as
    well: 1.1-1.2 at the start of every `make bench` on 2 cores."""
    cores = {f"cpu{i}" for i in usable_core_ids()}

    def busy_and_total():
        busy = total = 0
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                name, *fields = line.split()
                if name in cores:
                    ticks = [int(t) for t in fields[:8]]  # user nice system idle iowait irq softirq steal
                    busy, total = busy + sum(ticks) - ticks[3] - ticks[4], total + sum(ticks)
        return busy, total

    try:
        busy, total = busy_and_total()
        time.sleep(seconds)
        busy_end, total_end = busy_and_total()
    except (OSError, ValueError, IndexError):
        return None
    return round((busy_end - busy) / (total_end - total), 3) if total_end > total else None


def host_load():
    """Whether other work shared the host when the run began: the CPU time others took while this process
    slept (`others_cpu_share`; where there is no such figure, the 1-minute load average against the cores),
    and the processes other than this one holding a GPU (nvidia-smi; none where there is no GPU).
    Host-bound rows measured beside other work ran 1.2-2.5x slower than alone."""
    load, others = os.getloadavg()[0], others_cpu_share()
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20).stdout
        gpu = len([p for p in out.split() if p.strip().isdigit() and int(p) != os.getpid()])
    except (OSError, subprocess.SubprocessError):
        gpu = 0
    busy = (load > 0.5 * (os.cpu_count() or 1) if others is None else others > OTHERS_SHARE) or gpu > 0
    return {"load_1min": round(load, 2), "others_cpu_share": others, "other_gpu_processes": gpu, "shared": busy,
            "single_core_seconds": single_core_seconds()}


def single_core_seconds(repeats=3):
    """Seconds of one fixed pure-Python loop on one core, the best of `repeats`: how fast this host runs
    host-bound work. Two one-H100 machines of the same kind, both quiet and naming the same CPU ("Intel(R)
    Xeon(R) Processor", 16 cores), ran the same host-bound rows up to 1.8x apart (MLX's reference-BLAS
    switch phase 1.53 s against 2.54 s), so the CPU's name does not say it."""
    best = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        sum(i * i % 7 for i in range(1_000_000))
        best = min(best, time.perf_counter() - began)
    return round(best, 4)


# The libraries the workloads compare (transformers vs mlx-lm, openai-whisper vs mlx-whisper, torchao vs
# mlx-lm's quantization) and what the others build on: each result depends on their versions as much as on
# the frameworks'.
LIBRARIES = ("mlx", "mlx-lm", "mlx-whisper", "torch", "transformers", "openai-whisper", "torchao", "numpy")


def library_versions():
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found
