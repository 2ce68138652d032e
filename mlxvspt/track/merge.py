"""Join results folders of one machine measured in parts (e.g. one `mlxvspt run --workload W` per GPU of a
host, each pinned to its own GPU and cores) into one, as if one run had measured them all.

asv keeps one file per machine, commit and environment with, per benchmark, one entry per parameter
combination: a part's combinations that another part left n/a (not selected there) are filled from the part
that measured them, and a combination measured in several parts from the last of them (a re-measure replaces
the first measurement). A part folder may begin as a copy of the machine's results: of a part written by the
present harness (a runs line naming its parts), only the rows its own records lines name (those the
destination does not hold yet) count as measured there, with their check lines and, at each release set, its
environment file (`measured_here`). Where the parts' params grids differ (the suite gained a size), the later
part's grid stands, as asv would show only entries of the suite's current grid. Records and run lines (JSON
lines) are concatenated, a line the destination has already left out (merging a part twice adds nothing); a
part's check lines replace the destination's of the combinations they compare, as a run's own check does (a
re-measure's check stands alone); environment files (the host and releases of the latest run) are taken from
the last part that has them, as its rows are, so a page's "host of the latest run" is that part's (one H100
re-measured on a host whose single-core loop ran 2x slower was described as the first host); machine.json
keeps each key as the last part to describe it did, and every result file is described by it.
"""
import itertools
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .asvrun import MACHINE_KEYS
from .. import jsonlines, ledger
from ..measure import check
from ..errors import UsageError

JSONL = ("records-", "runs-")


def _standing(entry, columns):
    """Per combination, what this entry knows there: 2 a value, 1 a failure (asv writes null), 0 n/a (NaN:
    not selected or not runnable in that part)."""
    result = dict(zip(columns, entry))["result"]
    return [] if result is None else [0 if v != v else 1 if v is None else 2 for v in result]


def on_grid(entry, columns, params):
    """`entry` with its per-combination columns laid on another params grid, combination by combination
    (asv lists them in itertools.product order): a param's values changed between versions of the suite
    (a preset's sizes added) must not pair one combination's figures with another's. Combinations the
    entry lacks are n/a."""
    grid = list(itertools.product(*entry[columns.index("params")]))
    count, at = len(grid), {combination: i for i, combination in enumerate(grid)}
    where = [at.get(combination) for combination in itertools.product(*params)]
    laid = []
    for column, value in zip(columns, entry):
        if column == "params":
            value = params
        elif isinstance(value, list) and len(value) == count:
            empty = float("nan") if column == "result" else None
            value = [empty if i is None else value[i] for i in where]
        laid.append(value)
    return laid


def merge_entries(into, other, columns, kept=None):
    """One benchmark's asv entry with `other`'s measured combinations filled in (of them, where `kept` is a
    set, only the combinations it holds: the values of others are a copy's, see `measured_here`; a failure
    never replaces a value, so `other`'s failures stand). Durations add up, except where `other` measured
    again every combination the destination knew (its duration is then the entry's) or the destination holds
    the entry already, as a point that began as a copy of it does. An entry of another benchmark version
    replaces the whole entry (asv would hide the older one anyway); one of other params is laid on `other`'s
    params first."""
    version = columns.index("version")
    if kept is not None and into is not None:
        combos = itertools.product(*dict(zip(columns, other))["params"])
        standing = [0 if s == 2 and combo not in kept else s for s, combo in zip(_standing(other, columns), combos)]
        if 2 not in standing:
            return into  # nothing measured here: a copy's entry, however old its version
    if into is None or into[version] != other[version]:
        return other
    if into == other:
        return into
    # asv drops an entry's trailing empty columns (a result of no samples ends after "duration"): padded,
    # so zip() below keeps the other's statistics and samples
    into, other = (list(e) + [None] * (len(columns) - len(e)) for e in (into, other))
    params = columns.index("params")
    if into[params] != other[params]:
        into = on_grid(into, columns, other[params])
    mine, theirs = _standing(into, columns), _standing(other, columns)
    if kept is not None:
        theirs = standing
    if not mine or not theirs:
        return other if theirs else into
    took = [b > a or a == b == 2 for a, b in zip(mine, theirs)]
    measured_again_whole = all(t for m, t in zip(mine, took) if m)  # each combination the destination knew
    merged = []
    for column, a, b in zip(columns, into, other):
        if column == "duration":
            merged.append(b if measured_again_whole else (a or 0) + (b or 0))
        elif column == "started_at":
            merged.append(min((x for x in (a, b) if x is not None), default=None))
        elif column != "params" and any(isinstance(x, list) and len(x) == len(mine) for x in (a, b)):
            a, b = (x if isinstance(x, list) else [None] * len(mine) for x in (a, b))
            merged.append([y if t else x for x, y, t in zip(a, b, took)])
        else:
            merged.append(a)
    return merged


