"""What every asv benchmark class shares, so a class in benchmarks/ only names its workload and params.

asv forks one process per benchmark, parameter set and round, and re-runs setup() before every timed
call: the prepared runner is memoised per process. Preparing it means, in this order: build, warm up
until two consecutive steps agree within 10% (steady state), read back what actually ran and fail the
row if it is not what was asked, then append that record (with the cross-check's status for the
combination) to the run's records file beside asv's results.
"""
import fcntl
import functools
import gc
import hashlib
import json
import math
import os
import time
from contextlib import contextmanager

from . import check, energy, settings, timing
from .devices import DEVICES, FRAMEWORKS, Target, environment
from ..errors import Unavailable, device_limits
from .presets import FIGURE_SAMPLES, NAMES, SAMPLE_SECONDS, TABLE, sizes
from .timing import WARMUP_CAP_STEPS, warm_up
from ..workloads import spec


def calls_per_sample(step_seconds):
    """How many calls make one time_ sample: enough to fill the preset's SAMPLE_SECONDS, at least 1."""
    return max(1, math.ceil(SAMPLE_SECONDS[settings.preset()] / max(step_seconds, 1e-9)))


def unavailable(workload, target, overrides):
    """The workload's reason why this machine cannot run the combination at the preset, or time it (None if
    it can), asked before anything is built: `spec.unavailable(target, sizes)`, then `spec.untimed`."""
    chosen = {**sizes(workload, settings.preset(), target.device), **overrides}
    for hook in ("unavailable", "untimed"):
        ask = getattr(spec(workload), hook, None)
        reason = ask(target, chosen) if ask else None
        if reason:
            return reason
    try:
        target.handle  # the device exists in this install (no GPU backend: n/a, never a failed row)
    except Unavailable as exc:
        return str(exc)
    return None


def verify(workload, target, sizes, ran):
    """Fail (RuntimeError, one line) if what ran differs from what the workload says was asked."""
    want = getattr(spec(workload), "expected", lambda target, sizes: {})(target, sizes)
    if target.precision == "fp32":  # the label promises IEEE float32 matmuls: MLX's CUDA default is TF32
        want = {**want, "matmul_mode": "ieee"}
    if target.precision == "tf32":  # ... and TF32 ones: MLX reads its switch once a process (process.py)
        want = {**want, "matmul_mode": "tf32"}
    wrong = [f"{key} asked {value!r}, ran {ran.get(key)!r}" for key, value in want.items() if ran.get(key) != value]
    if wrong:
        raise RuntimeError(f"{workload} {target.framework} {target.device} {target.precision}: not the requested "
                           f"work: {'; '.join(wrong)}")


def combination(sizes):
    """The path label a row's check lines and records share: the workload's path, '+compiled' if compiled."""
    return check.path_label(sizes.get("path", "default"), sizes.get("compile", False))


def check_case(workload, overrides):
    """The case a combination's check lines and its rows' records share (check.case_of, by the workload's
    CHECK_CASE)."""
    return check.case_of(overrides, getattr(spec(workload), "CHECK_CASE", ()))


def built(workload, framework, device, precision="fp32", **overrides):
    """A workload runner, built once per process for the combination: the measuring process observes it
    for the cross-check (mlxvspt.measure.process) before `prepared` warms the same object up and times it."""
    key = (workload, framework, device, precision, tuple(sorted(overrides.items())))
    if key not in _BUILDS:
        target = Target(framework, device, precision).activate()
        _BUILDS[key] = spec(workload).build(target, {**sizes(workload, settings.preset(), device), **overrides})
    return _BUILDS[key]


# This process's builds and prepared runners, keyed (workload, framework, device, precision, overrides[,
# warm]): kept until `release`.
_BUILDS, _PREPARED = {}, {}


def release(framework=None):
    """Forget this process's builds (the measuring process, between combinations), or one framework's."""
    for cache in (_BUILDS, _PREPARED):
        for key in [k for k in cache if framework in (None, k[1])]:
            del cache[key]


def prepared(workload, framework, device, precision="fp32", warm="step", **overrides):
    """The combination's runner (`built`), with `warm` (the timed method) brought to steady state and
    what it ran read back, once per process. Returns (runner, record)."""
    key = (workload, framework, device, precision, tuple(sorted(overrides.items())), warm)
    if key not in _PREPARED:
        _PREPARED[key] = _prepare(workload, framework, device, precision, warm, overrides)
    return _PREPARED[key]


