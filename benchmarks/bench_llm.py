"""TinyLlama generation, transformers vs mlx-lm: prefill and decode ms/token, time to first token, peak
memory, energy per token, per generation path, precision and batch (definitions in
mlxvspt/workloads/llm/spec.py)."""
from mlxvspt.measure import asvbench
from mlxvspt.measure.asvbench import MeasuredOnce, preset_values
from mlxvspt.workloads.llm.spec import PATHS


class Generation(asvbench.GenerationFigures):
    workload = "llm"
    # 2: `dtype` (float32...) became `precision` (fp32...), a `batch` param, prefill a forward's rate;
    # 3: 32 new tokens at `full` (were 64): a decode figure averages a shorter cache
    version = "3"
    params = MeasuredOnce.params + [list(PATHS), preset_values("llm", "precisions"), preset_values("llm", "batches")]
    param_names = ["framework", "device", "path", "precision", "batch"]

    def overrides(self, path, precision, batch):
        return precision, {"path": path, "batch": batch}

    track_prefill = asvbench.kept_at(asvbench.GenerationFigures.track_prefill, "2")  # the prefill did not change in 3
