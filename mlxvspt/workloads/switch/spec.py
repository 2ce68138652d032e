"""CPU<->GPU switch (the seed's fifth benchmark).

Three NxN float32 matrices. Each loop multiplies the pairs (a@b, b@c, c@a) on the GPU and divides
each product by its column-wise max |value| (so values stay bounded loop after loop), brings the three
results to the CPU, does the same there, and feeds them to the next loop. One timed step = one loop.
"""
import numpy as np

from ...measure.check import CheckResult
from ...measure.presets import sizes as preset_sizes
from .. import cross_check, implementation

# Host-bound classes (results.Row.host_bound says what that means); between two one-H100 machines: the switch
# loop's rows moved 8-68% (MLX's CPU phase: 1.53 s and 2.54 s a loop).
HOST_BOUND = ("Switch", "SwitchPhases")

PHASES = ("gpu", "transfer", "cpu")


def inputs(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, n), dtype=np.float32) for _ in range(3)]


def reference(matrices, loops):
    """float64 numpy: what both frameworks should compute (the GPU and CPU halves are the same math)."""
    mats = [m.astype(np.float64) for m in matrices]
    for _ in range(2 * loops):
        a, b, c = mats
        mats = [p / np.max(np.abs(p), axis=0, keepdims=True) for p in (a @ b, b @ c, c @ a)]
    return mats


def unavailable(target, sizes):
    if target.precision != "fp32":
        return "the switch is the seed's float32 loop"
    return None


def expected(target, sizes):
    return {"compute_dtype": "float32"}


def build(target, sizes):
    return implementation("switch", target.framework).Switch(target, inputs(sizes["n"]))


def observe(runner, sizes, earlier):
    """The three matrices after `loops` loops of the runner (float32 numpy); later loops go on from them,
    which normalising keeps bounded."""
    for _ in range(sizes["loops"]):
        runner.step()
    return runner.result()


def compare(result, observed, sizes, device):
    """MLX's matrices against PyTorch's, and PyTorch's against the float64 reference."""
    want = reference(inputs(sizes["n"]), sizes["loops"])
    for name, m, t, r in zip("abc", observed["mlx"], observed["torch"], want):
        result.output(f"matrix {name}, mlx vs torch", m, t)
        result.output(f"matrix {name}, torch vs float64", t, r)


def check(preset="tiny", device="cpu"):
    """Both frameworks on `device` (its GPU half there, the CPU half on the CPU; on a CPU-only machine the
    CPU stands in for the GPU half): against each other and a float64 reference."""
    result = CheckResult("switch", device).at("default", "fp32")
    cross_check("switch", result, preset_sizes("switch", preset), device, "fp32")
    return result
