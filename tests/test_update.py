"""`mlxvspt update` end to end against a local file:// simple index of small fake wheels, read through
pip's own configuration (PIP_* variables, no config files); measuring is injected, so no virtualenvs."""
import json
import os
import time
import zipfile
from pathlib import Path
from datetime import datetime, timezone

import pytest

from mlxvspt import cli, ledger
from mlxvspt.publish import release_diff, regressions
from mlxvspt.track import confirm, pkgindex, update
from mlxvspt.errors import UsageError

ANY = "py3-none-any"
WINDOWS_ONLY = "cp311-cp311-win_amd64"
PINS = {"mlx": "0.32.4", "mlx-lm": "0.32.2", "mlx-whisper": "0.4.3", "torch": "2.14.1",
        "transformers": "5.24.0", "openai-whisper": "20250625", "numpy": "2.4.6"}
ENTRIES = [{"name": "mlx-0.32.4", "date": "2026-10-14", "pins": {**PINS, "torch": "2.13.0"}},
           {"name": "torch-2.14.1", "date": "2026-10-16", "pins": PINS}]
# What the fake index holds beyond the ledger: (project, version, date, wheel tag, yanked reason or None)
NEW = [("mlx", "0.33.0", "2026-11-02", ANY, None), ("mlx-cpu", "0.33.0", "2026-11-02", ANY, None),
       ("mlx-lm", "0.33.0", "2026-11-01", ANY, None), ("torch", "2.15.0", "2026-10-28", ANY, None)]
KNOWN = [(p, v, "2026-10-14", ANY, None) for p, v in PINS.items() if p != "numpy"] + \
    [("mlx-cpu", "0.32.4", "2026-10-14", ANY, None)]


def write_index(root, releases):
    """A PEP 503 simple index: one page per project linking small wheels dated by their mtime."""
    pages = {}
    for project, version, date, tag, yanked in releases:
        folder = root / project
        folder.mkdir(parents=True, exist_ok=True)
        wheel = folder / f"{project.replace('-', '_')}-{version}-{tag}.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr(f"{project.replace('-', '_')}-{version}.dist-info/METADATA",
                       f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n")
        stamp = datetime.fromisoformat(date).replace(hour=12, tzinfo=timezone.utc).timestamp()
        os.utime(wheel, (stamp, stamp))
        attr = "" if yanked is None else f' data-yanked="{yanked}"'
        pages.setdefault(project, []).append(f'<a href="{wheel.name}"{attr}>{wheel.name}</a>')
    for project, links in pages.items():
        (root / project / "index.html").write_text("<!DOCTYPE html><html><body>" + "".join(links) + "</body></html>")


@pytest.fixture
def index(tmp_path, monkeypatch):
    """A local index with the ledger's releases plus NEW; pip sees only it (no config files)."""
    def make(extra=(), constraint=None):
        root = tmp_path / f"simple-{time.monotonic_ns()}"
        write_index(root, KNOWN + NEW + list(extra))
        monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
        monkeypatch.setenv("PIP_INDEX_URL", root.as_uri())
        monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
        if constraint:
            (tmp_path / "constraints.txt").write_text(f"# a cap\n{constraint}\n")
            monkeypatch.setenv("PIP_CONSTRAINT", str(tmp_path / "constraints.txt"))
        else:
            monkeypatch.delenv("PIP_CONSTRAINT", raising=False)
        return root
    monkeypatch.setattr(update, "backend", lambda: "mlx-cpu")  # as on a CPU-only Linux machine
    return make


@pytest.fixture
def releases(tmp_path, monkeypatch):
    path = tmp_path / "releases.json"
    path.write_text(json.dumps({"_about": "test ledger", "entries": ENTRIES}, indent=2) + "\n")
    monkeypatch.setattr(ledger, "RELEASES", path)
    return path


def run(dry_run, measurer=None):
    lines = []
    code = update.update(dry_run, measurer or FakeMeasurer(None, {}), say=lines.append)
    return code, lines


