"""Matmul calibration in MLX."""
import mlx.core as mx
import numpy as np


class Matmul:
    def __init__(self, target, a, b):
        self.target = target
        self.a, self.b = (mx.array(x).astype(target.dtype) for x in (a, b))
        mx.eval(self.a, self.b)
        self.inputs = [np.array(x.astype(mx.float32)) for x in (self.a, self.b)]
        self.product = None

    def step(self):
        self.product = None  # the last product freed first: a step's peak memory holds one, not two
        self.product = self.a @ self.b
        mx.eval(self.product)

    def ran(self):
        return {"compute_dtype": self.target.fw.dtype_name(self.product), "compiled": "none"}

    def result(self):
        return np.array(self.product.astype(mx.float32))
