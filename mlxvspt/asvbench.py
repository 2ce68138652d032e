"""What every asv benchmark class shares, so a class in benchmarks/ only names its workload and params.

asv forks one process per benchmark and parameter set and re-runs setup() before every timed call:
the prepared runner is memoised per process, and its first step (compilation, caches) runs once
there, outside the timings.
"""
import functools
import os

from .devices import DEVICES, FRAMEWORKS, Target
from .errors import Unavailable
from .presets import sizes
from .workloads import spec


@functools.lru_cache(maxsize=None)
def prepared(workload, framework, device, precision="fp32", **overrides):
    """Build a workload runner once per process and take its warm-up step."""
    target = Target(framework, device, precision).activate()
    runner = spec(workload).build(target, {**sizes(workload), **overrides})
    runner.step()
    return runner


class WorkloadBenchmark:
    """Params start with (framework, device); subclasses add theirs and map them in `overrides`."""

    workload = None
    params = [list(FRAMEWORKS), list(DEVICES)]
    param_names = ["framework", "device"]
    number = 1
    repeat = (3, 10, 60.0)
    rounds = 1
    warmup_time = 0
    timeout = 3600

    def overrides(self, *extra):
        """(precision, {size overrides}) for this class's extra params."""
        return "fp32", {}

    def setup(self, framework, device, *extra):
        for value, variable in ((framework, "MLXVSPT_FRAMEWORKS"), (device, "MLXVSPT_DEVICES")):
            chosen = os.environ.get(variable)
            if chosen and value not in chosen.split(","):
                raise NotImplementedError(f"{value} not selected ({variable}={chosen})")
        precision, overrides = self.overrides(*extra)
        try:
            self.runner = prepared(self.workload, framework, device, precision, **overrides)
        except Unavailable as exc:
            raise NotImplementedError(str(exc)) from None