def merge_result_files(paths, out, measured=None):
    """One asv result file from several of the same machine, commit and environment; of a path whose
    `measured` (a list beside `paths`) is not None, only the combinations it names ({benchmark: {combo}})."""
    merged = None
    for path, rows in zip(paths, measured or [None] * len(paths)):
        data = json.loads(Path(path).read_text())
        if merged is None:
            merged = data
            continue
        if data["result_columns"] != merged["result_columns"]:
            raise UsageError(f"{path}: another asv result format than {paths[0]}")
        columns = merged["result_columns"]
        for name, entry in data["results"].items():
            kept = None if rows is None else rows.get(name, set())
            merged["results"][name] = merge_entries(merged["results"].get(name), entry, columns, kept)
        merged["durations"] = {**data.get("durations", {}), **merged.get("durations", {})}
    Path(out).write_text(json.dumps(merged, indent=None))


@dataclass
class Measured:
    """What one release set's records in a part say it measured: {benchmark: {combination as asv lists it}}
    and the check combinations (check_key) of those rows."""
    rows: dict = field(default_factory=dict)
    checks: set = field(default_factory=set)


def measured_here(folder, dest):
    """{release set: Measured} of the rows `folder` measured itself: its records lines that `dest` does not
    hold yet (each measured row writes one, naming its benchmark, parameters and check combination), or None
    (all of its rows) where no runs line of the folder names its parts (a folder of an older harness, or made
    by hand). A part folder may begin as a copy of the machine's results (`gpu_point.sh start` copies them
    in, for the plan and for `--resume`): the rows it did not measure are the copy's, and must not replace
    what another part measured since (an H100's matmul re-measured in one part was put back to its old values
    by the copy in the next part, which measured only TinyLlama). A part merged again, or packed before its
    run ended (no runs line yet), brings only what its records say it measured."""
    if not any("parts" in run for path in folder.glob("runs-*.jsonl") for _, run in jsonlines.lines(path)):
        return None
    found = {}
    for path in folder.glob("records-*.jsonl"):
        have = set((dest / path.name).read_text().splitlines()) if (dest / path.name).is_file() else set()
        here = found.setdefault(path.name.removeprefix("records-").removesuffix(".jsonl"), Measured())
        for line, record in jsonlines.lines(path):
            if line not in have and isinstance(record, dict) and "benchmark" in record:
                here.rows.setdefault(record["benchmark"], set()).add(tuple(record.get("params", {}).values()))
                key = [*(record.get("check_key") or []), "", "", "", "", ""]
                here.checks.add((*key[:4], key[4] or ""))  # as check.combination_key names a line's
    return found


def release_set(name):
    """The release set a file of a machine folder belongs to: "check-mlx-0.32.4+torch-2.11.0.jsonl" ->
    "mlx-0.32.4+torch-2.11.0"; an asv result file's from its commit; None for a file of every release set."""
    for prefix in ("check-", "records-", "runs-", "environment-"):
        if name.startswith(prefix):
            return name.removeprefix(prefix).rsplit(".", 1)[0]
    return None


def taken(measured, point):
    """The part's Measured at `point`, nothing where it measured nothing there, or None (take all)."""
    return None if measured is None else measured.get(point, Measured())


