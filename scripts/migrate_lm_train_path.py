"""One-off: results of bench_lm_train.LMTrain.time_step version 1 (params framework, device, compile,
precision) become version 2 (framework, device, path, compile, precision) with path "seed".

Version 1's compiled PyTorch rows compiled the loss only (AdamW eager); version 2 compiles the
optimizer step too, so those rows are dropped (NaN) rather than filed under a scope they did not run.
MLX's compiled rows compiled the whole step then as now and are kept. Precision values are unchanged;
"bf16-mixed" is new (NaN in old rows). Run from the repository root: python scripts/migrate_lm_train_path.py
"""
import itertools
import json
from pathlib import Path

KEY = "bench_lm_train.LMTrain.time_step"
PATHS = ["'seed'", "'best'"]
PRECISIONS = ["'fp32'", "'tf32'", "'bf16'", "'bf16-mixed'"]
PER_COMBINATION = ("result", "stats_ci_99_a", "stats_ci_99_b", "stats_q_25", "stats_q_75", "stats_number",
                   "stats_repeat", "samples")


def migrate(data):
    columns = data["result_columns"]
    entry = data["results"].get(KEY)
    if entry is None or entry[columns.index("version")] != "1":
        return False
    entry = entry + [None] * (len(columns) - len(entry))
    framework, device, compile, precision = entry[columns.index("params")]
    old = {combo: i for i, combo in enumerate(itertools.product(framework, device, compile, precision))}
    new_params = [framework, device, PATHS, compile, PRECISIONS]
    new_entry = list(entry)
    for name in (n for n in PER_COMBINATION if n in columns):
        values = entry[columns.index(name)]
        if values is None:
            continue
        out = []
        for fw, dev, path, comp, prec in itertools.product(*new_params):
            i = old.get((fw, dev, comp, prec)) if path == "'seed'" else None
            keep = i is not None and not (fw == "'torch'" and comp == "True")
            out.append(values[i] if keep else (float("nan") if name == "result" else None))
        new_entry[columns.index(name)] = out
    new_entry[columns.index("params")] = new_params
    new_entry[columns.index("version")] = "2"
    data["results"][KEY] = new_entry
    return True


def migrate_declaration(path=Path("results/benchmarks.json")):
    """asv's list of benchmarks (rewritten by the next `mlxvspt run`): LMTrain's params and version."""
    data = json.loads(path.read_text())
    entry = data[KEY]
    if entry["version"] == "1":
        entry.update(param_names=["framework", "device", "path", "compile", "precision"], version="2",
                     params=[entry["params"][0], entry["params"][1], PATHS, entry["params"][2], PRECISIONS])
        path.write_text(json.dumps(data, indent=4, sort_keys=True) + "\n")
        print(f"migrated {path}")


def main():
    migrate_declaration()
    for path in sorted(Path("results").glob("*/*.json")):
        if path.name == "machine.json":
            continue
        data = json.loads(path.read_text())
        if migrate(data):
            path.write_text(json.dumps(data))
            print(f"migrated {path}")


if __name__ == "__main__":
    main()