def test_dry_run_lists_new_points_and_writes_nothing(index, releases):
    index()
    before = releases.read_text()
    code, lines = run(dry_run=True)
    assert code == 0 and releases.read_text() == before
    # torch's point keeps the then-newest MLX side; MLX's point brings its contemporaneous mlx-lm
    assert any(line.startswith("would add torch-2.15.0 (2026-10-28): ") and "mlx==0.32.4" in line and
               "torch==2.15.0" in line for line in lines), lines
    assert any(line.startswith("would add mlx-0.33.0 (2026-11-02): ") and "mlx-lm==0.33.0" in line and
               "torch==2.15.0" in line for line in lines), lines


@pytest.mark.parametrize("extra, constraint, expected", [
    ([("torch", "2.15.1", "2026-11-05", ANY, "broken CUDA wheels")], None, "left out torch 2.15.1: yanked (broken CUDA wheels)"),
    ([("torch", "2.15.1", "2026-11-05", WINDOWS_ONLY, None)], None, "left out torch 2.15.1: no wheel for this platform"),
    ([("mlx", "0.33.1", "2026-11-06", ANY, None)], None, "left out mlx 0.33.1: its backend: no mlx-cpu 0.33.1 on the index"),
    ([], "torch<=2.14.1", "left out torch 2.15.0: pip's own constraint torch<=2.14.1 (in "),
])
def test_releases_that_cannot_be_measured_here_are_left_out_with_a_reason(index, releases, extra, constraint, expected):
    index(extra, constraint)
    code, lines = run(dry_run=True)
    assert code == 0
    assert any(line.startswith(expected) for line in lines), lines
    package, version = expected.split()[2], expected.split()[3].rstrip(":")
    added = [line for line in lines if line.startswith("would add")]
    assert added and not any(f"{package}=={version} " in line + " " for line in added), added


class FakeMeasurer:
    """Stands in for asv: every point 'measured', two slowdowns in the history run, A/B samples chosen
    so that one is confirmed and one is not."""

    def __init__(self, results_dir, ab_samples, measured_here=("mlx-0.32.4", "torch-2.14.1")):
        self.machine, self.preset, self.results_dir = "testbox-history", "history", results_dir
        self.ab_samples, self.measured, self.published = ab_samples, [], 0
        self.measured_here = measured_here

    def has_results(self, point):
        return point in self.measured_here

    def measure(self, points):
        self.measured.append(points)
        return 0

    def slowdowns(self, a, b):
        return [release_diff.Row("bench_matmul.Matmul.time_matmul", (f"'{fw}'", "'cpu'", "'fp32'", "1024"), 1.0,
                            (None, None), 1.3, (None, None), "seconds") for fw in self.ab_samples]

    def rows(self, a, b):
        return self.slowdowns(a, b)

    def ab(self, row, a, b):
        return self.ab_samples[row.combo[0].strip("'")]

    def publish(self):
        self.published += 1


STEADY = [1.0, 1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01, 0.99, 1.0]


def test_update_appends_measures_and_reports_only_the_confirmed_slowdown(index, releases, tmp_path):
    index()
    before = ledger.build(releases, tmp_path / "before")
    measurer = FakeMeasurer(tmp_path / "results", {"mlx": (STEADY, [1.3 * s for s in STEADY]),  # real
                                                   "torch": (STEADY, list(reversed(STEADY)))})  # noise
    code, lines = run(dry_run=False, measurer=measurer)
    assert code == 1, lines
    after = ledger.build(releases, tmp_path / "after")
    assert after[:2] == before and [name for name, _ in after[2:]] == ["torch-2.15.0", "mlx-0.33.0"]
    assert measurer.measured == [["torch-2.15.0", "mlx-0.33.0"]] and measurer.published == 1
    records = regressions.records(tmp_path / "results")
    assert [r["benchmark"] for r in records] == ["bench_matmul.Matmul.time_matmul('mlx', 'cpu', 'fp32', 1024)"] * 2
    assert not list((tmp_path / "results" / "regressions").glob("*.json"))  # asv would read it as a result
    report = (tmp_path / "results" / "regressions" / records[0]["report"]).read_text()
    assert "torch 2.14.1 → 2.15.0" in report and "mlxvspt confirm torch-2.14.1 torch-2.15.0" in report
    assert "Ratio B/A:** 1.300" in report and '"pins"' in report
    assert any("time_matmul('torch'" in line and "not confirmed" in line for line in lines)


