"""Matmul calibration: achieved TFLOP/s of square matmuls per framework, device and precision, and the
max error against a float64 reference, so a reduced-precision float32 path (TF32) shows as such.

The fastest result on a machine is its measured peak (`PEAK`): the results layer divides the other
workloads' model TFLOP/s by it (MFU).
"""
import numpy as np

from ...measure.check import CheckResult, case_of
from ...measure.devices import FRAMEWORKS, Target
from ...errors import Unavailable
from ...measure.presets import sizes as preset_sizes
from .. import cross_check, implementation

PRECISIONS = ("fp32", "tf32", "fp16", "bf16")
CHECK_CASE = ("n",)  # each size is checked on its own (check.case_of)
# Error against float64 of the inputs as rounded to the run's dtype: float32 kept as IEEE must stay
# near its unit roundoff (6e-8, times sqrt(n) for the sums); TF32 keeps 10 mantissa bits (~3e-4 seen).
IEEE_FLOAT32_ERROR = 1e-5


PEAK = "TFLOP/s"  # the figure whose best value per device and precision is the machine's peak
# On a GPU a product of at most HOST_BOUND_N^3 is host-bound (results.Row.host_bound says what that means): a
# 1024^3 product is 2-40 us of arithmetic in a call of 23-125 us (its launch and synchronisation), and three
# runs of one H100 point (2026-12-07, the same releases) put those rows 0.6-1.8x apart from one run to the
# next where 15 of 16 8192^3 values came within 5%.
HOST_BOUND_N = 1024


def host_bound(cls, params):
    """Whether a row of class `cls` with `params` (bare values) is host-bound: a product of n <= HOST_BOUND_N."""
    return cls == "Matmul" and int(params.get("n", 0)) <= HOST_BOUND_N


def flops(n):
    return 2.0 * n**3


def figures(method, params, seconds, sizes):
    """Derived figures of one timed matmul: {name: (value, unit)}."""
    if method != "Matmul.time_matmul":
        return {}
    return {"TFLOP/s": (flops(int(params["n"])) / seconds / 1e12, "TFLOP/s")}


def inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, n), dtype=np.float32), rng.standard_normal((n, n), dtype=np.float32)


# Rows of C compared with float64: every row is a sum of the same length and kind, so the first rows show
# the rounding as well as all of them do, and an 8192^3 float64 reference on the host took seconds a row
# of the table (2 minutes of the GPU suite); 1024 rows cost 1/8 of it.
ERROR_ROWS = 1024


def relative_error(result, a, b):
    """max |C - C64| / max |C64| over C's first ERROR_ROWS rows, with C64 from the inputs as rounded to the
    run's dtype."""
    exact = a[:ERROR_ROWS].astype(np.float64) @ b.astype(np.float64)
    rows = np.asarray(result[:ERROR_ROWS], np.float64)
    return float(np.max(np.abs(rows - exact)) / np.max(np.abs(exact)))


def unavailable(target, sizes):
    if target.precision not in PRECISIONS:
        return f"matmul calibrates {', '.join(PRECISIONS)}; {target.precision} is a training policy"
    if target.precision == "tf32" and target.device == "cpu":
        return "TF32 is a GPU matmul mode: on CPU it is the same run as fp32"
    return None


def expected(target, sizes):
    return {"compute_dtype": target.dtype_name}


def build(target, sizes):
    return implementation("matmul", target.framework).Matmul(target, *inputs(sizes["n"]))


def observe(runner, sizes, earlier):
    """One product of the runner's own inputs (its first step), float32 numpy."""
    runner.step()
    return runner.result()


def compare(result, observed, sizes, device):
    """MLX's product against PyTorch's (relative L2); at fp32 each against float64 (IEEE float32 must not
    round to TF32 behind the label), from the inputs as both runners hold them at fp32."""
    n = sizes["n"]
    result.output(f"{n}^3 product, mlx vs torch", observed["mlx"], observed["torch"])
    if result.precision == "fp32":
        for framework in FRAMEWORKS:
            err = relative_error(observed[framework], *inputs(n))
            result.record(f"{n}^3 {framework} vs float64", err < IEEE_FLOAT32_ERROR, err,
                          IEEE_FLOAT32_ERROR, "max relative error; above it the float32 matmul is not IEEE")


def check(preset="tiny", device="cpu"):
    """Per precision and size on `device`: see `compare`."""
    result = CheckResult("matmul", device)
    chosen = preset_sizes("matmul", preset, device)
    for precision in PRECISIONS:
        for n in chosen["sizes"]:
            with result.combination("default", precision, case=case_of({"n": n}, CHECK_CASE)):
                reason = unavailable(Target("mlx", device, precision), {"n": n})
                if reason:
                    raise Unavailable(reason)
                cross_check("matmul", result, {**chosen, "n": n}, device, precision)
    return result
