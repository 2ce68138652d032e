"""The workloads, each a folder with spec.py (framework-neutral) beside mirrored mlx.py and torch.py.

Every spec module offers
- `build(target, sizes)` -> a `Runner`;
- `expected(target, sizes)` -> {key: value} that the runner's `ran()` must report for that request
  (e.g. {"weights_dtype": "bfloat16", "compiled": "step"}); a mismatch fails the row, never timed silently;
- `check(preset, device)` -> a CheckResult comparing the two frameworks on every path and precision the
  workload publishes on that device, each combination through `cross_check` below;
- `observe(runner, sizes, earlier)` -> what the cross-check compares, read from a runner just built for
  the combination it times, before its warm-up (a training observation trains the check's first `steps`
  steps on it); numpy and Python values only, since one framework's runner may be freed before the other's
  is built. None where the combination is not one the check compares (a single Whisper phase). `earlier`:
  {framework: observation} already taken for this combination (MLX first), for a check that feeds one
  framework's output to the other (the LLM's teacher forcing on MLX's tokens);
- `compare(result, observed, sizes, device)`: the check lines of one combination into `result` (a
  CheckResult positioned at its path label and precision) from {"mlx": ..., "torch": ...} observations;
  it may build references of its own (PyTorch's eager float32 gradients);
- optionally `stand_in(framework, sizes)` -> the sizes of the combination whose observation of
  `framework` the check uses where the preset leaves that framework's combination out (bert_train:
  PyTorch's eager step for its compiled one), and `together(target, sizes)` -> False where the two
  frameworks' steps do not fit the device at once (their samples then alternate with each one's cache
  released between them where each step fits beside the other's build, else one after the other:
  measure/process.py).

So `mlxvspt check` and the measuring process (`mlxvspt.measure.process`) compare the same observations: the check
on builds of its own, the measuring process on the very builds it then warms up and times.
"""
import importlib
from typing import Protocol

from ..errors import UsageError
from ..measure.presets import TABLE


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


def cross_check(name, result, sizes, device, precision, observed=None):
    """One combination's check on builds of its own: each framework's runner built (MLX first), observed,
    freed; then `compare`. `observed`: observations taken already (a stand-in's), kept. Returns them."""
    import gc

    from ..measure.devices import FRAMEWORKS, Target

    workload, observed = spec(name), dict(observed or {})
    for framework in FRAMEWORKS:
        if framework in observed:
            continue
        runner = workload.build(Target(framework, device, precision).activate(), sizes)
        observed[framework] = workload.observe(runner, sizes, dict(observed))
        del runner
        gc.collect()
        Target(framework, device, precision).release_memory()
    if all(observed.get(fw) is not None for fw in FRAMEWORKS):
        workload.compare(result, observed, sizes, device)
    return observed
