"""The measuring process: one build per combination, checked then timed on the same objects, the two
frameworks' samples alternating; a process that dies loses only its combination; the compile caches'
state in the records; the plan's estimates and budget, the time left; one run per results folder."""
import gc
import io
import itertools
import json
import os
import re
import statistics
import textwrap
import time
import types
from pathlib import Path

import pytest

from mlxvspt.measure import asvbench, check, presets, process, settings, timing
from mlxvspt.track import asvrun, locks, plan
from mlxvspt import cli
from mlxvspt.errors import UsageError
from mlxvspt.track import progress as progress_module
from mlxvspt.track.progress import Progress
from mlxvspt.workloads.matmul import spec as matmul

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
# A benchmark module of the matmul workload whose n=128 rows end their process (a crash mid-run).
DIES = '''
import os
from mlxvspt.measure.asvbench import WorkloadBenchmark


class Dies(WorkloadBenchmark):
    workload = "matmul"
    params = [["mlx", "torch"], ["cpu"], ["fp32"], [64, 128]]
    param_names = ["framework", "device", "precision", "n"]

    def overrides(self, precision, n):
        return precision, {"n": n}

    def time_matmul(self, framework, device, precision, n):
        if n == 128:
            os._exit(3)
        self.runner.step()
'''


def matmul_rows(n=64, precision="fp32"):
    """[name, idx] of Matmul.time_matmul and MatmulMemory for both frameworks on the CPU at one size."""
    names = ["bench_matmul.Matmul.time_matmul", "bench_matmul.MatmulMemory.track_peak_memory"]
    rows = []
    for name in names:
        cls = process.benchmark_class(BENCHMARKS, *name.split(".")[:2])
        for idx, params in enumerate(itertools.product(*cls.params)):
            if params[1:] == ("cpu", precision, n):
                rows.append([name, idx])
    return rows


def request(tmp_path, rows, workload="matmul", benchmark_dir=BENCHMARKS):
    return {"workload": workload, "device": "cpu", "rows": rows, "benchmark_dir": str(benchmark_dir),
            "out": str(tmp_path / "out.jsonl"), "checks": os.environ[settings.CHECKS]}


def test_each_combination_is_built_once_then_checked_warmed_and_timed_on_that_build(run_env, monkeypatch):
    events = []
    observe, warm_up, build = matmul.observe, asvbench.warm_up, matmul.build
    monkeypatch.setattr(matmul, "build", lambda target, sizes: events.append(("build", target.framework)) or
                        build(target, sizes))
    monkeypatch.setattr(matmul, "observe", lambda runner, sizes, earlier: events.append(("observe", id(runner)))
                        or observe(runner, sizes, earlier))
    monkeypatch.setattr(asvbench, "warm_up", lambda step, *a, **k: events.append(("warm", id(step.__self__)))
                        or warm_up(step, *a, **k))
    process.Measurement(request(run_env, matmul_rows())).run()
    assert [e[0] for e in events] == ["build", "observe", "build", "observe", "warm", "warm"]
    observed = [e[1] for e in events if e[0] == "observe"]
    assert [e[1] for e in events if e[0] == "warm"] == observed  # the objects checked are the ones timed
    lines = [json.loads(t) for t in (run_env / "out.jsonl").read_text().splitlines()]
    results = [line for line in lines if "name" in line]
    timed = [line for line in results if ".time_" in line["name"]]
    assert len(results) == 4 and len(timed) == 2 and all(len(line["samples"]) >= 5 for line in timed)
    # a CPU peak is the process's max RSS: the measuring process holds both frameworks' builds
    assert all(line["result"] == "n/a" and "max RSS" in line["stderr"] for line in results if line not in timed)
    checks = check.load(run_env / "check.jsonl")
    assert checks and all(line["ok"] for line in checks)
    records = [json.loads(t) for t in (run_env / "records.jsonl").read_text().splitlines()]
    assert {r["check"] for r in records} == {"passed"} and all(r["interleaved"] for r in records)
    # where the combination's time went, for the run's log
    spent = [line["seconds"] for line in lines if "combination" in line]
    assert len(spent) == 1 and set(spent[0]) == {"mlx build", "mlx check steps", "torch build", "torch check steps",
                                                 "warm-up and samples", "comparison"}


class Call:
    def __init__(self, log, name):
        self.log, self.name, self.number = log, name, 1

    def __call__(self, *params):
        self.log.append(self.name)


class Timer:
    """timeit.Timer whose calls are made and whose time is scripted: `times` in turn (1.0 once they run out)."""
    times = []

    def __init__(self, call):
        self.call = call

    def timeit(self, number):
        for _ in range(number):
            self.call()
        return (Timer.times.pop(0) if Timer.times else 1.0) * number


@pytest.fixture
def scripted(monkeypatch):
    """Samples of scripted times (Timer.times; equal by default, so no settling round)."""
    monkeypatch.setattr(process.timeit, "Timer", Timer)
    monkeypatch.setattr(Timer, "times", [])
    return Timer


def test_the_two_frameworks_samples_alternate(scripted):
    taken = []
    rows = [process.Row("b.C.time_x", i, Call(taken, fw), None, (fw, "cpu")) for i, fw in enumerate(("mlx", "torch"))]
    for row in rows:
        row.method, row.bench.repeat = row.bench, (6, 6, 60.0)
    out = process.time_samples(rows)
    assert taken == ["mlx", "torch", "torch", "mlx", "mlx", "torch", "torch", "mlx", "mlx", "torch", "torch", "mlx"]
    assert [len(o["samples"]) for o in out] == [6, 6]


class Held:
    """A framework's allocator as Alternation sees it: released or not."""

    def __init__(self, log, framework):
        self.log, self.framework = log, framework

    def release_memory(self):
        self.log.append(f"release {self.framework}")


def test_apart_each_sample_follows_the_others_release_and_an_untimed_call(scripted, monkeypatch):
    """Two builds that fit the device one step at a time: a framework's step never runs while the other
    holds its cache, and the first call after a switch (re-taking the memory) is not timed."""
    log = []
    rows = [process.Row("b.C.time_x", i, Call(log, fw), None, (fw, "cpu")) for i, fw in enumerate(("mlx", "torch"))]
    for row in rows:
        row.method, row.bench.repeat, row.bench.target = row.bench, (4, 4, 60.0), Held(log, row.framework)
    timer = process.timeit.Timer
    monkeypatch.setattr(process.timeit, "Timer", lambda call: log.append("timed:") or timer(call))
    process.time_samples(rows, process.Alternation())
    assert " ".join(log).replace("timed: ", "timed-") == (
        "mlx timed-mlx release mlx torch timed-torch timed-torch release torch mlx timed-mlx timed-mlx "
        "release mlx torch timed-torch timed-torch release torch mlx timed-mlx")
    log.clear()
    process.time_samples(rows)  # builds that fit together: nothing released, every call timed
    assert "release" not in " ".join(log) and log.count("timed:") == len(log) / 2


def test_a_sample_of_several_calls_after_the_other_frameworks_follows_one_untimed_call(scripted, monkeypatch):
    """Builds that fit together: a sample of several calls that follows the other framework's first makes
    one untimed call (the switch's cost); one after its own framework's, or a sample of one call, makes none."""
    log = []
    rows = [process.Row("b.C.time_x", i, Call(log, fw), None, (fw, "cpu")) for i, fw in enumerate(("mlx", "torch"))]
    for row, number in zip(rows, (1, 3)):
        row.method, row.bench.repeat, row.bench.number = row.bench, (4, 4, 60.0), number
    timer = process.timeit.Timer
    monkeypatch.setattr(process.timeit, "Timer", lambda call: log.append("timed:") or timer(call))
    process.time_samples(rows)
    mlx, torch = ["timed:", "mlx"], ["timed:", "torch", "torch", "torch"]
    assert log == (mlx + ["torch"] + torch + torch + mlx) * 2  # rounds A B, B A, A B, B A


