"""The energy reader on a fake NVML (never the real library): joules around a block, per step or token, the
GPU it reads, and the reason wherever there is no counter; the LLM step's energy figure and its n/a."""
import sys
import types

import pytest

from mlxvspt.measure import asvbench, energy
from mlxvspt.measure.devices import Target
from mlxvspt.measure.presets import sizes
from mlxvspt.workloads.llm import spec


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
    assert used.joules == pytest.approx(1.5)  # one read before, one after: 1500 mJ apart
    assert used.per(1) == pytest.approx(1.5) and used.per(10) == pytest.approx(0.15)


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
    assert runner.step()["energy_j_per_token"] == pytest.approx(1.5 / (4 * 2))  # the generation call's, a token


def test_a_figure_given_as_its_reason_is_asvs_na(monkeypatch):
    bench = asvbench.MeasuredOnce()
    bench.device = "gpu"
    reason = "energy is read from NVIDIA's NVML counter: n/a on metal"
    monkeypatch.setattr(bench, "values", lambda name, key=None: [reason] * 5)
    with pytest.raises(NotImplementedError, match=reason):
        bench.figure("energy_j_per_token")
    monkeypatch.setattr(bench, "values", lambda name, key=None: [0.5, 0.25])
    assert bench.figure("energy_j_per_token") == {"samples": [0.5, 0.25], "number": 1}
