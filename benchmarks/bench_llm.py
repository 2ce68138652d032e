"""TinyLlama generation, transformers vs mlx-lm: prefill and decode ms/token, time to first token, peak
memory, per generation path and dtype (definitions in mlxvspt/workloads/llm/spec.py)."""
from mlxvspt.asvbench import MeasuredOnce, preset_values
from mlxvspt.workloads.llm.spec import DTYPES, PATHS, applies


class Generation(MeasuredOnce):
    workload = "llm"
    params = MeasuredOnce.params + [list(PATHS), preset_values("llm", "dtypes")]
    param_names = ["framework", "device", "path", "dtype"]

    def overrides(self, path, dtype):
        self.measured_here("dtypes", dtype)
        return DTYPES[dtype], {"path": path}

    def setup(self, framework, device, path, dtype):
        applies(framework, path)
        super().setup(framework, device, path, dtype)

    def track_prefill(self, *params):
        return self.measured["prefill_ms_per_token"]

    def track_decode(self, *params):
        return self.measured["decode_ms_per_token"]

    def track_time_to_first_token(self, *params):
        return self.measured["ttft_ms"]

    def track_peak_memory(self, *params):
        return self.measured["peak_memory_bytes"]

    track_prefill.unit = track_decode.unit = "ms/token"
    track_time_to_first_token.unit = "ms"
    track_peak_memory.unit = "bytes"