def _prepare(workload, framework, device, precision, warm, overrides):
    target = Target(framework, device, precision).activate()
    chosen = {**sizes(workload, settings.preset(), device), **overrides}
    runner = built(workload, framework, device, precision, **overrides)
    # The matmul mode is measured before warm-up: its float64 reference wakes numpy's BLAS threads,
    # which spin for ~0.1 s after, taking a core from the framework's (a 256^2 torch matmul timed 60x
    # slower on 2 cores). The mode is set by activate() and does not change after.
    matmul_mode = target.matmul_mode()
    warmup = warm_up(getattr(runner, warm), chosen.get("warmup_cap_steps", WARMUP_CAP_STEPS))
    ran = {**runner.ran(), "matmul_mode": matmul_mode}
    verify(workload, target, chosen, ran)
    record = {"ran": ran, "warmup": warmup, "preset": settings.preset(), "pid": os.getpid(),
              "tf32_env": os.environ.get("MLX_ENABLE_TF32"), "versions": settings.library_versions(),
              "path": combination(chosen), "precision": precision, "case": check_case(workload, overrides)}
    return runner, record


def preset_values(workload, key):
    """A list-valued size's values over every preset (a CPU's narrower entry included), in order. Benchmark params are the same at every
    preset, so the published site, built from this machine's benchmark list, graphs every machine's
    values (a GPU's full-preset sizes beside a laptop's small ones)."""
    values = []
    for preset in NAMES:
        for table in (TABLE[workload][preset], TABLE[workload][preset].get("cpu", {})):
            values += [v for v in table.get(key, []) if v not in values]
    return values


