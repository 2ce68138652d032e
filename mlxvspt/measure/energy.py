"""Energy a block of GPU work used, from NVML's total-energy counter (nvidia-ml-py's
`nvmlDeviceGetTotalEnergyConsumption`: millijoules since the driver loaded, NVIDIA Volta and later), so a
workload can give joules per step, per token or per audio second beside its times.

Where there is no such counter (a CPU, Metal or MPS, no nvidia-ml-py, no NVIDIA driver, a GPU or MIG slice
without it) a reading's figure is the reason instead, which a benchmark reports as n/a
(asvbench.MeasuredOnce.figure). The counter is the whole GPU's: another process's work on it counts too (a
run's environment record says whether one shared the GPU: devices.host_load).
"""
import os
import time
from contextlib import contextmanager

from ..errors import Unavailable

INSTALL = "pip install 'mlxvspt[energy]'"


class Reading:
    """The joules one block used, once it has ended; or the reason there is no figure."""

    def __init__(self, reason=None):
        self.joules, self.reason = None, reason

    def per(self, count):
        """Joules per unit of the block's work (`count` steps or tokens); the reason (a str) where unmeasured,
        or where the counter did not advance over the block (NVML updates it periodically: a block shorter
        than that period reads 0, which is no figure)."""
        if self.reason:
            return self.reason
        if self.joules <= 0:
            return "energy: NVML's counter did not advance over the block (shorter than its update period)"
        return self.joules / count

    def total(self):
        """What a sample keeps for `pooled`: the joules, 0 included, or the reason where unmeasured."""
        return self.reason or self.joules


def pooled(totals, work):
    """Joules per unit of work over a row's samples: their joules (`Reading.total`s) summed over their work
    (steps, audio seconds) summed; the reason where unmeasured or where the counter advanced over none.

    One figure, not one a sample: NVML's counter advances only at its periodic updates, so per sample the
    joules of short blocks would be quantisation, not spread."""
    reason = next((total for total in totals if isinstance(total, str)), None)
    reading = Reading(reason)
    reading.joules = None if reason else sum(totals)
    return reading.per(sum(work))


# The longest wait for the counter's next update at a block's edge (NVML refreshes it every few tens of ms).
SETTLE_SECONDS = 0.25


class Meter:
    """Reads a counter of millijoules around a block (`read`), or gives every reading `reason`."""

    def __init__(self, read=None, reason=None):
        self.read, self.reason = read, reason

    @contextmanager
    def reading(self):
        """A Reading of the block, from the counter's first update after it starts waiting before the block
        to its first update after the block. The block must end synchronised (the GPU done with its work),
        as every timed block of the suite does. Read mid-period, the counter still lacks the work since its
        last update: where the frameworks alternate, the other's work just before the block would land in
        this reading and this block's last work in the next one. Waiting for the updates keeps each
        framework's joules in its own reading, at the cost of up to a period of idle GPU after the block."""
        if self.reason:
            yield Reading(self.reason)
            return
        reading, before = Reading(), self.settled()
        yield reading
        reading.joules = (self.settled() - before) / 1e3

    def settled(self):
        """The counter at its next update (at most SETTLE_SECONDS away: else as it reads then)."""
        first = value = self.read()
        deadline = time.perf_counter() + SETTLE_SECONDS
        while value == first and time.perf_counter() < deadline:
            time.sleep(0.001)
            value = self.read()
        return value


def meter(target):
    """A Meter of the GPU `target` runs on; one that gives the reason where that GPU has no energy counter."""
    try:
        return Meter(read=counter(target))
    except Unavailable as exc:
        return Meter(reason=str(exc))


def counter(target):
    """A function returning the GPU's total energy in millijoules; Unavailable with the reason where none."""
    if target.device == "cpu":
        raise Unavailable("energy is read from NVIDIA's NVML counter: n/a on the CPU")
    backend = target.backend()
    if backend != "cuda":
        raise Unavailable(f"energy is read from NVIDIA's NVML counter: n/a on {backend}")
    try:
        import pynvml
    except ImportError:
        raise Unavailable(f"energy: nvidia-ml-py (pynvml) is not installed ({INSTALL})") from None
    try:
        pynvml.nvmlInit()
        handle = visible_gpu(pynvml)
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)  # NVMLError_NotSupported where the GPU has none
    except pynvml.NVMLError as exc:
        raise Unavailable(f"energy: NVML gives no total-energy counter for this GPU ({exc})") from None
    return lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)


def visible_gpu(pynvml):
    """NVML's handle of the GPU both frameworks use: the first of CUDA_VISIBLE_DEVICES (an index or a
    GPU-/MIG- UUID), else GPU 0. NVML numbers GPUs by PCI bus, as CUDA does with CUDA_DEVICE_ORDER=PCI_BUS_ID
    (the same order on a host of one kind of GPU)."""
    first = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    if first.startswith(("GPU-", "MIG-")):
        return pynvml.nvmlDeviceGetHandleByUUID(first)
    return pynvml.nvmlDeviceGetHandleByIndex(int(first) if first.isdigit() else 0)
