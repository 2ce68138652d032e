"""What a run will measure, and how long it should take on this machine, before anything runs.

A run is made of parts, one measuring process each: a workload on a device (mlxvspt.measure.process). Each run
writes every part's wall time, row counts (asked, measured and, of a part that ended, the plan's count), sizes and
the files it compiled into the caches into the point's `runs-<point>.jsonl` beside its results; the plan takes the
latest figure per part from this machine's files (any point; a run of the same selection first, then one at the
present sizes, then one that measured the part whole, then one whose compile caches were warm or empty as they
are now), else the same preset's reference machine's at this machine's speed, scaled by the rows to measure now
(those no class refuses before building: another tier's rows cost nothing) over the plan's count then (else the
rows measured then, else those asked); the run's time left follows it (mlxvspt.track.progress), and `--budget`
refuses a selection whose estimate exceeds it, naming the parts that would fit.
"""
import functools
import hashlib
import itertools
import json
import re
from pathlib import Path

from ..errors import UsageError
from .. import headline, jsonlines
from ..jsonlines import minutes
from ..measure import presets, settings
from ..measure.devices import DEVICES, FRAMEWORKS
from ..publish.results import unquote


def parts(results_dir, modules, only=None, devices=None, headline_at=None):
    """{(workload, device): [[benchmark, param index], ...]} of the benchmarks of the last discovery
    (results/benchmarks.json) in `modules` whose name `only` matches, on the chosen devices and
    frameworks, in the order of `modules`; the rows another selection leaves out are not asked for at all.
    `headline_at` (a preset): only the rows of the headline's combinations at that preset (`in_headline`)."""
    path = Path(results_dir) / "benchmarks.json"
    known = json.loads(path.read_text()) if path.is_file() else {}
    devices = devices or settings.devices() or list(DEVICES)
    frameworks = settings.frameworks() or list(FRAMEWORKS)
    found = {}
    for name in sorted(known):
        module = name.split(".")[0]
        if name == "version" or module not in modules or not re.search(only or "", name):
            continue
        names = known[name].get("param_names", [])
        for idx, params in enumerate(itertools.product(*known[name]["params"])):
            named = dict(zip(names, map(unquote, params)))
            framework, device = named.get("framework"), named.get("device", "cpu")
            if headline_at and not in_headline(module, named, headline_at, device):
                continue
            if device in devices and framework in frameworks + [None]:
                found.setdefault((module.removeprefix("bench_"), device), []).append([name, idx])
    order = {module: i for i, module in enumerate(modules)}
    return dict(sorted(found.items(), key=lambda item: order[f"bench_{item[0][0]}"]))


# The preset's list of the values a parameter takes on a device (presets.TABLE), per parameter name.
PRESET_LISTS = {"path": "paths", "precision": "precisions", "batch": "batches", "n": "sizes", "scheme": "schemes"}


def in_headline(module, named, preset, device):
    """Whether a row (its benchmark module and named parameters) is of a headline row's combination on
    `device` at `preset`: a class of the headline benchmark's module at that row's chosen parameters (its
    time, memory, energy and other figures alike), the headline's first candidate the preset measures there."""
    return any(all(named.get(k) == v for k, v in params.items()) for params in headline_params(module, preset, device))


@functools.lru_cache(maxsize=None)
def headline_params(module, preset, device):
    """The headline's chosen parameters of the benchmarks of `module` on `device` at `preset` (once each)."""
    workload = module.removeprefix("bench_")
    if workload not in presets.TABLE:
        return ()
    sizes = presets.sizes(workload, preset, device)

    def measured(key, value):
        if (key, value, device) == ("precision", "tf32", "cpu"):  # n/a there (devices.Target.activate)
            return False
        listed = sizes.get(PRESET_LISTS.get(key), None)
        return listed is None or value in map(str, listed)

    return tuple(params for name, chosen in headline.first_choices(measured).items() if name.split(".")[0] == module
                 for params in chosen)


