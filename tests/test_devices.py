import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mlxvspt.measure import devices, presets, weights
from mlxvspt.measure.devices import Target
from mlxvspt.errors import Unavailable, UsageError


def test_cpu_targets_resolve_for_both_frameworks():
    for framework in devices.FRAMEWORKS:
        target = devices.Target(framework, "cpu").activate()
        assert target.backend() == "cpu"
        assert target.peak_memory() > 0  # on a CPU the process's max RSS
        target.synchronize()


@pytest.mark.parametrize("field,value", [("framework", "jax"), ("device", "tpu"), ("precision", "fp8")])
def test_unknown_names_are_usage_errors_listing_valid_choices(field, value):
    kwargs = {"framework": "mlx", "device": "cpu", "precision": "fp32", field: value}
    with pytest.raises(UsageError, match="choose one of"):
        devices.Target(**kwargs)


def test_gpu_without_backend_is_unavailable_not_an_error():
    missing = [f for f in devices.FRAMEWORKS if devices.framework_module(f).gpu_backend() is None]
    if not missing:
        pytest.skip("both frameworks have a GPU backend here")
    for framework in missing:
        with pytest.raises(Unavailable):
            devices.Target(framework, "gpu").activate()


def test_tf32_on_cpu_is_unavailable():
    with pytest.raises(Unavailable, match="TF32"):
        devices.Target("torch", "cpu", "tf32").activate()


def test_environment_records_versions_and_blas():
    env = devices.environment()
    for key in ("mlx", "torch", "mlx_blas", "torch_blas", "cpu", "numpy", "transformers", "mlx-lm",
                "openai-whisper", "mlx-whisper"):
        assert env[key], key


def test_presets_table_and_selection(monkeypatch):
    for workload, rows in presets.TABLE.items():
        assert set(rows) == set(presets.NAMES), workload
    assert presets.sizes("switch", "full") == presets.TABLE["switch"]["full"]
    with pytest.raises(UsageError, match="tiny, small, full"):
        presets.sizes("switch", "huge")
    with pytest.raises(UsageError, match="unknown workload"):
        presets.sizes("nope", "tiny")


def test_shared_weights_round_trip_into_both_frameworks(tmp_path):
    import mlx.core as mx

    shapes = {"w": ((3, 4), 0.02), "b": ((4,), "zeros"), "g": ((4,), "ones")}
    arrays = weights.seeded(shapes, seed=1)
    again = weights.seeded(shapes, seed=1)
    assert all(np.array_equal(arrays[k], again[k]) for k in shapes)
    assert not np.array_equal(arrays["w"], weights.seeded(shapes, seed=2)["w"])
    path = weights.save(arrays, tmp_path / "w.safetensors")
    loaded = weights.load(path)
    as_mlx, as_torch = weights.to_mlx(loaded), weights.to_torch(loaded)
    for name, value in arrays.items():
        np.testing.assert_array_equal(np.array(as_mlx[name]), value)
        np.testing.assert_array_equal(as_torch[name].numpy(), value)
    assert as_mlx["w"].dtype == mx.float32 and np.all(arrays["g"] == 1) and np.all(arrays["b"] == 0)


