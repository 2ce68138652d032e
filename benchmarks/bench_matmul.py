"""Matmul calibration: seconds per square matmul (TFLOP/s in the report) and error vs float64."""
from mlxvspt.asvbench import WorkloadBenchmark, preset_values
from mlxvspt.workloads.matmul.spec import PRECISIONS, relative_error


class Matmul(WorkloadBenchmark):
    workload = "matmul"
    params = WorkloadBenchmark.params + [list(PRECISIONS), preset_values("matmul", "sizes")]
    param_names = ["framework", "device", "precision", "n"]

    def overrides(self, precision, n):
        self.measured_here("sizes", n)
        return precision, {"n": n}

    def time_matmul(self, framework, device, precision, n):
        self.runner.step()

    def track_relative_error(self, framework, device, precision, n):
        return relative_error(self.runner.result(), *self.runner.inputs)

    track_relative_error.unit = "rel. error"