def sizes_key(workload, preset):
    """A short fingerprint of a workload's sizes at a preset (presets.TABLE), which each part's duration in a
    runs line carries: a duration measured at other sizes (TinyLlama's 64 new tokens a sample at `full`, 32
    since) stands in only where no run measured the part at these."""
    table = presets.TABLE.get(workload, {}).get(preset)
    return hashlib.sha1(json.dumps(table, sort_keys=True).encode()).hexdigest()[:8]


def durations(results_dir, machine, headline=False, warm=None):
    """{(workload, device): (seconds, rows asked, rows measured, rows the plan counted)}: the latest duration of each
    part on `machine`, of a run of the same selection (`headline`: `--headline`'s), at the preset's present
    sizes and with the compile caches as they are now (`warm`) where there is one (`durations_of`); for a part
    it has not measured (a fresh clone, a workload run here for the first time), the most recent of the other
    machines of the same preset in the results (a reference machine's, e.g. linux-2core-small's for vm-small),
    at this machine's speed relative to them."""
    results_dir = Path(results_dir)
    preset = machine.rsplit("-", 1)[-1]
    mine = durations_of(results_dir.glob(f"{machine}/runs-*.jsonl"), headline, preset, warm)
    others = durations_of((path for path in results_dir.glob(f"*-{preset}/runs-*.jsonl")
                           if path.parent.name != machine), headline, preset, warm)
    speed = relative_speed(mine, others)
    return {**{part: (seconds * speed, *rows) for part, (seconds, *rows) in others.items()}, **mine}


def relative_speed(mine, others):
    """How many times as long this machine took as the others on the parts both measured, row for row (1
    where none): a machine slower than the reference is as much slower on the parts it never ran."""
    common = mine.keys() & others.keys()
    theirs = sum(others[part][0] * mine[part][1] / max(others[part][1], 1) for part in common)
    return sum(mine[part][0] for part in common) / theirs if theirs else 1.0


def durations_of(paths, headline=False, preset=None, warm=None):
    """{part: (seconds, rows asked, rows measured, rows the plan counted; None where the file does not say)}: the
    latest duration of each part in runs files, preferring a run of the same selection's (`headline`): the
    headline's rows are a part's dearest (compiled best paths), and one H100's BERT headline, estimated at a
    full run's seconds a row, took 3:35 for an estimate of 0:59, while a full BERT run estimated from a headline
    one's took 5:47 for an estimate of 11:26. Then one at `preset`'s present sizes (`sizes_key`; a part written
    before the key was recorded counts as other sizes: TinyLlama's halved tokens put its estimate 1.5x over).
    Then a part a stopped run cut short only where no run measured it whole (its rows are those that ended,
    often the cheap ones first; one H100's warm matmul part, stopped at 30 of its 72 rows, estimated the whole
    at 2:23 against a whole run's 1:47). Never a part that gave no row a value, stopped or not (a lease that
    ended as the part began, a part whose rows all failed or were n/a: its seconds over no row would estimate
    anything; a crashed matmul part's 6 s became the next plan's estimate, and it took 16 s). Then one whose
    compile caches were as they are now (`caches_as_now`): one H100's BERT part took 5:48 with its caches cold
    and 2:17 warm."""
    latest = {}
    for path in sorted(paths):
        for line in jsonlines.read(path):
            same = (line.get("selection") == "headline") == headline
            for part in line.get("parts", []):
                if part.get("measured") == 0:
                    continue
                sizes = part.get("sizes") == sizes_key(part["workload"], preset)
                key = (part["workload"], part["device"])
                rank = (same, sizes, not part.get("stopped"), caches_as_now(part, warm), line["started"])
                if key not in latest or rank >= latest[key][0]:
                    latest[key] = (rank, part["seconds"], part["rows"], part.get("measured"), part.get("planned"))
    return {key: tuple(figures) for key, (_, *figures) in latest.items()}


def caches_as_now(part, warm):
    """1 where a runs line's part ran with its compile caches as they are now (`warm`: whether they hold any
    file; a part that added none to them ran warm), 0 where not, 0.5 where either is not known."""
    if warm is None or "compiled" not in part:
        return 0.5
    return float((part["compiled"] == 0) == warm)


