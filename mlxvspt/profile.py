"""Where a benchmark's time goes on an NVIDIA GPU: kernel time against host time, per framework.

torch.profiler traces CUDA activity through CUPTI for the whole process, so the kernels that MLX's CUDA
backend launches land in the same trace as PyTorch's: one tool and one definition of "GPU busy" for
both. Host time is the rest of the wall time, when the GPU waits for Python, dispatch, graph building,
kernel launches and synchronisation. The wall time is taken in unprofiled steps (CUPTI adds cost to
every launch); the kernels in as many profiled steps after them.
"""
import importlib
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

from . import devices
from .errors import UsageError

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
GPU_WORK = ("kernel", "gpu_memcpy", "gpu_memset")  # Kineto's trace categories of device activity


def find(name, benchmark_dir=BENCHMARKS):
    """(class, method) of 'Class.method' or 'Class' (its only timed method) in benchmarks/."""
    cls_name, _, method = name.partition(".")
    if str(Path(benchmark_dir).parent) not in sys.path:
        sys.path.insert(0, str(Path(benchmark_dir).parent))
    for path in sorted(Path(benchmark_dir).glob("bench_*.py")):
        module = importlib.import_module(f"{Path(benchmark_dir).name}.{path.stem}")
        cls = getattr(module, cls_name, None)
        if isinstance(cls, type) and getattr(cls, "workload", None):
            methods = [m for m in dir(cls) if m.startswith(("time_", "track_"))]
            if not method and len(methods) == 1:
                method = methods[0]
            if method not in methods:
                raise UsageError(f"{name}: name one of {', '.join(f'{cls_name}.{m}' for m in methods)}")
            return cls, method
    raise UsageError(f"unknown benchmark {name!r}: give Class.method as the report prints it, "
                     f"e.g. Matmul.time_matmul")


def bind(cls, assignments, framework):
    """The asv parameter tuple for NAME=VALUE strings; device defaults to gpu, one-choice params to it."""
    given = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or key not in cls.param_names or key == "framework":
            raise UsageError(f"{item!r}: give NAME=VALUE with NAME one of "
                             f"{', '.join(n for n in cls.param_names if n != 'framework')}")
        given[key] = value
    values = []
    for key, choices in zip(cls.param_names, cls.params):
        if key == "framework":
            values.append(framework)
            continue
        value = given.get(key, "gpu" if key == "device" else None)
        if value is None and len(choices) == 1:
            value = str(choices[0])
        matches = [c for c in choices if str(c) == value]
        if not matches:
            raise UsageError(f"{key}={value}: choose one of {', '.join(map(str, choices))} "
                             f"(preset's values)")
        values.append(matches[0])
    return tuple(values)


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


def profile(name, assignments, frameworks, steps, out_dir):
    """Profile one benchmark row per framework; returns {framework: summary or the n/a reason}."""
    cls, method = find(name)
    rows = {framework: bind(cls, assignments, framework) for framework in frameworks}
    device = rows[frameworks[0]][cls.param_names.index("device")]
    if device != "gpu":
        raise UsageError(f"device={device}: the profile reads GPU kernel activity; use device=gpu")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    found = {}
    for framework, params in rows.items():
        bench = cls()
        try:
            bench.setup(*params)
        except NotImplementedError as exc:
            found[framework] = f"n/a: {exc}"
            continue
        # time_ methods are the timed unit; track_ methods read figures of one runner step
        call = (lambda: getattr(bench, method)(*params)) if method.startswith("time_") else bench.runner.step
        fw = devices.framework_module(framework)
        label = "-".join(map(str, params))
        found[framework] = measure(call, lambda: fw.synchronize(device), steps,
                                   out_dir / f"{cls.__name__}.{method}-{label}.trace.json")
    return found


def table(name, assignments, found, steps):
    """Markdown: one row per framework."""
    lines = [f"#### {name} {' '.join(assignments)} ({steps} steps each)", "",
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