def test_a_slow_start_leaves_the_window_in_rounds_the_frameworks_share(scripted):
    """Both frameworks' first 3 samples ran 2x slower (a transient on the host): settling takes rounds,
    alternating as before, until the last 6 of each spread within the CPU's limit as the page shows the
    spread (asv's quartiles: one slow sample of 6 lies outside them), and keeps those."""
    taken = []
    rows = [process.Row("b.C.time_x", i, Call(taken, fw), None, (fw, "cpu")) for i, fw in enumerate(("mlx", "torch"))]
    for row in rows:
        row.method, row.bench.repeat = row.bench, (6, 6, 60.0)
    scripted.times = [2.0] * 6  # three rounds of both
    out = process.time_samples(rows)
    assert [o["samples"] for o in out] == [[2.0] + [1.0] * 5, [2.0] + [1.0] * 5]
    assert out[0]["settled"][:2] == (2, True)
    assert taken == ["mlx", "torch", "torch", "mlx"] * 4  # 8 rounds, still alternating


class Returning(Call):
    """A time_ class whose step returns its figures for its figure class (the switch loop's phases); it
    notes which of its calls a sample timed (`timing`, set by `TimingTimer`)."""
    leaves_figures, timing = True, False

    def __init__(self, log, name):
        super().__init__(log, name)
        self.steps, self.timed, self.left = 0, [], None

    def __call__(self, *params):
        super().__call__(*params)
        self.steps += 1
        if Returning.timing:
            self.timed.append(self.steps)
        return {"gpu_s": float(self.steps)}

    def leave_figures(self, figures):
        self.left = figures


class TimingTimer(Timer):
    def timeit(self, number):
        Returning.timing = True
        try:
            return super().timeit(number)
        finally:
            Returning.timing = False


def test_a_time_row_leaves_its_kept_samples_own_figures_to_its_figure_class(scripted, monkeypatch):
    """One set of samples serves the time_ row and its figure class: each sample's figures are its timed
    calls' own, combined (2 calls a sample: their mean; the untimed call after a switch of framework left
    out), and the settle's dropped rounds drop theirs too."""
    monkeypatch.setattr(process.timeit, "Timer", TimingTimer)
    taken = []
    rows = [process.Row("b.C.time_x", i, Returning(taken, fw), None, (fw, "cpu"))
            for i, fw in enumerate(("mlx", "torch"))]
    for row in rows:
        row.method, row.bench.repeat, row.bench.number = row.bench, (6, 6, 60.0), 2
    scripted.times = [2.0] * 6  # three rounds of both, slow: two settle rounds drop the first two
    out = process.time_samples(rows)
    assert out[0]["settled"][:2] == (2, True)
    for row in rows:
        pairs = [row.bench.timed[i:i + 2] for i in range(0, len(row.bench.timed), 2)]
        assert len(pairs) == 8 and row.bench.steps > 16  # 8 samples of 2 timed calls, and untimed calls
        assert row.bench.left == [{"gpu_s": sum(pair) / 2} for pair in pairs[-6:]]


def test_noise_that_never_settles_costs_a_quarter_of_the_samples_and_is_recorded_unsteady(scripted):
    """After its first n // 4 rounds the newest half of the window spreads as much as the whole: rounds
    would not help, and no more are taken (half the window's were, before)."""
    rows = [process.Row("b.C.time_x", i, Call([], fw), None, (fw, "cpu")) for i, fw in enumerate(("mlx", "torch"))]
    for row in rows:
        row.method, row.bench.repeat = row.bench, (8, 8, 60.0)
    scripted.times = [1.0, 1.0, 2.0, 2.0] * 10
    out = process.time_samples(rows)
    assert out[0]["settled"][:2] == (2, False) and [len(o["samples"]) for o in out] == [8, 8]
    assert len(scripted.times) == 40 - 2 * (8 + 2)  # the window's rounds and two more


def test_a_settle_goes_on_past_its_first_rounds_while_the_newest_samples_agree(scripted):
    """A slow stretch in the window's older part leaves it in rounds past the first n // 4 while the newest
    half agrees, up to the window's length (the host's own noise, newest half included, stops them: the
    test above)."""
    rows = [process.Row("b.C.time_x", i, Call([], fw), None, (fw, "cpu")) for i, fw in enumerate(("mlx", "torch"))]
    for row in rows:
        row.method, row.bench.repeat = row.bench, (8, 8, 60.0)
    scripted.times = [1.4] * 10  # the first 5 rounds of 8 slow
    out = process.time_samples(rows)
    assert out[0]["settled"][:2] == (3, True) and [o["samples"] for o in out] == [[1.4] * 2 + [1.0] * 6] * 2
    for row in rows:  # a 2-core CPU's window of 5, a slow start fading: 3 rounds (the cap was 2, n // 2)
        row.bench.repeat = (5, 5, 60.0)
    scripted.times = [t for t in (2.0, 1.8, 1.5, 1.3, 1.0, 1.02, 0.98) for _ in range(2)]
    out = process.time_samples(rows)
    assert out[0]["settled"][:2] == (3, True) and [o["samples"] for o in out] == [[1.3, 1.0, 1.02, 0.98, 1.0]] * 2


@pytest.mark.parametrize("samples", [[9.65, 9.79, 9.89, 10.45, 29.2], [1.0, 1.1, 0.9, 1.3, 1.0, 0.7, 1.2],
                                     [2.0, 2.1, 2.05, 1.95, 2.3, 2.0, 2.02, 1.98, 2.6, 2.01]])
def test_the_settle_judges_the_spread_the_page_shows(samples):
    """timing.spread (what the settle and the spread target read) against the page's ±: asv's own quartiles
    of the same samples, half their range over the median."""
    from asv_runner.statistics import compute_stats

    stats = compute_stats(samples, 1)[1]
    shown = (stats["q_75"] - stats["q_25"]) / 2 / statistics.median(samples)
    assert timing.spread(samples) == pytest.approx(shown)


def test_the_spread_is_judged_on_each_time_figure_not_on_memory_or_energy():
    slow_start = [{"decode_ms": 2.0, "peak_memory_bytes": 5}] * 2 + [{"decode_ms": 1.0, "peak_memory_bytes": 9}] * 6
    assert timing.watched(slow_start) == [[2.0, 2.0] + [1.0] * 6]
    assert timing.spread([1.0, 1.0, 2.0, 2.0]) > timing.SPREAD_LIMIT["gpu"] > timing.spread([1.0] * 4) == 0.0


def test_a_figure_class_settles_its_samples_and_its_twins_together(monkeypatch):
    """MeasuredOnce on a GPU: both frameworks' samples alternate, each told whether the other's came last,
    a slow first round is dropped from both, and both records say so."""
    class Figures(asvbench.MeasuredOnce):
        samples, alternate_on, record = 4, ("gpu",), {"warmup": {"steady": True}}

        def sample(self, switched=False, warm_first=False):
            order.append(self.args[0])
            switches.append(switched)
            time.sleep(0.002)  # the rounds' seconds, recorded below, add these up at least
            return {"decode_ms": 3.0 if len(order) <= 2 else 1.0}

        def keep(self, figures):
            kept.extend(figures)

    order, kept, switches = [], [], []
    mine = Figures()
    mine.args, mine.device = ("mlx", "gpu"), "gpu"
    twin = Figures()
    twin.args, twin.device = ("torch", "gpu"), "gpu"
    monkeypatch.setattr(asvbench.WorkloadBenchmark, "setup", lambda self, *args: None)
    monkeypatch.setattr(Figures, "twin", lambda self: twin)
    monkeypatch.setattr(asvbench, "FIGURE_SAMPLES", {})
    assert mine.measure() == [{"decode_ms": 1.0}] * 4 and kept == [{"decode_ms": 1.0}] * 4
    assert order == ["mlx", "torch", "torch", "mlx", "mlx", "torch", "torch", "mlx", "mlx", "torch"]
    assert switches == [True] + [True, False] * 4 + [True]  # the first after the twin's warm-up, then the other's samples
    assert mine.record["warmup"] == twin.record["warmup"]
    sampling = mine.record["warmup"].pop("sampling_seconds")  # where a point's time goes: the rounds' seconds
    assert isinstance(sampling, float) and sampling >= 0.002 * len(order)
    assert mine.record["warmup"] == {"steady": True, "settle_rounds": 1, "samples_steady": True,
                                     "decided_at_first_look": False}
    assert mine.record["interleaved"] is twin.record["interleaved"] is True


