"""Give committed asv results a parameter their benchmark gained, at the one value they were measured
with, and the benchmark's new version, so no history is lost (asv's identity of a benchmark is its
name, params and version).

    python scripts/add_param.py bench_whisper.Whisper path library-default fp16-weights \
        --after precision --version 2

asv stores each result's params as lists of repr strings and its values (result, stats, samples) flat, in
itertools.product order of those lists: inserting a one-value list anywhere keeps that order, so only
`params` and the version change. results/benchmarks.json (asv's record of the declared benchmarks) gets
the parameter with every declared value; the next `mlxvspt run` rewrites it from the classes anyway.
A result that already has the parameter is left alone, so running the script twice changes nothing.
"""
import argparse
import json
from pathlib import Path


def migrate(entry_params, entry_names, name, values, after):
    """Insert `name` with `values` (repr strings) after `after`; False if it is already there."""
    if name in entry_names:
        return False
    at = entry_names.index(after) + 1
    entry_names.insert(at, name)
    entry_params.insert(at, values)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefix", help="benchmark names starting with this, e.g. bench_whisper.Whisper")
    parser.add_argument("name", help="the new parameter")
    parser.add_argument("value", help="the value the existing results were measured with")
    parser.add_argument("declared", nargs="*", help="the other values the class declares (benchmarks.json)")
    parser.add_argument("--after", required=True, help="the parameter the new one follows")
    parser.add_argument("--version", required=True, help="the benchmark's new version")
    parser.add_argument("--results-dir", default=Path(__file__).parents[1] / "results", type=Path)
    args = parser.parse_args(argv)
    value = repr(args.value)
    changed = 0
    declared_path = args.results_dir / "benchmarks.json"
    declared = json.loads(declared_path.read_text())
    names = {key: entry["param_names"] for key, entry in declared.items() if key.startswith(args.prefix)}
    for path in sorted(args.results_dir.glob("*/*.json")):
        if path.name == "machine.json":
            continue
        data = json.loads(path.read_text())
        columns = data["result_columns"]
        touched = False
        for key, row in data.get("results", {}).items():
            if key in names and migrate(row[columns.index("params")], list(names[key]), args.name, [value],
                                        args.after):
                    row[columns.index("version")] = args.version
                    touched = True
        if touched:
            path.write_text(json.dumps(data))  # as asv writes them: one line, keys in its order
            changed += 1
    for key, entry in declared.items():
        if key.startswith(args.prefix) and migrate(entry["params"], entry["param_names"], args.name,
                                                   [value] + [repr(v) for v in args.declared], args.after):
            entry["version"] = args.version
    declared_path.write_text(json.dumps(declared, indent=4, sort_keys=True))
    print(f"{changed} results files migrated")


if __name__ == "__main__":
    main()
