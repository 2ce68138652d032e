"""`mlxvspt update`: the releases the package index has and the ledger lacks become new ledger points,
which are measured, published and compared with the point before; a slowdown counts only once an
interleaved A/B confirms it (mlxvspt.track.confirm).

A point is made by a release of a lead package (mlx or torch). Its companions (mlx-lm and mlx-whisper
for mlx; transformers and openai-whisper for torch) ride along at their newest release on or before the
lead's release date, and the other side stays as the newest point has it: one framework changes per
point. A release left out (yanked, no wheel for this platform, excluded by pip's own constraints, or an
MLX release whose backend wheel mlx-cpu / mlx-cuda-13 is missing) gets one line saying why.
"""
from dataclasses import dataclass, field
from datetime import date as dates
import json
import os
from pathlib import Path

from packaging.version import Version

from . import asvrun, confirm, install_pins, pkgindex
from ..publish import release_diff, regressions
from .. import ledger
from ..errors import UsageError

LEADS = {"mlx": ("mlx-lm", "mlx-whisper"), "torch": ("transformers", "openai-whisper")}
PACKAGES = [p for lead, companions in LEADS.items() for p in (lead, *companions)]


def backend():
    """The MLX backend package install_pins.py adds on this machine (None on macOS)."""
    pins = install_pins.backend_pin(["mlx==0"])
    return pins[0].split("==")[0] if pins else None


@dataclass
class Plan:
    entries: list = field(default_factory=list)   # new ledger entries, oldest first
    notes: list = field(default_factory=list)     # one line per release left out, and why


def problem(release, constraint_list):
    """Why a release cannot be measured here, or None."""
    if release.yanked is not None:
        return "yanked" + (f" ({release.yanked})" if release.yanked else "")
    excluded = pkgindex.excluded_by(constraint_list, release.version)
    if excluded:
        spec, path = excluded
        return (f"pip's own constraint {release.project}{spec} (in {path}, from `pip config list`) excludes it; "
                "lift that cap to measure it")
    return release.wheel_problem()


def usable_releases(entries, found, constraints, backend_releases=None):
    """({package: [Release newer than the ledger knows, measurable here]}, [notes on the others]).
    `backend_releases` ((name, [Release]) of mlx-cpu / mlx-cuda-13): an MLX release needs its twin."""
    usable, notes = {}, []
    for package, releases in found.items():
        known = [Version(e["pins"][package]) for e in entries if package in e["pins"]]
        for release in [r for r in releases if known and r.version > max(known)]:
            why = problem(release, constraints.get(package, []))
            if why is None and package == "mlx" and backend_releases:
                name, twins = backend_releases
                twin = next((r for r in twins if r.version == release.version), None)
                why = f"no {name} {release.version} on the index" if twin is None else \
                    problem(twin, constraints.get(name, []))
                why = why and f"its backend: {why}"
            if why:
                notes.append(f"left out {package} {release.version}: {why}")
            else:
                usable.setdefault(package, []).append(release)
    return usable, notes


def plan(entries, usable, today=None):
    """New ledger entries for the usable releases, in release order, each dated by its release."""
    pins, last = dict(entries[-1]["pins"]), entries[-1]["date"]
    names = {e["name"] for e in entries}
    new, notes = [], []
    events = sorted((r.date or today or dates.today().isoformat(), lead, r)
                    for lead in LEADS for r in usable.get(lead, []))
    for day, lead, release in events:
        if not release.date:
            notes.append(f"{lead} {release.version}: the index gives no upload time; dated {day}")
        pins = {**pins, lead: str(release.version)}
        for companion in LEADS[lead]:
            newest = pkgindex.newest(usable.get(companion, []), before=day)
            if newest and newest.version > Version(pins.get(companion, "0")):
                pins[companion] = str(newest.version)
        name = f"{lead}-{release.version}"
        while name in names:
            name += "+"
        names.add(name)
        last = max(day, last)  # never before the ledger's newest entry: dates stay ordered
        new.append({"name": name, "date": last, "pins": dict(pins)})
    waiting = {c for lead, cs in LEADS.items() for c in cs} & usable.keys()
    for companion in sorted(waiting):
        used = {e["pins"].get(companion) for e in new}
        for release in usable[companion]:
            if str(release.version) not in used:
                notes.append(f"{companion} {release.version}: waits for the next "
                             f"{next(l for l, cs in LEADS.items() if companion in cs)} release to ride along")
    return Plan(new, notes)


def append(releases_path, new):
    """Add entries to the releases file, validated first and written by rename: the file is never left
    half-written, and earlier entries (so their commit hashes) never change."""
    path = Path(releases_path)
    data = json.loads(path.read_text())
    data["entries"] = data["entries"] + new
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    try:
        ledger.load(tmp)
    except UsageError:
        tmp.unlink()
        raise
    os.replace(tmp, path)


def find(releases_path=None, config=None):
    """(entries, Plan, index description): what the index has that the ledger lacks. UsageError on a
    ledger in an invalid state or no index reachable, before anything is written."""
    entries = ledger.load(releases_path or ledger.RELEASES)
    config = pkgindex.pip_config() if config is None else config
    urls = pkgindex.index_urls(config)
    found = {p: pkgindex.releases(p, urls) for p in PACKAGES}
    twin = backend()
    usable, notes = usable_releases(entries, found, pkgindex.constraints(config),
                                    (twin, pkgindex.releases(twin, urls)) if twin else None)
    result = plan(entries, usable)
    result.notes = notes + result.notes
    return entries, result, pkgindex.describe(config)