@pytest.mark.parametrize("slower", [True, False])
def test_confirm_files_a_confirmed_history_row_as_update_does(tmp_path, monkeypatch, capsys, slower):
    """`mlxvspt confirm` on a row of the history: confirmed, its report is filed and the site published
    (the Regressions page shows it); not confirmed, nothing is filed."""
    measurer = FakeMeasurer(tmp_path / "results", {"mlx": (STEADY, [(1.3 if slower else 1.0) * s for s in STEADY])})
    monkeypatch.setattr(cli, "measurer", lambda args: measurer)
    row = measurer.rows("mlx-0.31.2", "mlx-0.32.4")[0]
    code = cli.main(["confirm", "mlx-0.31.2", "mlx-0.32.4", row.name])
    records = regressions.records(tmp_path / "results")
    assert code == int(slower) and measurer.published == 1
    assert [(r["benchmark"], r["a"], r["b"]) for r in records] == [(row.name, "mlx-0.31.2", "mlx-0.32.4")] * slower
    assert ("report: " in capsys.readouterr().out) == slower


def test_an_ab_that_no_longer_confirms_withdraws_the_report(tmp_path, monkeypatch):
    """The latest A/B stands: a row confirmed once and not confirmed when measured again leaves the
    Regressions page."""
    slow = FakeMeasurer(tmp_path / "results", {"mlx": (STEADY, [1.3 * s for s in STEADY])})
    monkeypatch.setattr(cli, "measurer", lambda args: slow)
    row = slow.rows("mlx-0.31.2", "mlx-0.32.4")[0]
    assert cli.main(["confirm", "mlx-0.31.2", "mlx-0.32.4", row.name]) == 1
    report = tmp_path / "results" / "regressions" / regressions.records(tmp_path / "results")[0]["report"]
    assert report.is_file()
    again = FakeMeasurer(tmp_path / "results", {"mlx": (STEADY, list(reversed(STEADY)))})
    monkeypatch.setattr(cli, "measurer", lambda args: again)
    assert cli.main(["confirm", "mlx-0.31.2", "mlx-0.32.4", row.name]) == 0
    assert regressions.records(tmp_path / "results") == [] and not report.exists()


def test_update_exits_0_when_no_slowdown_is_confirmed(index, releases, tmp_path):
    index()
    measurer = FakeMeasurer(tmp_path / "results", {"torch": (STEADY, list(reversed(STEADY)))})
    code, lines = run(dry_run=False, measurer=measurer)
    assert code == 0 and lines[-1] == "no confirmed regression"
    assert regressions.records(tmp_path / "results") == []


def test_a_machine_catches_up_with_points_another_machine_added(index, releases, tmp_path):
    index()
    behind = FakeMeasurer(tmp_path / "results", {}, measured_here=("mlx-0.32.4",))
    code, lines = run(dry_run=True, measurer=behind)
    assert code == 0 and lines[-1] == "would measure on testbox-history: torch-2.14.1, torch-2.15.0, mlx-0.33.0"
    code, lines = run(dry_run=False, measurer=behind)
    assert code == 0 and behind.measured == [["torch-2.14.1", "torch-2.15.0", "mlx-0.33.0"]]
    assert ("mlx-0.32.4 -> torch-2.14.1: 0 row(s) of a framework whose releases changed slower than 1.1x in the "
            "history run") in lines


def cli_update(capsys):
    code = cli.main(["update", "--dry-run"])
    err = capsys.readouterr().err
    return code, err


