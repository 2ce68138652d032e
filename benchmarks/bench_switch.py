"""CPU<->GPU switch: seconds per loop, and where a loop's time goes."""
from mlxvspt.asvbench import WorkloadBenchmark
from mlxvspt.presets import sizes
from mlxvspt.workloads.switch.spec import PHASES


class Switch(WorkloadBenchmark):
    workload = "switch"
    params = [["mlx", "torch"], ["gpu"]]
    repeat = sizes("switch")["loops"]

    def time_loop(self, framework, device):
        self.runner.step()


class SwitchPhases(WorkloadBenchmark):
    workload = "switch"
    params = [["mlx", "torch"], ["gpu"], list(PHASES)]
    param_names = ["framework", "device", "phase"]
    unit = "seconds"

    def setup(self, framework, device, phase):
        if framework == "mlx" and phase == "transfer":
            raise NotImplementedError("MLX shares memory between CPU and GPU: no copy to time")
        super().setup(framework, device)

    def track_seconds_per_loop(self, framework, device, phase):
        loops = sizes("switch")["loops"]
        self.runner.phases.clear()
        for _ in range(loops):
            self.runner.step()
        return self.runner.phases[phase] / loops