def test_corrupt_or_missing_weights_are_one_clear_error(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        weights.load(tmp_path / "missing.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(UsageError, match="cannot read"):
        weights.load(bad)


def test_cached_builds_once(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"x": np.arange(3, dtype=np.float32)}

    first = weights.cached(tmp_path / "c.safetensors", build)
    second = weights.cached(tmp_path / "c.safetensors", build)
    assert len(calls) == 1 and np.array_equal(first["x"], second["x"])


def test_warm_up_stops_at_steady_state_or_its_cap(monkeypatch):
    from mlxvspt.measure import timing

    class Clock:  # steps last what they are told: no sleeping, no scheduler jitter
        now = 0.0

        def perf_counter(self):
            return self.now

    clock = Clock()
    monkeypatch.setattr(timing, "time", clock)

    def steps(durations):
        durations = iter(durations)

        def step():
            clock.now += next(durations)
        return step

    steady = timing.warm_up(steps([0.5, 0.2, 0.1, 0.1, 0.1]), min_seconds=0)
    assert steady["steady"] and steady["warmup_steps"] == 4
    capped = timing.warm_up(steps([0.01, 0.03] * 10), cap_steps=6, min_seconds=0, unsteady_seconds=0)
    assert not capped["steady"] and capped["warmup_steps"] == 6
    brief = timing.warm_up(steps([0.002] * 100), min_seconds=0.03)  # agreeing short steps: on for 0.03 s
    assert brief["steady"] and brief["warmup_steps"] == 15
    noisy = timing.warm_up(steps([0.03, 0.04] * 100), cap_steps=6)  # never steady: on for 3 s, past the cap
    assert not noisy["steady"] and noisy["warmup_steps"] == 86


def test_a_row_whose_run_differs_from_its_request_fails_with_one_line():
    from mlxvspt.measure import asvbench

    target = Target("torch", "cpu", "fp32")
    with pytest.raises(RuntimeError, match="matmul torch cpu fp32: not the requested work: compute_dtype asked "
                                           "'float32', ran 'bfloat16'"):
        asvbench.verify("matmul", target, {}, {"compute_dtype": "bfloat16", "matmul_mode": "ieee"})
    with pytest.raises(RuntimeError, match="matmul_mode asked 'ieee', ran 'tf32'"):
        asvbench.verify("matmul", target, {}, {"compute_dtype": "float32", "matmul_mode": "tf32"})
    asvbench.verify("matmul", target, {}, {"compute_dtype": "float32", "matmul_mode": "ieee"})


def test_measured_once_returns_each_measurement_as_an_asv_sample():
    from mlxvspt.measure import asvbench

    class Fake(asvbench.MeasuredOnce):
        workload = "matmul"

        def measure(self):
            return [{"seconds": i, "per_size": {"64": 2 * i}} for i in range(3)]

    bench = Fake()
    assert bench.figure("seconds") == {"samples": [0, 1, 2], "number": 1}
    assert bench.figure("per_size", "64") == {"samples": [0, 2, 4], "number": 1}


def test_a_short_step_makes_a_sample_of_several_steps(monkeypatch):
    """A track_ sample fills the preset's SAMPLE_SECONDS as a time_ sample does: a 0.1 s step at the
    history preset's 0.3 s is the mean of 3 steps, its peak memory their largest; a long step stays one.
    After the other framework's sample, a sample of several steps follows one unmeasured step, and so does a
    sample of one step where that step is cheap next to the other framework's."""
    from mlxvspt.measure import asvbench, settings

    steps = iter([{"ms": 1.0, "peak_memory_bytes": 5, "per_size": {"64": [1]}},
                  {"ms": 2.0, "peak_memory_bytes": 9, "per_size": {"64": [2]}},
                  {"ms": 6.0, "peak_memory_bytes": 7, "per_size": {"64": [3]}}])
    bench = asvbench.MeasuredOnce()
    bench.runner = type("Runner", (), {"step": lambda self: next(steps)})()
    monkeypatch.setattr(settings, "preset", lambda: "history")
    bench.record = {"warmup": {"last_warmup_step_seconds": 0.1}}
    assert bench.sample() == {"ms": 3.0, "peak_memory_bytes": 9, "per_size": {"64": [1, 2, 3]}}
    bench.record = {"warmup": {"last_warmup_step_seconds": 0.5}}
    steps = iter([{"ms": 4.0}])
    assert bench.sample() == {"ms": 4.0}
    steps = iter([{"ms": 9.0}, {"ms": 1.0}, {"ms": 2.0}, {"ms": 6.0}])  # after the other framework's sample:
    bench.record = {"warmup": {"last_warmup_step_seconds": 0.1}}
    assert bench.sample(switched=True) == {"ms": 3.0}  # one step first, unmeasured (the switch's cost)
    steps = iter([{"ms": 4.0}])
    bench.record = {"warmup": {"last_warmup_step_seconds": 0.5}}
    assert bench.sample(switched=True) == {"ms": 4.0}  # a sample of one step takes none
    steps = iter([{"ms": 9.0}, {"ms": 4.0}])
    assert bench.sample(switched=True, warm_first=True) == {"ms": 4.0}  # unless it is cheap next to the other's
    one, other = (asvbench.MeasuredOnce() for _ in range(2))
    one.record, other.record = ({"warmup": {"last_warmup_step_seconds": s}} for s in (0.6, 16.0))
    assert asvbench.cheap_next_to(one, [one, other]) and not asvbench.cheap_next_to(other, [one, other])
    other.record = {"warmup": {"last_warmup_step_seconds": 2.0}}  # 0.6 s is not a quarter of 2 s
    assert not asvbench.cheap_next_to(one, [one, other]) and not asvbench.cheap_next_to(one, [one])
    assert bench.sample_count() == 11  # the history preset's FIGURE_SAMPLES
    monkeypatch.setattr(settings, "preset", lambda: "full")
    assert bench.sample_count() == 10  # full: the verdict's ratio interval reaches a 3% difference
    bench.samples, bench.launches = 1, True  # one launch a row (dp_train) stays one
    assert bench.sample_count() == 1
    from benchmarks.bench_lm_train import LMTrainFirstStep
    assert LMTrainFirstStep().sample_count() == 5  # a sample is two processes compiling


def test_a_measurement_is_shared_within_one_release_set_only(monkeypatch, tmp_path):
    """A history run measures every ledger point in one run folder: each release set keeps its own memo,
    so a later point never reads the first point's track_ figures."""
    from mlxvspt.measure import asvbench, settings

    monkeypatch.setenv(settings.RUN_FOLDER, str(tmp_path))
    args = ("llm", "mlx", "cpu", "fp32", {"batch": 1})
    monkeypatch.setattr(settings, "library_versions", lambda: {"mlx": "0.26.5", "torch": "2.13.0"})
    older = asvbench.memo_file(*args)
    assert asvbench.memo_file(*args) == older  # every process of the point
    monkeypatch.setattr(settings, "library_versions", lambda: {"mlx": "0.32.4", "torch": "2.13.0"})
    assert asvbench.memo_file(*args) != older and asvbench.memo_file(*args).name == older.name


def test_a_row_whose_combination_was_measured_reads_the_memo_without_asking_the_workload(monkeypatch, tmp_path):
    """Asking the workload whether a combination runs imports its library (seconds a row): a row of a
    combination this run measured already skips it; selection still applies."""
    from mlxvspt.measure import asvbench, settings

    asked = []
    monkeypatch.setenv(settings.RUN_FOLDER, str(tmp_path))
    monkeypatch.setattr(asvbench, "unavailable", lambda *args: asked.append(args) and None)

    class Fake(asvbench.MeasuredOnce):
        workload = "matmul"

    Fake().setup("torch", "cpu")
    assert len(asked) == 1  # not measured yet: asked
    memo = asvbench.memo_file("matmul", "torch", "cpu", "fp32", {})
    memo.parent.mkdir(parents=True)
    memo.write_text(json.dumps(asvbench.memo_entry([{"seconds": 1.0}], {"run": 1})))
    bench = Fake()
    bench.setup("torch", "cpu")
    assert len(asked) == 1 and bench.figure("seconds") == {"samples": [1.0], "number": 1}
    monkeypatch.setenv(settings.FRAMEWORKS, "mlx")
    with pytest.raises(NotImplementedError, match="not selected"):
        Fake().setup("torch", "cpu")


def test_a_memory_row_whose_params_depend_on_the_device_sets_up_within_a_run(monkeypatch, tmp_path):
    """StepMemory classes map their params through `measured_here`, which reads the row's device: asking for
    the memo before the n/a checks must not find it unset (every memory row failed in a fresh-clone run)."""
    from benchmarks.bench_lm_train import LMTrainMemory
    from mlxvspt.measure import asvbench, settings

    monkeypatch.setenv(settings.RUN_FOLDER, str(tmp_path))
    monkeypatch.setenv(settings.PRESET, "tiny")
    monkeypatch.setattr(asvbench, "unavailable", lambda *args: None)
    bench = LMTrainMemory()
    bench.setup("torch", "cpu", "seed", False, "fp32")
    assert not bench.measured()


def test_a_step_memory_row_and_a_figures_row_of_one_combination_keep_separate_memos(monkeypatch, tmp_path):
    """The switch loop's phases (its step's figures) and its peak memory (StepMemory) share params and
    overrides: one memo for both made SwitchPhases read the peaks Switch left (KeyError 'gpu': every
    phase row failed on the GPU machines). Each kind of figures keeps its own memo."""
    from benchmarks.bench_switch import SwitchMemory, SwitchPhases
    from mlxvspt.measure import asvbench, settings

    monkeypatch.setenv(settings.RUN_FOLDER, str(tmp_path))
    monkeypatch.setattr(asvbench, "unavailable", lambda *args: None)
    memory, phases = SwitchMemory(), SwitchPhases()
    memory.setup("torch", "gpu")
    memory.memo().parent.mkdir(parents=True)
    memory.memo().write_text(json.dumps(asvbench.memo_entry([{"peak_memory_bytes": 7}], {"run": 1})))
    phases.args, phases.device = ("torch", "gpu", "cpu"), "gpu"
    assert memory.measured() and memory.track_peak_memory("torch", "gpu") == {"samples": [7], "number": 1}
    assert not phases.measured()


def test_the_host_record_says_how_fast_a_core_runs_a_fixed_loop(monkeypatch):
    """Hosts of one machine kind naming the same CPU ran host-bound rows up to 1.8x apart: the record times a
    fixed loop, so a slower host shows (here a clock that reads 0.5 s a loop on its 2nd of 3 tries)."""
    ticks = iter([0.0, 0.7, 1.0, 1.5, 2.0, 2.9])
    monkeypatch.setattr(devices.time, "perf_counter", lambda: next(ticks))
    assert devices.single_core_seconds() == 0.5
    monkeypatch.undo()
    assert set(devices.host_load()) >= {"load_1min", "others_cpu_share", "other_gpu_processes", "shared",
                                        "single_core_seconds"}


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="the CPU time figure reads Linux's /proc/stat")
def test_the_host_record_counts_other_work_on_the_cores_of_the_run():
    """The load average at a run's start counts the run's own install (1.1-1.2 on 2 cores at every `make
    bench`): the record says what share of the CPU time of the run's cores others took while its process
    slept, so processes spinning on those cores read as a shared host, on a host of any size."""
    mine = os.sched_getaffinity(0)
    os.sched_setaffinity(0, sorted(mine)[:2])  # the spinners inherit the same cores
    spin = "import time\nend = time.time() + 3\nwhile time.time() < end: pass"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in os.sched_getaffinity(0)]
    try:
        time.sleep(0.3)  # the interpreters started and spinning
        busy = devices.others_cpu_share()
        load = devices.host_load()
    finally:
        os.sched_setaffinity(0, mine)
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    assert busy >= 0.6 and load["others_cpu_share"] >= 0.6 and load["shared"], (busy, load)


def test_the_host_kind_names_the_cpus_math_extensions(tmp_path, monkeypatch):
    """Two 2-core hosts named "Intel(R) Xeon(R) Processor" ran PyTorch's fp16 512^3 matmul in 131 ms and about 1 ms
    (the second with AVX-512 FP16): the host's kind lists the extensions of MATH_FEATURES it has, in that order,
    from /proc/cpuinfo's x86 flags or Arm's features; None where the file does not say."""
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(devices, "CPUINFO", str(cpuinfo))
    cpuinfo.write_text("model name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu amx_tile sse avx2 avx avx512_fp16 "
                       "avx512f\n\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu\n")
    assert devices.host_kind() == {"cpu": "Intel(R) Xeon(R) Processor", "cpu_count": devices.cores_usable(),
                                   "cpu_features": "avx avx2 avx512f avx512_fp16 amx_tile"}
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd asimdhp sve\nCPU implementer\t: 0x41\n")
    assert devices.cpu_features() == "asimd asimdhp sve"
    cpuinfo.write_text("processor\t: 0\n")
    assert devices.cpu_features() is None
    cpuinfo.unlink()
    assert devices.cpu_features() is None