def test_no_index_reachable_is_one_line_and_exit_2(index, releases, tmp_path, monkeypatch, capsys):
    index()
    monkeypatch.setenv("PIP_INDEX_URL", (tmp_path / "no-such-index").as_uri())
    before = releases.read_text()
    code, err = cli_update(capsys)
    assert code == 2 and err.startswith("mlxvspt: error: no package index reachable") and err.count("\n") == 1
    assert releases.read_text() == before


@pytest.mark.parametrize("edit", [
    lambda entries: entries[1].update(date="2020-01-01"),          # before the entry above it
    lambda entries: entries[1]["pins"].update(torch="latest"),     # not a version
    lambda entries: entries[1]["pins"].pop("mlx"),                 # mlx not pinned
])
def test_a_ledger_edited_into_an_invalid_state_is_refused_untouched(index, releases, capsys, edit):
    index()
    broken = json.loads(releases.read_text())
    edit(broken["entries"])
    releases.write_text(json.dumps(broken))
    before = releases.read_text()
    code, err = cli_update(capsys)
    assert code == 2 and "releases file" in err and err.count("\n") == 1
    assert releases.read_text() == before


def test_an_entry_that_would_break_the_ledger_is_never_written(releases):
    before = releases.read_text()
    with pytest.raises(UsageError):
        update.append(releases, [{"name": "torch-2.14.1", "date": "2026-11-01", "pins": PINS}])  # name taken
    assert releases.read_text() == before and not list(releases.parent.glob("releases.json.new"))


def test_verdict_needs_ten_samples_and_uses_asv_statistics():
    with pytest.raises(ValueError):
        confirm.verdict(STEADY[:9], STEADY[:9], 1.1)
    slow = confirm.verdict(STEADY, [1.3 * s for s in STEADY], 1.1)
    assert slow.confirmed and slow.low <= 1.3 <= slow.high
    # a 1.3x median shift in samples that scatter over the same range is not confirmed
    noisy = confirm.verdict([0.6, 1.0, 1.9, 0.7, 1.4, 0.8, 1.1, 0.9, 1.7, 0.6],
                            [1.5, 0.7, 1.9, 0.6, 1.6, 1.45, 1.2, 0.8, 1.8, 1.3], 1.1)
    assert not noisy.confirmed


def test_pep_691_json_pages_give_upload_dates_and_yanked_reasons():
    page = {"files": [
        {"filename": "torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl", "upload-time": "2026-10-28T15:17:10Z",
         "yanked": False, "requires-python": ">=3.10"},
        {"filename": "torch-2.15.1-py3-none-any.whl", "upload-time": "2026-11-05T01:00:00Z", "yanked": "bad build"}]}
    files = pkgindex._files("https://example.invalid/simple/torch/", "application/vnd.pypi.simple.v1+json",
                            json.dumps(page))
    assert files == [("torch-2.15.0-cp311-cp311-manylinux_2_28_x86_64.whl", "2026-10-28", None, ">=3.10"),
                     ("torch-2.15.1-py3-none-any.whl", "2026-11-05", "bad build", "")]


def test_a_point_not_yet_in_the_ledger_has_no_results(tmp_path, monkeypatch):
    """`update` asks about the points it is adding before they are in the ledger: on a machine that already
    had results that was a KeyError traceback (seen adding torch 2.15.0), now simply "not measured"."""
    monkeypatch.setenv("MLXVSPT_MACHINE", "box")
    measurer = update.AsvMeasurer("history", tmp_path, tmp_path / "html")
    (tmp_path / measurer.machine).mkdir()
    assert measurer.has_results("torch-99.0.0") is False


