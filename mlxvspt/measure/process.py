"""The measuring process: one per workload and device in `mlxvspt run`, each combination built once.

`python -m mlxvspt.measure.process REQUEST.json` reads which rows (asv benchmark name and parameter index) to
measure and appends one JSON line per row to the request's output file as each combination ends, so a
process that dies loses only the combination it was on (its "started" line names it). On a GPU a process
measures the combinations of one float32 matmul policy (IEEE or TF32, see `policy`) and leaves the
others' rows to the next process. The classes in
benchmarks/ are the declarations, imported from the benchmark folder as asv imports them, and the rows
are timed as asv times them (a time_ sample: the mean of `number` calls; a track_ method: what it
returns); `asvrun` records the lines into asv's own result files.

A combination is what one build serves: workload x framework x device x precision x the class's
overrides (path, compile, ...). For each one, in this order, on the same objects:
1. build each framework's runner (MLX first) and
2. observe it for the cross-check (`spec.observe`, at the sizes it times, before any warm-up); the two
   observations are compared (`spec.compare`) and the lines go to the run's check file before any row
   is recorded;
3. warm up (asvbench.prepared) and take every row's samples, the two frameworks' alternately
   (A B B A ...): host-bound figures on a shared machine move minutes apart. Where the workload's
   `together` says the two do not fit the device at their peaks (the LM's float32 step at `full` on an
   80 GB card: MLX 75 GB, PyTorch 26 GB), each framework's cache is released after its check steps and
   they still alternate if each one's step fits beside the other's build (`Alternation`: the other's
   cache released before each sample, one untimed call after each switch); else, or where the device
   gives no free-memory figure, one after the other;
4. write each row's record (what ran, warm-up, check status, compile caches) and free the builds.
"""
import functools
import gc
import importlib.util
import itertools
import json
import math
import os
import signal
import sys
import time
import timeit
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from . import asvbench, check, energy, settings, timing
from .devices import FRAMEWORKS, TF32_ALLOWED, Target
from ..errors import Unavailable, device_limits
from .presets import sizes as preset_sizes
from ..workloads import NAMES, cross_check, spec

# The compilers' on-disk caches, kept under the suite's cache folder so every measuring process (and the
# next run) finds what an earlier one compiled: PyTorch's inductor/AOTAutograd and Triton caches, MLX's
# CUDA kernels (NVRTC) and its CPU compiler's C++ (under TMPDIR/mlx). The first step's cold rows
# (lm_train first_step.py) give their children fresh folders instead.
COMPILE_CACHES = {"TORCHINDUCTOR_CACHE_DIR": "torchinductor", "TRITON_CACHE_DIR": "triton",
                  "MLX_PTX_CACHE_DIR": "mlx-ptx"}


def cache_folder(variable, name, root):
    """A compiler's cache folder: the one its variable names (the user's, or set by `compile_caches`), else
    `name` under `root` (None where there is neither)."""
    return os.environ.get(variable) or (root and str(Path(root) / name))


def compile_caches(root):
    """Point the compilers at their folders under `root` (a variable the user set is kept) and say, per
    cache, whether it held anything when this process started: "warm" or "cold"."""
    state = {}
    for variable, name in COMPILE_CACHES.items():
        folder = Path(os.environ.setdefault(variable, cache_folder(variable, name, root)))
        state[name] = "warm" if folder.is_dir() and any(folder.iterdir()) else "cold"
        folder.mkdir(parents=True, exist_ok=True)
    return state


def cache_files(root=None):
    """{cache name: files in its folder} of the compile caches this process points at (`compile_caches`), or
    where it points at none, those under `root` (the run's parent, which counts a part's): a combination or
    part that adds none found every kernel it compiled in the caches (or compiled nothing)."""
    counts = {}
    for variable, name in COMPILE_CACHES.items():
        folder = cache_folder(variable, name, root)
        if folder and Path(folder).is_dir():
            counts[name] = sum(len(files) for _, _, files in os.walk(folder))
    return counts


