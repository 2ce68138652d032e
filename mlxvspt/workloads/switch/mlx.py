"""The switch in MLX: the same arrays, computed on the GPU stream then the CPU stream.

MLX has unified memory: there is no explicit copy, so the 'transfer' phase is empty by design.
"""
import mlx.core as mx
import numpy as np


def normalise(x):
    return x / mx.max(mx.abs(x), axis=0, keepdims=True)


def multiply_pairs(a, b, c):
    return normalise(a @ b), normalise(b @ c), normalise(c @ a)


class Switch:
    def __init__(self, target, matrices):
        self.target = target
        self.matrices = [mx.array(m) for m in matrices]
        mx.eval(*self.matrices)

    def step(self):
        """One loop; returns its seconds per phase."""
        self.phases = {}
        with self.target.timer(self.phases, "gpu"), mx.stream(self.target.handle):
            self.matrices = multiply_pairs(*self.matrices)
            mx.eval(*self.matrices)
        with self.target.timer(self.phases, "cpu"), mx.stream(mx.cpu):
            self.matrices = multiply_pairs(*self.matrices)
            mx.eval(*self.matrices)
        return self.phases

    def ran(self):
        return {"compute_dtype": self.target.fw.dtype_name(self.matrices[0]), "compiled": "none"}

    def result(self):
        return [np.array(m) for m in self.matrices]