def test_an_ab_sample_is_one_process_however_many_figures_it_took(tmp_path, monkeypatch):
    """A track_ row takes its preset's 11 figures back to back in one process; the A/B counts each call
    (process) once, as the median of its figures, so the test sees 10 independent samples a side, not 110
    correlated ones."""
    machine, row = "box-history", "bench_llm.Generation.track_decode('mlx', 'cpu', 'generate', 'fp32', 1)"
    (tmp_path / machine).mkdir()
    (tmp_path / machine / "machine.json").write_text(json.dumps({"machine": machine}))
    calls = []

    def fake_asv(*args, **kwargs):
        if args[0] == "run":
            calls.append(args[args.index("--set-commit-hash") + 1])

    def fake_values(results_dir, machine_name, commit):
        n = calls.count(commit)  # this call's figures: 11 around a level that moves from call to call
        figures = [n + 0.01 * k for k in range(-5, 6)]
        key = ("bench_llm.Generation.track_decode", ("'mlx'", "'cpu'", "'generate'", "'fp32'", "1"))
        return {key: (n, (None, figures))}

    monkeypatch.setattr(confirm.asvrun, "asv", fake_asv)
    monkeypatch.setattr(confirm.release_diff, "values", fake_values)
    a, b = confirm.interleaved(row, "mlx-0.31.2", "mlx-0.32.4", machine, "history", tmp_path,
                               pythons={"mlx-0.31.2": "python-a", "mlx-0.32.4": "python-b"})
    assert a == b == [float(n) for n in range(1, 11)]
    assert len(calls) == 20 and calls[:4] == [calls[0], calls[1], calls[1], calls[0]]  # A B, B A


@pytest.mark.parametrize("option, error", [("nope=/bin/sh", "unknown --python entry 'nope'"),
                                           ("mlx-0.32.4=/no/such/python", "is not an executable file")])
def test_a_confirm_python_that_cannot_stand_for_its_entry_is_refused_first(option, error, capsys):
    assert cli.main(["confirm", "mlx-0.31.2", "mlx-0.32.4", "row", "--python", option]) == 2
    assert error in capsys.readouterr().err


def fake_python(folder, mlx, torch):
    path = folder / f"python-{mlx}-{torch}"
    path.write_text(f"#!/bin/sh\necho '{json.dumps({'mlx': mlx, 'torch': torch})}'\n")
    path.chmod(0o755)
    return str(path)


def test_a_confirm_python_must_hold_its_entrys_release_set(tmp_path, capsys):
    """The A/B's side would measure whatever the python imports: its mlx and torch are read in a process
    of it and must be the entry's (a local version suffix such as +cpu aside)."""
    entry = {e["name"]: e for e in ledger.load()}["mlx-0.32.4"]
    confirm.check_holds(entry, fake_python(tmp_path, "0.32.4", "2.13.0+cpu"))
    wrong = fake_python(tmp_path, "0.32.3", "2.13.0")
    with pytest.raises(UsageError, match="holds mlx 0.32.3, torch 2.13.0; mlx-0.32.4 is mlx 0.32.4, torch 2.13.0"):
        confirm.check_holds(entry, wrong)
    assert cli.main(["confirm", "mlx-0.31.2", "mlx-0.32.4", "row", "--python", f"mlx-0.32.4={wrong}"]) == 2
    assert "holds mlx 0.32.3" in capsys.readouterr().err


def test_an_ab_runs_a_given_python_for_its_point_and_builds_no_virtualenv_for_it(tmp_path, monkeypatch):
    """On a device machine without network the older release is installed beside the machine's
    (device_install.sh side): confirm measures it through that python."""
    built, runs = [], []
    monkeypatch.setattr(confirm, "environment", lambda entry: built.append(entry["name"]) or "/venv/python")
    monkeypatch.setattr(confirm.asvrun, "asv", lambda *args, **kw: runs.append(args))
    monkeypatch.setattr(confirm, "call_sample", lambda *args: 1.0)
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "machine.json").write_text(json.dumps({"machine": "box", "version": 1}))
    points = dict(ledger.build())
    a, b = confirm.interleaved("row", "mlx-0.31.2", "mlx-0.32.4", "box", "history", tmp_path, samples=2,
                               pythons={"mlx-0.31.2": "/side/python"})
    assert a == b == [1.0, 1.0] and built == ["mlx-0.32.4"]
    ran = [(r[r.index("-E") + 1], r[r.index("--set-commit-hash") + 1]) for r in runs if r[0] == "run"]
    assert ("existing:/side/python", points["mlx-0.31.2"]) in ran and ("existing:/venv/python", points["mlx-0.32.4"]) in ran


