"""The release ledger: deterministic commits, growth by appending (an entry inserted earlier re-files the
results of the points after it), resolving its points by name."""
import json

import pytest

from mlxvspt import ledger
from mlxvspt.errors import UsageError


def releases(tmp_path, entries, name="releases.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"entries": entries}))
    return path


def entry(name, date, mlx):
    return {"name": name, "date": date, "pins": {"mlx": mlx, "mlx-lm": "0.32.2", "torch": "2.13.0"}}


ENTRIES = [entry("mlx-0.26.5", "2025-07-18", "0.26.5"), entry("mlx-0.32.4", "2026-10-14", "0.32.4")]


def test_same_releases_give_same_hashes_anywhere(tmp_path):
    first = ledger.build(releases(tmp_path, ENTRIES), tmp_path / "a")
    second = ledger.build(releases(tmp_path, ENTRIES), tmp_path / "b")
    assert first == second and len({commit for _, commit in first}) == 2
    assert (tmp_path / "a" / "pins.txt").read_text() == "mlx==0.32.4\nmlx-lm==0.32.2\ntorch==2.13.0\n"


def test_appending_an_entry_keeps_earlier_hashes(tmp_path):
    before = ledger.build(releases(tmp_path, ENTRIES), tmp_path / "a")
    after = ledger.build(releases(tmp_path, ENTRIES + [entry("torch-2.14.1", "2026-10-16", "0.32.4")]),
                         tmp_path / "b")
    assert after[:2] == before and len(after) == 3


def test_an_entry_inserted_earlier_refiles_the_results_of_the_points_after_it(tmp_path):
    """An older release measured later goes in by date: the later points' hashes change, their results
    follow them, nothing else is touched."""
    first = dict(ledger.build(releases(tmp_path, ENTRIES), tmp_path / ".ledger"))
    folder = tmp_path / "results" / "gpu-full"
    folder.mkdir(parents=True)
    for name in ENTRIES:
        commit = first[name["name"]]
        for suffix in (".json", ".json.bak"):
            (folder / f"{commit[:8]}-existing-py{suffix}").write_text(json.dumps({"commit_hash": commit, "x": 1}))
    (folder / "machine.json").write_text(json.dumps({"machine": "gpu-full"}))
    inserted = [ENTRIES[0], entry("mlx-0.32.3", "2026-09-29", "0.32.3"), ENTRIES[1]]
    after = dict(ledger.build(releases(tmp_path, inserted), tmp_path / ".ledger"))
    assert after["mlx-0.26.5"] == first["mlx-0.26.5"] and after["mlx-0.32.4"] != first["mlx-0.32.4"]
    files = {p.name: json.loads(p.read_text()) for p in folder.iterdir()}
    for name in ("mlx-0.26.5", "mlx-0.32.4"):
        for suffix in (".json", ".json.bak"):
            assert files[f"{after[name][:8]}-existing-py{suffix}"] == {"commit_hash": after[name], "x": 1}
    assert len(files) == 5 and files["machine.json"] == {"machine": "gpu-full"}


def test_runs_started_together_share_one_ledger_written_once(tmp_path):
    """Four runs of one checkout (one per GPU) build the ledger at once: none fails, one writes it."""
    from concurrent.futures import ProcessPoolExecutor

    path = releases(tmp_path, ENTRIES)
    with ProcessPoolExecutor(4) as pool:
        built = list(pool.map(ledger.build, [path] * 4, [tmp_path / "a"] * 4))
    assert all(points == built[0] for points in built)
    head = (tmp_path / "a" / ".git" / "HEAD").stat().st_mtime_ns
    assert ledger.build(path, tmp_path / "a") == built[0]
    assert (tmp_path / "a" / ".git" / "HEAD").stat().st_mtime_ns == head  # the same entries: not rewritten
    grown = ledger.build(releases(tmp_path, ENTRIES + [entry("torch-2.14.1", "2026-10-16", "0.32.4")]),
                         tmp_path / "a")
    assert grown[:2] == built[0] and len(grown) == 3


def test_changed_pins_change_the_hash(tmp_path):
    changed = [ENTRIES[0], entry("mlx-0.32.4", "2026-10-14", "0.32.3")]
    assert ledger.build(releases(tmp_path, changed), tmp_path / "b")[1] != \
        ledger.build(releases(tmp_path, ENTRIES), tmp_path / "a")[1]


@pytest.mark.parametrize("bad", [
    [ENTRIES[0], ENTRIES[0]],                                       # duplicate name
    [ENTRIES[1], ENTRIES[0]],                                       # dates go backwards
    [{"name": "x", "date": "2026-01-01", "pins": {"mlx": "0.1"}}],  # torch not pinned
])
def test_invalid_releases_are_refused(tmp_path, bad):
    with pytest.raises(UsageError):
        ledger.load(releases(tmp_path, bad))


def test_committed_releases_file_is_valid_and_has_six_mlx_releases():
    entries = ledger.load()
    mlx_versions = {e["pins"]["mlx"] for e in entries}
    assert len(mlx_versions) >= 6 and min(mlx_versions) <= "0.26.5" and "0.32.4" in mlx_versions


def test_resolve_by_name_or_hash_prefix_and_unknown_lists_known(tmp_path):
    points = ledger.build(releases(tmp_path, ENTRIES), tmp_path / "a")
    assert ledger.resolve(points, "mlx-0.26.5") == points[0]
    assert ledger.resolve(points, points[1][1][:8]) == points[1]
    with pytest.raises(UsageError, match="known points: mlx-0.26.5, mlx-0.32.4"):
        ledger.resolve(points, "mlx-9")


def test_a_history_virtualenv_files_its_records_and_environment_under_its_point(tmp_path, monkeypatch):
    """A history run names one records file for every virtualenv ("{point}"): each benchmark process files
    its records, and once per run its `mlxvspt info`, under the ledger entry its mlx and torch are."""
    from importlib.metadata import version

    from mlxvspt.measure import asvbench, settings

    pins = {p: version(p).split("+")[0] for p in ("mlx", "torch")}
    releases = tmp_path / "releases.json"
    releases.write_text(json.dumps({"entries": [{"name": "older", "date": "2025-01-01",
                                                 "pins": {"mlx": "0.1.0", "torch": "2.0.0"}},
                                                {"name": "here", "date": "2025-02-01", "pins": pins}]}))
    monkeypatch.setenv(settings.RECORDS, str(tmp_path / "m" / "records-{point}.jsonl"))
    monkeypatch.setenv(settings.RELEASES, str(releases))
    monkeypatch.setenv(settings.RUN_FOLDER, str(tmp_path / "run"))
    assert settings.records_file() == tmp_path / "m" / "records-here.jsonl"
    (tmp_path / "m").mkdir()
    for call in (1, 2):  # the second process of the same run leaves the first one's record
        monkeypatch.setattr(asvbench, "environment", lambda: {"call": call})
        asvbench.record_environment()
    assert json.loads((tmp_path / "m" / "environment-here.txt").read_text()) == {"call": 1}
    monkeypatch.setenv(settings.RECORDS, str(tmp_path / "m" / "records.jsonl"))  # a run of this environment
    assert settings.environment_file() is None