@dataclass
class Row:
    """One asv row: a benchmark method of a class at one parameter set."""

    name: str
    idx: int
    bench: object
    method: object
    params: tuple
    key: tuple = None  # the combination: (precision, overrides, warm)
    out: dict = field(default_factory=dict)
    record: dict = None

    @property
    def framework(self):
        return self.params[0]

    @property
    def timed(self):
        return self.name.rsplit(".", 1)[1].startswith("time_")


def benchmark_class(benchmark_dir, module, name, _loaded={}):
    """A class of a benchmark module, imported from its file as asv imports it (once per process and version
    of the file: the run's plan asks a suite's classes in the parent process, which may run another suite)."""
    path = Path(benchmark_dir) / f"{module}.py"
    key = (path.resolve(), path.stat().st_mtime_ns)
    if key not in _loaded:
        where = importlib.util.spec_from_file_location(f"_mlxvspt_bench.{module}", path)
        _loaded[key] = importlib.util.module_from_spec(where)
        where.loader.exec_module(_loaded[key])
    return getattr(_loaded[key], name)


def rows_of(benchmark_dir, wanted):
    """Row objects for [name, idx] pairs; a fresh class instance each, as asv gives each row its process."""
    rows = []
    for name, idx in wanted:
        module, cls_name, method = name.split(".")
        cls = benchmark_class(benchmark_dir, module, cls_name)
        params = next(itertools.islice(itertools.product(*cls.params), idx, idx + 1))
        bench = cls()
        rows.append(Row(name, idx, bench, getattr(bench, method), params))
    return rows


def combination_of(row):
    """(precision, overrides, warm) of a runnable row, or the reason (str) it is n/a here. A plain asv
    class (no workload to build: a test's suite) is a combination of its own per row."""
    if not hasattr(row.bench, "refuse"):
        return ("plain", row.name, row.idx)
    try:
        precision, overrides = row.bench.refuse(*row.params)
    except NotImplementedError as exc:
        return str(exc)
    return precision, tuple(sorted(overrides.items())), row.bench.warm


