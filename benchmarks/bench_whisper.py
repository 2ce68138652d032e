"""Whisper speech-to-text: seconds per 30-s window of each phase, decoder ms/token, real-time factor."""
from mlxvspt.asvbench import WorkloadBenchmark
from mlxvspt.workloads.whisper.spec import PHASES, PRECISIONS


class WhisperBase(WorkloadBenchmark):
    workload = "whisper"
    params = WorkloadBenchmark.params + [list(PRECISIONS)]
    param_names = ["framework", "device", "precision"]
    phase = "clips"
    # MLX's encoder takes ~15 s a window on the Linux CPU wheel: few samples, stop after 6 s.
    repeat = (1, 10, 6.0)
    min_run_count = 1

    def overrides(self, precision, phase=None):
        return precision, {"phase": phase or self.phase}


class WhisperPhases(WhisperBase):
    params = WhisperBase.params + [list(PHASES)]
    param_names = WhisperBase.param_names + ["phase"]

    def time_window(self, framework, device, precision, phase):
        self.runner.step()


class WhisperDecoder(WhisperBase):
    phase = "decoder"

    def track_decode_ms_per_token(self, framework, device, precision):
        return self.runner.ms_per_token()

    track_decode_ms_per_token.unit = "ms/token"


class WhisperClips(WhisperBase):
    def track_real_time_factor(self, framework, device, precision):
        return self.runner.real_time_factor()

    track_real_time_factor.unit = "compute s / audio s"
