"""Matmul calibration: seconds per square matmul (TFLOP/s in the report), error vs float64, peak memory."""
from mlxvspt.measure import asvbench
from mlxvspt.measure.asvbench import WorkloadBenchmark, preset_values
from mlxvspt.workloads.matmul.spec import PRECISIONS, relative_error


class MatmulParams:
    """precision x size -> the runner's overrides."""

    params = WorkloadBenchmark.params + [list(PRECISIONS), preset_values("matmul", "sizes")]
    param_names = ["framework", "device", "precision", "n"]

    def overrides(self, precision, n):
        self.measured_here("sizes", n)
        return precision, {"n": n}


class Matmul(MatmulParams, WorkloadBenchmark):
    workload = "matmul"
    leaves_memory = True

    def time_matmul(self, framework, device, precision, n):
        self.runner.step()

    def track_relative_error(self, framework, device, precision, n):
        return relative_error(self.runner.result(), *self.runner.inputs)

    track_relative_error.unit = "rel. error"


class MatmulMemory(MatmulParams, asvbench.StepMemory):
    """Peak memory of one product (measured by Matmul's processes within a run)."""

    workload = "matmul"
    # 2: each step frees the last product before making the next; PyTorch's peak had held two products
    # (1056 MiB at 8192^3 fp32 on an H100, against MLX's 768), MLX's one
    version = "2"
