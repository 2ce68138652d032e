"""TransformerLM training (mlx-examples transformer_lm): seconds per step, the step's peak memory and its
joules (NVIDIA GPUs) per path (seed / best), compile and precision; the first compiled step, cold and warm
compiler caches; seconds per validation pass. Tokens/s and MFU are derived in the report from these times,
batch x context and `mlxvspt.workloads.lm_train.spec.flops_per_step`. Definitions:
mlxvspt/workloads/lm_train/spec.py."""
from mlxvspt.measure import asvbench
from mlxvspt.measure.asvbench import MeasuredOnce, WorkloadBenchmark


class StepParams(asvbench.TrainingStepParams):
    params = asvbench.training_params("lm_train")
    version = "2"  # 2: path param (results of version 1 migrated as path "seed"), compile scope incl. AdamW


class LMTrain(StepParams, WorkloadBenchmark):
    workload = "lm_train"
    leaves_memory = leaves_energy = True

    def time_step(self, *params):
        self.runner.step()


class LMTrainMemory(StepParams, asvbench.StepMemory):
    workload = "lm_train"
    version = "1"


class LMTrainEnergy(StepParams, asvbench.StepEnergy):
    """Joules per step, read around LMTrain's time_ samples."""

    workload = "lm_train"
    version = "1"


class LMTrainFirstStep(MeasuredOnce):
    """The first compiled step (best path, fp32) of a fresh process: with empty compiler caches (cold)
    and with the caches the cold process just filled (warm); both from one pair of child processes."""

    workload = "lm_train"
    version = "2"  # 2: cold and warm rows (1 timed the first step with whatever caches were on disk)
    warm = "ready"
    tier = "cold"  # minutes of compiling a sample: run on request (`--tier cold`), weekly in the nightly job
    launches = True  # 5 pairs of processes compiling (90 s a pair on an H200); cold and warm differ 2-4x

    def overrides(self):
        return "fp32", {"path": "best", "compile": True, "measure_first_step": True, "warmup_cap_steps": 1}

    def track_first_step_cold(self, *params):
        return self.figure("cold_seconds")

    def track_first_step_warm(self, *params):
        return self.figure("warm_seconds")

    track_first_step_cold.unit = track_first_step_warm.unit = "seconds"


class LMValidation(WorkloadBenchmark):
    """A forward-only pass over the fixed validation batches (seed path, eager)."""

    workload = "lm_train"
    warm = "validate"

    def overrides(self):
        return "fp32", {"path": "seed", "forward_only": True}

    def time_validation(self, framework, device):
        self.runner.validate()
