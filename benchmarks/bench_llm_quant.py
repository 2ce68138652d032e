"""Quantized TinyLlama generation, mlx-lm vs torchao (transformers, static cache + torch.compile), int4 and
int8 weights: prefill and decode ms/token, time to first token, peak memory, energy per token, per scheme,
precision and batch; a row's verdict needs its perplexity check (definitions in
mlxvspt/workloads/llm_quant/spec.py)."""
from mlxvspt.measure import asvbench
from mlxvspt.measure.asvbench import MeasuredOnce, preset_values


class QuantizedGeneration(asvbench.GenerationFigures):
    workload = "llm_quant"
    version = "2"  # 2: 32 new tokens at `full` (were 64), as llm's Generation
    params = MeasuredOnce.params + [preset_values("llm_quant", "schemes"), preset_values("llm_quant", "precisions"),
                                    preset_values("llm_quant", "batches")]
    param_names = ["framework", "device", "scheme", "precision", "batch"]

    def overrides(self, scheme, precision, batch):
        return precision, {"path": scheme, "batch": batch}

    track_prefill = asvbench.kept_at(asvbench.GenerationFigures.track_prefill, "1")  # the prefill did not change in 2