class Measurement:
    """What one measuring process does: its rows grouped by combination, each group measured in turn."""

    def __init__(self, request):
        self.workload, self.device = request["workload"], request["device"]
        self.out = Path(request["out"])
        self.checks, self.first = request.get("checks"), request.get("first", True)
        self.caches = request.get("caches", {})
        self.rows = rows_of(request["benchmark_dir"], request["rows"])
        self.observations = {}  # (framework, precision, sizes) -> observation: stand-ins for later combinations

    def write(self, line):
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def run(self):
        groups = {}
        for row in self.rows:
            key = combination_of(row)
            if isinstance(key, str):
                self.write({"name": row.name, "idx": row.idx, "result": "n/a", "stderr": key})
                continue
            row.key = key
            groups.setdefault(key, []).append(row)
        known = self.workload in NAMES
        if known and not hasattr(spec(self.workload), "observe") and groups and self.first:
            self.legacy_check()
        policies = [self.policy(key) for key in groups]
        for key, rows in groups.items():
            if self.policy(key) != policies[0]:
                continue  # left without a line: the parent measures them in a process of their own
            self.write({"started": [self.workload, self.device, *map(str, key)],
                        "rows": [[row.name, row.idx] for row in rows]})
            if key[0] == "plain":
                self.plain(rows[0])
            else:
                self.group(key, rows)

    def plain(self, row):
        """A row of a plain asv class, as asv runs it: setup (NotImplementedError: n/a), then its samples."""
        started = time.time()
        try:
            with deadline(getattr(row.bench, "timeout", 60)):
                if hasattr(row.bench, "setup"):
                    row.bench.setup(*row.params)
                row.out = time_samples([row])[0] if row.timed else track(row)
        except Exception as exc:  # noqa: BLE001 (one row failing never takes down the rest)
            self.fail(row, exc)
        print(f"{row.name}{row.params}: {'ok' if 'samples' in row.out else row.out.get('result')}", flush=True)
        self.finish([row], started)

    def policy(self, key):
        """Whether a combination's float32 matmuls may use TF32 on a GPU: MLX reads its switch
        (MLX_ENABLE_TF32) once a process, so one process measures one policy (a tf32 row of a process
        that began in IEEE float32 ran IEEE: verify fails it)."""
        return self.device != "cpu" and key[0] in TF32_ALLOWED

    def legacy_check(self):
        """A workload without `observe` (dp_train: its rows launch processes of their own) is checked at the
        sizes it times by its own `check`."""
        with device_limits(f"{self.workload} check on {self.device}"):
            try:
                lines = spec(self.workload).check(settings.preset(), self.device).entries
            except Unavailable as exc:
                lines = [check.Line(self.workload, self.device, "-", "fp32", "n/a", True, detail=str(exc))]
        self.store_lines(lines)

    def store_lines(self, lines):
        """The check lines of a combination (or of a workload's own check) in place of that combination's
        earlier ones in the point's check file."""
        if self.checks and lines:
            check.replace_combinations(self.checks, lines)

    def group(self, key, rows):
        precision, overrides, warm = key
        overrides = dict(overrides)
        workload = spec(self.workload)
        sizes = {**preset_sizes(self.workload, settings.preset(), self.device), **overrides}
        present = [fw for fw in FRAMEWORKS if any(r.framework == fw for r in rows)]
        together = all(getattr(workload, "together", lambda t, s: True)(Target(fw, self.device, precision), sizes)
                       for fw in present)
        observed, failed, started = {}, {}, time.time()
        phases, files_before, needs = Phases(), cache_files(), {}
        for fw in FRAMEWORKS:
            if fw not in present:
                observed[fw] = self.stand_in(workload, fw, sizes, precision)
                continue
            target = Target(fw, self.device, precision)
            try:
                with device_limits(f"{self.workload} {fw} on {self.device}"):
                    with phases(f"{fw} build"):
                        runner = asvbench.built(self.workload, fw, self.device, precision, **overrides)
                    target.reset_peak_memory()
                    with phases(f"{fw} check steps"):
                        observed[fw] = self.observe(workload, fw, runner, sizes, precision, observed)
            except Exception as exc:  # noqa: BLE001 (Unavailable: n/a; else its rows fail with the reason)
                failed[fw], observed[fw] = exc, None
                continue
            if not together:
                target.release_memory()  # its cache back: the other framework's build and check steps next
                need = memory_need(target)
                if need is None:  # no device-wide memory figure: measured now and freed before the other's build
                    self.sample_alone(rows, fw, precision, failed, phases)
                else:
                    needs[fw] = need
        if together:
            with phases("warm-up and samples"):
                self.sample(rows, failed, interleaved=len(present) == 2 and not failed)
            self.free(rows, present, precision)
        elif needs:
            self.sample_apart(rows, needs, precision, failed, phases)
        for row in rows:
            if not row.out and row.framework in failed:
                self.fail(row, failed[row.framework])
        with phases("comparison"):
            self.compare(workload, precision, observed, sizes, asvbench.check_case(self.workload, overrides))
        added = {name: count - files_before.get(name, 0) for name, count in cache_files().items()}
        for row in rows:
            if row.record is None:
                continue
            # a cache the combination added to missed: its compile was cold, whatever else the folder held
            row.record["compile_caches"] = {name: "cold" if added.get(name) else state
                                            for name, state in self.caches.items()}
            if self.caches:
                row.record["compiled_into_caches"] = added
        self.finish(rows, started)
        self.write({"combination": [self.workload, self.device, *map(str, key)], "seconds": phases.seconds})
        how = "both built at once" if together else "alternately, caches released between" if \
            any(r.out.get("interleaved") for r in rows) else "one after the other"
        print(f"{self.workload} {self.device} {precision} {overrides or ''} {warm}: {len(rows)} rows in "
              f"{time.time() - started:.1f} s ({how}; {phases})", flush=True)

    def sample_apart(self, rows, needs, precision, failed, phases):
        """The rows of a combination whose two builds do not fit the device together at their peaks (built,
        checked and each one's cache released by `group`; `needs`: memory_need of each): where each
        framework's step fits beside the other's build, their samples alternate, each framework's cache
        released before the other's sample (`Alternation`); else the framework built last (its check steps
        ran beside the other's build) is measured and freed first, then the other alone."""
        fits, figures = fits_alternately(needs, self.device, precision) if len(needs) == 2 else (False, "")
        print(f"{self.workload} {self.device} {precision}: {'alternately' if fits else 'one after the other'}"
              f" ({figures})", flush=True)
        if fits:
            with phases("warm-up and samples, alternately"):
                self.sample(rows, failed, interleaved=True, alternation=Alternation())
            self.free(rows, list(needs), precision)
            return
        for fw in reversed(list(needs)):
            self.sample_alone(rows, fw, precision, failed, phases)

    def sample_alone(self, rows, fw, precision, failed, phases):
        """The rows of one framework measured alone, then its builds freed for the other framework's."""
        mine = [r for r in rows if r.framework == fw]
        with phases(f"{fw} warm-up and samples"):
            self.sample(mine, failed, interleaved=False)
        self.free(mine, [fw], precision)

    def free(self, rows, frameworks, precision):
        """Drop every reference to the frameworks' builds of the combination and hand their allocators'
        caches back, so the next build (the other framework's, or the next combination's) has the device's
        memory."""
        for row in rows:
            if row.framework in frameworks:
                vars(row.bench).pop("runner", None)
        for fw in frameworks:
            asvbench.release(fw)
        gc.collect()
        for fw in frameworks:
            Target(fw, self.device, precision).release_memory()

    def observe(self, workload, fw, runner, sizes, precision, observed):
        """The framework's observation for the check, kept as a stand-in for later combinations."""
        if not hasattr(workload, "observe"):
            return None
        seen = workload.observe(runner, sizes, dict(observed))
        if hasattr(workload, "stand_in"):  # kept only where a later combination may stand on it
            self.observations[(fw, precision, json.dumps(sizes, sort_keys=True, default=str))] = seen
        return seen

    def stand_in(self, workload, fw, sizes, precision):
        """The observation of a framework that lacks this combination's path, from the combination that
        stands in for it (observed earlier in this process, or built now for the check alone)."""
        stand = getattr(workload, "stand_in", lambda fw, sizes: None)(fw, sizes)
        if stand is None or not hasattr(workload, "observe"):
            return None
        key = (fw, precision, json.dumps(stand, sort_keys=True, default=str))
        if key not in self.observations:
            others = {f: None for f in FRAMEWORKS if f != fw}
            try:
                with device_limits(f"{self.workload} {fw} on {self.device}"):
                    kept = cross_check(self.workload, None, stand, self.device, precision, others)
                self.observations[key] = kept.get(fw)
            except Unavailable:
                self.observations[key] = None
        return self.observations[key]

    def compare(self, workload, precision, observed, sizes, case):
        """The combination's check lines, from both frameworks' observations, into the run's check file
        (before any of its rows is recorded, so the records carry its status)."""
        result = check.CheckResult(self.workload, self.device)
        if hasattr(workload, "observe") and all(observed.get(fw) is not None for fw in FRAMEWORKS):
            with result.combination(asvbench.combination(sizes), precision, case=case):
                try:
                    workload.compare(result, observed, sizes, self.device)
                except Exception as exc:  # noqa: BLE001 (a check that cannot run has not passed)
                    result.record("comparison ran", False, detail=f"{type(exc).__name__}: {exc}")
        self.store_lines(result.entries)

    def sample(self, rows, failed, interleaved, alternation=None):
        """Every row's samples and run record: time_ rows first (a training step's time_ class leaves its
        step's peak memory for the StepMemory class), each framework's rows of one benchmark and
        parameters taken alternately where both frameworks are built here."""
        asvbench.interleave = interleaved
        try:
            self.sample_pairs(rows, failed, interleaved, alternation or Alternation(apart=False))
        finally:
            asvbench.interleave = True

    def sample_pairs(self, rows, failed, interleaved, alternation):
        pairs = {}
        for row in sorted(rows, key=lambda r: (not r.timed, r.name)):
            pairs.setdefault((row.name, row.params[1:]), []).append(row)
        for pair in pairs.values():
            try:
                with deadline(max(getattr(row.bench, "timeout", 60) for row in pair)):
                    self.sample_pair(pair, failed, interleaved, alternation)
            except TimeoutError as exc:
                for row in pair:
                    if not row.out:
                        self.fail(row, exc)

    def sample_pair(self, pair, failed, interleaved, alternation):
        """One benchmark's rows at one parameter set but the framework."""
        live = []
        for row in pair:
            try:
                if row.framework in failed:
                    raise failed[row.framework]
                if row.timed:  # its warm-up takes the memory: the other framework's cache goes back first
                    alternation.before(row, untimed=False)
                row.bench.setup(*row.params)  # time_: build, warm up; track_: selection only
                live.append(row)
            except Exception as exc:  # noqa: BLE001 (one row failing never takes down the rest)
                self.fail(row, exc)
        try:
            outs = time_samples(live, alternation) if live and live[0].timed else [track(row) for row in live]
        except Exception as exc:  # noqa: BLE001
            for row in live:
                self.fail(row, exc)
            return
        for row, out in zip(live, outs):
            row.out = {**out, "interleaved": interleaved and len(live) == 2}
            row.record = self.record_of(row)
            if alternation.apart and row.timed:
                row.record["caches_released_between_samples"] = True

    def fail(self, row, exc):
        """n/a (Unavailable, NotImplementedError) or failed, with the reason; a failure's traceback goes to
        the run's log."""
        if isinstance(exc, (Unavailable, NotImplementedError)):
            row.out = {"result": "n/a", "stderr": str(exc)}
        else:
            row.out = {"result": None, "stderr": "".join(traceback.format_exception_only(exc)).strip()}
            traceback.print_exception(exc, file=sys.stderr)

    def record_of(self, row):
        """The row's run record (what ran, its warm-up) and its interleaving; `group` adds the compile caches'."""
        record = getattr(row.bench, "record", None) or json.loads(row.bench.memo().read_text())["record"]
        if "settled" in row.out:  # a time_ row's: its own samples' (a track_ row's record holds its class's)
            record = {**record, "warmup": {**record.get("warmup", {}), **timing.settled(*row.out["settled"])}}
        # a track_ row's class says whether its samples alternated with its twin's (MeasuredOnce.measure)
        return {**record, "interleaved": row.out["interleaved"] and record.get("interleaved", True)}

    def finish(self, rows, started):
        """Each measured row's record into the records file, then every row's output line."""
        for row in rows:
            if getattr(row, "record", None) is not None:
                asvbench.append_records(row.bench, row.bench.named(row.params), row.record, force=True,
                                        methods=[row.name.rsplit(".", 1)[1]])
            self.write({"name": row.name, "idx": row.idx, "started_at": started,
                        "duration": time.time() - started, **row.out})


