"""Where a benchmark's time goes on an NVIDIA GPU: kernel time against host time, per framework.

torch.profiler traces CUDA activity through CUPTI for the whole process, so the kernels that MLX's CUDA
backend launches land in the same trace as PyTorch's: one tool and one definition of "GPU busy" for
both. Host time is the rest of the wall time, when the GPU waits for Python, dispatch, graph building,
kernel launches and synchronisation. The wall time is taken in unprofiled steps (CUPTI adds cost to
every launch); the kernels in as many profiled steps after them.
"""
import ast
import json
import statistics
import time
from collections import defaultdict
from pathlib import Path

from . import devices
from ..errors import Unavailable, UsageError
from ..workloads import spec

GPU_WORK = ("kernel", "gpu_memcpy", "gpu_memset")  # Kineto's trace categories of device activity


def bind(assignments):
    """(precision, size overrides) from NAME=VALUE strings: `precision=bf16`, `compile=True`, `n=4096`."""
    precision, overrides = "fp32", {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"{item!r}: give NAME=VALUE, e.g. precision=bf16 compile=True")
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            pass  # a plain word: a path or phase name
        if key == "precision":
            precision = value
        else:
            overrides[key] = value
    devices.choose("precision", precision, tuple(devices.PRECISIONS))
    return precision, overrides


def busy_time(intervals):
    """Length of the union of (start, end) intervals: overlapping kernels on two streams count once."""
    total, reach = 0.0, float("-inf")
    for start, end in sorted(intervals):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def summarise(events, steps, top=5):
    """Per-step GPU busy time, kernel and launch counts and the costliest kernels from a Chrome trace."""
    work = [e for e in events if e.get("ph") == "X" and e.get("cat") in GPU_WORK]
    per_name = defaultdict(float)
    for e in work:
        per_name[e["name"]] += e["dur"]
    launches = [e for e in events if e.get("cat") in ("cuda_runtime", "cuda_driver") and "aunch" in e.get("name", "")]
    busy = busy_time((e["ts"], e["ts"] + e["dur"]) for e in work)
    return {
        "gpu_busy_ms": busy / 1000 / steps,
        "kernels": sum(e["cat"] == "kernel" for e in work) / steps,
        "launch_calls": len(launches) / steps,
        "top": [(name, us / 1000 / steps) for name, us in sorted(per_name.items(), key=lambda kv: -kv[1])[:top]],
    }


def measure(call, synchronize, steps, trace_path):
    """Median wall seconds of unprofiled steps, then the same number of steps under the profiler."""
    import torch.profiler as tp

    walls = []
    for _ in range(steps):
        synchronize()
        start = time.perf_counter()
        call()
        synchronize()
        walls.append(time.perf_counter() - start)
    activities = [tp.ProfilerActivity.CUDA] if tp.ProfilerActivity.CUDA in tp.supported_activities() else []
    with tp.profile(activities=activities or [tp.ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            call()
            synchronize()
    prof.export_chrome_trace(str(trace_path))
    summary = summarise(json.loads(Path(trace_path).read_text())["traceEvents"], steps)
    wall_ms = statistics.median(walls) * 1000
    return {**summary, "wall_ms": wall_ms, "host_ms": max(wall_ms - summary["gpu_busy_ms"], 0.0)}


def profile(workload, assignments, frameworks, steps, out_dir):
    """Profile one workload combination on the GPU per framework, built, warmed up and verified the way its
    benchmarks are (asvbench.prepared); returns {framework: summary or the n/a reason}. Without a GPU
    backend in any of `frameworks` it is refused before anything is written; `out_dir` is made only for a
    trace."""
    from . import asvbench

    spec(workload)  # an unknown name is a UsageError before anything loads
    precision, overrides = bind(assignments)
    if not any(devices.framework_module(fw).gpu_backend() for fw in frameworks):
        raise UsageError(f"nothing profiled: profile times GPU kernels, and there is no GPU here "
                         f"({' and '.join(frameworks)}: no GPU backend in this install)")
    out_dir = Path(out_dir)
    found = {}
    for framework in frameworks:
        try:
            reason = asvbench.unavailable(workload, devices.Target(framework, "gpu", precision), overrides)
            if reason:
                raise Unavailable(reason)
            runner, _ = asvbench.prepared(workload, framework, "gpu", precision, **overrides)
        except Unavailable as exc:
            found[framework] = f"n/a: {exc}"
            continue
        fw = devices.framework_module(framework)
        label = "-".join([workload, framework, precision, *(f"{k}={v}" for k, v in sorted(overrides.items()))])
        out_dir.mkdir(parents=True, exist_ok=True)
        found[framework] = measure(runner.step, lambda: fw.synchronize("gpu"), steps, out_dir / f"{label}.trace.json")
    return found


def table(workload, assignments, found, steps):
    """Markdown: one row per framework."""
    lines = [f"#### {workload} {' '.join(assignments)} ({steps} steps each)", "",
             "| framework | wall ms/step | GPU busy ms/step | host (GPU idle) | kernels/step | launch calls/step "
             "| top kernels (ms/step) |", "|---|---|---|---|---|---|---|"]
    for framework, s in found.items():
        if isinstance(s, str):
            lines.append(f"| {framework} | {s} | | | | | |")
            continue
        if not s["kernels"]:  # an idle GPU and a tracer that missed the kernels look the same: say so
            lines.append(f"| {framework} | {s['wall_ms']:.4g} | no kernels traced | | | {s['launch_calls']:.0f} | |")
            continue
        share = s["host_ms"] / s["wall_ms"] if s["wall_ms"] else 0.0
        top = "; ".join(f"{n[:60]} {ms:.3g}" for n, ms in s["top"])
        lines.append(f"| {framework} | {s['wall_ms']:.4g} | {s['gpu_busy_ms']:.4g} | {s['host_ms']:.4g} "
                     f"({share:.0%}) | {s['kernels']:.0f} | {s['launch_calls']:.0f} | {top} |")
    return "\n".join(lines)


def write(out_dir, text):
    """Append one profile's table to the machine's profile.md (the traces lie beside it)."""
    with open(Path(out_dir) / "profile.md", "a") as f:
        f.write(text + "\n\n")