def to_measure(planned, benchmark_dir):
    """{part: how many of its rows will be measured}: its rows less those their classes refuse before
    anything is built (another tier's, a value the preset leaves out, a framework or precision not chosen),
    which cost a run nothing; a plain asv class's rows all count."""
    from ..measure import process

    def refused(row):
        try:
            getattr(row.bench, "refuse", lambda *params, runnable: None)(*row.params, runnable=True)
        except NotImplementedError:
            return True
        except Exception:  # noqa: BLE001 (the measuring process reports it; the plan counts the row)
            pass
        return False

    return {part: sum(not refused(row) for row in process.rows_of(benchmark_dir, rows))
            for part, rows in planned.items()}


def estimate(planned, counts, known):
    """{part: seconds or None (never measured here)}: the last duration scaled by the rows to measure now (`counts`,
    from `to_measure`) over the rows the plan counted then, the same count of the same rows (it counts the rows a
    workload refuses only as it builds, TinyLlama's batch 2 on a GPU, as its rows measured do not: 180 against 120
    put TinyLlama's 11 minutes of an H100 point at 17:53); where its runs line does not say, over the rows it
    measured then; where it says neither (a run from before they were counted), by the rows asked now over the rows
    asked then."""
    estimates = {}
    for part, rows in planned.items():
        if not counts[part]:  # nothing to measure costs nothing
            estimates[part] = 0.0
            continue
        if part not in known:
            estimates[part] = None
            continue
        seconds, asked, measured, counted = known[part]
        then = counted if counted is not None else measured
        share = counts[part] / max(then, 1) if then is not None else len(rows) / max(asked, 1)
        estimates[part] = seconds * share
    return estimates


def forecast(planned, benchmark_dir, results_dir, machine, headline=False, warm=None):
    """(counts, estimates) of a selection on `machine` (`headline`: `--headline`'s; `warm`: whether the compile
    caches hold anything now): the rows each part will measure (`to_measure`) and its estimated seconds from the
    machine's last durations (`estimate`), as the plan line and `--budget` read them."""
    counts = to_measure(planned, benchmark_dir)
    return counts, estimate(planned, counts, durations(results_dir, machine, headline, warm))


def describe(planned, counts, estimates):
    """The plan's lines: each part with its rows, those to measure, and its estimate; then the total."""
    lines = [f"  {workload} on {device}: {len(planned[(workload, device)])} rows, {counts[(workload, device)]} to "
             f"measure, ~{minutes(seconds)}" for (workload, device), seconds in estimates.items()]
    known = [s for s in estimates.values() if s is not None]
    unknown = [f"{w} on {d}" for (w, d), s in estimates.items() if s is None]
    total = f"~{minutes(sum(known))}" if known else "no estimate"
    total += f" (no earlier duration of {', '.join(unknown)})" if unknown else ""
    return [f"plan: {len(planned)} parts, {sum(map(len, planned.values()))} rows, {sum(counts.values())} to measure, "
            f"{total}"] + lines


def within(budget_minutes, estimates):
    """Refuse (UsageError) a selection whose estimate exceeds the budget, naming what would fit, or that has
    a part no earlier run here (or on another machine) gives a duration for: a budget cannot vouch for it."""
    if budget_minutes is None:
        return
    if not budget_minutes > 0:
        raise UsageError(f"--budget {budget_minutes:g}: give a positive number of minutes")
    unknown = [f"{workload} on {device}" for (workload, device), s in estimates.items() if s is None]
    if unknown:
        raise UsageError(f"--budget {budget_minutes:g} min: no earlier duration of {', '.join(unknown)} to estimate "
                         f"it by; run it once without --budget")
    need = sum(estimates.values())
    if need <= budget_minutes * 60:
        return
    fits, spent = [], 0.0
    for part, seconds in sorted(estimates.items(), key=lambda kv: kv[1]):
        if spent + seconds <= budget_minutes * 60:
            fits.append(f"--workload {part[0]} --device {part[1]}")
            spent += seconds
    hint = f"; within it: {' / '.join(fits)} (~{minutes(spent)})" if fits else "; no part fits it"
    raise UsageError(f"--budget {budget_minutes:g} min: this selection needs ~{minutes(need)} here{hint}")
