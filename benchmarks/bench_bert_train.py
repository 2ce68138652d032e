"""BERT-tiny pair classifier training on NLI: seconds per training step (samples/s = batch / time),
per epoch and per validation pass. Pre-tokenised batches; dropout 0.1 while training."""
from mlxvspt.asvbench import WorkloadBenchmark, preset_values


class BertTrainStep(WorkloadBenchmark):
    """One step (forward of both sentences, backward, AdamW update), eager or compiled; bf16 = weights,
    activations and optimizer state in bfloat16, the loss in float32."""

    workload = "bert_train"
    params = WorkloadBenchmark.params + [["off", "on"], preset_values("bert_train", "precisions")]
    param_names = ["framework", "device", "compile", "precision"]
    version = "2"  # 2: the precision parameter
    repeat = (3, 10, 8.0)  # MLX takes over a second a step on a CPU: stop sampling after ~8 s

    def overrides(self, compile, precision):
        self.measured_here("precisions", precision)
        return precision, {"compile": compile == "on"}

    def time_step(self, framework, device, compile, precision):
        self.runner.step()


class BertTrainEpoch(WorkloadBenchmark):
    """A whole epoch of the preset's pairs, and one validation pass over its dev pairs (eager)."""

    workload = "bert_train"
    repeat = (1, 3, 10.0)

    def time_epoch(self, framework, device):
        self.runner.epoch()

    def time_validation(self, framework, device):
        self.runner.validate()
