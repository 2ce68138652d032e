"""One-off migration of committed asv results to bench_llm.Generation version 2 (run once, from the repo root).

Version 2 renamed the param `dtype` (float32/float16/bfloat16) to `precision` (fp32/fp16/bf16) and added
`batch`: every earlier result was one prompt, so it moves to batch 1 under version "2". Decode, TTFT and
peak memory keep their meaning. `track_prefill` does not: it was TTFT / prompt tokens and is now a
forward's rate over a long prompt, so its old results stay as they were (version "1", hidden by asv).
"""
import itertools
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_llm import Generation  # noqa: E402

CLASS = "bench_llm.Generation."
KEEP_MEANING = ("track_decode", "track_time_to_first_token", "track_peak_memory")
PRECISION = {"'float32'": "'fp32'", "'float16'": "'fp16'", "'bfloat16'": "'bf16'"}
NEW_PARAMS = [[repr(v) for v in values] for values in Generation.params]


def migrate_entry(entry, columns):
    """One result row (a list aligned with `columns`) from [fw, device, path, dtype] to the new params."""
    old_params = entry[columns.index("params")]
    old = list(itertools.product(*old_params))
    new = list(itertools.product(*NEW_PARAMS))
    where = {(fw, device, path, PRECISION[dtype], "1"): i for i, (fw, device, path, dtype) in enumerate(old)}
    out = list(entry)
    for k, column in enumerate(columns[:len(entry)]):
        values = entry[k]
        if column == "params":
            out[k] = NEW_PARAMS
        elif column == "version":
            out[k] = Generation.version
        elif isinstance(values, list) and len(values) == len(old):
            out[k] = [values[where[combo]] if combo in where else (math.nan if column == "result" else None)
                      for combo in new]
    return out


def migrate_results(path):
    data = json.loads(path.read_text())
    columns = data.get("result_columns")
    names = [n for n in data.get("results", {}) if n.startswith(CLASS) and n[len(CLASS):] in KEEP_MEANING]
    todo = [n for n in names if data["results"][n][columns.index("version")] == "1"]
    for name in todo:
        data["results"][name] = migrate_entry(data["results"][name], columns)
    if todo:
        path.write_text(json.dumps(data))
    return len(todo)


def migrate_benchmarks(path):
    data = json.loads(path.read_text())
    for name, bench in data.items():
        if name.startswith(CLASS) and isinstance(bench, dict):
            bench.update(params=NEW_PARAMS, param_names=Generation.param_names, version=Generation.version)
    path.write_text(json.dumps(data, indent=4, sort_keys=True))


def main(root="results"):
    root = Path(root)
    for path in sorted(root.glob("*/*.json")):
        if path.name != "machine.json":
            count = migrate_results(path)
            if count:
                print(f"{path}: {count} results migrated")
    migrate_benchmarks(root / "benchmarks.json")


if __name__ == "__main__":
    main(*sys.argv[1:])
