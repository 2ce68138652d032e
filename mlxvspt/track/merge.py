"""Join results folders of one machine measured in parts (e.g. one `mlxvspt run --workload W` per GPU of a
host, each pinned to its own GPU and cores) into one, as if one run had measured them all.

asv keeps one file per machine, commit and environment with, per benchmark, one entry per parameter
combination; a part's file of another environment (a clone at another path) goes into the destination's file
of its commit where there is one, as a run's rows do (`point_file`). A part's combinations that another part
left n/a (not selected there) are filled from the part that measured them, and a combination measured in
several parts from the last of them (a re-measure replaces the first measurement). A part folder may begin as
a copy of the machine's results: of a part written by the present harness (a runs line naming its parts), only
the rows its own records lines name (those the destination does not hold yet) count as measured there, once
its result file holds them (`merge_result_files`), with their check lines and, at each release set, its
environment file (`claims_of`). Where the parts' params grids differ (the suite gained a size), the later
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
from pathlib import Path

from . import recorder
from .asvrun import MACHINE_KEYS
from .. import jsonlines, ledger
from ..publish import results
from ..measure import check
from ..errors import UsageError

JSONL = ("records-", "runs-")
CHECK_KEY = ("workload", "device", "path", "precision", "case")  # a record's check_key, as a check line names it


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
    """One benchmark's asv entry with `other`'s measured combinations filled in (of them, where `kept` is a set, only
    the combinations it holds: the values of others are a copy's, see `claims_of`; a failure never replaces a value,
    so `other`'s failures stand). Durations add up and the entry began with the earlier, except where `other`
    measured again every combination the destination knew (its duration and start are then the entry's) or the
    destination holds the entry already, as a point that began as a copy of it does. An entry of another benchmark
    version replaces the whole entry (asv would hide the older one anyway); one of other params is laid on `other`'s
    params first."""
    version = columns.index("version")
    if kept is not None and into is None and not kept:
        return None  # a file the destination lacks: nothing of this entry measured here
    if kept is not None and into is not None:
        combos = itertools.product(*dict(zip(columns, other))["params"])
        standing = [0 if s == 2 and combo not in kept else s for s, combo in zip(_standing(other, columns), combos)]
        if 2 not in standing and (1 not in standing or into[version] != other[version]):
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
            merged.append(b if measured_again_whole else min((x for x in (a, b) if x is not None), default=None))
        elif column != "params" and any(isinstance(x, list) and len(x) == len(mine) for x in (a, b)):
            a, b = (x if isinstance(x, list) else [None] * len(mine) for x in (a, b))
            merged.append([y if t else x for x, y, t in zip(a, b, took)])
        else:
            merged.append(a)
    return merged


def merge_result_files(paths, out, claims=None):
    """One asv result file from several of the same machine, commit and environment, written to `out`. Of a
    path whose `claims` (a list beside `paths`) is not None, only the combinations it claims to have measured
    ({(benchmark, combo)}), of the workloads whose result file holds them: a run records a workload's rows in
    it as the workload ends, so a workload none of whose claimed values differs from the file's so far was
    still being measured when the part was packed (its values are the copy's). Returns {path: {(benchmark,
    combo)} taken from it}."""
    merged, taken = None, {}
    for path, claimed in zip(paths, claims or [None] * len(paths)):
        data = json.loads(Path(path).read_text())
        if merged is None and claimed is None:
            merged = data
            continue
        if merged is None:  # a file the destination lacks (another environment's): its header, then its claims
            merged = {**data, "results": {}, "durations": {}}
        if data["result_columns"] != merged["result_columns"]:
            raise UsageError(f"{path}: another asv result format than {paths[0]}")
        columns = merged["result_columns"]
        kept = {name: None for name in data["results"]}
        if claimed is not None:
            now = {name: {combo: value for combo, value in values(entry, columns).items()
                          if (name, combo) in claimed and value is not None and value == value}
                   for name, entry in data["results"].items()}
            before = {name: values(merged["results"].get(name), columns) for name in now}
            recorded = {workload_of(name) for name, found in now.items()
                        if any(value != before[name].get(combo) for combo, value in found.items())}
            kept = {name: set(found) if workload_of(name) in recorded else set() for name, found in now.items()}
            taken[path] = {(name, combo) for name, combos in kept.items() for combo in combos}
        for name, entry in data["results"].items():
            entry = merge_entries(merged["results"].get(name), entry, columns, kept[name])
            if entry is not None:
                merged["results"][name] = entry
        merged["durations"] = {**data.get("durations", {}), **merged.get("durations", {})}
    if merged["results"]:  # not a file of nothing (a part's copy of a file the destination has dropped)
        Path(out).write_text(json.dumps(merged, indent=None))
    return taken


def workload_of(benchmark):
    """A benchmark's workload, its module's: bench_llm.Generation.track_decode -> llm."""
    return benchmark.split(".")[0].removeprefix("bench_")


def values(entry, columns):
    """{combination: its result} of an asv entry ({} for none)."""
    if entry is None:
        return {}
    entry = dict(zip(columns, entry))
    return dict(zip(itertools.product(*entry["params"]), entry["result"] or []))


def claims_of(folder, dest):
    """{release set: {(benchmark, combo): (its records lines, its check combination)}} of the rows `folder`'s
    records lines that `dest` does not hold yet name (each measured row writes one), or None (all of its
    rows count) where no runs line of the folder names its parts (a folder of an older harness, or made by
    hand). A part folder may begin as a copy of the machine's results (`gpu_point.sh start` copies them in,
    for the plan and for `--resume`): the rows it did not measure are the copy's, and must not replace what
    another part measured since (an H100's matmul re-measured in one part was put back to its old values by
    the copy in the next part, which measured only TinyLlama)."""
    if not any("parts" in run for path in folder.glob("runs-*.jsonl") for _, run in jsonlines.lines(path)):
        return None
    found = {}
    for path in folder.glob("records-*.jsonl"):
        have = set((dest / path.name).read_text().splitlines()) if (dest / path.name).is_file() else set()
        rows = found.setdefault(release_set(path.name), {})
        for line, record in jsonlines.lines(path):
            if line not in have and isinstance(record, dict) and "benchmark" in record:
                checked = check.combination_key(dict(zip(CHECK_KEY, record.get("check_key") or [""] * 5)))
                rows.setdefault((record["benchmark"], tuple(record.get("params", {}).values())),
                                ([], checked))[0].append(line)
    return found


def release_set(name):
    """The release set a file of a machine folder belongs to: "check-mlx-0.32.4+torch-2.11.0.jsonl" ->
    "mlx-0.32.4+torch-2.11.0"; None for a file of every release set (an asv result file's is its commit's)."""
    for prefix in ("check-", "records-", "runs-", "environment-"):
        if name.startswith(prefix):
            return name.removeprefix(prefix).rsplit(".", 1)[0]
    return None


def is_result_file(name):
    return name.endswith(".json") and name != "machine.json"


def merge(dest, parts):
    """Merge the machine folders `parts` into `dest` (created; files already there count as a first part).
    Result files first: the rows taken from a part of the present harness decide which of its records lines
    (those of rows not taken wait for a later merge of the part, whose result file may hold them by then),
    check lines and environment files go with them."""
    dest = Path(dest)
    folders = [Path(p) for p in parts]
    for folder in folders:
        if folder.resolve() == dest.resolve():
            raise UsageError(f"{folder}: is the destination itself (its files already count as a first part)")
        if description(folder / "machine.json") is None:
            raise UsageError(f"{folder}: not a machine's results folder (no readable machine.json)")
    names = {p.name for folder in folders for p in folder.iterdir() if p.is_file() and p.suffix != ".bak"}
    into = {name: point_file(dest, [folder / name for folder in folders]) or name for name in names
            if is_result_file(name) and not (dest / name).is_file()}
    # result files first, a part's copy of the destination's file before a file folded into it (`into`): the
    # copy's values of the rows the part measured are the old ones, and must not follow the new
    names = sorted(names, key=lambda n: (not is_result_file(n), into.get(n, n) != n, n))
    for path in (folder / n for folder in [dest, *folders] for n in names if n.endswith(".json")):
        if path.is_file() and not isinstance(read_json(path), dict):  # before anything is written
            raise UsageError(f"{path}: not a readable asv result file (a copy cut short?)")
    one_kind_of_host(dest, folders)
    claims = {folder: claims_of(folder, dest) for folder in folders}
    points = {commit: name for name, commit in ledger.build()}  # a result file's release set, by its commit
    for folder in (f for f in folders if claims[f] is not None):
        for path in filter(Path.is_file, (folder / n for n in names if is_result_file(n))):
            if read_json(path).get("commit_hash") not in points:
                raise UsageError(f"{path}: its commit is no release set of this checkout's ledger (releases.json): "
                                 "merge it in the checkout that measured it")
    taken = {folder: {} for folder in folders}  # {release set: {(benchmark, combo): (lines, check key)}}
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        sources = [folder / name for folder in folders if (folder / name).is_file()]
        target = dest / into.get(name, name)
        if is_result_file(name):
            mine = [target] if target.is_file() else []
            point = points.get(read_json(sources[0]).get("commit_hash"))
            claimed = [None if claims[s.parent] is None else claims[s.parent].get(point, {}) for s in sources]
            took = merge_result_files(mine + sources, target, [None] * len(mine) + claimed)
            for source, rows in zip(sources, claimed):
                if rows is not None:
                    taken[source.parent].setdefault(point, {}).update({r: rows[r] for r in took.get(source, ())})
        elif name.startswith("check-") and name.endswith(".jsonl"):  # a part's lines replace its combinations'
            for source in sources:
                checked = None if claims[source.parent] is None else {
                    key for _, key in taken[source.parent].get(release_set(name), {}).values()}
                check.replace_stored(target, [line for line in check.load(source)
                                              if checked is None or check.combination_key(line) in checked])
        elif name.endswith(".jsonl") and name.startswith(JSONL):
            have = set(target.read_text().splitlines()) if target.is_file() else set()
            with open(target, "a", encoding="utf-8") as f:
                # complete lines only: a copy taken mid-write ends in a cut one
                for source in sources:
                    kept = None if claims[source.parent] is None or name.startswith("runs-") else {
                        line for lines, _ in taken[source.parent].get(release_set(name), {}).values()
                        for line in lines}
                    for line, _ in jsonlines.lines(source):
                        if line not in have and (kept is None or line in kept):
                            have.add(line)
                            f.write(line + "\n")
        elif name == "machine.json":
            described = {}
            for source in [target] + sources:  # each key as last described
                described.update(description(source) or {})
            target.write_text(json.dumps(described, indent=4))
        else:  # environment files: the latest run's (of a part of the present harness, one that measured there)
            point = release_set(name)
            fresh = [s for s in sources if claims[s.parent] is None or any(
                rows for p, rows in taken[s.parent].items() if point in (None, p))]
            if fresh:
                shutil.copyfile(fresh[-1], target)
    one_machine(dest)




def point_file(dest, sources):
    """The name of `dest`'s result file of the point whose file `sources` hold under another name (another asv
    environment's: a run from a clone at another path), or None where it has none: a part's rows go into it, as
    a run's do (recorder.point_file): one point, one file, in which a row measured again replaces its value."""
    commit = next((data.get("commit_hash") for data in map(read_json, sources) if isinstance(data, dict)), None)
    held = commit and recorder.point_file(dest, commit)
    return held.name if held else None


def one_kind_of_host(dest, folders):
    """Refuse (UsageError, before anything is written) parts whose latest run was on another kind of host than
    the destination's (or, where it has no record, the first part's): one machine's history is one host's."""
    kinds = [(folder, results.host_of(read_json(folder / "environment.txt"))) for folder in [dest, *folders]]
    kinds = [(folder, kind) for folder, kind in kinds if kind.get("cpu")]
    for folder, kind in kinds[1:]:
        if results.hosts_differ(kinds[0][1], kind):
            raise UsageError(f"{folder}: measured on {results.host_words(kind)}, {kinds[0][0]} on "
                             f"{results.host_words(kinds[0][1])}: one machine's results come from one kind of host")


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
