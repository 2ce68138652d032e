"""Fabricated asv results and run records, written with asv's own Results class, for the tests of the
results layer and its renderers (no benchmark runs)."""
import itertools
import json
import math
from pathlib import Path

from asv import results as asv_results
from asv.runner import BenchmarkResult

from mlxvspt import ledger

POINTS = ledger.build()  # [(entry name, commit)], oldest first
FAILED = None  # a cell whose benchmark raised
NA = math.nan  # a cell skipped here


def benchmark(name, params, unit="seconds", version="1"):
    """asv's metadata of a benchmark; `params` is {param name: [bare values]}, framework first."""
    return {"name": name, "param_names": list(params), "params": [[repr(v) for v in vs] for vs in params.values()],
            "unit": unit, "version": version, "type": "time" if unit == "seconds" else "track"}


def write_benchmarks(results_dir, benches):
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    data = {b["name"]: b for b in benches}
    (Path(results_dir) / "benchmarks.json").write_text(json.dumps({**data, "version": 2}))


def write_results(results_dir, machine, point, benches, samples, versions=None, env="existing-py", started=None):
    """One asv result file of `machine` at ledger entry `point`. `samples`: {(benchmark, bare parameter
    values in order): [seconds...] | FAILED | NA}; missing cells are NA. `versions`: {benchmark: version
    recorded} where it differs from the current one (a stale result); `env`: asv's environment name;
    `started`: when its benchmarks started (a datetime; now by default)."""
    names = dict(POINTS)
    date = 1_700_000_000_000 + [n for n, _ in POINTS].index(point) * 86_400_000
    res = asv_results.Results({"machine": machine}, {}, names[point], date, "3.11", env, {})
    for b in benches:
        values, sampled, number = [], [], []
        for combo in itertools.product(*b["params"]):
            s = samples.get((b["name"], tuple(c.strip("'") for c in combo)), NA)
            measured = isinstance(s, list)
            values.append(sorted(s)[len(s) // 2] if measured else s)
            sampled.append(s if measured else None)
            number.append(1 if measured else None)
        version = (versions or {}).get(b["name"], b["version"])
        res.add_result({**b, "version": version}, BenchmarkResult(values, sampled, number, 0, "", None),
                       started_at=started, record_samples=True)
    res.save(str(results_dir))
    (Path(results_dir) / machine / "machine.json").write_text(json.dumps({"machine": machine, "version": 1}))


def write_records(results_dir, machine, point, lines):
    """records-<point>.jsonl as the runs write it: one JSON object a line (a str is written as is)."""
    path = Path(results_dir) / machine / f"records-{point}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def record(benchmark, check="passed", detail="", **params):
    return {"benchmark": benchmark, "params": params, "check": check, "check_detail": detail,
            "ran": {"dtype": "float32", "matmul": "strict", "compiled": False, "versions": {"mlx": "0.32.4"}}}


def steady(center, n=10, spread=0.01):
    """n samples around `center` varying by about +-spread."""
    return [center * (1 + spread * ((i % 5) - 2) / 2) for i in range(n)]
