"""The comparison page: which of MLX and PyTorch is faster, per workload, on one machine.

`write(results_dir, html_dir)` renders the results layer into the published site beside asv's pages:
compare.json (the data) and compare.html (comparison.html beside this file, with the same data inline,
so the page needs no server, no CDN and no network), and links it from asv's navigation bar. The page
picks a machine (the newest run first), a precision and a path; per workload it shows PyTorch, MLX,
their ratio with its interval, the verdict, the cross-checks and peak memory, each row linked to asv's
graph with the same parameters selected; a chart of the ratio across ledger points; what changed
since the previous ledger point; and the findings (docs/findings/: each report and its repro).
"""
import json
from pathlib import Path

from . import release_diff, report, results
from .. import ledger

TEMPLATE = Path(__file__).with_name("comparison.html")
FINDINGS = Path(__file__).resolve().parents[2] / "docs" / "findings"
DATA_MARK = "/*COMPARE_DATA*/null"
# Memory becomes a column of the row it belongs to; accuracy figures stay on asv's graphs.
NOT_ROWS = {"bytes", "rel. error"}
NAV_AFTER = '<li id="nav-li-regressions"><a href="#/regressions">Regressions</a></li>'
NAV_LINK = '<li id="mlxvspt-compare"><a href="compare.html">MLX vs PyTorch</a></li>'
CHANGE_FACTOR = 1.1  # as `mlxvspt compare` by default


def asv_url(meta, row, machine):
    """index.html#<benchmark>?machine=..&p-<param>=<asv's repr>..: asv's graph with this row's
    parameters selected, both frameworks shown."""
    from urllib.parse import quote

    info = meta.get(row.benchmark, {})
    parts = [("machine", machine)]
    for name, values in zip(info.get("param_names", []), info.get("params", [])):
        wanted = ("mlx", "torch") if name == "framework" else (row.params.get(name),)
        parts += [(f"p-{name}", v) for v in values if results.unquote(v) in wanted]
    return f"index.html#{row.benchmark}?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in parts)


def cell_data(cell, unit):
    return {"text": report.text(cell, unit), "n": cell.n, "check": cell.check, "check_detail": cell.check_detail,
            "ran": report.ran(cell) if cell.record else ""}


def ratio_text(row):
    if row.ratio is None:
        return ""
    interval = row.ratio_interval
    return f"{row.ratio:.3g}" + (f" ({interval[0]:.3g}–{interval[1]:.3g})" if interval else "")


def title(row):
    return results.workload_title(row.workload) if row.workload else row.benchmark.split(".")[0]


def shown(snapshot):
    """The rows of a snapshot the page shows (memory and accuracy rows fold into them or stay out)."""
    return [r for r in snapshot.rows if r.unit not in NOT_ROWS and not (r.torch.status == r.mlx.status == "n/a")]


def memory(snapshot):
    """{(workload, parameters): Row of peak memory (unit bytes)}: the memory column of the rows with
    the same workload and parameters."""
    return {(r.workload, tuple(sorted(r.params.items()))): r for r in snapshot.rows if r.unit == "bytes"}


def row_data(row, snapshot, meta, memories):
    mem = memories.get((row.workload, tuple(sorted(row.params.items()))))
    return {"key": row_key(row), "workload": row.workload,
            "title": title(row), "label": row.label, "precision": row.precision, "path": row.path,
            "torch": cell_data(row.torch, row.unit), "mlx": cell_data(row.mlx, row.unit), "ratio": row.ratio,
            "ratio_text": ratio_text(row), "verdict": row.verdict or "n/a",
            "memory": {fw: report.text(c, "bytes") for fw, c in mem.cells.items()} if mem else None,
            "asv": asv_url(meta, row, snapshot.machine)}


def row_key(row):
    return f"{row.benchmark} {json.dumps(row.params, sort_keys=True)}"


def history(snaps):
    """{"points": [ledger entry], "series": [{key, title, label, precision, path, ratios, borrowed}]}:
    the ratio of every shown row at each ledger point the machine has results for (null where not
    measured). Where one framework was not re-run at a point (a new MLX release measured on its own),
    its cell comes from the nearest point with the same releases of that framework: `borrowed` says so."""
    pins = ledger.pins()
    index = [{row_key(r): r for r in snap.rows} for snap in snaps]
    series = {}
    for i, snap in enumerate(snaps):
        for row in shown(snap):
            key = row_key(row)
            entry = series.setdefault(key, {"key": key, "title": title(row), "label": row.label,
                                            "precision": row.precision, "path": row.path,
                                            "ratios": [None] * len(snaps), "borrowed": [False] * len(snaps)})
            cells = dict(row.cells)
            for fw, cell in row.cells.items():
                others = sorted((j for j in range(len(snaps)) if j != i and key in index[j]), key=lambda j: abs(j - i))
                found = next((index[j][key].cells[fw] for j in others if index[j][key].cells[fw].ok
                              and ledger.same_releases(pins, snap.point, snaps[j].point, fw)), None)
                if not cell.ok and found:
                    cells[fw], entry["borrowed"][i] = found, True
            if cells["torch"].ok and cells["mlx"].ok and cells["torch"].value > 0:
                entry["ratios"][i] = cells["mlx"].value / cells["torch"].value
    return {"points": [s.point or s.commit[:8] for s in snaps], "series": list(series.values())}


