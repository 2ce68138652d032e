"""TransformerLM training (mlx-examples transformer_lm): seconds per step, eager and compiled; seconds of
the first compiled step; seconds per validation pass. Tokens/s and MFU are derived in the report from
these times, batch x context and `mlxvspt.workloads.lm_train.spec.flops_per_step`."""
from mlxvspt.asvbench import WorkloadBenchmark, preset_values


class LMTrain(WorkloadBenchmark):
    workload = "lm_train"
    params = WorkloadBenchmark.params + [[False, True], preset_values("lm_train", "precisions")]
    param_names = ["framework", "device", "compile", "precision"]
    repeat = (3, 5, 30.0)

    def overrides(self, compile, precision):
        self.measured_here("precisions", precision)
        return precision, {"compile": compile}

    def time_step(self, framework, device, compile, precision):
        self.runner.step()


class LMTrainFirstStep(WorkloadBenchmark):
    """The compiled first step (tracing, code generation, the compilers' on-disk caches as found), taken
    by the warm-up in setup and timed there."""

    workload = "lm_train"

    def overrides(self):
        return "fp32", {"compile": True}

    def track_first_step_seconds(self, framework, device):
        return self.runner.first_step_seconds

    track_first_step_seconds.unit = "seconds"


class LMValidation(WorkloadBenchmark):
    """A forward-only pass over the fixed validation batches (eager)."""

    workload = "lm_train"
    repeat = (3, 5, 30.0)

    def time_validation(self, framework, device):
        self.runner.validate()
