"""Whisper speech-to-text: seconds per 30-s window of each phase, decoder ms/token, real-time factor, peak
memory, joules per audio second (NVIDIA GPUs), per precision and path (definitions in
mlxvspt/workloads/whisper/spec.py)."""
from mlxvspt.measure.asvbench import MeasuredOnce, WorkloadBenchmark
from mlxvspt.workloads.whisper.spec import PATHS, PHASES, PRECISIONS


class WhisperBase(WorkloadBenchmark):
    workload = "whisper"
    params = WorkloadBenchmark.params + [list(PRECISIONS), list(PATHS)]
    param_names = ["framework", "device", "precision", "path"]
    version = "2"  # 2: the path parameter (results of version 1 migrated to path "library-default")
    phase = "clips"

    def overrides(self, precision, path, phase=None):
        return precision, {"path": path, "phase": phase or self.phase}


class WhisperPhases(WhisperBase):
    params = WhisperBase.params + [list(PHASES)]
    param_names = WhisperBase.param_names + ["phase"]

    @property
    def leaves_figures(self):
        """The decoder's samples are WhisperDecoder's too (its ms/token, from the same steps)."""
        return self.ready_for[-1] == "decoder"

    def time_window(self, framework, device, precision, path, phase):
        return self.runner.step()


class WhisperDecoder(MeasuredOnce, WhisperBase):
    phase = "decoder"
    alternate_on = ("cpu", "gpu")  # host-bound token loop

    def track_decode_ms_per_token(self, *params):
        return self.figure("decode_ms_per_token")

    track_decode_ms_per_token.unit = "ms/token"


class WhisperClips(MeasuredOnce, WhisperBase):
    # on a CPU too: each PyTorch sample after MLX's 14-s one follows an untimed pass (asvbench.cheap_next_to); on
    # 2 cores its samples spread 2.2-5.6% alternating, 1.6-2.7% alone (docs/methodology.md)
    alternate_on = ("cpu", "gpu")

    def track_real_time_factor(self, *params):
        return self.figure("real_time_factor")

    def track_peak_memory(self, *params):
        """Over one pass of the clip set: the allocator's peak on a GPU; on a CPU the process's max RSS
        (neither framework keeps CPU allocator statistics)."""
        return self.figure("peak_memory_bytes")

    def track_energy_per_audio_second(self, *params):
        """Over the passes the real-time factor's samples time (NVIDIA GPUs only; n/a with the reason elsewhere)."""
        return self.pooled("energy_j", "audio_seconds")

    track_real_time_factor.unit = "compute s / audio s"
    track_peak_memory.unit = "bytes"
    track_energy_per_audio_second.unit = "J/audio s"
