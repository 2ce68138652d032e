"""Harness overhead, measured: the suite's `best` LM training step against a standalone script written
the way each framework documents (scripts/lm_step_mlx.py, scripts/lm_step_torch.py; no mlxvspt code),
at the same shapes and precision on the same machine. Each measurement is its own process; suite and
standalone alternate for `rounds` rounds, and each reports the median ms/step of `steps` steps after
warming up to steady state. The figure printed is suite / standalone (goal: <= 1.05).

`python -m mlxvspt.measure.overhead --child ...` is the suite's side of one measurement.
"""
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import presets, settings
from .devices import choose, framework_module
from ..errors import UsageError

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
STANDALONE = {"lm_train": {"mlx": SCRIPTS / "lm_step_mlx.py", "torch": SCRIPTS / "lm_step_torch.py"}}
SHAPE = ("layers", "dim", "heads", "context", "batch", "vocab")


def json_of(command, env=None):
    out = subprocess.run(command, capture_output=True, text=True, env=env)
    if out.returncode:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{' '.join(map(str, command[:3]))} failed (exit {out.returncode}): {last}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def suite(framework, device, precision, preset, compile, steps):
    """ms/step of the suite's runner, prepared as a benchmark process prepares it (asvbench.prepared)."""
    env = {**os.environ, settings.PRESET: preset}
    return json_of([sys.executable, "-m", __name__, "--child", framework, device, precision, str(compile), str(steps)],
                   env)["ms_per_step"]


def standalone(workload, framework, device, precision, preset, compile, steps):
    sizes = presets.sizes(workload, preset)
    where = device if framework == "mlx" or device == "cpu" else framework_module("torch").gpu_backend()
    command = [sys.executable, str(STANDALONE[workload][framework]), "--device", where, "--precision", precision,
               "--steps", str(steps), *(["--eager"] if not compile else [])]
    for key in SHAPE:
        command += [f"--{key}", str(sizes[key])]
    return json_of(command)["ms_per_step"]


def measure(workload, framework, device, precision, preset, compile, steps, rounds):
    """Lines comparing the suite with the standalone script, one framework."""
    pairs = []
    for _ in range(rounds):
        pairs.append((suite(framework, device, precision, preset, compile, steps),
                      standalone(workload, framework, device, precision, preset, compile, steps)))
    ours, theirs = (statistics.median(p[i] for p in pairs) for i in (0, 1))
    label = "best+compiled" if compile else "best"
    return (f"{workload} [{device} {label} {precision} {preset}] {framework}: suite {ours:.4g} ms/step, standalone "
            f"{theirs:.4g} ms/step, suite/standalone {ours / theirs:.3f} (medians of {rounds} rounds x {steps} steps; "
            f"rounds: {', '.join(f'{a:.4g}/{b:.4g}' for a, b in pairs)})")


def child(framework, device, precision, compile, steps):
    from .asvbench import prepared

    runner, _ = prepared("lm_train", framework, device, precision, "step", path="best", compile=compile == "True")
    samples = []
    for _ in range(int(steps)):
        start = time.perf_counter()
        runner.step()
        samples.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"ms_per_step": statistics.median(samples), "samples": samples}))


def run(workload, preset, device, frameworks, precision, compile, steps, rounds):
    """Validate, then print one line per framework; returns the lines."""
    if workload not in STANDALONE:
        raise UsageError(f"--workload {workload!r}: overhead is measured for {', '.join(STANDALONE)}")
    choose("preset", preset, presets.NAMES)
    choose("device", device, ("cpu", "gpu"))
    for fw in frameworks:
        choose("framework", fw, ("mlx", "torch"))
        if device == "gpu" and framework_module(fw).gpu_backend() is None:
            raise UsageError(f"--device gpu: {fw} has no GPU backend here")
    if precision == "tf32" and device == "cpu":
        raise UsageError("--precision tf32 is a GPU matmul mode; on cpu use fp32")
    choose("precision", precision, ("fp32", "tf32", "bf16", "bf16-mixed"))
    if steps < 1 or rounds < 1:
        raise UsageError("--steps and --rounds must be at least 1")
    lines = []
    for fw in frameworks:
        lines.append(measure(workload, fw, device, precision, preset, compile, steps, rounds))
        print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:])
    else:
        sys.exit("use `mlxvspt overhead`")
