"""asv's result files from the measuring processes' lines, written by asv's own Results class.

`asv run` would fork a process per row and time it there; `mlxvspt run` measures each workload and
device in one process (mlxvspt.measure.process) and hands each row's samples to asv here, in the form asv's
runner hands them over (`BenchmarkResult`: value or True plus samples and `number`), so the files, their
statistics and everything that reads them (`asv publish`, `asv compare`, the site) are as `asv run
--record-samples -E existing:PYTHON --set-commit-hash POINT` writes them.
"""
import datetime
import itertools
import math
import sys
from pathlib import Path

from asv import environment, util
from asv.benchmarks import Benchmarks
from asv.config import Config
from asv.machine import Machine
from asv.repo import get_repo
from asv.results import Results, get_filename
from asv.runner import BenchmarkResult


def result_of(line):
    """(value, samples, number, errcode) of one row's line, as asv's runner reads a benchmark's output."""
    if "samples" in line:
        return True, line["samples"], line["number"], 0
    value = line.get("result")
    if value == "n/a":
        return math.nan, None, None, 0
    return value, None, None, 0 if value is not None else 1


def record(config_path, machine, commit, lines):
    """Add the rows' lines (dicts with name, idx and the outcome) to this environment's result file of
    `machine` at ledger commit `commit`, keeping every other row's earlier result."""
    conf, results = results_file(config_path, machine, commit)
    benchmarks = Benchmarks.load(conf)
    by_name = {}
    for line in lines:
        by_name.setdefault(line["name"], {})[line["idx"]] = line
    kept = measured_in(results, benchmarks)
    for name, lines_of in by_name.items():
        # a row without a value (n/a: another tier's, a framework left out; or failed this time) never
        # replaces what an earlier run measured; a failure's reason still goes into the file's stderr
        rows = {i: row for i, row in lines_of.items() if (name, i) not in kept or has_value(row)}
        if not rows:
            continue
        benchmark = benchmarks[name]
        count = len(list(itertools.product(*benchmark["params"])))
        new = {i: {"name": name, "idx": i, "result": "n/a"} for i in never_measured(results, benchmark)}
        filled = {**new, **rows}
        outcomes = [result_of(filled[i]) if i in filled else (math.nan, None, None, 0) for i in range(count)]
        stderr = "\n".join(f"{row['name']}-{i}: {row['stderr']}" + ("" if i in rows else " (earlier value kept)")
                           for i, row in sorted(lines_of.items()) if row.get("stderr") and row.get("result") != "n/a")
        started = min(rows[i].get("started_at") or 0 for i in rows)
        results.add_result(
            benchmark,
            BenchmarkResult(result=[o[0] for o in outcomes], samples=[o[1] for o in outcomes],
                            number=[o[2] for o in outcomes], errcode=max(o[3] for o in outcomes),
                            stderr=stderr, profile=None),
            selected_idx=set(filled),
            started_at=datetime.datetime.fromtimestamp(started, datetime.timezone.utc) if started else None,
            duration=max(rows[i].get("duration") or 0 for i in rows),
            record_samples=True,
        )
    results.save(conf.results_dir)


def has_value(line):
    """Whether a row's line carries a measurement (samples or a number), not n/a or a failure."""
    return "samples" in line or line.get("result") not in (None, "n/a")


def results_file(config_path, machine, commit):
    """The asv Results of `machine` at `commit` that a run adds its rows to (earlier rows loaded, if any): this
    environment's file, else, where another environment's file of the commit exists (asv names an existing
    environment after its Python's path, so a run from a clone at another path is another one), the one of them
    measured last. One point is then one file, in which a row measured again replaces its value: of two files, a
    cell measured earlier could be taken for the later one (asv stamps a benchmark's start, not a cell's) and its
    value paired with another run's record."""
    conf = Config.load(str(config_path))
    env = next(environment.get_environments(conf, [f"existing:{sys.executable}"], verbose=False))
    params = {**Machine.load(machine_name=machine).__dict__, "python": env.python, **env.requirements}
    results = Results(params, env.requirements, commit, get_repo(conf).get_date(commit), env.python, env.name,
                      env.env_vars)
    own = Path(conf.results_dir) / get_filename(machine, commit, env.name)
    other = None if own.is_file() else point_file(own.parent, commit)
    if other is None:
        results.load_data(conf.results_dir)
        return conf, results
    return conf, readable(other)


def point_file(folder, commit):
    """The result file of `commit` in the machine folder `folder` whose benchmarks ran last, of those of every
    asv environment there (None where there is none): the one a run or a merged part adds its rows to."""
    held = []
    for path in sorted(Path(folder).glob(f"{commit[:8]}-*.json")):
        res = readable(path)
        if res is not None and res.commit_hash == commit:
            held.append((max(res.started_at.values(), default=0), path))
    return max(held)[1] if held else None


def readable(path):
    """asv's Results of a result file, or None where it does not read as one (a copy cut short)."""
    try:
        return Results.load(str(path))
    except (OSError, ValueError, KeyError, TypeError, util.UserError):
        return None


def measured(config_path, machine, commit):
    """{(benchmark, param index)} that have a value in this environment's results at `commit` (what
    `--resume` keeps): n/a and failed rows are asked again."""
    conf, results = results_file(config_path, machine, commit)
    return measured_in(results, Benchmarks.load(conf))


def measured_in(results, benchmarks):
    """{(benchmark, param index)} with a value in asv Results."""
    kept = set()
    for name in results.get_result_keys(benchmarks):
        for idx, value in enumerate(results.get_result_value(name, results.get_result_params(name))):
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                kept.add((name, idx))
    return kept


def never_measured(results, benchmark):
    """Indices of parameter combinations that this file's earlier results of the benchmark do not have (a
    parameter value added since): n/a until a run measures them, where asv would carry them over as failed."""
    name = benchmark["name"]
    if name not in results.get_all_result_keys():
        return []
    earlier = set(itertools.product(*results.get_result_params(name)))
    return [i for i, params in enumerate(itertools.product(*benchmark["params"])) if params not in earlier]