@contextmanager
def locked(path):
    """An exclusive lock on `path` (created) for the block: asv's processes append one after another,
    but a user may run two suites at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield f
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# The measuring process (mlxvspt.measure.process) writes each row's record itself, once the combination's check
# has its lines; `interleave`: whether it built both frameworks of the combination being measured, so a
# MeasuredOnce class that alternates on the device takes their samples alternately.
defer_records = False
interleave = True


SHARED_RSS = ("peak memory on the CPU is the process's max RSS (neither framework keeps CPU allocator statistics), "
              "and the measuring process holds both frameworks' builds: it would not be this row's")


def rss_is_the_rows(device, launches=False):
    """Whether a CPU peak (the process's max RSS) belongs to the row alone: not in the measuring process,
    which holds every combination of its workload, unless the row's figures come from processes of its own."""
    return device != "cpu" or launches or not defer_records


def append_records(benchmark, params, record, force=False, methods=None):
    """One line per benchmark method of the class into the run's records file (settings.RECORDS), with
    the cross-check's status for the row's device, path, precision and case, and that combination (`check_key`),
    so checks that end after the row (a full-size check beside the run) still count. Params as asv writes
    them (repr). In the measuring process only its own calls (`force`) write."""
    where = settings.records_file()
    if where is None or (defer_records and not force):
        return
    key = [benchmark.workload, params["device"], record["path"], record["precision"], record.get("case")]
    status = check.status(settings.check_lines(), *key)
    module = type(benchmark).__module__.rsplit(".", 1)[-1]
    methods = methods or [n for n in dir(benchmark) if n.startswith(("time_", "track_", "peakmem_", "mem_"))]
    lines = [json.dumps({"benchmark": f"{module}.{type(benchmark).__name__}.{method}",
                         "params": {k: repr(v) for k, v in params.items()},
                         "ran": record["ran"], "warmup": record["warmup"], "check": status, "check_key": key,
                         "alternates": params["device"] in getattr(benchmark, "alternate_on", ()),
                         **{k: record[k] for k in ("interleaved", "caches_released_between_samples", "compile_caches",
                                                     "compiled_into_caches")
                            if k in record},
                         "environment": {k: record[k] for k in ("preset", "pid", "tf32_env", "versions")}})
             for method in methods]
    with locked(where) as f:
        f.write("".join(line + "\n" for line in lines))


def record_environment():
    """A history run's virtualenv leaves its `mlxvspt info` record beside its records, once per run (asv's
    teardown, after the samples: it imports both frameworks)."""
    where, folder = settings.environment_file(), settings.run_folder()
    if where is None or folder is None:
        return
    with locked(folder / where.name) as f:
        f.seek(0)
        if not f.read():
            where.write_text(json.dumps(environment(), indent=2) + "\n")
            f.write("written\n")


def memo_file(workload, framework, device, precision, overrides, figures="steps"):
    """Where one `mlxvspt run` keeps a combination's measured figures (None outside a run): every
    process of that combination that reads the same kind of `figures` (a step's own, or "peaks": its peak
    memory, StepMemory), whichever class, reads the same file; the two kinds apart, as the switch loop's
    phases and its peak memory are. Under the installed release set's own folder: a history run measures
    every ledger point within one run (its first point's figures once stood for all of them)."""
    folder = settings.run_folder()
    if folder is None:
        return None
    releases = hashlib.sha1(json.dumps(settings.library_versions(), sort_keys=True).encode()).hexdigest()[:12]
    name = "-".join(map(str, (workload, framework, device, precision, *sorted(overrides.items()))))
    return folder / releases / figures / (name + ".json")


def memo_entry(figures, record, *recorded):
    """What a memo file holds: the figures, the run record they came with, and the rows (params) that
    have appended that record to the records file."""
    return {"figures": figures, "record": record, "recorded": [repr(params) for params in recorded]}


def memo_once(memo, figures, record, *recorded):
    """Write `memo`'s entry unless a process wrote one first; `figures` is called only then (it may take steps)."""
    with locked(memo) as f:
        f.seek(0)
        if not f.read():
            f.write(json.dumps(memo_entry(figures(), record, *recorded)))


def step_peaks(runner, target, samples):
    """The peak memory of each of `samples` steps after warm-up, as MeasuredOnce figures: the allocator's
    peak since a reset on a GPU; on a CPU the process's max RSS (no reset lowers it)."""
    peaks = []
    for _ in range(samples):
        target.reset_peak_memory()
        runner.step()
        peaks.append({"peak_memory_bytes": target.peak_memory()})
    return peaks


def selected(precision):
    """asv's n/a for a precision the user left out (`--precision`)."""
    if settings.precisions() and precision not in settings.precisions():
        raise NotImplementedError(f"{precision} not selected ({', '.join(settings.precisions())} only)")


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
    number = 1  # until setup() measured the step: see calls_per_sample
    calls = None  # calls a sample where the timed method is not the warmed-up step (a BERT epoch: 1)
    # At least 5 samples, at most 20; no new sample starts after 5 s (the measuring process shares them
    # between the two frameworks' rows it alternates). 5 a side is what the verdict's 99% ratio interval
    # needs to separate cells at all (results.verdict); rows of a step under 0.25 s reach 20 anyway.
    repeat = (5, 20, 5.0)
    rounds = 1
    warmup_time = 0
    timeout = 3600
    warm = "step"  # the runner method the timed methods call: warmed up to steady state in setup
    tier = "standard"  # or "cold": a fresh process's first step, on request (`--tier cold`); see tier_of
    leaves_memory = False  # a training step's time_ class: its samples' peaks are its StepMemory twin's figures
    leaves_energy = False  # ... and reads NVML's counter over a block of its steps for its StepEnergy twin
    leaves_figures = False  # a time_ class whose step returns the figures its MeasuredOnce twin reports

    def overrides(self, *extra):
        """(precision, {size overrides}) for this class's extra params."""
        return "fp32", {}

    def named(self, args):
        """A row's params by name, as records and memo files list them."""
        return dict(zip(self.param_names, args))

    def tier_of(self, *extra):
        """The row's tier (a class whose params reach into another tier answers per row): its class's."""
        return self.tier

    def measured_here(self, key, value):
        """Skip (asv's n/a) a param value of `preset_values(workload, key)` the current preset leaves out
        on this row's device."""
        if key == "precisions":
            selected(value)
        if value not in sizes(self.workload, settings.preset(), self.device).get(key, []):
            raise NotImplementedError(f"{key} {value!r} is not measured at this preset on the {self.device.upper()}")

    def refuse(self, framework, device, *extra, runnable=False):
        """asv's n/a (NotImplementedError) for a combination not selected or not runnable here, asked
        before anything is built; else (precision, overrides). `runnable`: this run measured the combination
        already, so the workload is not asked again (its answer imports the framework's library)."""
        for value, chosen in ((framework, settings.frameworks()), (device, settings.devices())):
            if chosen and value not in chosen:
                raise NotImplementedError(f"{value} not selected or not available here ({', '.join(chosen)} only)")
        self.device = device
        tier = self.tier_of(*extra)
        if tier not in settings.tiers():
            raise NotImplementedError(f"a {tier} row: run with --tier {tier} (this run: {', '.join(settings.tiers())})")
        precision, overrides = self.overrides(*extra)
        selected(precision)
        reason = None if runnable else unavailable(self.workload, Target(framework, device, precision), overrides)
        if reason:
            raise NotImplementedError(reason)
        return precision, overrides

    def setup(self, framework, device, *extra):
        if getattr(self, "ready_for", None) == (framework, device, *extra):
            return  # asv runs setup() again before every sample and call: nothing to redo
        precision, overrides = self.refuse(framework, device, *extra)
        try:
            with device_limits(f"{framework} on {device}"):
                self.runner, self.record = prepared(self.workload, framework, device, precision, self.warm,
                                                    **overrides)
        except Unavailable as exc:
            raise NotImplementedError(str(exc)) from None
        record, self.target = self.record, Target(framework, device, precision)
        # asv re-reads `number` after the first setup() (a parameterised benchmark may set it there), then
        # runs setup() again before each call of a sample and times only the calls
        self.number = self.calls or calls_per_sample(record["warmup"]["last_warmup_step_seconds"])
        self.ready_for = (framework, device, *extra)
        if not record.get("appended"):  # one record a process, whichever benchmark object prepared it
            params = self.named((framework, device, *extra))
            append_records(self, params, record)
            record["appended"] = True

    def teardown(self, *params):
        record_environment()

    def leave_memory(self, peaks):
        """Keep the allocator's peak over each of this row's time_ samples (bytes, read around them by the
        measuring process: process.time_samples) for the StepMemory class of the same params: the step's
        peak after warm-up, at no step of its own (10 more steps a framework and combination, a minute of
        a GPU point in the LM's float32 steps and the switch loop's CPU half, before)."""
        if rss_is_the_rows(self.target.device):
            self.leave(StepMemory.figures, [{"peak_memory_bytes": peak} for peak in peaks])

    def leave_energy(self, reading, steps):
        """Keep the joules of a block of `steps` of this row's steps (energy.Reading), read by the measuring
        process after its time_ samples (process.energy_block), for the StepEnergy class of the same params."""
        self.leave(StepEnergy.figures, [{"energy_j": reading.total(), "steps": steps}])

    def leave_figures(self, figures):
        """Keep the figures each of this row's time_ samples' steps returned (combined over its calls, read
        by the measuring process: process.time_samples) for the MeasuredOnce class of the same params, which
        then reports them instead of taking samples of its own: the switch loop's phases and Whisper's
        decode ms/token, each sampled a second time on the same build before (19 s of the switch loop's 46
        on an H100)."""
        self.leave(MeasuredOnce.figures, figures)

    def leave(self, figures, measured):
        """`measured` (figures the measuring process took beside this row's time_ samples) into the memo of
        the class of the same params that reports them (its `figures`), within a run; nothing outside one."""
        precision, overrides = self.overrides(*self.ready_for[2:])
        memo = memo_file(self.workload, *self.ready_for[:2], precision, overrides, figures)
        if memo is not None:
            memo_once(memo, lambda: measured, self.record)


def combined(figures, peak=False):
    """The figures of consecutive steps as one sample: numbers averaged (a peak_ figure: the largest),
    tables entry by entry, lists (a launch's own samples) joined; one step's figures as they are."""
    first = figures[0]
    if len(figures) == 1:
        return first
    if isinstance(first, dict):
        return {key: combined([f[key] for f in figures], key.startswith("peak_")) for key in first}
    if isinstance(first, list):
        return [value for f in figures for value in f]
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return max(figures) if peak else sum(figures) / len(figures)
    return first


def training_params(workload):
    """A training step's params: framework, device, then path, compile and precision (the paths and
    precisions as the presets publish them), as TrainingStepParams reads them."""
    return WorkloadBenchmark.params + [preset_values(workload, "paths"), [False, True],
                                       preset_values(workload, "precisions")]


class TrainingStepParams:
    """A training step's path x compile x precision -> the runner's overrides, and each path x compile
    pair's tier on the row's device (mixed into a workload's step, memory and energy classes)."""

    param_names = ["framework", "device", "path", "compile", "precision"]

    def tier_of(self, path, compile, precision):
        """"standard" where the preset lists the pair (`compiles`: each path as its users run it) or lists
        none, else "diagnostic" (a seed path compiled, a best path eager: they tell what the path does from
        what the compiler does), run on request."""
        listed = sizes(self.workload, settings.preset(), self.device).get("compiles")
        return "standard" if listed is None or [path, compile] in listed else "diagnostic"

    def overrides(self, path, compile, precision):
        self.measured_here("paths", path)
        self.measured_here("precisions", precision)
        return precision, {"path": path, "compile": compile}


class MeasuredOnce(WorkloadBenchmark):
    """For classes whose track_ methods read several figures of one step (prefill, decode, memory...).

    asv keeps one value per track_ method and parameter set: its `rounds` apply to time_ benchmarks
    only (asv_runner 0.3 gives a track_ no rounds; a later round's value would replace the earlier one).
    A track_ method that returns {"samples": [...], "number": 1} is stored like a timing: median, 99%
    interval, quartiles and the samples. So `figure(name)` returns that, from `sample_count()` consecutive
    samples after warm-up (a sample: one runner.step() or the mean of several, see `sample`); within one
    `mlxvspt run` they are kept under the run's folder, so every method of the class reads the same
    measurements (one build and warm-up per combination).
    Plain `asv run` measures in every process.

    On the devices in `alternate_on` the first framework's process also prepares the other framework's
    benchmark of the same params and takes the samples of both alternately (A B B A ...), keeping the
    other's in its memo for that framework's rows: host-bound figures moved +-30% between runs minutes
    apart on a shared GPU machine, so the two frameworks must see the same minutes. Not where a figure is
    the process's max RSS (a CPU's peak memory): both models would count. The record says whether they
    alternated (`interleaved`), which a timing's verdict needs.
    """

    samples = 5
    launches = False  # a sample launches fresh processes (minutes on a GPU): `samples` as the class says
    alternate_on = ()
    figures = "steps"  # what measure() returns: memo_file keeps each kind apart

    def setup(self, framework, device, *extra):
        """Only what is cheap: selection and n/a. The model is built when a figure needs measuring; a row
        whose combination this run measured already (another class's, or its twin's) only reads the memo:
        asking the workload whether it runs here imported its library, 3-8 s a row (transformers), minutes
        for the LLM's classes on a GPU."""
        self.args, self.device = (framework, device, *extra), device  # a class's overrides may read the device
        self.refuse(framework, device, *extra, runnable=self.measured())

    def sample_count(self):
        """`samples`, or the preset's FIGURE_SAMPLES where more (not for a class whose samples are launches)."""
        return self.samples if self.launches else max(self.samples, FIGURE_SAMPLES.get(settings.preset(), 0))

    def figure(self, name, key=None):
        """What a track_ method returns: each measurement's figure `name` (its entry `key` where the
        figure is a table, e.g. seconds per message size) as asv samples."""
        if name.startswith("peak_") and not rss_is_the_rows(self.device, self.launches):
            raise NotImplementedError(SHARED_RSS)
        return self.as_samples(self.values(name, key))

    def pooled(self, joules, work):
        """An energy figure: the figure `joules` summed over every measurement, over `work` summed likewise,
        as one asv sample (energy.pooled says why one)."""
        return self.as_samples([energy.pooled(self.values(joules), self.values(work))])

    @staticmethod
    def as_samples(values):
        """asv's samples of `values`. A figure the device cannot give is the reason, a str (an energy figure
        without NVML's counter): asv's n/a with it."""
        values = list(values)
        reason = next((value for value in values if isinstance(value, str)), None)
        if reason:
            raise NotImplementedError(reason)
        return {"samples": values, "number": 1}

    def measured(self):
        """Whether this run has this row's combination's figures already (its memo is written)."""
        memo = self.memo()
        return memo is not None and memo.is_file() and memo.stat().st_size > 0

    def memo(self):
        """This row's combination's memo file within a run (None outside one)."""
        return memo_file(self.workload, *self.args[:2], *self.overrides(*self.args[2:]), self.figures)

    def values(self, name, key=None):
        if settings.run_folder() is None:
            measured = self.measure()
        else:
            params = self.named(self.args)
            with locked(self.memo()) as f:
                f.seek(0)
                text = f.read()
                # measure() went through setup(), which recorded these params
                memo = json.loads(text) if text else memo_entry(self.measure(), self.record, params)
                if repr(params) not in memo["recorded"]:  # another row of the same measurement
                    append_records(self, params, memo["record"])
                    memo["recorded"].append(repr(params))
                f.seek(0)
                f.truncate()
                f.write(json.dumps(memo))
            measured = memo["figures"]
        picked = [figures[name] if key is None else figures[name][key] for figures in measured]
        # a runner whose one step measures several samples (a dp_train launch) gives a list
        return [v for value in picked for v in (value if isinstance(value, list) else [value])]

    def measure(self):
        """sample_count() samples (alternating with the twin's where it has one; timing.FIRST_LOOK of them
        where the two frameworks' are wholly apart by then: timing.take_rounds), settled (timing.settle)
        unless a sample is a launch."""
        super().setup(*self.args)
        twin = self.twin()
        benches = [self] if twin is None else [self, twin]
        taken, last = [[] for _ in benches], None  # set up last: the twin, or another row
        cheap = [cheap_next_to(bench, benches) for bench in benches]
        # once: with one before each sample, an H100's TinyLlama rounds took 0.1-1 s a sample beyond their steps
        gc.collect()
        began = time.perf_counter()

        def take_round():
            nonlocal last
            for bench, samples, warm_first in timing.in_turn(list(zip(benches, taken, cheap)), len(taken[0])):
                samples.append(bench.sample(switched=bench is not last, warm_first=warm_first))
                last = bench

        first_look = timing.take_rounds(taken, take_round, self.sample_count())
        done = {}
        if not self.launches:
            done = timing.settled(*timing.settle(taken, take_round, timing.spread_limit(self.device)),
                                  time.perf_counter() - began, first_look)
        for bench in benches:  # interleaved: whether these samples alternated with the other framework's
            bench.record = {**bench.record, "warmup": {**bench.record["warmup"], **done},
                            "interleaved": twin is not None}
        if twin is not None:
            twin.keep(taken[1])
        return taken[0]

    def sample(self, switched=False, warm_first=False):
        """One sample's figures: a step's, or the mean of as many steps as fill the preset's SAMPLE_SECONDS (as a time_
        sample is), so a short host-bound figure (a toy model's decode of 1.5 ms a token) is not one noisy call; a
        peak is the largest of them. The garbage collector waits meanwhile, as it does while asv (timeit) times a
        time_ sample; before it, a collection of the young generations only (a fraction of a millisecond) frees
        what the last sample left in cycles, so no peak counts it (the full collection, 0.2 s and more beside the
        models, runs once, before the rounds). `switched`: the other framework's sample came last; a sample of
        several steps then follows one step of its own, unmeasured (process.Alternation), and so does a sample
        of one step where that step is cheap next to the other framework's (`warm_first`, `cheap_next_to`)."""
        calls = calls_per_sample(self.record["warmup"]["last_warmup_step_seconds"])
        if switched and (calls > 1 or warm_first):
            self.runner.step()
        gc.collect(1)
        gc.disable()
        try:
            return combined([self.runner.step() for _ in range(calls)])
        finally:
            gc.enable()

    def twin(self):
        """The other framework's benchmark of the same params, prepared in this process, where this class
        alternates on this device within a run and the other framework is selected, runnable here and not
        measured yet; else None (a failure to prepare it is left to that framework's own row)."""
        framework, device, *extra = self.args
        if device not in self.alternate_on or settings.run_folder() is None or not interleave:
            return None
        if device == "cpu" and hasattr(self, "track_peak_memory") and rss_is_the_rows(device, self.launches):
            return None  # the twin's model would count in this row's peak, the process's max RSS
        other = type(self)()
        other.args, other.device = (next(f for f in FRAMEWORKS if f != framework), device, *extra), device
        try:
            if other.measured():
                return None
            WorkloadBenchmark.setup(other, *other.args)
        except Exception:  # noqa: BLE001 (n/a, or it fails where its own row will say why)
            return None
        return other

    def keep(self, figures):
        """Store the figures this row's twin measured for it, with this row's run record."""
        memo_once(self.memo(), lambda: figures, self.record, self.named(self.args))


class StepMemory(MeasuredOnce):
    """Peak memory of one training step after warm-up: the allocator's peak on a GPU; on a CPU the
    process's max RSS (interpreter, data and warm-up included: neither framework keeps CPU allocator
    statistics). Within `mlxvspt run` its figures are the peaks of its time_ twin's samples (leaves_memory,
    same params and overrides); plain `asv run` measures steps here. Subclass it as `asvbench.StepMemory`: a name
    imported into a benchmark module is itself discovered by asv as a benchmark."""

    figures = "peaks"

    def measure(self):
        precision, overrides = self.overrides(*self.args[2:])
        WorkloadBenchmark.setup(self, *self.args)
        return step_peaks(self.runner, Target(*self.args[:2], precision), self.sample_count())

    def track_peak_memory(self, *params):
        return self.figure("peak_memory_bytes")

    track_peak_memory.unit = "bytes"


class StepEnergy(MeasuredOnce):
    """Joules per training step: NVML's counter read around a block of its time_ twin's steps after that
    twin's samples (`leaves_energy`, same params and overrides; process.energy_block) by the measuring process
    of `mlxvspt run`; elsewhere (plain `asv run`) n/a with the reason. One sample: no verdict, a figure
    shown beside the time. Subclass it as `asvbench.StepEnergy` (see StepMemory)."""

    figures = "energy"

    def measure(self):
        precision, _ = self.overrides(*self.args[2:])
        reason = energy.meter(Target(*self.args[:2], precision)).reason
        raise NotImplementedError(reason or "energy per step is read after the time_ samples of the measuring "
                                  "process (`mlxvspt run`): none were taken for this row")

    def track_energy_per_step(self, *params):
        return self.pooled("energy_j", "steps")

    track_energy_per_step.unit = "J/step"


def kept_at(method, version):
    """A base class's figure `method` for a subclass, under its own asv `version`: asv reads a method's version
    before its class's, so a figure whose sizes did not change keeps its history when the class's moves on."""
    @functools.wraps(method)
    def figure(self, *params):
        return method(self, *params)

    figure.version = version
    return figure


# A step this many times shorter than the other framework's is cheap to take once, untimed, after each switch:
# on 2 cores PyTorch's TinyLlama decode after MLX's 7-8 s samples ran 58-77 ms a token (its threads and caches
# gone cold), and the settle's 3 extra rounds to push those out cost a whole MLX sample each (27 s of the
# default run); with that call, 56-60 ms and no extra round.
CHEAP_FACTOR = 4


def cheap_next_to(bench, benches):
    """Whether `bench`'s step takes at most 1 / CHEAP_FACTOR of every other alternating bench's."""
    def step(b):
        return b.record["warmup"].get("last_warmup_step_seconds")

    others = [step(b) for b in benches if b is not bench]
    return bool(others) and None not in (step(bench), *others) and all(
        step(bench) * CHEAP_FACTOR <= other for other in others)


class GenerationFigures(MeasuredOnce):
    """The figures of a text-generation step (mlxvspt/workloads/llm/spec.py, `Runner.step`), shared by the
    LLM's classes (llm, llm_quant). Subclass it as `asvbench.GenerationFigures`: a name imported into a
    benchmark module is itself discovered by asv as a benchmark."""

    alternate_on = ("cpu", "gpu")  # host-bound decode (on a CPU not where its peak is the row's RSS: `twin`)

    def track_prefill(self, *params):
        return self.figure("prefill_ms_per_token")

    def track_decode(self, *params):
        return self.figure("decode_ms_per_token")

    def track_time_to_first_token(self, *params):
        return self.figure("ttft_ms")

    def track_peak_memory(self, *params):
        """Bytes: the allocator's peak on a GPU; on CPU the process's max RSS (see the workload's docstring)."""
        return self.figure("peak_memory_bytes")

    def track_energy_per_token(self, *params):
        """Joules per generated token from NVML's energy counter (NVIDIA GPUs only; n/a with the reason elsewhere)."""
        return self.figure("energy_j_per_token")

    track_prefill.unit = track_decode.unit = "ms/token"
    track_time_to_first_token.unit = "ms"
    track_peak_memory.unit = "bytes"
    track_energy_per_token.unit = "J/token"
