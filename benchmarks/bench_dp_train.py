"""Data-parallel TransformerLM training over R ranks: MLX (mlx.launch, nn.average_gradients) vs PyTorch
(torchrun, DistributedDataParallel). Each combination is one launch a round; its track_ methods read
rank 0's figures (definitions in mlxvspt/workloads/dp_train/spec.py). Tokens/s, scaling efficiency and
bus bandwidth are inverses of the times tracked here (asv counts lower as better).

One launch per combination: it costs a process start, a compile and the all-reduce set-up per rank (about a
minute on a GPU); its samples are the `timed_steps` steps (each from a barrier to rank 0's synchronised
end) and the calibration's iterations."""
from mlxvspt.measure.asvbench import MeasuredOnce, preset_values


class DPTrain(MeasuredOnce):
    """One training launch per (framework, device, ranks, precision) a round."""

    workload = "dp_train"
    params = MeasuredOnce.params + [preset_values("dp_train", "ranks"), preset_values("dp_train", "precisions")]
    param_names = ["framework", "device", "ranks", "precision"]
    samples, launches = 1, True  # one launch: its figures are lists of per-step samples

    def overrides(self, ranks, precision):
        return precision, {"ranks": ranks}

    def track_step(self, *params):
        return self.figure("step_seconds")

    def track_seconds_per_token(self, *params):
        return self.figure("seconds_per_token")

    def track_peak_memory(self, *params):
        """The largest of the ranks' peaks."""
        return self.figure("peak_memory_bytes")

    def track_time_over_ideal(self, framework, device, ranks, precision):
        """R x (step time at R ranks) / (step time at 1 rank): 1 is perfect strong scaling (and, by
        definition, the value at R = 1); the scaling efficiency is its inverse."""
        parallel = self.values("scaling_step_seconds")
        self.args = (framework, device, 1, precision)
        serial = self.values(f"step_seconds_for_scaling_{ranks}")
        return self.as_samples(ranks * p / s for p, s in zip(parallel, serial))

    track_step.unit = track_seconds_per_token.unit = "seconds"
    track_peak_memory.unit = "bytes"
    track_time_over_ideal.unit = "ratio"


class DPAllReduce(MeasuredOnce):
    """Seconds of one float32 all-sum of `nbytes` over R ranks: the all-reduce calibration."""

    workload = "dp_train"
    params = MeasuredOnce.params + [[r for r in preset_values("dp_train", "ranks") if r > 1],
                                    preset_values("dp_train", "allreduce_bytes")]
    param_names = ["framework", "device", "ranks", "nbytes"]
    samples, launches = 1, True  # one launch: its figures are lists of per-step samples

    def overrides(self, ranks, nbytes):
        """Every size is measured in one launch; float32 buffers whatever the training precision."""
        self.measured_here("allreduce_bytes", nbytes)
        return "fp32", {"ranks": ranks, "calibrate": True}

    def track_allreduce(self, framework, device, ranks, nbytes):
        return self.figure("allreduce_seconds", str(nbytes))

    track_allreduce.unit = "seconds"