def test_a_figure_class_says_whether_its_samples_alternated_and_the_row_keeps_it(monkeypatch):
    """No twin (the class does not alternate on the device): its record says `interleaved` false, and the
    measuring process's row record keeps that, though both frameworks' rows were built in one process."""
    class Figures(asvbench.MeasuredOnce):
        samples, record = 3, {"warmup": {"steady": True}}

        def sample(self, switched=False, warm_first=False):
            return {"decode_ms": 1.0}

    mine = Figures()
    mine.args, mine.device = ("mlx", "cpu"), "cpu"
    monkeypatch.setattr(asvbench.WorkloadBenchmark, "setup", lambda self, *args: None)
    monkeypatch.setattr(asvbench, "FIGURE_SAMPLES", {})
    assert mine.measure() == [{"decode_ms": 1.0}] * 3 and mine.record["interleaved"] is False
    both_built = types.SimpleNamespace(bench=mine, out={"interleaved": True})
    assert process.Measurement.record_of(None, both_built)["interleaved"] is False
    mine.record["interleaved"] = True
    assert process.Measurement.record_of(None, both_built)["interleaved"] is True
    both_built.out["interleaved"] = False  # one framework's build alone: never interleaved
    assert process.Measurement.record_of(None, both_built)["interleaved"] is False


def test_a_cpu_peak_that_is_the_process_rss_keeps_its_figure_class_from_alternating(monkeypatch, tmp_path):
    """Outside the measuring process a CPU row's peak memory is the process's max RSS, which the twin's model
    would swell: no twin there; inside it (where that peak is n/a) the class alternates on the CPU too."""
    class Figures(asvbench.MeasuredOnce):
        workload, alternate_on = "llm", ("cpu", "gpu")

        def track_peak_memory(self, *params):
            return self.figure("peak_memory_bytes")

    mine = Figures()
    mine.args, mine.device = ("mlx", "cpu"), "cpu"
    monkeypatch.setattr(asvbench.settings, "run_folder", lambda: tmp_path)
    monkeypatch.setattr(Figures, "measured", lambda self: False)
    monkeypatch.setattr(asvbench.WorkloadBenchmark, "setup", lambda self, *args: None)
    monkeypatch.setattr(asvbench, "defer_records", False)
    assert mine.twin() is None
    monkeypatch.setattr(asvbench, "defer_records", True)
    assert mine.twin().args == ("torch", "cpu")


def test_a_figure_sample_runs_with_the_collector_paused_and_collects_once_a_measurement(monkeypatch):
    """The collector waits through every sample's steps, as timeit's does; it collects in full once before
    the rounds, not before each sample (on an H100, TinyLlama's rounds took 0.1-1 s a sample more than their
    steps), and before each sample only its young generations, where the last sample's cycles are."""
    class Runner:
        def step(self):
            paused.append(not gc.isenabled())
            return {"decode_ms": 1.0}

    class Figures(asvbench.MeasuredOnce):
        samples, runner, record = 4, Runner(), {"warmup": {"steady": True, "last_warmup_step_seconds": 1.0}}

    paused, collected = [], []
    bench = Figures()
    bench.args, bench.device = ("mlx", "gpu"), "gpu"
    monkeypatch.setattr(asvbench.WorkloadBenchmark, "setup", lambda self, *args: None)
    monkeypatch.setattr(Figures, "twin", lambda self: None)
    monkeypatch.setattr(asvbench, "FIGURE_SAMPLES", {})
    monkeypatch.setattr(asvbench.gc, "collect", lambda generation=2: collected.append(generation))
    assert bench.measure() == [{"decode_ms": 1.0}] * 4
    assert paused == [True] * 4 and gc.isenabled() and collected == [2, 1, 1, 1, 1]


def test_two_steps_fit_alternately_only_within_the_devices_free_memory(monkeypatch):
    monkeypatch.setattr(process.Target, "synchronize", lambda self: None)
    monkeypatch.setattr(process.Target, "free_memory", lambda self: 78e9 if self.framework == "torch" else None)
    fits, figures = process.fits_alternately({"mlx": 72.4e9, "torch": 23e9}, "gpu", "tf32")
    assert fits and figures == "mlx needs 72.4 GB, torch needs 23.0 GB; 78.0 GB free"
    assert not process.fits_alternately({"mlx": 77e9, "torch": 23e9}, "gpu", "tf32")[0]  # no headroom left
    monkeypatch.setattr(process.Target, "free_memory", lambda self: None)  # no device-wide figure: never
    assert process.fits_alternately({"mlx": 1, "torch": 1}, "gpu", "tf32") == (False, "mlx needs 0.0 GB, torch "
                                                                                "needs 0.0 GB; no free-memory figure")


def lm_train_apart(run_env, monkeypatch, free):
    """Measure LMTrain's best eager fp32 rows on the CPU as a GPU whose free memory is `free` (each
    framework's step needs 1000 bytes more than its build holds) would: the builds do not fit together.
    Returns (framework and builds alive at each build, the order of the frameworks' steps, records)."""
    from mlxvspt.workloads.lm_train import spec as lm_train

    monkeypatch.setattr(lm_train, "together", lambda target, sizes: False)
    monkeypatch.setattr(process, "memory_need", lambda target: 1000)
    monkeypatch.setattr(process.Target, "free_memory", lambda self: free)
    alive, steps = [], []
    build, step = lm_train.build, lm_train.Runner.step
    monkeypatch.setattr(lm_train, "build", lambda target, sizes, *a: alive.append(
        (target.framework, len(asvbench._BUILDS))) or build(target, sizes, *a))
    monkeypatch.setattr(lm_train.Runner, "step", lambda self: steps.append(self.target.framework) or step(self))
    cls = process.benchmark_class(BENCHMARKS, "bench_lm_train", "LMTrain")
    rows = [["bench_lm_train.LMTrain.time_step", idx] for idx, params in
            enumerate(itertools.product(*cls.params)) if params[1:] == ("cpu", "best", False, "fp32")]
    process.Measurement(request(run_env, rows, workload="lm_train")).run()
    records = [json.loads(t) for t in (run_env / "records.jsonl").read_text().splitlines()]
    assert len(records) == 2 and {r["check"] for r in records} == {"passed"}
    return alive, steps, records


def test_builds_that_fit_one_step_at_a_time_are_built_once_and_sampled_alternately(run_env, monkeypatch):
    alive, steps, records = lm_train_apart(run_env, monkeypatch, free=10_000)
    assert alive == [("mlx", 0), ("torch", 1)]  # MLX's build kept, checked, beside PyTorch's: one build each
    switches = [b for a, b in zip(steps, steps[1:]) if a != b]
    assert len(switches) >= 5  # check steps, warm-ups, then samples A B B A ...
    assert all(r["interleaved"] and r["caches_released_between_samples"] for r in records)


def test_builds_whose_steps_do_not_fit_beside_the_other_are_sampled_one_after_the_other(run_env, monkeypatch):
    alive, steps, records = lm_train_apart(run_env, monkeypatch, free=500)
    assert alive == [("mlx", 0), ("torch", 1)]  # no second build of either
    runs = [fw for i, fw in enumerate(steps) if i == 0 or steps[i - 1] != fw]
    assert runs == ["mlx", "torch", "mlx"]  # checks, then PyTorch's samples (checked beside MLX), then MLX alone
    assert not any(r["interleaved"] or r.get("caches_released_between_samples") for r in records)


