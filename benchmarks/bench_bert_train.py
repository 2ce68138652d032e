"""BERT-tiny pair classifier training on NLI: seconds per training step (samples/s = batch / time), its
peak memory and its joules (NVIDIA GPUs) on each path (seed, pairs-batched, best), eager or compiled, per
precision; seconds per epoch and per validation pass. Pre-tokenised batches; dropout 0.1 while training."""
from mlxvspt.measure import asvbench
from mlxvspt.measure.asvbench import WorkloadBenchmark


class BertTrainCombinations(asvbench.TrainingStepParams):
    """A training step's params: path, compile (the whole step) and precision."""

    workload = "bert_train"
    params = asvbench.training_params("bert_train")


class BertTrainStep(BertTrainCombinations, WorkloadBenchmark):
    """One step (forward of both sentences, backward, AdamW update); bf16 = weights, activations and
    optimizer state in bfloat16, bf16-mixed = bfloat16 compute over float32 weights and AdamW."""

    version = "3"  # 2: the precision parameter; 3: the path parameter, compile False/True (was "off"/"on")
    leaves_memory = leaves_energy = True

    def time_step(self, framework, device, path, compile, precision):
        self.runner.step()


class BertTrainMemory(BertTrainCombinations, asvbench.StepMemory):
    """Peak memory of one training step, per combination (measured by BertTrainStep's processes)."""

    version = "2"  # 2: the pre-tokenised pairs it counts (they live on the device) are 1,024 at `full`, were 4,096


class BertTrainEnergy(BertTrainCombinations, asvbench.StepEnergy):
    """Joules per training step, per combination, read around BertTrainStep's time_ samples."""


class BertTrainEpoch(WorkloadBenchmark):
    """A whole epoch of the preset's pairs (seed path, eager, fp32)."""

    workload = "bert_train"
    version = "2"  # 2: 1,024 pairs at `full` (were 4,096): an epoch of 128 steps
    repeat = (5, 5, 60.0)  # an epoch of MLX on a 2-core CPU: 5 s
    calls = 1  # an epoch a sample: the build's warm-up times a step, not an epoch

    def overrides(self):
        return "fp32", {"path": "seed", "compile": False}  # the eager seed step's build serves it

    def time_epoch(self, framework, device):
        self.runner.epoch()


class BertTrainValidation(WorkloadBenchmark):
    """One validation pass over the preset's dev pairs (seed path, eager, fp32), warmed up itself."""

    workload = "bert_train"
    warm = "validate"

    def overrides(self):
        return "fp32", {"path": "seed", "trains": False}

    def time_validation(self, framework, device):
        self.runner.validate()