def changes(snaps):
    """What changed from the previous ledger point to the latest: the releases, and every framework
    cell that got slower or faster by more than CHANGE_FACTOR where asv's test on the samples agrees;
    a cell pair is tested only with MIN_SAMPLES samples each and no failed cross-check (else `untested`). A
    cell of a framework at the same releases at both points moved with the host: it says `same release`."""
    if len(snaps) < 2:
        return None
    before, after = snaps[-2], snaps[-1]
    pins = ledger.pins()
    old, new = pins.get(before.point, {}), pins.get(after.point, {})
    same_releases = release_diff.unchanged(before.point, after.point, pins)
    releases = [f"{p} {old.get(p, '-')} → {new.get(p, '-')}" for p in sorted(old.keys() | new.keys())
                if old.get(p) != new.get(p)]
    a, b = release_diff.measured(before), release_diff.measured(after)
    moved, same, untested = [], 0, 0
    for key in sorted(a.keys() & b.keys()):
        (cell_a, unit), (cell_b, _) = a[key], b[key]
        if not all(c.sampled and c.check != "failed" for c in (cell_a, cell_b)):
            untested += 1
            continue
        mark = release_diff.change(cell_a, cell_b, CHANGE_FACTOR)
        if mark in ("slower", "faster"):
            benchmark, framework, params = key
            named = ", ".join(f"{name}={results.unquote(value)}" for name, value in params)
            moved.append({"text": f"{release_diff.FRAMEWORK_NAMES[framework]} {benchmark.split('.', 1)[1]} "
                                  f"({named}): {report.fmt(cell_a.value, unit)} → {report.fmt(cell_b.value, unit)}",
                          "mark": mark, "same_release": framework in same_releases,
                          "said": release_diff.said(mark, unit, framework in same_releases)})
        else:
            same += 1
    return {"from": before.point, "to": after.point, "releases": releases, "moved": moved, "unchanged": same,
            "untested": untested, "factor": CHANGE_FACTOR}


def findings(folder=FINDINGS):
    """[{title, report, repro_name, repro}]: each finding's Markdown report and the repro beside it
    (name-with-dashes.md and name_with_underscores.py), for the page to show as text."""
    out = []
    for page in sorted(Path(folder).glob("*.md")):
        if page.name == "README.md":
            continue
        text = page.read_text(encoding="utf-8")
        repro = page.with_name(page.stem.replace("-", "_") + ".py")
        out.append({"title": next((line[2:] for line in text.splitlines() if line.startswith("# ")), page.stem),
                    "report": text, "repro_name": repro.name if repro.is_file() else None,
                    "repro": repro.read_text(encoding="utf-8") if repro.is_file() else None})
    return out


def data(results_dir):
    """Everything the page shows, newest run first."""
    meta = results.benchmarks(results_dir)
    machines = []
    for machine, snap in sorted(results.latest(results_dir).items(), key=lambda item: -item[1].run_at):
        snaps = results.history(results_dir, machine)
        memories = memory(snap)
        machines.append({"name": machine, "device": report.device_name(snap.environment), "point": snap.point,
                         "stale": len(snap.stale), "rows": [row_data(r, snap, meta, memories) for r in shown(snap)],
                         "history": history(snaps), "changes": changes(snaps)})
    return {"machines": machines, "min_samples": results.MIN_SAMPLES, "noise": results.NOISE, "findings": findings()}


def link_from_asv(html_dir):
    """Add the page to asv's navigation bar (once)."""
    index = Path(html_dir) / "index.html"
    if not index.is_file():
        return
    text = index.read_text(encoding="utf-8")
    if NAV_LINK not in text and NAV_AFTER in text:
        index.write_text(text.replace(NAV_AFTER, NAV_AFTER + "\n\t" + NAV_LINK), encoding="utf-8")


def write(results_dir, html_dir):
    """compare.json and compare.html into html_dir, linked from asv's index.html; returns the page."""
    html_dir = Path(html_dir)
    html_dir.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(data(results_dir), ensure_ascii=False, allow_nan=False)
    (html_dir / "compare.json").write_text(payload + "\n", encoding="utf-8")
    page = html_dir / "compare.html"
    # inline in a <script>: "</" must not close it
    page.write_text(TEMPLATE.read_text(encoding="utf-8").replace(DATA_MARK, payload.replace("</", "<\\/")),
                    encoding="utf-8")
    link_from_asv(html_dir)
    return page
