"""TinyLlama generation, transformers vs mlx-lm: prefill and decode ms/token, time to first token, peak
memory, per generation path, precision and batch (definitions in mlxvspt/workloads/llm/spec.py)."""
from mlxvspt.measure.asvbench import MeasuredOnce, preset_values
from mlxvspt.workloads.llm.spec import PATHS


class Generation(MeasuredOnce):
    workload = "llm"
    # 2: `dtype` (float32...) became `precision` (fp32...), a `batch` param, prefill a forward's rate
    version = "2"
    params = MeasuredOnce.params + [list(PATHS), preset_values("llm", "precisions"), preset_values("llm", "batches")]
    param_names = ["framework", "device", "path", "precision", "batch"]
    alternate_on = ("gpu",)  # host-bound decode; on a CPU peak memory is the process's RSS

    def overrides(self, path, precision, batch):
        return precision, {"path": path, "batch": batch}

    def track_prefill(self, *params):
        return self.figure("prefill_ms_per_token")

    def track_decode(self, *params):
        return self.figure("decode_ms_per_token")

    def track_time_to_first_token(self, *params):
        return self.figure("ttft_ms")

    def track_peak_memory(self, *params):
        """Bytes: the allocator's peak on a GPU; on CPU the process's max RSS (see the workload's docstring)."""
        return self.figure("peak_memory_bytes")

    track_prefill.unit = track_decode.unit = "ms/token"
    track_time_to_first_token.unit = "ms"
    track_peak_memory.unit = "bytes"
