"""The energy reader on a fake NVML (never the real library): joules around a block, per step, token or
audio second, the GPU it reads, and the reason wherever there is no counter; the LLM step's energy figure
and its n/a; a training step's joules over a block of its own steps in the measuring process."""
import json
import sys
import textwrap
import types

import pytest

from benchmarks.bench_bert_train import BertTrainEnergy, BertTrainStep
from benchmarks.bench_lm_train import LMTrain, LMTrainEnergy
from benchmarks.bench_whisper import WhisperClips
from mlxvspt.measure import asvbench, energy, process
from mlxvspt.measure.devices import Target
from mlxvspt.measure.presets import sizes
from mlxvspt.workloads.llm import spec
from mlxvspt.workloads.whisper import spec as whisper


class FakeNVML(types.ModuleType):
    """pynvml's calls the reader makes: a counter that gains `step` millijoules at every read."""

    class NVMLError(Exception):
        pass

    def __init__(self, step=1500, supported=True):
        super().__init__("pynvml")
        self.step, self.supported, self.total, self.opened = step, supported, 10_000, []

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByIndex(self, index):
        self.opened.append(("index", index))
        return f"gpu{index}"

    def nvmlDeviceGetHandleByUUID(self, uuid):
        self.opened.append(("uuid", uuid))
        return uuid

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if not self.supported:
            raise self.NVMLError("Not Supported")
        self.total += self.step
        return self.total


class Cuda(Target):
    """A target on an NVIDIA GPU, whatever this machine has."""

    def backend(self):
        return "cuda"


@pytest.fixture
def nvml(monkeypatch):
    fake = FakeNVML()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return fake


def test_joules_of_a_block_per_step_and_per_token(nvml):
    meter = energy.meter(Cuda("torch", "gpu"))
    assert meter.reason is None and nvml.opened == [("index", 0)]
    with meter.reading() as used:
        pass
    # each edge waits for the counter's next update (the fake's next read): reads 2 and 4, 3000 mJ apart
    assert used.joules == pytest.approx(3.0)
    assert used.per(1) == pytest.approx(3.0) and used.per(10) == pytest.approx(0.3)


def test_a_reading_starts_and_ends_at_the_counters_updates():
    """Read mid-period the counter lacks the work since its last update (here 30 J of the other framework's
    just before the block, and the block's last 60 J until after it): the reading waits for the updates."""
    counter = iter([100_000, 130_000, 130_000, 190_000])
    with energy.Meter(read=lambda: next(counter)).reading() as used:
        pass
    assert used.joules == pytest.approx(60.0)


def test_a_counter_that_did_not_advance_gives_a_reason_not_zero_joules(nvml):
    nvml.step = 0
    with energy.meter(Cuda("torch", "gpu")).reading() as used:
        pass
    assert "did not advance" in used.per(10)


@pytest.mark.parametrize("visible, opened", [("2,3", ("index", 2)), ("GPU-8f2c", ("uuid", "GPU-8f2c")),
                                             ("", ("index", 0))])
def test_the_gpu_read_is_the_first_visible_one(nvml, monkeypatch, visible, opened):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    energy.meter(Cuda("mlx", "gpu"))
    assert nvml.opened == [opened]


class Metal(Target):
    def backend(self):
        return "metal"


def test_no_counter_is_a_reason_not_a_figure(nvml, monkeypatch):
    cases = {Target("torch", "cpu"): "n/a on the CPU", Metal("mlx", "gpu"): "n/a on metal"}
    for target, words in cases.items():
        meter = energy.meter(target)
        with meter.reading() as used:
            pass
        assert words in used.per(8) and used.per(8) == meter.reason
    nvml.supported = False
    assert "no total-energy counter for this GPU (Not Supported)" in energy.meter(Cuda("torch", "gpu")).reason
    monkeypatch.setitem(sys.modules, "pynvml", None)  # not installed: importing it raises ImportError
    assert "nvidia-ml-py (pynvml) is not installed (pip install 'mlxvspt[energy]')" in \
        energy.meter(Cuda("torch", "gpu")).reason


