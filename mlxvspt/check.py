"""Cross-framework agreement: a fast wrong answer is not a result."""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class CheckResult:
    workload: str
    passed: bool = True
    lines: list = field(default_factory=list)

    def close(self, what, mlx_value, torch_value, atol, rtol=0.0):
        """Record whether two arrays agree within atol + rtol*|torch| everywhere."""
        a, b = np.asarray(mlx_value, np.float64), np.asarray(torch_value, np.float64)
        if a.shape != b.shape:
            return self.record(what, False, f"shapes differ: mlx {a.shape} vs torch {b.shape}")
        diff = float(np.max(np.abs(a - b))) if a.size else 0.0
        ok = bool(np.all(np.abs(a - b) <= atol + rtol * np.abs(b)))
        return self.record(what, ok, f"max abs diff {diff:.3g} (atol {atol:g}, rtol {rtol:g})")

    def equal(self, what, mlx_value, torch_value):
        a, b = np.asarray(mlx_value), np.asarray(torch_value)
        same = a.shape == b.shape and bool(np.all(a == b))
        return self.record(what, same, "identical" if same else f"differ: mlx {a.tolist()} vs torch {b.tolist()}")

    def require(self, what, ok, detail):
        return self.record(what, bool(ok), detail)

    def record(self, what, ok, detail):
        self.passed &= ok
        self.lines.append(f"{'ok  ' if ok else 'FAIL'} {self.workload}: {what}: {detail}")
        return ok
