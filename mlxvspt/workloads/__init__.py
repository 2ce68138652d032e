"""The workloads, each a folder with spec.py (framework-neutral) beside mirrored mlx.py and torch.py.

Every spec module offers
- `build(target, sizes)` -> a `Runner`;
- `expected(target, sizes)` -> {key: value} that the runner's `ran()` must report for that request
  (e.g. {"weights_dtype": "bfloat16", "compiled": "step"}); a mismatch fails the row, never timed silently;
- `check(preset, device)` -> a CheckResult comparing the two frameworks on every path and precision the
  workload publishes on that device.
"""
import importlib
from typing import Protocol

from ..errors import UsageError
from ..presets import TABLE


class Runner(Protocol):
    """What the benchmarks and `check` rely on; a workload's runner may offer more (e.g. validate)."""

    def step(self):
        """One timed unit of work, synchronised; returns {figure: value} for track_ methods, or None."""

    def ran(self):
        """What actually ran, read back from the framework's objects after warm-up (not from the request):
        dtypes of weights, optimizer state and output, what is compiled, the path. JSON-able values."""


NAMES = tuple(TABLE)  # a workload is a folder here plus its row in the preset table


def spec(name):
    if name not in NAMES:
        raise UsageError(f"unknown workload {name!r}; choose one of: {', '.join(NAMES)}")
    return importlib.import_module(f"mlxvspt.workloads.{name}.spec")


def implementation(name, framework):
    """The framework module of a workload: mlxvspt.workloads.<name>.<framework>."""
    spec(name)
    return importlib.import_module(f"mlxvspt.workloads.{name}.{framework}")