def test_mlx_generate_is_built_checked_and_sampled_beside_pytorchs_static_compile(run_env, static_compile_on_cpu,
                                                                                   monkeypatch):
    """MLX lacks the static-compile path: its rows there are its generate, taken alternately with PyTorch's
    static-compile samples in that one combination, so the pair is interleaved (a CPU alternates here as a
    GPU does)."""
    monkeypatch.setattr(asvbench.GenerationFigures, "alternate_on", ("gpu", "cpu"))
    taken, sample = [], asvbench.MeasuredOnce.sample
    monkeypatch.setattr(asvbench.MeasuredOnce, "sample", lambda bench, **kw: taken.append(bench.args[0]) or sample(bench, **kw))
    cls = process.benchmark_class(BENCHMARKS, "bench_llm", "Generation")
    rows = [[f"bench_llm.Generation.{method}", idx] for method in ("track_decode", "track_prefill")
            for idx, params in enumerate(itertools.product(*cls.params))
            if params[1:] == ("cpu", "static-compile", "fp32", 1)]
    process.Measurement(request(run_env, rows, workload="llm")).run()
    # 5 samples a side, once for every figure, and up to 5 settling rounds (timing.settle), still alternating
    assert len(taken) in range(10, 21, 2) and taken == (["mlx", "torch", "torch", "mlx"] * 5)[:len(taken)]
    records = [json.loads(t) for t in (run_env / "records.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all(r["interleaved"] and r["alternates"] and r["check"] == "passed" for r in records)
    ran = {r["params"]["framework"]: r["ran"] for r in records}
    assert (ran["'mlx'"]["path"], ran["'mlx'"]["compiled"]) == ("generate", "none")
    assert (ran["'torch'"]["path"], ran["'torch'"]["compiled"]) == ("static-compile", "decode-forward")
    lines = {line["what"]: line for line in check.load(run_env / "check.jsonl") if line["path"] == "static-compile"}
    assert lines["mlx ran what was asked, batch 1"]["ok"] and all(line["ok"] for line in lines.values())


def test_a_process_that_dies_loses_only_its_combination(run_env):
    bench = run_env / "bench"
    bench.mkdir()
    (bench / "bench_dies.py").write_text(textwrap.dedent(DIES))
    rows = [["bench_dies.Dies.time_matmul", i] for i in range(4)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    progress = Progress(run_env / "log.txt", stream=open(os.devnull, "w"))
    lines, failure = asvrun.measure_part("matmul", "cpu", rows, env, run_env / "run", bench, progress)
    progress.close()
    by_n = {line["idx"]: line for line in lines}
    assert set(by_n) == {0, 1, 2, 3}
    assert "samples" in by_n[0] and "samples" in by_n[2]  # n=64, both frameworks
    assert by_n[1]["result"] is None and by_n[3]["result"] is None and "code 3" in by_n[1]["stderr"]
    assert "exited with code 3" in failure


def test_compile_caches_are_kept_in_the_run_cache_folder_and_their_state_recorded(tmp_path, monkeypatch):
    for variable in process.COMPILE_CACHES:
        monkeypatch.delenv(variable, raising=False)
    assert set(process.compile_caches(tmp_path).values()) == {"cold"}
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(tmp_path / "torchinductor")
    (tmp_path / "torchinductor" / "graph").write_text("compiled")
    assert process.compile_caches(tmp_path)["torchinductor"] == "warm"


def test_step_memory_is_the_peak_of_the_time_samples_with_no_steps_of_its_own(run_env, monkeypatch):
    """On a GPU (where the allocator's peak is the row's own) a step's peak memory comes from the time_ samples:
    as many figures as time samples, and no step taken for it alone (step_peaks is what took them)."""
    monkeypatch.setattr(asvbench, "rss_is_the_rows", lambda device, launches=False: True)
    monkeypatch.setattr(asvbench, "step_peaks", lambda *a: pytest.fail("steps taken for peak memory alone"))
    run = process.Measurement(request(run_env, matmul_rows()))
    run.run()
    lines = [json.loads(t) for t in (run_env / "out.jsonl").read_text().splitlines() if '"name"' in t]
    timed = {line["idx"]: line for line in lines if line["name"].endswith("time_matmul")}
    peaks = [line for line in lines if line["name"].endswith("track_peak_memory")]
    assert len(peaks) == 2 and all(len(line["samples"]) == len(next(iter(timed.values()))["samples"])
                                   and min(line["samples"]) > 0 for line in peaks), lines


def test_records_carry_the_compile_caches_state(run_env):
    run = process.Measurement({**request(run_env, matmul_rows()), "caches": {"torchinductor": "warm"}})
    run.run()
    records = [json.loads(t) for t in (run_env / "records.jsonl").read_text().splitlines()]
    assert records and all(r["compile_caches"] == {"torchinductor": "warm"} for r in records)


def test_records_say_how_many_files_their_combination_added_to_each_compile_cache(run_env, monkeypatch, tmp_path):
    """A folder warm from other kernels does not make a combination's compile warm: its record counts the
    cache files its own build, check and samples added (1 for the first combination, whose build writes one; 0 for
    the next), and calls the cache cold where it added any."""
    folder = tmp_path / "inductor"
    folder.mkdir()
    (folder / "other-workload").write_text("kernel")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(folder))
    for variable in ("TRITON_CACHE_DIR", "MLX_PTX_CACHE_DIR"):
        monkeypatch.delenv(variable, raising=False)
    build = matmul.build

    def compiling_build(target, sizes):
        if target.framework == "torch" and sizes["n"] == 64:
            (folder / "matmul-64").write_text("kernel")  # the first combination compiles; the second finds it
        return build(target, sizes)

    monkeypatch.setattr(matmul, "build", compiling_build)
    rows = matmul_rows(64, "fp32") + matmul_rows(64, "bf16")
    process.Measurement({**request(run_env, rows), "caches": {"torchinductor": "warm"}}).run()
    records = [json.loads(t) for t in (run_env / "records.jsonl").read_text().splitlines()]
    added = {r["params"]["precision"]: r["compiled_into_caches"]["torchinductor"] for r in records}
    assert added == {"'fp32'": 1, "'bf16'": 0}
    state = {r["params"]["precision"]: r["compile_caches"]["torchinductor"] for r in records}
    assert state == {"'fp32'": "cold", "'bf16'": "warm"}


def durations_file(results, machine, seconds, rows=144):
    """A runs file of `machine` whose one run took seconds[workload] for each workload's part on cpu."""
    folder = results / machine
    folder.mkdir(parents=True)
    parts = [{"workload": w, "device": "cpu", "seconds": s, "rows": rows} for w, s in seconds.items()]
    (folder / "runs-x.jsonl").write_text(json.dumps({"started": "2026-12-01T00:00:00Z", "parts": parts}) + "\n")


def test_a_budget_the_last_durations_exceed_is_refused_naming_what_fits():
    estimates = {("matmul", "cpu"): 120.0, ("lm_train", "cpu"): 600.0}
    with pytest.raises(UsageError, match=r"needs ~12:00 here; within it: --workload matmul --device cpu"):
        plan.within(5, estimates)
    plan.within(15, estimates)
    with pytest.raises(UsageError, match="positive"):
        plan.within(0, estimates)
    with pytest.raises(UsageError, match="no earlier duration of llm on cpu to estimate it by"):
        plan.within(60, {**estimates, ("llm", "cpu"): None})  # unknown: not counted as free


def test_run_refuses_a_budget_before_anything_runs(tmp_path, capsys, monkeypatch):
    results = tmp_path / "res"
    monkeypatch.setenv(settings.MACHINE, "box")
    durations_file(results, "box-tiny", {"matmul": 900.0}, rows=1)
    (results / "benchmarks.json").write_text((BENCHMARKS.parent / "results" / "benchmarks.json").read_text())
    before = sorted(p.name for p in results.rglob("*"))
    code = cli.main(["run", "--workload", "matmul", "--device", "cpu", "--budget", "5", "--results-dir",
                     str(results), "--html-dir", str(tmp_path / "html")])
    err = capsys.readouterr().err
    assert code == 2 and "--budget 5 min" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in results.rglob("*")) == before and not (tmp_path / "html").exists()


def test_the_plan_estimates_from_this_machines_last_durations(tmp_path):
    durations_file(tmp_path, "box-small", {"matmul": 60.0})
    known = plan.durations(tmp_path, "box-small")
    asked = {("matmul", "cpu"): [[f"b.{i}", i] for i in range(288)], ("llm", "cpu"): [["b", 0]]}
    assert plan.estimate(asked, {part: 1 for part in asked}, known) == {("matmul", "cpu"): 120.0, ("llm", "cpu"): None}
    assert plan.estimate(asked, {("matmul", "cpu"): 1, ("llm", "cpu"): 0}, known)[("llm", "cpu")] == 0.0  # none to measure


def test_the_plan_counts_only_the_rows_a_run_will_measure_and_the_rows_a_part_measured(tmp_path, monkeypatch):
    """Another tier's rows, and a preset's left-out values, cost a run nothing: the estimate scales the
    last duration by the rows to measure now over the plan's count then or, where the runs line lacks it
    (as here), the rows that part measured then (its n/a ones left out)."""
    monkeypatch.setenv(settings.PRESET, "full")
    monkeypatch.delenv(settings.TIERS, raising=False)
    folder = tmp_path / "box-full"
    folder.mkdir()
    (folder / "runs-x.jsonl").write_text(json.dumps({"started": "2026-12-01T00:00:00Z", "parts": [
        {"workload": "lm_train", "device": "gpu", "seconds": 300.0, "rows": 102, "measured": 50}]}) + "\n")
    rows = [["bench_lm_train.LMTrain.time_step", i] for i in range(64)]  # framework x device x path x compile x 4
    planned = {("lm_train", "gpu"): rows}
    monkeypatch.setenv(settings.DEVICES, "gpu")
    standard = plan.to_measure(planned, BENCHMARKS)
    monkeypatch.setenv(settings.TIERS, cli.TIERS["all"])
    every = plan.to_measure(planned, BENCHMARKS)
    assert standard == {("lm_train", "gpu"): 16} and every == {("lm_train", "gpu"): 32}
    assert plan.estimate(planned, standard, plan.durations(tmp_path, "box-full")) == {("lm_train", "gpu"): 96.0}
    assert plan.describe(planned, standard, {("lm_train", "gpu"): 96.0})[0] == \
        "plan: 1 parts, 64 rows, 16 to measure, ~1:36"


def test_the_plan_scales_by_the_rows_it_counted_then_where_the_runs_line_says(tmp_path):
    """A workload that refuses some rows only as it builds (TinyLlama's batch 2 on a GPU: 180 rows counted,
    120 measured) is estimated by the plan's count then against its count now, the same kind of count: the
    same selection takes the same time (by the rows measured it read 17:53 for the 11:00 an H100 took)."""
    folder = tmp_path / "box-full"
    folder.mkdir()
    part = {"workload": "llm", "device": "gpu", "seconds": 660.0, "rows": 180, "measured": 120}
    (folder / "runs-x.jsonl").write_text(json.dumps({"started": "2026-12-07T09:48:16Z",
                                                     "parts": [{**part, "planned": 180}]}) + "\n")
    planned = {("llm", "gpu"): [["b", i] for i in range(180)]}
    known = plan.durations(tmp_path, "box-full")
    assert plan.estimate(planned, {("llm", "gpu"): 180}, known) == {("llm", "gpu"): 660.0}
    assert plan.estimate(planned, {("llm", "gpu"): 90}, known) == {("llm", "gpu"): 330.0}
    (folder / "runs-x.jsonl").write_text(json.dumps({"started": "2026-12-07T09:48:16Z", "parts": [part]}) + "\n")
    assert plan.estimate(planned, {("llm", "gpu"): 180}, plan.durations(tmp_path, "box-full")) == \
        {("llm", "gpu"): 990.0}  # a line from before the count was kept: by the rows measured


def test_a_machines_own_durations_come_first_and_the_references_follow_at_its_speed(tmp_path):
    durations_file(tmp_path, "linux-2core-small", {"matmul": 18.0, "llm": 79.0})
    durations_file(tmp_path, "vm-small", {"matmul": 36.0})  # twice as long as the reference
    known = plan.durations(tmp_path, "vm-small")
    assert known[("matmul", "cpu")] == (36.0, 144, None, None)
    assert known[("llm", "cpu")] == (pytest.approx(158.0), 144, None, None)


def test_parts_a_machine_never_ran_fall_back_to_its_presets_reference_machine(tmp_path):
    durations_file(tmp_path, "linux-2core-small", {"llm": 79.0, "whisper": 129.0})
    durations_file(tmp_path, "linux-2core-tiny", {"llm": 5.0, "whisper": 9.0})  # another preset: not used
    reference = {("llm", "cpu"): (79.0, 144, None, None), ("whisper", "cpu"): (129.0, 144, None, None)}
    assert plan.durations(tmp_path, "vm-small") == reference  # a fresh clone
    durations_file(tmp_path, "vm-small", {"matmul": 20.0})  # then a run of matmul alone
    assert plan.durations(tmp_path, "vm-small") == {("matmul", "cpu"): (20.0, 144, None, None), **reference}


def test_an_unknown_tier_is_refused(capsys):
    assert cli.main(["run", "--tier", "lukewarm"]) == 2
    assert "lukewarm" in capsys.readouterr().err


def test_cold_rows_run_only_on_request(monkeypatch):
    cls = process.benchmark_class(BENCHMARKS, "bench_lm_train", "LMTrainFirstStep")
    monkeypatch.delenv(settings.TIERS, raising=False)
    with pytest.raises(NotImplementedError, match="--tier cold"):
        cls().refuse("torch", "cpu")


@pytest.mark.parametrize("module, cls_name, pairs", [
    ("bench_lm_train", "LMTrain", {("seed", False): "standard", ("best", True): "standard",
                                   ("seed", True): "diagnostic", ("best", False): "diagnostic"}),
    ("bench_bert_train", "BertTrainStep", {("seed", False): "standard", ("pairs-batched", False): "standard",
                                           ("best", True): "standard", ("seed", True): "diagnostic",
                                           ("pairs-batched", True): "diagnostic", ("best", False): "diagnostic"})])
def test_each_training_path_runs_as_its_users_run_it_and_the_other_compile_setting_on_request(
        monkeypatch, module, cls_name, pairs):
    """At `full` on a GPU the standard tier measures the seed's paths eager and the best path compiled;
    `--tier diagnostic` measures only the other pairs, `--tier all` every one. Asked before anything is built."""
    cls = process.benchmark_class(BENCHMARKS, module, cls_name)
    monkeypatch.setenv(settings.PRESET, "full")
    for tiers, runs in (("standard", {"standard"}), ("diagnostic", {"diagnostic"}),
                        (cli.TIERS["all"], {"standard", "diagnostic"})):
        monkeypatch.setenv(settings.TIERS, tiers)
        for (path, compile), tier in pairs.items():
            if tier in runs:
                assert cls().refuse("torch", "gpu", path, compile, "fp32", runnable=True) == \
                    ("fp32", {"path": path, "compile": compile})
            else:
                with pytest.raises(NotImplementedError, match=f"a {tier} row: run with --tier {tier}"):
                    cls().refuse("torch", "gpu", path, compile, "fp32", runnable=True)


def test_a_combination_checked_again_replaces_its_lines_and_keeps_every_other_combinations(tmp_path):
    """A point measured again, or one tier of it: the check file keeps the lines of what the run does not
    measure now (a diagnostic pair's, another workload's), and a combination checked again has only its new ones."""
    stored = tmp_path / "check-point.jsonl"

    def line(path, ok, workload="lm_train"):
        return check.Line(workload, "gpu", path, "fp32", "first-step loss", ok)

    check.replace_combinations(stored, [line("seed", False), line("seed+compiled", True),
                                        line("seed", True, "bert_train")])
    check.replace_combinations(stored, [line("seed", True)])
    lines = check.load(stored)
    assert check.status(lines, "lm_train", "gpu", "seed", "fp32") == "passed"
    assert check.status(lines, "lm_train", "gpu", "seed+compiled", "fp32") == "passed"
    assert check.status(lines, "bert_train", "gpu", "seed", "fp32") == "passed" and len(lines) == 3


def test_each_case_of_a_combination_keeps_its_own_lines_and_a_case_that_failed_stays_failed(run_env, monkeypatch):
    """Two sizes of one path and precision (matmul 64^3 and 256^3) in one measuring process: the second
    size's check lines do not replace the first's, and a row takes its status from its own size's lines
    only, in its record and in the check file the pages read."""
    from mlxvspt.measure.presets import TABLE

    monkeypatch.setitem(TABLE["matmul"], "tiny", {"sizes": [64, 256]})
    compare = matmul.compare

    def disagreeing_at_64(result, observed, sizes, device):
        compare(result, observed, sizes, device)
        if sizes["n"] == 64:
            result.record("a disagreement at 64^3", False)

    monkeypatch.setattr(matmul, "compare", disagreeing_at_64)
    process.Measurement(request(run_env, matmul_rows(64) + matmul_rows(256))).run()
    lines = check.load(run_env / "check.jsonl")
    assert {line["case"] for line in lines} == {"n 64", "n 256"}
    records = [json.loads(t) for t in (run_env / "records.jsonl").read_text().splitlines()]
    status = {r["params"]["n"]: (r["check"], check.status(lines, *r["check_key"])) for r in records}
    assert status == {"64": ("failed", "failed"), "256": ("passed", "passed")}


def test_a_case_checked_again_replaces_the_lines_that_covered_every_case(tmp_path):
    """Lines without a case (a workload's own check, an earlier harness's run) stand for every case of their
    combination until one case is checked again; a record from before cases reads every case's lines."""
    stored = tmp_path / "check-point.jsonl"

    def line(ok, case=""):
        return check.Line("llm", "gpu", "generate", "fp16", "greedy tokens", ok, case=case)

    check.replace_combinations(stored, [line(False)])
    assert check.status(check.load(stored), "llm", "gpu", "generate", "fp16", "batch 1") == "failed"
    check.replace_combinations(stored, [line(True, "batch 1")])
    check.replace_combinations(stored, [line(False, "batch 8")])
    lines = check.load(stored)
    assert len(lines) == 2 and check.status(lines, "llm", "gpu", "generate", "fp16", "batch 1") == "passed"
    assert check.status(lines, "llm", "gpu", "generate", "fp16", "batch 8") == "failed"
    assert check.status(lines, "llm", "gpu", "generate", "fp16") == "failed"
    # check files merged from several runs (track/merge.py appends) may hold both: a case's own lines decide
    merged = lines + [json.loads(check.dump([line(False)]))]
    assert check.status(merged, "llm", "gpu", "generate", "fp16", "batch 1") == "passed"
    assert check.status(merged, "llm", "gpu", "generate", "fp16", "batch 2") == "failed"


def test_a_second_run_into_the_same_results_is_refused_naming_the_first(tmp_path):
    with locks.held(tmp_path / ".run.lock", "mlxvspt run"):
        with pytest.raises(UsageError, match=rf"mlxvspt run \(pid {os.getpid()}\) is writing these results"):
            with locks.held(tmp_path / ".run.lock", "mlxvspt run"):
                pass
    with locks.held(tmp_path / ".run.lock", "mlxvspt run"):  # free again once the first ends
        pass


def test_frameworks_that_do_not_fit_together_are_measured_one_after_the_other_and_still_checked(run_env, monkeypatch):
    from mlxvspt.workloads.lm_train import spec as lm_train

    monkeypatch.setattr(lm_train, "together", lambda target, sizes: False)
    alive = []
    build = lm_train.build
    # (framework, builds alive in this process when it is built): MLX's is freed before PyTorch's is built
    monkeypatch.setattr(lm_train, "build", lambda target, sizes, *a: alive.append(
        (target.framework, len(asvbench._BUILDS))) or build(target, sizes, *a))
    cls = process.benchmark_class(BENCHMARKS, "bench_lm_train", "LMTrain")
    rows = [["bench_lm_train.LMTrain.time_step", idx] for idx, params in
            enumerate(itertools.product(*cls.params)) if params[1:] == ("cpu", "best", False, "fp32")]
    process.Measurement(request(run_env, rows, workload="lm_train")).run()
    assert alive[:2] == [("mlx", 0), ("torch", 0)]
    records = [json.loads(t) for t in (run_env / "records.jsonl").read_text().splitlines()]
    assert len(records) == 2 and {r["check"] for r in records} == {"passed"}
    assert not any(r["interleaved"] for r in records)
    assert any(line["path"] == "best" and line["ok"] for line in check.load(run_env / "check.jsonl"))


def test_one_process_measures_one_float32_matmul_policy_on_a_gpu():
    """MLX reads MLX_ENABLE_TF32 once a process: on an H100 its tf32 rows, measured in a process that began
    in IEEE float32, ran IEEE (7.8x slower than PyTorch's TF32) under the tf32 label."""
    run = process.Measurement.__new__(process.Measurement)
    run.device = "gpu"
    assert [run.policy((p, (), "step")) for p in ("fp32", "tf32", "bf16", "bf16-mixed")] == [False, True, False, True]
    run.device = "cpu"
    assert not run.policy(("tf32", (), "step"))


def test_a_tf32_row_that_ran_ieee_float32_fails():
    target = process.Target("mlx", "gpu", "tf32")
    with pytest.raises(RuntimeError, match="matmul_mode asked 'tf32', ran 'ieee'"):
        asvbench.verify("matmul", target, {"n": 64}, {"compute_dtype": "float32", "matmul_mode": "ieee"})
    asvbench.verify("matmul", target, {"n": 64}, {"compute_dtype": "float32", "matmul_mode": "tf32"})


def test_the_time_left_follows_this_machines_last_durations_at_the_pace_so_far(tmp_path):
    progress = Progress(tmp_path / "log.txt", stream=open(os.devnull, "w"))
    progress.begin({"a": [1], "b": [1], "c": [1]}, {"a": 100.0, "b": 200.0, "c": 300.0})
    progress.done = 1
    assert progress.left("a", 50.0) == pytest.approx(250.0)  # half the estimate so far: half of b and c
    progress.close()


class Clock:  # parts last what they are told: no sleeping
    now = 0.0
    strftime, gmtime = staticmethod(time.strftime), staticmethod(time.gmtime)

    def monotonic(self):
        return self.now


def test_the_time_left_is_within_30_percent_after_a_quarter_where_the_mean_part_is_not(tmp_path, monkeypatch):
    """Parts of very different cost (a 2-core run at preset small) on a machine 1.5 times as slow as the
    reference, which ran matmul alone before: the mean part so far misjudges the rest by more than 30%
    once a quarter is done, the plan's estimates at the pace so far by less."""
    reference = {"bert_train": 66.0, "llm": 79.0, "lm_train": 81.0, "matmul": 18.0, "whisper": 129.0}
    durations_file(tmp_path, "linux-2core-small", reference)
    durations_file(tmp_path, "vm-small", {"matmul": 27.0})
    took = {(w, "cpu"): 1.5 * s * jitter for (w, s), jitter in zip(reference.items(), (1.1, 0.9, 1.05, 1.0, 0.95))}
    planned = {part: [["b", i] for i in range(144)] for part in took}
    clock, stream = Clock(), io.StringIO()
    monkeypatch.setattr(progress_module, "time", clock)
    shown = Progress(tmp_path / "log.txt", stream=stream)
    shown.begin(planned, plan.estimate(planned, {part: 144 for part in took}, plan.durations(tmp_path, "vm-small")))
    total, errors, mean_errors = sum(took.values()), [], []
    for done, (part, seconds) in enumerate(took.items(), 1):
        clock.now += seconds
        shown.finished_part(part, [], seconds)
        truth = total - clock.now
        if clock.now >= total / 4 and truth > 0:
            minutes, secs = re.findall(r"~(\d+):(\d+) left", stream.getvalue())[-1]
            errors.append((int(minutes) * 60 + int(secs)) / truth - 1)
            mean_errors.append(clock.now / done * (len(took) - done) / truth - 1)
    shown.close()
    assert max(map(abs, mean_errors)) > 0.3 and max(map(abs, errors)) < 0.3, (mean_errors, errors)


def test_a_bench_pattern_that_matches_nothing_is_refused_and_publishes_nothing(tmp_path, capsys):
    code = cli.main(["run", "--workload", "matmul", "--bench", "Nope", "--results-dir", str(tmp_path / "res"),
                     "--html-dir", str(tmp_path / "html")])
    assert code == 2 and "--bench 'Nope'" in capsys.readouterr().err
    assert not (tmp_path / "html").exists()


def test_parts_run_in_the_order_their_workloads_are_named(tmp_path, monkeypatch):
    """`--workload switch --workload matmul` measures switch first (the cheap parts first, before a lease ends)."""
    monkeypatch.setenv(settings.MACHINE, "box")
    calls = []

    def measure_part(workload, device, rows, *args):
        calls.append(workload)
        return [{"name": name, "idx": idx, "result": "n/a", "stderr": "stub"} for name, idx in rows], None

    monkeypatch.setattr(asvrun, "measure_part", measure_part)
    monkeypatch.setattr(asvrun.recorder, "record", lambda *args: None)
    asvrun.run("tiny", tmp_path / "res", tmp_path / "html", workloads=["switch", "matmul"])
    assert list(dict.fromkeys(calls)) == ["switch", "matmul"]
    assert asvrun.modules(asvrun.ROOT / "benchmarks") == sorted(asvrun.modules(asvrun.ROOT / "benchmarks"))


HEADLINE_LM = {("seed", "False", "tf32"), ("best", "True", "tf32"), ("best", "True", "bf16-mixed"),
               ("best", "True", "bf16")}


def headline_combinations(selected, workload, device):
    """The (path, compile, precision) combinations and the classes of a selection's rows of `workload`."""
    known = json.loads((BENCHMARKS.parent / "results" / "benchmarks.json").read_text())
    rows = selected.get((workload, device), [])
    params = [dict(zip(known[n]["param_names"], next(itertools.islice(itertools.product(*known[n]["params"]), i,
                                                                       None)))) for n, i in rows]
    return ({tuple(p[k].strip("'") for k in ("path", "compile", "precision")) for p in params},
            {n.split(".")[1] for n, _ in rows})


def test_the_headline_selection_is_the_headlines_combinations_each_devices_first_choice():
    """`run --headline` on a GPU at `full`: the LM's four headline combinations (every class of them: time,
    memory, energy; no validation or first step), BERT without its epoch, no data-parallel rows; on a CPU at
    `small`, which has no tf32 and no bf16, the LM rows fall back to fp32, and at `full` tf32 too."""
    modules = asvrun.modules(BENCHMARKS)
    results = BENCHMARKS.parent / "results"
    gpu = plan.parts(results, modules, devices=["gpu"], headline_at="full")
    combos, classes = headline_combinations(gpu, "lm_train", "gpu")
    assert combos == HEADLINE_LM and classes == {"LMTrain", "LMTrainMemory", "LMTrainEnergy"}
    assert "BertTrainEpoch" not in headline_combinations(gpu, "bert_train", "gpu")[1]
    assert ("dp_train", "gpu") not in gpu
    assert sum(map(len, gpu.values())) < sum(map(len, plan.parts(results, modules, devices=["gpu"]).values())) / 4
    cpu = plan.parts(results, modules, devices=["cpu"], headline_at="small")
    assert headline_combinations(cpu, "lm_train", "cpu")[0] == {("seed", "False", "fp32"), ("best", "True", "fp32")}
    cpu_full = plan.parts(results, modules, devices=["cpu"], headline_at="full")  # full lists tf32: a GPU mode
    assert {c[2] for c in headline_combinations(cpu_full, "lm_train", "cpu")[0]} == {"fp32", "bf16-mixed", "bf16"}


def test_run_headline_measures_only_the_headline_rows(tmp_path, monkeypatch):
    monkeypatch.setenv(settings.MACHINE, "box")
    asked = {}

    def measure_part(workload, device, rows, *args):
        asked[(workload, device)] = rows
        return [{"name": name, "idx": idx, "result": "n/a", "stderr": "stub"} for name, idx in rows], None

    monkeypatch.setattr(asvrun, "measure_part", measure_part)
    monkeypatch.setattr(asvrun.recorder, "record", lambda *args: None)
    asvrun.run("tiny", tmp_path / "res", tmp_path / "html", workloads=["lm_train"], headline=True)
    assert asked and asked == plan.parts(tmp_path / "res", ["bench_lm_train"], headline_at="tiny")
    assert headline_combinations(asked, "lm_train", "cpu")[0] == {("seed", "False", "fp32"), ("best", "True", "fp32"),
                                                                 ("best", "True", "bf16-mixed"), ("best", "True", "bf16")}
    line = json.loads(next((tmp_path / "res" / "box-tiny").glob("runs-*.jsonl")).read_text())
    assert line["selection"] == "headline"  # the pages' Runs section says so


def test_a_run_stopped_mid_part_records_the_combinations_that_ended(tmp_path, monkeypatch):
    """Stopped while a part's process measures its second combination: the first combination's rows (their
    lines written) are recorded, so --resume redoes only the rest; the cut-short line is not."""
    monkeypatch.setenv(settings.MACHINE, "box")
    recorded = []

    def measure_part(workload, device, rows, env, run_folder, *args):
        (name, idx), *_ = rows
        done = json.dumps({"name": name, "idx": idx, "samples": [1.0] * 5, "number": 1})
        (run_folder / f"{workload}-{device}.jsonl").write_text(
            json.dumps({"started": [workload], "rows": rows[:1]}) + "\n" + done + "\n" + '{"name": "cut')
        raise KeyboardInterrupt

    monkeypatch.setattr(asvrun, "measure_part", measure_part)
    monkeypatch.setattr(asvrun.recorder, "record", lambda config, machine, point, lines: recorded.append(lines))
    with pytest.raises(KeyboardInterrupt):
        asvrun.run("tiny", tmp_path / "res", tmp_path / "html", workloads=["matmul"])
    assert len(recorded) == 1 and len(recorded[0]) == 1 and recorded[0][0]["samples"] == [1.0] * 5
    line = json.loads(next((tmp_path / "res" / "box-tiny").glob("runs-*.jsonl")).read_text())
    assert line["exit_code"] == "interrupted" and line["parts"][0]["rows"] == 1 and line["parts"][0]["stopped"]
    assert line["parts"][0]["measured"] == 1
    # the host it ran on, as its page lists each run's (devices.host_load at the start, the probe again at the end)
    assert line["host"]["single_core_seconds"] > 0 and "other_gpu_processes" in line["host"]
    assert line["host"]["single_core_seconds_end"] > 0


def test_a_part_a_stopped_run_cut_short_does_not_replace_a_whole_ones_duration(tmp_path):
    """The plan estimates from the latest whole measurement of a part; a later stopped one (its rows the
    combinations that ended first) counts only where none measured the part whole, and not where it measured
    no row."""
    folder = tmp_path / "box-full"
    folder.mkdir()
    runs = [{"started": "2026-12-01T00:00:00Z", "parts": [{"workload": "lm_train", "device": "gpu", "seconds": 1500.0,
                                                          "rows": 102}]},
            {"started": "2026-12-06T00:00:00Z", "parts": [{"workload": "lm_train", "device": "gpu", "seconds": 329.0,
                                                          "rows": 40, "stopped": True},
                                                         {"workload": "llm", "device": "gpu", "seconds": 60.0,
                                                          "rows": 10, "stopped": True},
                                                         {"workload": "whisper", "device": "gpu", "seconds": 66.0,
                                                          "rows": 56, "stopped": True, "measured": 0},
                                                         {"workload": "matmul", "device": "cpu", "seconds": 6.0,
                                                          "rows": 12, "measured": 0}]}]
    (folder / "runs-x.jsonl").write_text("".join(json.dumps(run) + "\n" for run in runs))
    assert plan.durations(tmp_path, "box-full") == {("lm_train", "gpu"): (1500.0, 102, None, None),
                                                    ("llm", "gpu"): (60.0, 10, None, None)}  # whisper, matmul: none measured
    # a stopped part whose caches were as they are now still gives way to a whole one (one H100's matmul:
    # 59.6 s for 30 of 72 rows, warm, estimated the whole at 2:23; the whole run before it took 1:47)
    runs.append({"started": "2026-12-07T18:42:24Z", "parts": [{"workload": "lm_train", "device": "gpu",
                                                               "seconds": 59.6, "rows": 102, "measured": 30,
                                                               "stopped": True, "compiled": 0}]})
    (folder / "runs-x.jsonl").write_text("".join(json.dumps(run) + "\n" for run in runs))
    assert plan.durations(tmp_path, "box-full", warm=True)[("lm_train", "gpu")] == (1500.0, 102, None, None)


def bert_part(seconds, rows, measured, **more):
    """A BERT part of a runs line on a GPU, as asvrun.part_record writes it."""
    return {"workload": "bert_train", "device": "gpu", "seconds": seconds, "rows": rows, "measured": measured, **more}


def test_a_headline_run_is_estimated_from_the_last_headline_runs_durations_and_a_full_one_from_a_full_ones(tmp_path):
    """The headline's rows are a part's dearest: one H100's BERT headline (12 rows), estimated at a later full
    run's seconds a row (290 s for 58), read 0:59 and took 3:35. Another selection's duration still stands in
    where a part has none of its own."""
    folder = tmp_path / "box-full"
    folder.mkdir()
    runs = [{"started": "2026-12-06T10:09:17Z", "selection": "headline", "parts": [bert_part(108.0, 12, 12)]},
            {"started": "2026-12-06T14:32:45Z", "parts": [bert_part(289.6, 112, 58),
                                                          {"workload": "matmul", "device": "gpu", "seconds": 90.0,
                                                           "rows": 144, "measured": 72}]}]
    (folder / "runs-x.jsonl").write_text("".join(json.dumps(run) + "\n" for run in runs))
    headline = plan.durations(tmp_path, "box-full", headline=True)
    assert headline == {("bert_train", "gpu"): (108.0, 12, 12, None), ("matmul", "gpu"): (90.0, 144, 72, None)}
    assert plan.durations(tmp_path, "box-full")[("bert_train", "gpu")] == (289.6, 112, 58, None)
    planned = {("bert_train", "gpu"): [["b", i] for i in range(12)]}
    assert plan.estimate(planned, {("bert_train", "gpu"): 12}, headline) == {("bert_train", "gpu"): 108.0}


def test_a_duration_at_the_presets_present_sizes_is_preferred_to_a_later_one_at_other_sizes(tmp_path, monkeypatch):
    """TinyLlama's `full` samples went from 64 new tokens to 32: a run at the old sizes, later or not, must not
    estimate the part where one at the present sizes exists; it still stands in where none does."""
    folder = tmp_path / "box-full"
    folder.mkdir()
    now = plan.sizes_key("llm", "full")
    llm = lambda seconds, **sizes: {"workload": "llm", "device": "gpu", "seconds": seconds, "rows": 180,
                                    "measured": 120, **sizes}
    runs = [{"started": "2026-12-06T10:00:00Z", "parts": [llm(400.0, sizes=now)]},
            {"started": "2026-12-06T16:35:15Z", "parts": [llm(674.4)]},  # written before parts carried the key
            {"started": "2026-12-06T18:00:00Z", "parts": [llm(700.0, sizes="0ther5z")]}]
    (folder / "runs-x.jsonl").write_text("".join(json.dumps(run) + "\n" for run in runs))
    assert plan.durations(tmp_path, "box-full")[("llm", "gpu")] == (400.0, 180, 120, None)
    (folder / "runs-x.jsonl").write_text("".join(json.dumps(run) + "\n" for run in runs[1:]))
    assert plan.durations(tmp_path, "box-full")[("llm", "gpu")] == (700.0, 180, 120, None)
    monkeypatch.setitem(presets.TABLE["llm"], "full", {**presets.TABLE["llm"]["full"], "tokens": 64})
    assert plan.sizes_key("llm", "full") != now


def test_a_full_run_is_estimated_from_a_full_one_at_older_sizes_rather_than_a_headline_at_the_present(tmp_path):
    """One H100's committed BERT lines: a headline run at the present sizes (142 s for 12 rows) and a full one
    written before parts carried their sizes (289.6 s for 58). The full run's estimate came out 11:26 from the
    headline's seconds a row; it took 5:47."""
    folder = tmp_path / "box-full"
    folder.mkdir()
    runs = [{"started": "2026-12-06T14:32:45Z", "parts": [bert_part(289.6, 112, 58)]},
            {"started": "2026-12-07T07:57:27Z", "selection": "headline",
             "parts": [bert_part(142.0, 12, 12, sizes=plan.sizes_key("bert_train", "full"))]}]
    (folder / "runs-x.jsonl").write_text("".join(json.dumps(run) + "\n" for run in runs))
    planned = {("bert_train", "gpu"): [["b", i] for i in range(112)]}
    full = plan.durations(tmp_path, "box-full")
    assert full[("bert_train", "gpu")] == (289.6, 112, 58, None)
    assert plan.estimate(planned, {("bert_train", "gpu"): 58}, full) == {("bert_train", "gpu"): 289.6}
    assert plan.durations(tmp_path, "box-full", headline=True)[("bert_train", "gpu")] == (142.0, 12, 12, None)


def test_a_warm_run_is_estimated_from_a_part_that_compiled_nothing_and_a_cold_one_from_one_that_compiled(tmp_path):
    """One H100's BERT part took 5:48 with its caches cold and 2:17 warm: where the compile caches hold files
    the plan takes the latest duration of a part that added none to them, where they hold none one that
    added some; a line from before the count was kept ranks between, and with the caches unknown the latest
    stands."""
    folder = tmp_path / "box-full"
    folder.mkdir()
    runs = [{"started": "2026-12-07T12:51:02Z", "parts": [bert_part(347.7, 112, 58, compiled=300)]},
            {"started": "2026-12-07T13:00:00Z", "parts": [bert_part(137.0, 112, 58, compiled=0)]},
            {"started": "2026-12-07T15:58:02Z", "parts": [bert_part(348.7, 112, 58, compiled=250)]}]

    def seconds(warm):
        (folder / "runs-x.jsonl").write_text("".join(json.dumps(run) + "\n" for run in runs))
        return plan.durations(tmp_path, "box-full", warm=warm)[("bert_train", "gpu")][0]

    assert (seconds(True), seconds(False), seconds(None)) == (137.0, 348.7, 348.7)
    runs.append({"started": "2026-12-08T00:00:00Z", "parts": [bert_part(200.0, 112, 58)]})  # no count
    assert (seconds(True), seconds(False), seconds(None)) == (137.0, 348.7, 200.0)
    del runs[1]  # no warm part left: the uncounted one before a cold one
    assert seconds(True) == 200.0


def test_a_part_counts_the_files_in_the_compile_caches_its_processes_use(tmp_path, monkeypatch):
    """The runs line's `compiled` is the files a part added to the caches under the run's cache folder (a
    folder the user set for a compiler instead of its own)."""
    for variable in process.COMPILE_CACHES:
        monkeypatch.delenv(variable, raising=False)
    assert asvrun.compiled_files() == 0
    root = asvrun.compile_root()
    (root / "triton" / "abc").mkdir(parents=True)
    (root / "triton" / "abc" / "kernel.cubin").write_text("x")
    (root / "mlx-ptx").mkdir()
    (root / "mlx-ptx" / "kernel.ptx").write_text("x")
    assert asvrun.compiled_files() == 2
    own = tmp_path / "inductor"
    own.mkdir()
    for name in ("a", "b", "c"):
        (own / name).write_text("x")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(own))
    assert asvrun.compiled_files() == 5