def test_the_llm_step_gives_joules_per_generated_token(nvml):
    chosen = {**sizes("llm", "tiny", "cpu"), "batch": 2, "prompt_tokens": 8, "prefill_tokens": 8, "tokens": 4}
    runner = spec.build(Target("mlx", "cpu").activate(), chosen)
    assert runner.step()["energy_j_per_token"] == "energy is read from NVIDIA's NVML counter: n/a on the CPU"
    runner.meter = energy.meter(Cuda("mlx", "gpu"))  # as on an NVIDIA GPU
    assert runner.step()["energy_j_per_token"] == pytest.approx(3.0 / (4 * 2))  # the generation call's, a token


def test_a_figure_given_as_its_reason_is_asvs_na(monkeypatch):
    bench = asvbench.MeasuredOnce()
    bench.device = "gpu"
    reason = "energy is read from NVIDIA's NVML counter: n/a on metal"
    monkeypatch.setattr(bench, "values", lambda name, key=None: [reason] * 5)
    with pytest.raises(NotImplementedError, match=reason):
        bench.figure("energy_j_per_token")
    monkeypatch.setattr(bench, "values", lambda name, key=None: [0.5, 0.25])
    assert bench.figure("energy_j_per_token") == {"samples": [0.5, 0.25], "number": 1}


def test_a_rows_figure_pools_its_samples_joules_over_their_work():
    """A periodic counter gives short samples 0 or a whole update's joules: the figure is their sum over
    the work of all of them, one value; a counter that advanced over none of them is a reason, never 0 J."""
    assert energy.pooled([0.0, 0.9, 0.0, 0.0, 0.9], [4] * 5) == pytest.approx(1.8 / 20)
    assert "did not advance" in energy.pooled([0.0] * 5, [4] * 5)
    reason = "energy is read from NVIDIA's NVML counter: n/a on the CPU"
    assert energy.pooled([reason] * 2, [4, 4]) == reason


# A time_ class of the matmul workload that leaves its samples' joules, and its energy row.
STEP_AND_JOULES = '''
from mlxvspt.measure import asvbench
from mlxvspt.measure.asvbench import WorkloadBenchmark


class Sizes:
    workload = "matmul"
    params = [["mlx", "torch"], ["cpu"], ["fp32"], [64]]
    param_names = ["framework", "device", "precision", "n"]

    def overrides(self, precision, n):
        return precision, {"n": n}


class Step(Sizes, WorkloadBenchmark):
    leaves_energy = True

    def time_step(self, *params):
        self.runner.step()


class StepJoules(Sizes, asvbench.StepEnergy):
    pass
'''


def measured(folder):
    """{(method, framework index): line} of the measuring process over both classes' rows."""
    (folder / "bench").mkdir()
    (folder / "bench" / "bench_joules.py").write_text(textwrap.dedent(STEP_AND_JOULES))
    rows = [[f"bench_joules.{name}", idx] for name in ("Step.time_step", "StepJoules.track_energy_per_step")
            for idx in (0, 1)]
    out = folder / "out.jsonl"
    process.Measurement({"workload": "matmul", "device": "cpu", "rows": rows, "benchmark_dir": str(folder / "bench"),
                         "out": str(out), "checks": str(folder / "check.jsonl")}).run()
    lines = [json.loads(text) for text in out.read_text().splitlines()]
    return {(line["name"].rsplit(".", 1)[1], line["idx"]): line for line in lines if "name" in line}


@pytest.fixture
def on_nvidia(nvml, monkeypatch):
    """The measuring process's meters read the fake NVML, as on an NVIDIA GPU."""
    real = energy.meter
    monkeypatch.setattr(energy, "meter", lambda target: real(Cuda(target.framework, "gpu", target.precision)))
    return nvml