def merge(dest, parts):
    """Merge the machine folders `parts` into `dest` (created; files already there count as a first part)."""
    dest = Path(dest)
    folders = [Path(p) for p in parts]
    for folder in folders:
        if folder.resolve() == dest.resolve():
            raise UsageError(f"{folder}: is the destination itself (its files already count as a first part)")
        if description(folder / "machine.json") is None:
            raise UsageError(f"{folder}: not a machine's results folder (no readable machine.json)")
    names = sorted({p.name for folder in folders for p in folder.iterdir()
                    if p.is_file() and p.suffix != ".bak"})  # .bak: asvrun.restore_damaged's copies
    for path in (folder / n for folder in [dest, *folders] for n in names if n.endswith(".json")):
        if path.is_file() and not isinstance(read_json(path), dict):  # before anything is written
            raise UsageError(f"{path}: not a readable asv result file (a copy cut short?)")
    measured = {folder: measured_here(folder, dest) for folder in folders}
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        sources = [folder / name for folder in folders if (folder / name).is_file()]
        target = dest / name
        if name.startswith("check-") and name.endswith(".jsonl"):  # a part's lines replace its combinations'
            for source in sources:
                here = taken(measured[source.parent], release_set(name))
                check.replace_stored(target, [line for line in check.load(source)
                                              if here is None or check.combination_key(line) in here.checks])
        elif name.endswith(".jsonl") and name.startswith(JSONL):
            have = set(target.read_text().splitlines()) if target.is_file() else set()
            with open(target, "a", encoding="utf-8") as f:
                # complete lines only: a copy taken mid-write ends in a cut one
                for line in (text for source in sources for text, _ in jsonlines.lines(source)):
                    if line not in have:
                        have.add(line)
                        f.write(line + "\n")
        elif name == "machine.json":
            described = {}
            for source in [target] + sources:  # each key as last described
                described.update(description(source) or {})
            target.write_text(json.dumps(described, indent=4))
        elif name.endswith(".json"):
            mine = [target] if target.is_file() else []
            point = point_of(sources[0])
            merge_result_files(mine + sources, target, [None] * len(mine) + [
                None if (here := taken(measured[s.parent], point)) is None else here.rows for s in sources])
        else:  # environment files: the latest run's (a part's that measured there)
            point = release_set(name)
            fresh = [s for s in sources if measured[s.parent] is None or any(
                m.rows for p, m in measured[s.parent].items() if point in (None, p))]
            if fresh:
                shutil.copyfile(fresh[-1], target)
    one_machine(dest)


def point_of(path):
    """The release set (ledger entry name) of an asv result file, from its commit."""
    commit = (read_json(path) or {}).get("commit_hash")
    return next((name for name, c in ledger.build() if c == commit), None)


def read_json(path):
    """A JSON file's contents, or None where it is missing or cut short."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def description(path):
    """A machine.json's contents, or None where it is missing or not asv's machine description."""
    described = read_json(path)
    return described if isinstance(described, dict) and "machine" in described else None


def one_machine(folder):
    """Every result file of `folder` (and its .bak copy, which asvrun.restore_damaged may put back) described
    as its machine.json describes the machine: asv draws one graph line per distinct description, so a file
    of a run whose description lacked or changed a key (the H200's first runs had no num_cpu, a kernel update
    changes `os`) split a benchmark's history in two and its releases were never graphed side by side. `asv
    machine` records only the values that differ from what it detects itself, so a part pinned to a 16-core
    share of a 64-core host has num_cpu and one on a 16-core host has none: merge keeps each key as last
    described. A file that does not read as asv's results is left as it is (restore_damaged's to mend)."""
    folder = Path(folder)
    machine = {k: v for k, v in description(folder / "machine.json").items() if k != "version"}
    for path in [*folder.glob("*-*.json"), *folder.glob("*-*.json.bak")]:
        try:
            data = json.loads(path.read_text())
            params = data["params"]
        except (ValueError, TypeError, KeyError):
            continue
        if not isinstance(params, dict):
            continue
        described = {**{k: v for k, v in params.items() if k not in {"machine", *MACHINE_KEYS, *machine}},
                     **machine}
        if described != params:
            data["params"] = described
            path.write_text(json.dumps(data, indent=None))
