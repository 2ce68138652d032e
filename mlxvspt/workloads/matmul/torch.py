"""Matmul calibration in PyTorch."""
import torch


class Matmul:
    def __init__(self, target, a, b):
        self.target = target
        self.a, self.b = (torch.from_numpy(x).to(target.handle, target.dtype) for x in (a, b))
        self.inputs = [x.float().cpu().numpy() for x in (self.a, self.b)]
        self.product = None

    def step(self):
        self.product = None  # the last product freed first: a step's peak memory holds one, not two
        self.product = self.a @ self.b
        self.target.synchronize()

    def ran(self):
        return {"compute_dtype": self.target.fw.dtype_name(self.product), "compiled": "none"}

    def result(self):
        return self.product.float().cpu().numpy()