class AsvMeasurer:
    """Measures ledger points with asv (one virtualenv per point, asvrun.run's history path), finds the
    slowdowns between two points with compare, and re-measures one as an interleaved A/B."""

    def __init__(self, preset, results_dir, html_dir, workloads=None, factor=1.1, pythons=None, headline=False):
        self.preset, self.results_dir, self.html_dir = preset, results_dir, html_dir
        self.workloads, self.factor, self.headline = workloads, factor, headline
        self.pythons = pythons  # {ledger entry: a python holding its release set} instead of built virtualenvs
        self.machine = asvrun.machine_name(preset)
        self.commits = {}  # ledger point -> commit hash

    def has_results(self, point):
        if not (Path(self.results_dir) / self.machine).is_dir():
            return False
        if point not in self.commits:
            self.commits = dict(ledger.build())
        commit = self.commits.get(point)  # None: a point `update` is adding, not in the ledger yet
        return commit is not None and bool(release_diff.values(self.results_dir, self.machine, commit))

    def measure(self, points):
        return asvrun.run(self.preset, self.results_dir, self.html_dir, self.workloads, points=points,
                          headline=self.headline, pythons=self.pythons)[1]

    def rows(self, a, b):
        return release_diff.rows(self.results_dir, a, b, self.machine)[2]

    def slowdowns(self, a, b):
        """The rows to confirm: worse beyond the factor, of a framework whose releases changed (an A/B of a
        row that ran the same releases at both points could only measure the host)."""
        return release_diff.regressed(self.rows(a, b), release_diff.unchanged(a, b), self.factor)

    def ab(self, row, a, b):
        return self.interleaved(row.name, a, b)

    def interleaved(self, row_name, a, b):
        return confirm.interleaved(row_name, a, b, self.machine, self.preset, self.results_dir, pythons=self.pythons)

    def publish(self):
        asvrun.publish_results(self.results_dir, self.html_dir)


def pending(entries, measurer):
    """The ledger points after the newest one this machine has results for (what another machine added,
    or what this one failed to measure last time) that lie on the way from it to the newest entry (not
    another machine's line); on a machine new to the ledger, every point on the way from the first entry."""
    newest = next((i for i in range(len(entries) - 1, -1, -1) if measurer.has_results(entries[i]["name"])), None)
    start = entries[0] if newest is None else entries[newest]
    return [e["name"] for e in entries[0 if newest is None else newest + 1:]
            if ledger.on_the_way(e, start, entries[-1])]


def measure_and_confirm(entries, todo, measurer, factor, say=print):
    """Measure the points `todo`, compare each with the one before it, confirm each slowdown by an
    interleaved A/B; returns the confirmed regressions' report paths."""
    names = [e["name"] for e in entries]
    by_name = {e["name"]: e for e in entries}
    say(f"measuring {', '.join(todo)} on {measurer.machine}")
    code = measurer.measure(list(todo))
    if code:
        say(f"some benchmarks failed while measuring (asv exit code {code}); comparing what was measured")
    reports = []
    for b in todo:
        if names.index(b) == 0:
            continue
        a = names[names.index(b) - 1]
        try:
            slow = measurer.slowdowns(a, b)
        except UsageError as exc:  # e.g. a point whose releases did not install here
            say(f"{a} -> {b}: not compared: {exc}")
            continue
        say(f"{a} -> {b}: {len(slow)} row(s) of a framework whose releases changed slower than {factor}x in the "
            "history run"
            + (", re-measuring each as an interleaved A/B" if slow else ""))
        for row in slow:
            verdict, report = confirm_row(measurer, row, a, b, by_name, factor)
            say(f"  {row.name}: {verdict.text()}")
            reports += [report] if report else []
    measurer.publish()
    return reports


def confirm_row(measurer, row, a, b, by_name, factor):
    """(verdict, report path or None): one history row re-measured as an interleaved A/B between points A
    and B (entries `by_name`), its report filed under results/regressions/ when the A/B confirms it, and
    withdrawn when an earlier A/B had confirmed it and this one does not."""
    verdict = confirm.verdict(*measurer.ab(row, a, b), factor)
    if not verdict.confirmed:
        regressions.withdraw(measurer.results_dir, measurer.machine, b, row.name)
        return verdict, None
    sides = [confirm.environment_record(measurer.results_dir, measurer.machine, by_name[p]) for p in (a, b)]
    return verdict, regressions.record(measurer.results_dir, row, verdict, *sides, measurer.machine,
                                       measurer.preset, factor)


def update(dry_run, measurer, releases_path=None, config=None, factor=1.1, say=print):
    """The whole command; returns the exit code (0 nothing slower, 1 a confirmed regression). Points are
    measured from the newest one this machine has results for, so machines sharing one ledger catch up
    with points another machine added."""
    releases_path = releases_path or ledger.RELEASES
    entries, found, where = find(releases_path, config)
    say(where)
    for note in found.notes:
        say(note)
    for entry in found.entries:
        say(f"{'would add' if dry_run else 'adding'} {entry['name']} ({entry['date']}): "
            + " ".join(f"{p}=={v}" for p, v in sorted(entry["pins"].items())))
    todo = pending(entries + found.entries, measurer)
    if not todo:
        say(f"nothing new: the ledger knows every measurable release, and {measurer.machine} has measured "
            "every point")
        return 0
    if dry_run:
        say(f"would measure on {measurer.machine}: {', '.join(todo)}")
        return 0
    if found.entries:
        append(releases_path, found.entries)
    reports = measure_and_confirm(ledger.load(releases_path), todo, measurer, factor, say)
    for path in reports:
        say(f"CONFIRMED regression: {path}")
    say(f"{len(reports)} confirmed regression(s)" if reports else "no confirmed regression")
    return 1 if reports else 0
