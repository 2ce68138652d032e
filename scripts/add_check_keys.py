"""Give run records written before records named their check combination (`check_key`) that key, so a
check file's lines (a full-size check run beside the run) decide their status (results.records).

    python scripts/add_check_keys.py results/NVIDIA-H100-80GB-HBM3-full

The key is what asvbench.append_records now writes: (workload, device, path label, precision), derived
from the benchmark class's own overrides at the record's preset. Rewrites each records-*.jsonl in place.
"""
import importlib
import json
import os
import sys
from ast import literal_eval
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from mlxvspt import asvbench, settings  # noqa: E402
from mlxvspt.presets import sizes  # noqa: E402


def key_of(record):
    module, cls, _ = record["benchmark"].split(".")
    benchmark = getattr(importlib.import_module(module), cls)()
    params = [literal_eval(record["params"][name]) for name in benchmark.param_names]
    os.environ[settings.PRESET] = record["environment"]["preset"]
    benchmark.device = params[1]
    precision, overrides = benchmark.overrides(*params[2:])
    path = asvbench.combination({**sizes(benchmark.workload, settings.preset(), params[1]), **overrides})
    return [benchmark.workload, params[1], path, precision]


def main(folder):
    for path in Path(folder).glob("records-*.jsonl"):
        lines = []
        for text in path.read_text().splitlines():
            record = json.loads(text)
            record.setdefault("check_key", key_of(record))
            lines.append(json.dumps(record) + "\n")
        path.write_text("".join(lines))
        print(f"{path}: {len(lines)} records keyed")


if __name__ == "__main__":
    main(sys.argv[1])
