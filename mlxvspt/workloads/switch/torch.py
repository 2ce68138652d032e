"""The switch in PyTorch: the same arrays, moved with .to() between the GPU and the CPU."""
import torch


def normalise(x):
    return x / torch.amax(torch.abs(x), dim=0, keepdim=True)


def multiply_pairs(a, b, c):
    return normalise(a @ b), normalise(b @ c), normalise(c @ a)


class Switch:
    def __init__(self, target, matrices):
        self.target = target
        self.matrices = [torch.from_numpy(m) for m in matrices]

    def step(self):
        """One loop; returns its seconds per phase."""
        self.phases = {}
        with self.target.timer(self.phases, "transfer"):
            self.matrices = [m.to(self.target.handle) for m in self.matrices]
        with self.target.timer(self.phases, "gpu"):
            self.matrices = multiply_pairs(*self.matrices)
        with self.target.timer(self.phases, "transfer"):
            self.matrices = [m.to("cpu") for m in self.matrices]
        with self.target.timer(self.phases, "cpu"):
            self.matrices = multiply_pairs(*self.matrices)
        return self.phases

    def ran(self):
        return {"compute_dtype": self.target.fw.dtype_name(self.matrices[0]), "compiled": "none"}

    def result(self):
        return [m.numpy() for m in self.matrices]
