"""The workloads, each a folder with spec.py (framework-neutral) beside mirrored mlx.py and torch.py.

Every spec module offers `build(target, sizes)` -> a runner whose `step()` is the timed unit, and
`check(preset)` -> a CheckResult comparing the two frameworks on the same work.
"""
import importlib

from ..errors import UsageError

NAMES = ("lm_train", "dp_train", "bert_train", "whisper", "llm", "switch", "matmul")


def spec(name):
    if name not in NAMES:
        raise UsageError(f"unknown workload {name!r}; choose one of: {', '.join(NAMES)}")
    return importlib.import_module(f"mlxvspt.workloads.{name}.spec")


def implementation(name, framework):
    """The framework module of a workload: mlxvspt.workloads.<name>.<framework>."""
    spec(name)
    return importlib.import_module(f"mlxvspt.workloads.{name}.{framework}")
