"""Matmul calibration: achieved TFLOP/s of square matmuls per framework, device and precision, and the
max error against a float64 reference, so a reduced-precision float32 path (TF32) shows as such.

The fastest result on a machine is its measured peak: the report divides the LM training step's
model FLOPs by it (MFU).
"""
import numpy as np

from ...check import CheckResult
from ...devices import Target
from ...presets import sizes as preset_sizes
from .. import implementation


def flops(n):
    return 2.0 * n**3


def inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)


def relative_error(result, a, b):
    """max |C - C64| / max |C64|, with C64 from the inputs as rounded to the run's dtype."""
    exact = a.astype(np.float64) @ b.astype(np.float64)
    return float(np.max(np.abs(np.asarray(result, np.float64) - exact)) / np.max(np.abs(exact)))


def build(target, sizes):
    return implementation("matmul", target.framework).Matmul(target, *inputs(sizes["n"]))


def check(preset="tiny", device="cpu"):
    result = CheckResult("matmul")
    for n in preset_sizes("matmul", preset)["sizes"]:
        outputs = {}
        for framework in ("mlx", "torch"):
            runner = build(Target(framework, "cpu", "fp32").activate(), {"n": n})
            runner.step()
            outputs[framework] = runner.result()
        a, b = inputs(n)
        result.close(f"fp32 {n}^3 mlx vs torch", outputs["mlx"], outputs["torch"], atol=1e-4 * n**0.5)
        for framework, out in outputs.items():
            err = relative_error(out, a, b)
            result.require(f"fp32 {n}^3 {framework} vs float64", err < 1e-5, f"max relative error {err:.2e}")
    return result
