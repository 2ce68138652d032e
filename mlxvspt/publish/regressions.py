"""Confirmed regressions: one Markdown report each (what one would paste into the framework's issue
tracker), kept under results/regressions/ beside the results they come from, and what the published site
shows of them.

asv's own Regressions view lists every step its change-point detection finds in a history, noise
included. After `asv publish`, `publish` narrows that view (regressions.json and the regressions.xml
feed) to the rows confirmed by an interleaved A/B (mlxvspt.track.confirm), copies the reports to
html/regressions/ with an index page, and links it from the site's front page.
"""
import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from html import escape
from pathlib import Path
from tempfile import TemporaryDirectory

FOLDER = "regressions"
RECORDS = "confirmed.txt"  # JSON; not .json: asv takes every .json under results/ for a result file
EARLIER_RECORDS = "confirmed.json"  # what results folders written before 2026-11-27 hold
RETIRED = "retired.txt"
ATOM = "{http://www.w3.org/2005/Atom}"


def records(results_dir):
    path = next((p for p in (Path(results_dir) / FOLDER / n for n in (RECORDS, EARLIER_RECORDS)) if p.is_file()), None)
    return json.loads(path.read_text()) if path else []


def _write(path, text):
    """Write via a temporary file and rename: a killed run never leaves half a file."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text(text)
    os.replace(tmp, path)


def slug(machine, b, row_name):
    return re.sub(r"[^A-Za-z0-9.]+", "-", f"{b}--{row_name}--{machine}").strip("-")[:180]


def report(row, verdict, side_a, side_b, machine, preset, factor):
    """The Markdown report of one confirmed regression."""
    changed = {p: (side_a["pins"].get(p), v) for p, v in side_b["pins"].items() if side_a["pins"].get(p) != v}
    return "\n".join([
        f"# Slower: `{row.name}`", "",
        f"- **Benchmark:** `{row.name}` (unit: {row.unit or 'seconds'})",
        f"- **Machine:** {machine} (preset `{preset}`)",
        f"- **A (before):** `{side_a['ledger entry']}` — " + ", ".join(f"{p}=={v}" for p, v in sorted(side_a["pins"].items())),
        f"- **B (after):** `{side_b['ledger entry']}` — " + ", ".join(f"{p}=={v}" for p, v in sorted(side_b["pins"].items())),
        "- **What changed:** " + ", ".join(f"{p} {a} → {b}" for p, (a, b) in sorted(changed.items())),
        f"- **Ratio B/A:** {verdict.ratio:.3f}, interval [{verdict.low:.3f}, {verdict.high:.3f}] (from the 99% "
        f"intervals of both medians), factor {factor}",
        f"- **Confirmed by:** an interleaved A/B on the same machine, {len(verdict.samples_a)} samples each, "
        "asv's significance test on the samples",
        f"- **History run:** {row.a:.6g} → {row.b:.6g}", "",
        "## Reproduce", "",
        "```sh",
        f"mlxvspt confirm {side_a['ledger entry']} {side_b['ledger entry']} \"{row.name}\" --preset {preset}",
        "```", "",
        f"## Samples ({row.unit or 'seconds'}, one a process)", "",
        f"- A: {', '.join(f'{s:.6g}' for s in verdict.samples_a)}",
        f"- B: {', '.join(f'{s:.6g}' for s in verdict.samples_b)}", "",
        "## Environments", "",
        "### A", "", "```json", json.dumps(side_a, indent=2), "```", "",
        "### B", "", "```json", json.dumps(side_b, indent=2), "```", ""])


def record(results_dir, row, verdict, side_a, side_b, machine, preset, factor):
    """Save one confirmed regression's report and its line in RECORDS; returns the report's path."""
    folder = Path(results_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    name = slug(machine, side_b["ledger entry"], row.name)
    _write(folder / f"{name}.md", report(row, verdict, side_a, side_b, machine, preset, factor))
    _save(results_dir, _others(results_dir, f"{name}.md") + [
        {"benchmark": row.name, "machine": machine, "a": side_a["ledger entry"], "b": side_b["ledger entry"],
         "ratio": verdict.ratio, "low": verdict.low, "high": verdict.high, "report": f"{name}.md"}])
    return folder / f"{name}.md"


def withdraw(results_dir, machine, b, row_name):
    """Remove the report of a regression a later A/B did not confirm (the latest evidence stands)."""
    name = slug(machine, b, row_name) + ".md"
    report_path = Path(results_dir) / FOLDER / name
    if report_path.is_file():  # `record` writes a report and its line together
        _save(results_dir, _others(results_dir, name))
        report_path.unlink()


def _others(results_dir, report_name):
    """The confirmed records but the one whose report is `report_name`."""
    return [r for r in records(results_dir) if r["report"] != report_name]


def _save(results_dir, kept):
    _write(Path(results_dir) / FOLDER / RECORDS, json.dumps(kept, indent=2) + "\n")
    (Path(results_dir) / FOLDER / EARLIER_RECORDS).unlink(missing_ok=True)


def retired(results_dir):
    """Machines (one name a line in results/retired.txt) whose results stay committed but leave the site."""
    path = Path(results_dir) / RETIRED
    lines = path.read_text().splitlines() if path.is_file() else []
    return {line.split("#")[0].strip() for line in lines} - {""}


@contextmanager
def without_retired(results_dir):
    """The results folder to publish: the folder itself, or a copy without the retired machines."""
    gone = retired(results_dir)
    if not gone:
        yield Path(results_dir)
        return
    with TemporaryDirectory(prefix="mlxvspt-publish-") as tmp:
        shutil.copytree(results_dir, tmp, dirs_exist_ok=True,
                        ignore=lambda folder, names: [n for n in names if Path(folder) == Path(results_dir) and n in gone])
        yield Path(tmp)


def publish(results_dir, site_dir):
    """Narrow the published site's Regressions view to the confirmed ones and publish their reports."""
    site_dir = Path(site_dir)
    confirmed = records(results_dir)
    keep = {(r["benchmark"], r["machine"]) for r in confirmed}
    listed = site_dir / "regressions.json"
    if listed.is_file():
        data = json.loads(listed.read_text())
        data["regressions"] = [r for r in data.get("regressions", []) if (r[0], r[2].get("machine")) in keep]
        listed.write_text(json.dumps(data))
    feed = site_dir / "regressions.xml"
    if feed.is_file():
        ET.register_namespace("", ATOM.strip("{}"))
        tree = ET.parse(feed)
        for entry in tree.getroot().findall(f"{ATOM}entry"):
            title, link = entry.findtext(f"{ATOM}title", ""), entry.find(f"{ATOM}link")
            href = link.get("href", "") if link is not None else ""
            if not any(title.endswith(" " + b) and f"machine={m}&" in href + "&" for b, m in keep):
                tree.getroot().remove(entry)
        tree.write(feed, encoding="utf-8", xml_declaration=True)
    folder = site_dir / FOLDER
    folder.mkdir(exist_ok=True)
    for r in confirmed:
        shutil.copyfile(Path(results_dir) / FOLDER / r["report"], folder / r["report"])
    items = "".join(f'<li><a href="{escape(r["report"])}">{escape(r["benchmark"])}</a> on {escape(r["machine"])}: '
                    f'{escape(r["a"])} → {escape(r["b"])}, {r["ratio"]:.3f}x [{r["low"]:.3f}, {r["high"]:.3f}]</li>'
                    for r in confirmed)
    (folder / "index.html").write_text(
        "<!doctype html><meta charset=utf-8><title>Confirmed regressions</title><h1>Confirmed regressions</h1>"
        "<p>Slowdowns between consecutive ledger points that an interleaved A/B re-measurement confirmed. "
        "Each report is Markdown, ready for the framework's issue tracker.</p>"
        + (f"<ul>{items}</ul>" if items else "<p>None.</p>") + '<p><a href="../index.html">back to the site</a></p>\n')
    index = site_dir / "index.html"
    if index.is_file() and 'id="mlxvspt-confirmed"' not in index.read_text():
        link = (f'<div id="mlxvspt-confirmed" style="position:fixed;right:1em;bottom:1em;z-index:9">'
                f'<a href="{FOLDER}/index.html">Confirmed regressions ({len(confirmed)})</a></div>')
        index.write_text(index.read_text().replace("</body>", link + "</body>", 1))