def test_an_interrupted_run_keeps_its_finished_parts_durations_for_the_next_plan(tmp_path, monkeypatch, capsys):
    """A run stopped in its second part (a device lease ending, Ctrl-C) leaves the first part's seconds and
    rows in runs-<point>.jsonl, so the next plan has an estimate for it."""
    results = tmp_path / "res"
    monkeypatch.setenv(settings.MACHINE, "box")
    calls = []

    def measure_part(workload, device, rows, *args):
        calls.append(workload)
        if len(calls) == 2:
            raise KeyboardInterrupt
        kernels = asvrun.compile_root() / "triton" / workload  # as a measuring process compiling 3 kernels
        kernels.mkdir(parents=True)
        for name in ("a", "b", "c"):
            (kernels / name).write_text("x")
        return [{"name": name, "idx": idx, "samples": [1.0] * 5, "number": 1} for name, idx in rows], None

    monkeypatch.setattr(asvrun, "measure_part", measure_part)
    monkeypatch.setattr(asvrun.recorder, "record", lambda *args: None)
    with pytest.raises(KeyboardInterrupt):
        asvrun.run("tiny", results, tmp_path / "html", workloads=["matmul", "switch"])
    known = plan.durations(results, "box-tiny")
    assert len(calls) == 2 and set(known) == {(calls[0], "cpu")}
    line = json.loads(next((results / "box-tiny").glob("runs-*.jsonl")).read_text().splitlines()[-1])
    assert line["exit_code"] == "interrupted" and [p["workload"] for p in line["parts"]] == calls[:1]
    assert line["parts"][0]["sizes"] == plan.sizes_key(calls[0], "tiny") and line["parts"][0]["compiled"] == 3
    planned = re.search(rf"  {calls[0]} on cpu: \d+ rows, (\d+) to measure", capsys.readouterr().out)
    assert line["parts"][0]["planned"] == int(planned.group(1)) > 0  # the count the plan printed, for the next
