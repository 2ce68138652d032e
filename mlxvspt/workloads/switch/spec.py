"""CPU<->GPU switch (the seed's fifth benchmark).

Three NxN float32 matrices. Each loop multiplies the pairs (a@b, b@c, c@a) on the GPU and divides
each product by its column-wise max |value| (so values stay bounded loop after loop), brings the three
results to the CPU, does the same there, and feeds them to the next loop. One timed step = one loop.
"""
import numpy as np

from ...check import CheckResult
from ...devices import Target
from ...presets import sizes as preset_sizes
from .. import implementation

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


def build(target, sizes):
    return implementation("switch", target.framework).Switch(target, inputs(sizes["n"]))


def check(preset="tiny", device="cpu"):
    """Both frameworks, CPU standing in for the GPU half, against each other and a float64 reference."""
    sizes = preset_sizes("switch", preset)
    result = CheckResult("switch")
    outputs = {}
    for framework in ("mlx", "torch"):
        runner = build(Target(framework, "cpu").activate(), sizes)
        for _ in range(sizes["loops"]):
            runner.step()
        outputs[framework] = runner.result()
    want = reference(inputs(sizes["n"]), sizes["loops"])
    for name, m, t, r in zip("abc", outputs["mlx"], outputs["torch"], want):
        result.close(f"matrix {name} mlx vs torch", m, t, atol=1e-4)
        result.close(f"matrix {name} torch vs float64", t, r, atol=1e-4)
    return result
