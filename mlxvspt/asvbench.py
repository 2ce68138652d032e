"""What every asv benchmark class shares, so a class in benchmarks/ only names its workload and params.

asv forks one process per benchmark and parameter set and re-runs setup() before every timed call:
the prepared runner is memoised per process, and its first step (compilation, caches) runs once
there, outside the timings.
"""
import functools
import json
import os

from .devices import DEVICES, FRAMEWORKS, Target
from .errors import Unavailable, device_limits
from .paths import cache_dir
from .presets import NAMES, TABLE, sizes
from .workloads import spec


@functools.lru_cache(maxsize=None)
def prepared(workload, framework, device, precision="fp32", **overrides):
    """Build a workload runner once per process and take its warm-up step."""
    target = Target(framework, device, precision).activate()
    runner = spec(workload).build(target, {**sizes(workload), **overrides})
    runner.step()
    return runner


def preset_values(workload, key):
    """A list-valued size's values over every preset, in order. Benchmark params are the same at every
    preset, so the published site, built from this machine's benchmark list, graphs every machine's
    values (a GPU's full-preset sizes beside a laptop's small ones)."""
    values = []
    for preset in NAMES:
        values += [v for v in TABLE[workload][preset][key] if v not in values]
    return values


class WorkloadBenchmark:
    """Params start with (framework, device); subclasses add theirs and map them in `overrides`."""

    workload = None
    params = [list(FRAMEWORKS), list(DEVICES)]
    param_names = ["framework", "device"]
    # asv's identity of a benchmark (results of another version are hidden on the site). Left to asv it
    # hashes the benchmark's source, setup() included, so a refactor of this mixin would hide every
    # earlier result; the measurement lives in mlxvspt/workloads anyway. Bump it in a class whose
    # parameters or meaning change.
    version = "1"
    number = 1
    repeat = (2, 10, 20.0)  # at least 2 samples; no new sample starts after 20 s
    rounds = 1
    warmup_time = 0
    timeout = 3600

    def overrides(self, *extra):
        """(precision, {size overrides}) for this class's extra params."""
        return "fp32", {}

    def measured_here(self, key, value):
        """Skip (asv's n/a) a param value of `preset_values(workload, key)` the current preset leaves out."""
        if value not in sizes(self.workload)[key]:
            raise NotImplementedError(f"{key} {value!r} is not measured at this preset")

    def setup(self, framework, device, *extra):
        for value, variable in ((framework, "MLXVSPT_FRAMEWORKS"), (device, "MLXVSPT_DEVICES")):
            chosen = os.environ.get(variable)
            if chosen and value not in chosen.split(","):
                raise NotImplementedError(f"{value} not selected ({variable}={chosen})")
        precision, overrides = self.overrides(*extra)
        try:
            with device_limits(f"{framework} on {device}"):
                self.runner = prepared(self.workload, framework, device, precision, **overrides)
        except Unavailable as exc:
            raise NotImplementedError(str(exc)) from None


RUN_ID = "MLXVSPT_RUN_ID"


class MeasuredOnce(WorkloadBenchmark):
    """For classes whose track_ methods read several figures of one step (prefill, decode, memory...).

    asv runs each method in its own process; within one `mlxvspt run` (which sets MLXVSPT_RUN_ID) the
    first process to measure a combination stores its step's figures, and the others read
    them instead of loading the model and generating again. Plain `asv run` measures in every method.
    """

    def setup(self, framework, device, *extra):
        run = os.environ.get(RUN_ID)
        # What is measured is the workload, framework, device and overrides: params beyond those
        # (e.g. which phase to report) select a figure of the same measurement.
        precision, overrides = self.overrides(*extra)
        key = "-".join(map(str, (self.workload, framework, device, precision, *sorted(overrides.items()))))
        memo = cache_dir() / "runs" / run / f"{key}.json" if run else None
        if memo and memo.is_file():
            self.measured = json.loads(memo.read_text())
            return
        super().setup(framework, device, *extra)
        self.measured = self.runner.step()
        if memo:
            memo.parent.mkdir(parents=True, exist_ok=True)
            memo.write_text(json.dumps(self.measured))
