"""A slowdown counts only once a second, fairer measurement agrees: both release sets on the same machine,
alternating A B B A ... (so drift in the machine's load hits both alike), at least MIN_SAMPLES samples
each, then tested with asv's own rule (the one `compare` and `asv compare` use: beyond the factor, and the
two sample sets significantly different).

`interleaved` measures with asv: one virtualenv per release set (venvs.environment), each run as asv's
"existing" environment with the ledger point's commit hash,
one sample per call (one process: a track_ figure's several samples count as their median). `verdict` is
pure: tests feed it samples directly.
"""
import json
import os
import re
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from asv.commands.compare import _is_result_better
from asv_runner.statistics import compute_stats

from . import asvrun, scratch
from .venvs import environment
from ..publish import release_diff
from .. import ledger
from ..measure import settings
from ..errors import UsageError

MIN_SAMPLES = 10


@dataclass
class Verdict:
    confirmed: bool
    ratio: float      # median B / median A
    low: float        # the ratio's interval, from the 99% intervals of both medians (asv's compute_stats)
    high: float
    samples_a: list
    samples_b: list

    def text(self):
        return (f"B/A {self.ratio:.3f} [{self.low:.3f}, {self.high:.3f}] over {len(self.samples_a)} + "
                f"{len(self.samples_b)} interleaved samples: {'CONFIRMED' if self.confirmed else 'not confirmed'}")


def verdict(samples_a, samples_b, factor):
    """Whether B is slower than A beyond `factor` and significantly so, on interleaved samples."""
    if min(len(samples_a), len(samples_b)) < MIN_SAMPLES:
        raise ValueError(f"need at least {MIN_SAMPLES} samples each, got {len(samples_a)} and {len(samples_b)}")
    a, stats_a = compute_stats(samples_a, 1)
    b, stats_b = compute_stats(samples_b, 1)
    slower = _is_result_better(a, b, (stats_a, samples_a), (stats_b, samples_b), factor)
    low = stats_b["ci_99_a"] / stats_a["ci_99_b"] if stats_a["ci_99_b"] > 0 else 0.0
    high = stats_b["ci_99_b"] / stats_a["ci_99_a"] if stats_a["ci_99_a"] > 0 else float("inf")
    return Verdict(slower, b / a, low, high, list(samples_a), list(samples_b))


def check_holds(entry, python):
    """Refuse a python given for `entry` (confirm --python) unless it holds that entry's mlx and torch, as
    read in a process of it (what the benchmarks' imports will find): an A/B of the wrong release set
    would be a confident answer to another question."""
    code = f"import importlib.metadata as m, json; print(json.dumps({{p: m.version(p) for p in {ledger.REQUIRED!r}}}))"
    try:
        run = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300, check=True)
        found = {p: v.split("+")[0] for p, v in json.loads(run.stdout.strip().splitlines()[-1]).items()}
    except (OSError, subprocess.SubprocessError, ValueError, IndexError, AttributeError) as exc:
        raise UsageError(f"--python {entry['name']}={python}: cannot read its mlx and torch ({exc})") from None
    wanted = {p: entry["pins"][p] for p in ledger.REQUIRED}
    if found != wanted:
        have = ", ".join(f"{p} {v}" for p, v in found.items())
        raise UsageError(f"--python {entry['name']}={python} holds {have}; {entry['name']} is "
                         + ", ".join(f"{p} {v}" for p, v in wanted.items()))


def interleaved(row_name, point_a, point_b, machine, preset, results_dir, samples=MIN_SAMPLES, pythons=None):
    """(samples at A, samples at B) of one benchmark row, measured alternately with asv.

    `row_name` is release_diff.Row.name; `pythons` ({point: python}) stand in for the virtualenvs of the points
    they name (a machine without network: a release installed beside, device_install.sh side; a smoke test
    may give one python for both)."""
    points = ledger.build()
    entries = {e["name"]: e for e in ledger.load()}
    pair = [ledger.resolve(points, p) for p in (point_a, point_b)]
    pythons = {name: (pythons or {}).get(name) or environment(entries[name]) for name, _ in pair}
    workspace = scratch.folder("mlxvspt-ab-results-")
    (workspace / machine).mkdir()
    shutil.copyfile(Path(results_dir) / machine / "machine.json", workspace / machine / "machine.json")
    config = asvrun.write_conf(workspace, workspace / "html")
    env = {**os.environ, settings.PRESET: preset}
    bench = "^" + re.escape(row_name) + "$"
    try:
        # asv runs only on a machine it knows (~/.asv-machine.json): the one the history was measured on
        known = json.loads((workspace / machine / "machine.json").read_text())
        asvrun.asv("machine", "--yes", "--machine", machine, config=config, env=env,
                   *(arg for key in asvrun.MACHINE_KEYS if known.get(key)
                     for arg in (f"--{key}", str(known[key]))))
        found = {commit: [] for _, commit in pair}
        for i in range(samples):
            for name, commit in (pair if i % 2 == 0 else pair[::-1]):  # A B, B A, ...
                asvrun.asv("run", "-E", f"existing:{pythons[name]}", "--set-commit-hash", commit, "--machine",
                           machine, "--bench", bench, "-a", "rounds=1", "-a", "repeat=1",
                           "--record-samples", "--show-stderr", config=config, env=env)
                found[commit].append(call_sample(workspace, machine, commit, row_name))
        return tuple(found[commit] for _, commit in pair)
    finally:
        config.unlink()
        shutil.rmtree(workspace, ignore_errors=True)


def call_sample(results_dir, machine, commit, row_name):
    """One A/B sample: the median of what one asv call (one process) measured of the row. A time_ row gives
    one sample a call (repeat=1); a track_ figure gives its preset's FIGURE_SAMPLES, taken back to back in
    one process: counted as samples they made the test treat 11 correlated values as independent ones."""
    row = {release_diff.row_name(key, combo): ss for (key, combo), (_, ss) in
           release_diff.values(results_dir, machine, commit).items()}
    if row_name not in row or not row[row_name][1]:
        raise RuntimeError(f"{row_name} gave no result at {commit[:8]} (see asv's log above)")
    return statistics.median(row[row_name][1])


def environment_record(results_dir, machine, entry):
    """What a report shows of one side: the release set's pins, the machine, and `mlxvspt info` if saved."""
    record = {"ledger entry": entry["name"], "date": entry["date"], "pins": entry["pins"]}
    folder = Path(results_dir) / machine
    for name, path in (("machine", folder / "machine.json"), ("info", folder / f"environment-{entry['name']}.txt")):
        if path.is_file():
            record[name] = json.loads(path.read_text())
    return record