def test_headline_points_are_measured_in_their_own_pythons_one_build_a_combination(tmp_path, monkeypatch):
    """`update --headline` / `history --headline`: each ledger point's headline rows measured by the measuring
    processes of a python holding its release set (a given one, else a virtualenv built for it), this
    checkout's suite on its path, its `mlxvspt info` read in that python, its results filed under the point."""
    from mlxvspt.measure import settings
    from mlxvspt.track import asvrun, plan, venvs

    monkeypatch.setenv(settings.MACHINE, "box")
    side = tmp_path / "python"  # a python that is not this process's: the release set installed beside
    side.write_text(f"#!/bin/sh\nexec {os.sys.executable} \"$@\"\n")
    side.chmod(0o755)
    built, parts, filed = [], [], []
    monkeypatch.setattr(venvs, "environment", lambda entry: built.append(entry["name"]) or side)

    def measure_part(workload, device, rows, env, run_folder, benchmark_dir, progress, python):
        parts.append((workload, python, env["PYTHONPATH"].split(os.pathsep)[0], rows))
        return [{"name": name, "idx": idx, "result": "n/a", "stderr": "stub"} for name, idx in rows], None

    monkeypatch.setattr(asvrun, "measure_part", measure_part)
    monkeypatch.setattr(asvrun.recorder, "record", lambda config, machine, point, lines: filed.append(point))
    points = dict(ledger.build())
    asvrun.run("tiny", tmp_path / "res", tmp_path / "html", workloads=["lm_train"], points=["mlx-0.31.2", "mlx-0.32.4"],
               headline=True, pythons={"mlx-0.31.2": str(side)})
    assert built == ["mlx-0.32.4"]  # the point without a given python gets a virtualenv
    assert [p[:3] for p in parts] == [("lm_train", str(side), str(asvrun.ROOT))] * 4  # cpu and gpu, each point
    assert parts[0][3] == plan.parts(tmp_path / "res", ["bench_lm_train"], headline_at="tiny")[("lm_train", "cpu")]
    assert filed == [points["mlx-0.31.2"]] * 2 + [points["mlx-0.32.4"]] * 2
    folder = tmp_path / "res" / "box-tiny"
    assert {f"environment-{p}.txt" for p in ("mlx-0.31.2", "mlx-0.32.4")} <= {f.name for f in folder.iterdir()}
    assert [json.loads(line)["selection"] for line in (folder / "runs-mlx-0.32.4.jsonl").read_text().splitlines()] == \
        ["headline"]


def test_a_release_sets_virtualenv_is_built_once_by_the_install_script_asv_uses(tmp_path, monkeypatch):
    from mlxvspt.track import venvs

    calls = []
    monkeypatch.setattr(venvs, "ENVS", tmp_path)
    def run(cmd, check):  # `python -m venv FOLDER` makes the folder; the install script fills it
        calls.append(cmd)
        if cmd[1:3] == ["-m", "venv"]:
            Path(cmd[3]).mkdir(parents=True)

    monkeypatch.setattr(venvs.subprocess, "run", run)
    entry = ledger.load()[-1]
    python = venvs.environment(entry)
    assert python.parent.parent.parent == tmp_path and calls[0][1:3] == ["-m", "venv"]
    script = Path(calls[1][1])
    assert script.is_file() and script.name == "install_pins.py"  # the script asv.conf.json names
    assert script.relative_to(venvs.ROOT).as_posix() in (venvs.ROOT / "asv.conf.json").read_text()
    venvs.environment(entry)
    assert len(calls) == 2  # its pins stamped: not built again
