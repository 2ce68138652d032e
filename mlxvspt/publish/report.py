"""The results layer's rows as Markdown: PyTorch beside MLX, their ratio, a verdict.

Every benchmark with a `framework` parameter gives rows: its other parameters label the row, the two
frameworks fill the columns. Only the latest result per machine is shown; asv's site and the comparison
page hold the history. Each cell shows its spread (half the interquartile range of its samples, as a
share of the value). Three readers, three sizes: the console and `mlxvspt report` show one machine's
headline (HEADLINE: the rows people ask about first), the README one headline table per kind of machine
(GPU, CPU) with a column per machine, and docs/results/<machine>.md every row, the check summary and what
each framework ran. A machine is named as a person reads it (`device_name`), never by asv's environment.
"""
import os
import re
import subprocess
from dataclasses import replace
from pathlib import Path

from ..measure import check
from .. import jsonlines
from . import regressions, results
from ..headline import HEADLINE
from ..jsonlines import minutes
from ..errors import UsageError


def fmt(value, unit):
    if unit == "seconds":
        for scale, suffix in ((1, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {suffix}"
        return f"{value * 1e9:.3g} ns"
    if unit == "bytes":  # GiB from 10 GiB on: "6.852e+04 MiB" read badly
        return f"{value / 2**30:.3g} GiB" if value >= 10 * 2**30 else f"{value / 2**20:.4g} MiB"
    if unit == "fraction":
        return f"{value:.0%}"
    if unit == "tokens/s":
        return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
    return f"{value:.3g} {unit}"


def spread(cell):
    """"±1.6%": half the interquartile range of the samples over the value; "" without samples."""
    if cell.spread is None or not cell.value:
        return ""
    q25, q75 = cell.spread
    return f" ±{(q75 - q25) / 2 / cell.value:.1%}"


def text(cell, unit):
    if cell.status != "ok":
        return cell.status
    return fmt(cell.value, unit) + spread(cell)


def ratio(row):
    return f"{row.ratio:.3g}" if row.ratio is not None else ""


def figures(cell):
    """"1,234 tokens/s, MFU 35% of 781 TFLOP/s": a cell's derived figures, as its workload declares them."""
    shown = [f"{name} {fmt(v, unit)}" if unit == "fraction" else fmt(v, unit)
             for name, (v, unit) in cell.figures.items() if name != "peak"]
    if "peak" in cell.figures:
        shown[-1] += f" of {fmt(*cell.figures['peak'])}"
    return ", ".join(shown) or "n/a"


def ran(cell):
    """A cell's run record in one line: what the framework actually ran, and its cross-check."""
    def flat(value):
        if isinstance(value, dict):
            return ", ".join(f"{k} {flat(v)}" for k, v in value.items())
        return str(value)
    detail = f" ({cell.check_detail})" if cell.check_detail else ""
    return f"{flat(cell.ran) or 'no record'}; check {cell.check}{detail}"


def stale_note(snapshot):
    if not snapshot.stale:
        return []
    names = ", ".join(sorted(name.split(".", 1)[1] for name in snapshot.stale))
    return [f"Skipped {len(snapshot.stale)} result(s) of another benchmark version than the current one "
            f"(asv's site hides them too): {names}.", ""]


# ---------------------------------------------------------------- names a person reads

def hardware(environment):
    """"NVIDIA H100 80GB HBM3", "2 × NVIDIA H100 80GB HBM3", "Intel Xeon Processor, 2 cores"."""
    gpus = [line.split(",")[0].strip() for line in (environment.get("nvidia") or "").splitlines() if line.strip()]
    if not gpus and kind(environment) == "GPU":
        gpus = [environment.get("mlx_gpu") or environment.get("torch_gpu") or "GPU"]
    if gpus:
        return gpus[0] if len(gpus) == 1 else f"{len(gpus)} × {gpus[0]}"
    return cpu_name(environment)


def cpu_name(environment):
    """"Intel Xeon Processor, 2 cores": the CPU model without its trademark signs."""
    cpu = re.sub(r"\((R|TM|tm)\)", "", environment.get("cpu") or "unknown CPU")
    return f"{' '.join(cpu.split())}, {environment.get('cpu_count', '?')} cores"


def kind(environment):
    """"GPU" where either framework ran on a GPU backend (CUDA, Metal, MPS), else "CPU"."""
    backends = {environment.get("mlx_gpu_backend"), environment.get("torch_gpu_backend")} - {None, "none"}
    return "GPU" if environment.get("nvidia") or backends else "CPU"


def device_name(environment):
    """"NVIDIA H100 80GB HBM3 · mlx 0.32.4 · torch 2.11.0": the machine and the two releases measured."""
    versions = [f"{k} {environment[k]}" for k in ("mlx", "torch") if k in environment]
    return " · ".join([hardware(environment), *versions])


# ---------------------------------------------------------------- one machine's tables

ROW_HEADER = ["| Benchmark | PyTorch | MLX | MLX / PyTorch | Verdict |", "|---|---|---|---|---|"]


# After a host-bound row's label (results.Row.host_bound), and what it means under a table that has one.
HOST_MARK = " ʰ"
HOST_NOTE = ("ʰ host-bound: the figure hangs on the host's CPU as much as on the GPU. Quiet machines of one "
             "kind (one H100 each, the same CPU name) gave these rows values up to 2x apart; the verdict holds for "
             "the host measured (the machine's page lists its runs and the latest one's single-core probe).")
# A headline row a machine lacks: never measured there, or measured at an older version of its benchmark
# (a definition changed: the page counts those results as skipped until the machine is measured again).
MISSING_NOTE = ("—: no row of the benchmark's current version with both frameworks measured on that machine "
                "(its page names any older results it skips).")


def row_line(label, row):
    label += HOST_MARK if row.host_bound else ""
    return f"| {label} | {text(row.torch, row.unit)} | {text(row.mlx, row.unit)} | {ratio(row)} | {row.verdict} |"


def host_note(rows):
    """HOST_NOTE (and a blank line) where any of the table's rows is host-bound."""
    return [HOST_NOTE, ""] if any(row.host_bound for row in rows) else []


def measured_rows(snapshot):
    """The rows at least one framework ran (the others are n/a in both: counted, not shown)."""
    return [row for row in snapshot.rows if not all(c.status == "n/a" for c in (row.torch, row.mlx))]


def not_run_note(snapshot):
    skipped = {}
    for row in snapshot.rows:
        if all(c.status == "n/a" for c in (row.torch, row.mlx)):
            skipped[row.method] = skipped.get(row.method, 0) + 1
    if not skipped:
        return []
    return ["n/a in both frameworks here (parameter combinations): "
            + ", ".join(f"{name} x{n}" for name, n in skipped.items()), ""]


def derived_table(snapshot):
    derived = [f"| {row.label} | {figures(row.torch)} | {figures(row.mlx)} |" for row in measured_rows(snapshot)
               if row.torch.figures or row.mlx.figures]
    if not derived:
        return []
    return ["| Derived figures | PyTorch | MLX |", "|---|---|---|", *derived, "",
            "MFU: the workload's model FLOPs per second over the best matmul rate either framework reached "
            "on this machine at that precision (absent where the calibration did not run here).", ""]


def records_list(snapshot):
    records = [f"- {row.label}: PyTorch: {ran(row.torch)}. MLX: {ran(row.mlx)}." for row in measured_rows(snapshot)
               if row.torch.record or row.mlx.record]
    return ["What each framework ran (its run record):", "", *records, ""] if records else []


def machine_table(snapshot, records=True):
    """Every measured row, the derived figures, (what each framework ran,) and what was n/a."""
    rows = measured_rows(snapshot)
    out = [*ROW_HEADER, *(row_line(row.label, row) for row in rows), "", *host_note(rows)]
    out += derived_table(snapshot)
    if records:
        out += records_list(snapshot)
    return out + not_run_note(snapshot) + stale_note(snapshot)


def heading(snapshot):
    """"NVIDIA H200 · mlx 0.32.4 · torch 2.11.0 (machine NVIDIA-H200-full, release set mlx-0.32.4+torch-2.11.0)"."""
    point = snapshot.point or snapshot.commit[:8]
    return f"{device_name(snapshot.environment)} (machine {snapshot.machine}, release set {point})"


def table(results_dir, machines=None, records=True):
    """Markdown: per machine (all, or those named), every row with a ratio (MLX time / PyTorch time) and a
    verdict, the derived figures and, with `records`, what each framework ran."""
    out = []
    for machine, snap in results.latest(results_dir, machines).items():
        out += [f"### {heading(snap)}", "", *machine_table(snap, records)]
    if not out:
        return "no results yet: run `mlxvspt run` first\n"
    out.append(LEGEND)
    return "\n".join(out) + "\n"


LEGEND = (f"`n/a`: skipped on this machine (see the run log for why). `±`: half the interquartile range of the "
          f"samples, as a share of the value. A verdict needs both cells cross-checked (`unchecked` otherwise), "
          f"at least {results.MIN_SAMPLES} samples each, a timing's taken alternately (in one process where the "
          f"class alternates on that device; `not interleaved` otherwise) after a steady warm-up (`unsteady warm-up`), "
          f"and the two to differ beyond noise (`{results.NOISE}` otherwise): the rules are `verdict` in "
          f"mlxvspt/publish/results.py, explained in docs/methodology.md.")


# ---------------------------------------------------------------- the headline

def label_of(title, params):
    """A headline title at a row's params ({compiled}: "compiled, " or "eager, ")."""
    return title.format(compiled="compiled, " if params.get("compile") == "True" else "eager, ", **params)


def headline_rows(snapshot):
    """[(title, Row)]: the HEADLINE rows this machine has, each at the first candidate both frameworks ran."""
    out = []
    for title, name, candidates, mlx_from in HEADLINE:
        for params in candidates:
            row = next(filter(both_ran, (substituted(snapshot, name, {**params, "device": d}, mlx_from)
                                         for d in ("gpu", "cpu"))), None)
            if row:
                label = label_of(title, row.params)
                if label not in (t for t, _ in out):  # a later entry's first choice may be an earlier's fallback
                    out.append((label, row))
                break
    return out


def headline_place(label):
    """The HEADLINE entry a headline row's label comes from (its title at one of its candidates), so a table of
    several machines keeps HEADLINE's order where the first machine lacks a row."""
    return next(i for i, (title, _, candidates, _) in enumerate(HEADLINE) for params in candidates
                if label_of(title, params) == label)


def substituted(snapshot, name, params, mlx_from):
    """The row of `name` at `params`; where its MLX cell is n/a and `mlx_from` is given, that cell from the
    row at `mlx_from`, marked not interleaved: its samples alternated with that row's PyTorch samples, not
    with these (a timing of it gets no verdict; its value and ratio still show)."""
    row = snapshot.row(name, **params)
    if row and mlx_from and row.mlx.status == "n/a":
        other = snapshot.row(name, **{**row.params, **mlx_from})
        mlx = replace(other.mlx, record={**(other.mlx.record or {}), "interleaved": False}) if other else results.Cell()
        row = results.Row(row.benchmark, row.params, row.unit, row.torch, mlx)
    return row


def both_ran(row):
    return row is not None and "n/a" not in (row.torch.status, row.mlx.status)


def headline_table(snapshot):
    rows = headline_rows(snapshot)
    return [*ROW_HEADER, *(row_line(title, row) for title, row in rows), "",
            *host_note(row for _, row in rows)] if rows else []


def verdict_counts(snapshot):
    """"46 rows with both frameworks measured: 27 verdicts (MLX 5, PyTorch 20, ≈ 2), 10 not interleaved, ..."."""
    rows = [r for r in measured_rows(snapshot) if r.verdict]
    counts = {}
    for row in rows:
        key = row.verdict.split(" ")[0] if row.verdict.startswith(("MLX ", "PyTorch ")) else \
            "≈" if row.verdict == results.NOISE else re.sub(r" \(\d+\)$", "", row.verdict)
        counts[key] = counts.get(key, 0) + 1
    won = {k: counts.pop(k) for k in ("MLX", "PyTorch", "≈") if k in counts}
    shown = f"{sum(won.values())} verdicts ({', '.join(f'{k} {v}' for k, v in won.items())})" if won else "no verdict"
    return ", ".join([f"{len(rows)} rows with both frameworks measured: {shown}",
                      *(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))])


def console(results_dir, machine, commit=None, limit=20):
    """This machine's rows for a terminal at ledger `commit` (the release set a run measured; its newest
    where None: a run of an older release must not print the newer one's table under its own run), its
    headline, else (a run of some workloads) its first `limit` measured rows; then how its rows fared. []
    without results of it."""
    snap = results.latest(results_dir, [machine]).get(machine)
    if snap is None:
        return []
    if commit and commit != snap.commit:
        snap = results.snapshot(results_dir, machine, commit)
        if not snap.rows:
            return []
    chosen = headline_rows(snap) or [(row.label, row) for row in measured_rows(snap)]
    out = [heading(snap), "", *ROW_HEADER, *(row_line(t, r) for t, r in chosen[:limit])]
    if len(chosen) > limit:
        out.append(f"| … {len(chosen) - limit} more rows | | | | |")
    return out + ["", verdict_counts(snap)]


# ---------------------------------------------------------------- README and pages

START, END = "<!-- mlxvspt report: start -->", "<!-- mlxvspt report: end -->"
REGENERATE = "mlxvspt report --readme README.md --pages docs/results --charts docs/charts"
GENERATED = f"<!-- generated by `{REGENERATE}`: do not edit -->"
HEADLINE_PRESETS = ("small", "full")  # `history` and `tiny` sizes track releases and test the suite


def readme_text(readme):
    """The README's text; one UsageError unless it is a file holding the report markers."""
    doc = Path(readme).read_text() if Path(readme).is_file() else ""
    if START not in doc or END not in doc:
        raise UsageError(f"--readme {readme}: not a file with the report markers ({START} ... {END})")
    return doc


def committed(results_dir, machines):
    """The machines whose results git tracks (a fresh clone's own machine is not); all of them where the
    results folder is not in a git checkout."""
    try:
        out = subprocess.run(["git", "ls-files", "--", "."], cwd=results_dir, capture_output=True, text=True)
    except OSError:
        return list(machines)
    if out.returncode:
        return list(machines)
    tracked = {Path(line).parts[0] for line in out.stdout.splitlines() if len(Path(line).parts) > 1}
    return [m for m in machines if m in tracked]


def cell_verdict(row):
    """A README cell: the verdict, or why there is none with the ratio beside it."""
    if row is None:
        return "—"
    verdict = row.verdict
    if verdict.startswith(("MLX ", "PyTorch ")):
        return verdict
    if row.ratio is None:
        return " / ".join(f"{name} {c.status}" for name, c in (("PyTorch", row.torch), ("MLX", row.mlx))
                          if c.status != "ok")
    return f"{'≈' if verdict == results.NOISE else verdict or 'no verdict'} ({row.ratio:.3g})"


def readme_block(snaps, pages):
    """The README's generated part: a headline table per kind of machine (a column per machine), then every
    machine's page. `pages`: {machine: link to its page}."""
    out = []
    for what in ("GPU", "CPU"):
        mine = {m: s for m, s in snaps.items() if kind(s.environment) == what and m in pages
                and results.preset_of(m, s.environment) in HEADLINE_PRESETS}
        found = {m: dict(headline_rows(s)) for m, s in mine.items()}
        found = {m: rows for m, rows in found.items() if rows}
        if not found:
            continue
        titles = sorted(dict.fromkeys(t for rows in found.values() for t in rows), key=headline_place)[:20]
        out += [f"### {what}", "", "| Workload | " + " | ".join(
            f"[{hardware(snaps[m].environment)}]({pages[m]})" for m in found) + " |",
            "|---" * (len(found) + 1) + "|"]
        host = {t for t in titles if any(found[m].get(t) and found[m][t].host_bound for m in found)}
        out += [f"| {t}{HOST_MARK if t in host else ''} | " + " | ".join(cell_verdict(found[m].get(t)) for m in found)
                + " |" for t in titles]
        missing = any(t not in found[m] for t in titles for m in found)
        out += ["", "Releases: " + "; ".join(f"{hardware(snaps[m].environment)}: "
                                              f"{device_name(snaps[m].environment).split(' · ', 1)[-1]}"
                                              for m in found) + "." + (f" {HOST_NOTE}" if host else "")
                + (f" {MISSING_NOTE}" if missing else ""), ""]
    out += ["Every row of every machine, its checks and what each framework ran:", ""]
    out += [f"- [{device_name(s.environment)}]({pages[m]}) (`{m}`)" for m, s in snaps.items() if m in pages]
    return "\n".join(out) + "\n"


def update_readme(readme, block):
    """Put the generated block between the README's report markers (never typed by hand)."""
    doc = readme_text(readme)
    body = f"{START}\n{GENERATED}\n\n{block}\n{END}"
    Path(readme).write_text(doc[:doc.index(START)] + body + doc[doc.index(END) + len(END):])


def check_summary(results_dir, machine, point):
    """The cross-check stored for this release set: lines per workload and outcome, then every FAIL line."""
    lines = check.load(Path(results_dir) / machine / f"check-{point}.jsonl")
    if not lines:
        return ["No cross-check stored for this release set: every row reads `unchecked`.", ""]
    counts = {}
    for line in lines:
        outcome = "n/a" if line["what"] == "n/a" else "ok" if line["ok"] else "FAIL"
        counts.setdefault(line["workload"], {}).setdefault(outcome, 0)
        counts[line["workload"]][outcome] += 1
    out = ["| Workload | ok | FAIL | n/a |", "|---|---|---|---|"]
    out += [f"| {w} | {c.get('ok', 0)} | {c.get('FAIL', 0)} | {c.get('n/a', 0)} |" for w, c in sorted(counts.items())]
    failed = list(dict.fromkeys(check.Line(**{k: line.get(k) for k in check.Line.__dataclass_fields__}).text()
                                for line in lines if not line["ok"]))
    out += ["", *(["FAIL lines (a row of a failed combination gets no verdict; those traced to a framework are "
                   "[findings](../findings/README.md)):", "", "```", *failed, "```"]
                  if failed else ["Every compared quantity within its limit."]), ""]
    return out


def environment_list(snapshot):
    env = snapshot.environment
    driver = (env.get("nvidia") or "").splitlines()[0].split(", ", 1)[-1] if env.get("nvidia") else None
    items = [("GPU", (hardware(env) + (f" (driver {driver})" if driver else "")) if kind(env) == "GPU" else None),
             ("CPU", cpu_name(env) if env.get("cpu") else None),
             ("Python", env.get("python")),
             ("Releases", ", ".join(f"{k} {env[k]}" for k in ("mlx", "mlx-lm", "mlx-whisper", "torch", "transformers",
                                                               "openai-whisper", "numpy") if env.get(k))),
             ("BLAS on the CPU", ", ".join(f"{n} {env[k]}" for n, k in (("MLX", "mlx_blas"), ("PyTorch", "torch_blas"))
                                           if env.get(k))),
             ("GPU backends", ", ".join(f"{n} {env[k]}" for n, k in (("MLX", "mlx_gpu_backend"),
                                                                      ("PyTorch", "torch_gpu_backend")) if env.get(k))),
             ("Host of the latest run", host_line(env)),
             ("Preset", results.preset_of(snapshot.machine, env)),
             ("Release set", snapshot.point or snapshot.commit[:8])]
    return [f"- **{name}:** {value}" for name, value in items if value] + [""]


def probe(load):
    """"single-core probe 0.113 s" of a devices.host_load record ("0.118 s at the start, 0.064 s at the end" where
    a runs line timed it again as the run ended: the host's speed moves within a lease), None where not timed."""
    speed, end = load.get("single_core_seconds"), load.get("single_core_seconds_end")
    if not speed:
        return None
    return f"single-core probe {speed:.3f} s" + (f" at the start, {end:.3f} s at the end" if end else "")


def host_line(environment):
    """"16 cores, load 0.48 at the start, other work 2% of the CPU time then, no other GPU process, single-core
    probe 0.081 s (...)": whether other work shared the machine when the latest run began and how fast its host
    runs host-bound work (devices.host_load); None for results from before it was recorded."""
    load = environment.get("host_load")
    if not load:
        return None
    others = load.get("other_gpu_processes")
    shared = {0: "no other GPU process", None: None}.get(others, f"{others} other GPU process(es)")
    speed = probe(load)
    others_cpu = load.get("others_cpu_share")
    parts = [f"{environment.get('host_cores', '?')} cores", f"load {load.get('load_1min', '?')} at the start",
             None if others_cpu is None else f"other work {others_cpu:.0%} of the CPU time then", shared,
             f"{speed} (devices.single_core_seconds: lower is a faster host)" if speed else None]
    return ", ".join(part for part in parts if part)


def part_rows(part):
    """A runs line's part in words: its rows, how many were measured where the line says (the rest n/a:
    another tier's, a value the preset leaves out), whether the run was stopped in it, and how many files it
    compiled into the caches where the line says (none: its caches were warm, or it compiles nothing)."""
    if part.get("stopped"):
        rows = f"stopped with {part.get('measured', part['rows'])} rows measured"
    else:
        rows = f"{part['measured']} of {part['rows']} rows measured" if "measured" in part else f"{part['rows']} rows"
    compiled = part.get("compiled")
    if compiled is None:  # a line from before it was counted
        return rows
    return f"{rows}, {f'{compiled} files' if compiled else 'nothing'} compiled into the caches"


def runs_list(results_dir, machine, point):
    """The runs of this release set on the machine, from runs-<point>.jsonl: when each began, how it ended
    and each part's wall time, so a reader sees which run measured which workload and what a point costs,
    and, where the run recorded it, how fast its host ran one core (a row's host-bound figure is that host's)."""
    lines = []
    for run in jsonlines.read(Path(results_dir) / machine / f"runs-{point}.jsonl"):
        if not run.get("parts"):  # a run from before parts were recorded
            continue
        ended = {0: "ended", "interrupted": "interrupted after its last part below"}.get(
            run.get("exit_code"), f"ended with exit code {run.get('exit_code')}")
        parts = ", ".join(f"{part['workload']} on {part['device']} {minutes(part['seconds'])} ({part_rows(part)})"
                          for part in run["parts"])
        selection = " (the headline's rows, `--headline`)" if run.get("selection") == "headline" else ""
        speed = probe(run.get("host") or {})
        host = f", host's {speed}" if speed else ""
        lines.append(f"- {run['started'].replace('T', ' ').rstrip('Z')} UTC, {minutes(run['wall_seconds'])} "
                     f"in all{selection}{host}, {ended}{' (resumed)' if run.get('resumed') else ''}: {parts}")
    if not lines:
        return []
    return ["## Runs", "", "Each run of this release set here and its parts' wall times (m:ss, checks included). "
            "A row two runs measured shows the later run's value; rows of combinations these runs did not reach come "
            "from earlier runs of the same release set.", "",
            *lines, ""]


def page(results_dir, snapshot, charts=()):
    """docs/results/<machine>.md: the machine and its releases, the headline, every row, the check summary
    and what each framework ran."""
    machine = snapshot.machine
    out = [f"# {device_name(snapshot.environment)}", "", GENERATED, "",
           f"Results of the machine `{machine}` at its latest release set. How to read them: "
           "[the methodology](../methodology.md).", "", *environment_list(snapshot)]
    if headline_table(snapshot):
        out += ["## Headline", "", *headline_table(snapshot)]
    out += ["## Every row", "", verdict_counts(snapshot) + ".", "", *ROW_HEADER,
            *(row_line(row.label, row) for row in measured_rows(snapshot)), "", LEGEND, "",
            *derived_table(snapshot), *not_run_note(snapshot), *stale_note(snapshot)]
    out += runs_list(results_dir, machine, snapshot.point)
    out += ["## Cross-check", "", *check_summary(results_dir, machine, snapshot.point)]
    if charts:
        out += ["## Charts", "", *(f"![{Path(chart).stem}]({chart})\n" for chart in charts)]
    records = records_list(snapshot)
    if records:
        out += ["## What each framework ran", "", *records[2:]]
    return "\n".join(out).rstrip("\n") + "\n"


def pages_folder(folder):
    """Refuse (UsageError, nothing written) a --pages folder holding anything but pages this command wrote."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--pages {folder}: is a file, expected a folder")
    foreign = [p.name for p in sorted(folder.iterdir())] if folder.is_dir() else []
    foreign = [n for n in foreign if not (n.endswith(".md") and GENERATED in (folder / n).read_text(errors="replace"))]
    if foreign:
        raise UsageError(f"--pages {folder}: holds files mlxvspt did not write ({', '.join(foreign[:3])}): "
                         "not a results-pages folder")


def write_pages(results_dir, folder, snaps, charts=()):
    """A page per machine of `snaps` whose results are committed, and the pages of machines that have no
    committed results or are retired removed; returns {machine: page path}."""
    pages_folder(folder)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for machine in committed(results_dir, snaps):
        mine = [os.path.relpath(c, folder) for c in charts if Path(c).stem.split("-", 1)[-1] == machine]
        written[machine] = folder / f"{machine}.md"
        written[machine].write_text(page(results_dir, snaps[machine], [Path(c).as_posix() for c in mine]))
    keep = set(committed(results_dir, results.machines(results_dir))) - regressions.retired(results_dir)
    for old in folder.glob("*.md"):
        if old.stem not in keep:
            old.unlink()
    return written
