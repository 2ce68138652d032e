"""CPU<->GPU switch: seconds per loop, where a loop's time goes, and a loop's peak memory."""
from mlxvspt.measure import asvbench
from mlxvspt.measure.asvbench import MeasuredOnce, WorkloadBenchmark
from mlxvspt.workloads.switch.spec import PHASES


class Switch(WorkloadBenchmark):
    workload = "switch"
    params = [["mlx", "torch"], ["gpu"]]
    repeat = (7, 10, 60.0)
    leaves_memory = leaves_figures = True  # its samples' peaks and phases: SwitchMemory's, SwitchPhases'

    def time_loop(self, framework, device):
        return self.runner.step()


class SwitchMemory(asvbench.StepMemory):
    """Peak memory of one loop (measured by Switch's processes within a run)."""

    workload = "switch"
    params = Switch.params


class SwitchPhases(MeasuredOnce):
    """Seconds of one loop spent in each phase, all read from the same measured loop (Switch's samples'
    within a run)."""

    workload = "switch"
    params = [["mlx", "torch"], ["gpu"], list(PHASES)]
    param_names = ["framework", "device", "phase"]

    def setup(self, framework, device, phase):
        if framework == "mlx" and phase == "transfer":
            raise NotImplementedError("MLX shares memory between CPU and GPU: no copy to time")
        super().setup(framework, device, phase)

    def overrides(self, phase):
        return "fp32", {}

    def track_seconds_per_loop(self, framework, device, phase):
        return self.figure(phase)

    track_seconds_per_loop.unit = "seconds"