class Phases:
    """Seconds per phase of one combination (build, check steps, warm-up and samples, comparison), for its
    output line and the run's log: where a point's time goes."""

    def __init__(self):
        self.seconds = {}

    @contextmanager
    def __call__(self, name):
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0) + time.perf_counter() - began, 2)

    def __str__(self):
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items())


@contextmanager
def deadline(seconds):
    """TimeoutError in the block after `seconds` (a benchmark's asv `timeout`): a row that hangs fails
    alone instead of holding up the rest."""
    def expire(signum, frame):
        raise TimeoutError(f"timed out (timeout {seconds:g} s)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def memory_need(target):
    """Bytes the target's framework needs on top of what it holds to run its step again: its peak since
    `reset_peak_memory` less what its build holds now (its cache released); None where the device gives
    no free-memory figure (a CPU, Apple's unified memory)."""
    in_use = target.memory_in_use()
    return None if in_use is None else max(target.peak_memory() - in_use, 0)


# The share of the device's free memory a framework's step may count on beside the other's build: the
# rest for fragmentation and the CUDA contexts' growth. At 0.95 the LM's compiled TF32 step on an H100
# (MLX's peak 75.1 GB, both builds 2.7 GB each) did not pass, its eager one (70.5 GB) did.
ALTERNATE_HEADROOM = 0.97


def fits_alternately(needs, device, precision):
    """(whether each framework's step fits in the device's free memory with both builds held and both
    caches released, the figures as a phrase for the run's log); `needs`: {framework: memory_need}."""
    targets = [Target(fw, device, precision) for fw in FRAMEWORKS]
    for target in targets:
        target.synchronize()  # released buffers go back to the device once freed (MLX frees asynchronously)
    free = next(filter(None, (target.free_memory() for target in targets)), None)
    figures = ", ".join(f"{fw} needs {need / 1e9:.1f} GB" for fw, need in needs.items())
    if free is None:
        return False, f"{figures}; no free-memory figure"
    return all(need <= ALTERNATE_HEADROOM * free for need in needs.values()), f"{figures}; {free / 1e9:.1f} GB free"


class Alternation:
    """The turn from one framework's samples to the other's. Before a framework's timed sample that follows
    the other's, one untimed call of its own takes the cost of the switch (its threads and caches woken
    again) where a sample is the mean of several calls: on 2 cores PyTorch's BERT step, 4 calls a sample,
    ran 56-57 ms alone but 55-72 ms alternating with MLX's step, and 57-59 ms (one outlier in 12) with
    that call. A sample of one call gets none, for its cost: the call would double the sample's time (a
    step that long is as long as a sample, SAMPLE_SECONDS, so the switch weighs less in it).
    `apart`: two builds that fit the device only one step at a time; the other's allocator cache is
    handed back first, and the untimed call is made whatever the sample's length, so no timed call pays
    for taking the memory again."""

    def __init__(self, apart=True):
        self.apart, self.last = apart, None  # the row whose framework ran last (apart: holds its cache)

    def before(self, row, untimed=True):
        """Before `row`'s framework runs (`untimed`: a timed sample, so first one untimed call of its own
        where due; else its warm-up, which is untimed itself)."""
        if self.last is not None and self.last.framework == row.framework:
            return
        if self.apart and self.last is not None:
            self.last.bench.target.release_memory()
        if untimed and (self.apart or number_of(row) > 1):
            row.method(*row.params)
        self.last = row


def time_samples(rows, alternation=None):
    """Samples of time_ rows set up already, as asv's TimeBenchmark takes them (each the mean of `number` calls, at
    least repeat[0], at most repeat[1], no new sample after repeat[2] seconds: the rows share that time, their
    samples alternating A B, then B A, ...). Where a row's class leaves memory figures, the allocator's peak is
    reset before and read after each sample, outside the timed calls, and handed to it
    (asvbench.WorkloadBenchmark.leave_memory): the peak of the very samples the time is, at no extra step. Where it
    leaves energy figures, its joules come from a block of its own steps after the samples (`energy_block`). Where
    it leaves its step's figures (`returned`), each sample's are its calls' own, combined, for the figure class of
    the same params: one set of samples serves both. Returns each row's samples, `number` and `settled`: the
    settle's rounds, whether the samples kept are steady, and the rounds' seconds (timing.settled)."""
    alternation = alternation or Alternation(apart=False)
    repeat = getattr(rows[0].bench, "repeat", asvbench.WorkloadBenchmark.repeat)
    least, most, seconds = (repeat, repeat, math.inf) if isinstance(repeat, int) else repeat
    samples, peaks, figures = [[] for _ in rows], [[] for _ in rows], [[] for _ in rows]

    def take_round():
        for i, row in timing.in_turn(list(enumerate(rows)), len(samples[0])):
            call, kept = functools.partial(row.method, *row.params), []
            if leaves(row, "figures"):
                call = returned(call, kept)
            number = number_of(row)
            alternation.before(row)
            if leaves(row, "memory"):
                row.bench.target.reset_peak_memory()
            samples[i].append(timeit.Timer(call).timeit(number) / number)
            if leaves(row, "memory"):
                peaks[i].append(row.bench.target.peak_memory())
            if kept:
                figures[i].append(asvbench.combined(kept))

    began = time.perf_counter()
    while True:
        take_round()
        taken = len(samples[0])
        if taken >= most or (taken >= least and time.perf_counter() - began > seconds):
            break
    settled = (*timing.settle(samples, take_round, spread_limit(rows[0])), time.perf_counter() - began)
    for kept in peaks + figures:  # the peaks and figures of the samples kept
        del kept[:len(kept) - len(samples[0])]
    for row, peak, figure in zip(rows, peaks, figures):
        if leaves(row, "memory"):
            row.bench.leave_memory(peak)
        if leaves(row, "figures"):
            row.bench.leave_figures(figure)
        if leaves(row, "energy"):
            row.bench.leave_energy(*energy_block(row, alternation))
    return [{"samples": s, "number": number_of(row), "settled": settled} for s, row in zip(samples, rows)]


def returned(call, kept):
    """`call`, keeping what each call returns in `kept` (a list append in the timed loop: tens of
    nanoseconds beside steps of milliseconds)."""
    def keeping():
        kept.append(call())
    return keeping


def number_of(row):
    """asv's `number` of a time_ row (set per combination in its setup from asvbench.calls_per_sample): the
    calls a sample is the mean of."""
    return getattr(row.bench, "number", 1) or 1


def spread_limit(row):
    """The spread the row's samples may show on its device (a plain asv class has none)."""
    return timing.spread_limit(getattr(getattr(row.bench, "target", None), "device", None))


# The block of a framework's own steps its joules a step come from: NVML's counter updates every few tens
# of ms, and a 50 ms time_ sample alternating with the other framework's would share its updates.
ENERGY_BLOCK_SECONDS = 0.5


def energy_block(row, alternation):
    """(energy.Reading, steps) of the row's steps for ENERGY_BLOCK_SECONDS (at least one) after its samples,
    the other framework idle (its turn taken as before a sample); where the device has no counter, its
    reason and no step."""
    meter = energy.meter(row.bench.target)
    if meter.reason:
        return energy.Reading(meter.reason), 0
    alternation.before(row)
    call, steps = functools.partial(row.method, *row.params), 0
    try:
        with meter.reading() as reading:
            began = time.perf_counter()
            while not steps or time.perf_counter() - began < ENERGY_BLOCK_SECONDS:
                call()
                steps += 1
    except Exception as exc:  # noqa: BLE001 (an NVML read failing costs the energy row, not the time rows)
        return energy.Reading(f"energy: reading NVML's counter failed ({type(exc).__name__}: {exc})"), 0
    return reading, steps


def leaves(row, figures):
    """Whether the row's class keeps "energy", "memory" or its step's own "figures" of its time_ samples for
    a row of its own (a plain asv class: no)."""
    return getattr(row.bench, f"leaves_{figures}", False)


def track(row):
    """A track_ row's value: {"samples", "number"} or a plain number, as asv stores it."""
    value = row.method(*row.params)
    if isinstance(value, dict):
        return {"samples": list(value["samples"]), "number": value["number"]}
    return {"result": value}


def main(argv=None):
    request = json.loads(Path((argv or sys.argv[1:])[0]).read_text())
    asvbench.defer_records = True
    request["caches"] = compile_caches(request["cache_root"]) if request.get("cache_root") else {}
    Measurement(request).run()


if __name__ == "__main__":
    main()