def test_a_training_steps_joules_come_from_a_block_of_its_own_steps(run_env, on_nvidia, monkeypatch):
    """After both frameworks' samples, each one's steps alone (one step: a block of 0 s) between two of the
    counter's updates: 3 J (the fake gains 1.5 J a read) a step; no read around the alternating samples."""
    monkeypatch.setattr(process, "ENERGY_BLOCK_SECONDS", 0.0)
    lines = measured(run_env)
    for idx in (0, 1):
        assert lines["time_step", idx]["samples"]
        assert lines["track_energy_per_step", idx]["samples"] == pytest.approx([3.0])
    # a framework's meter reads once as it opens and twice at each edge of its block
    assert (on_nvidia.total - 10_000) / on_nvidia.step == 2 * 5


def test_an_nvml_read_that_fails_costs_the_energy_row_not_the_time_row(run_env, on_nvidia, monkeypatch):
    """The counter opened fine, then a read fails mid-run (a GPU fallen off the bus): the time rows stand."""
    def lost():
        raise on_nvidia.NVMLError("GPU lost")

    monkeypatch.setattr(process, "ENERGY_BLOCK_SECONDS", 0.0)
    monkeypatch.setattr(energy, "counter", lambda target: lost)
    lines = measured(run_env)
    for idx in (0, 1):
        assert lines["time_step", idx]["samples"]
        assert "reading NVML's counter failed (NVMLError: GPU lost)" in lines["track_energy_per_step", idx]["stderr"]


@pytest.mark.parametrize("gpu, words", [(False, "energy is read from NVIDIA's NVML counter: n/a on the CPU"),
                                        (True, "NVML's counter did not advance")])
def test_a_training_steps_energy_row_is_na_with_the_reason(run_env, nvml, monkeypatch, request, gpu, words):
    if gpu:  # NVIDIA's counter, still over every sample
        request.getfixturevalue("on_nvidia").step = 0
    lines = measured(run_env)
    for idx in (0, 1):
        assert lines["time_step", idx]["samples"]
        energy_row = lines["track_energy_per_step", idx]
        assert energy_row["result"] == "n/a" and words in energy_row["stderr"]


def test_outside_the_measuring_process_a_step_energy_row_says_why_and_takes_no_step(nvml, request):
    bench = LMTrainEnergy()
    bench.args, bench.device = ("torch", "cpu", "seed", False, "fp32"), "cpu"
    with pytest.raises(NotImplementedError, match="n/a on the CPU"):
        bench.track_energy_per_step(*bench.args)
    request.getfixturevalue("on_nvidia")
    with pytest.raises(NotImplementedError, match=r"read after the time_ samples of the measuring process"):
        bench.track_energy_per_step(*bench.args)
    assert not hasattr(bench, "runner")  # nothing built, no step taken


def test_the_training_steps_energy_rows_share_their_time_rows_params():
    for timed, joules in ((LMTrain, LMTrainEnergy), (BertTrainStep, BertTrainEnergy)):
        assert timed.leaves_energy and joules.params == timed.params and joules.param_names == timed.param_names
        assert joules.track_energy_per_step.unit == "J/step"


def test_whisper_gives_joules_per_audio_second_pooled_over_its_clips_passes(nvml, monkeypatch):
    runner = whisper.build(Target("torch", "cpu").activate(), sizes("whisper", "tiny", "cpu"))
    assert runner.step()["energy_j"] == "energy is read from NVIDIA's NVML counter: n/a on the CPU"
    runner.meter = energy.meter(Cuda("torch", "gpu"))  # as on an NVIDIA GPU
    figures = runner.step()
    assert figures["energy_j"] == pytest.approx(3.0) and figures["audio_seconds"] == runner.audio_seconds
    bench = WhisperClips()
    bench.device = "gpu"
    kept = {"energy_j": [0.0, 1.5, 0.0, 1.5], "audio_seconds": [2.0] * 4}
    monkeypatch.setattr(bench, "values", lambda name, key=None: kept[name])
    assert bench.track_energy_per_audio_second() == {"samples": [pytest.approx(3.0 / 8)], "number": 1}
    assert WhisperClips.track_energy_per_audio_second.unit == "J/audio s"
