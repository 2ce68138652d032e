"""What the site shows of regressions (only confirmed ones, each with its report), retired machines left
out of the site, and bisecting a slowdown over the releases between two ledger points."""
import json

from mlxvspt.track import bisect
from mlxvspt import ledger
from mlxvspt.publish import regressions

ATOM = "http://www.w3.org/2005/Atom"
SLOW = "bench_matmul.Matmul.time_matmul('mlx', 'cpu', 'fp32', 1024)"
NOISE = "bench_matmul.Matmul.time_matmul('torch', 'cpu', 'fp32', 1024)"


def asv_site(folder):
    """The parts of an `asv publish` site that list regressions, with one real and one noise entry."""
    folder.mkdir()
    (folder / "index.html").write_text("<html><body><div id=main></div></body></html>")
    entries = [[name, "graphs/x.json", {"machine": machine}, 0, 1.3, 1.0, [[1, 2, 1.0, 1.3]]]
               for name, machine in ((SLOW, "box-history"), (NOISE, "box-history"), (SLOW, "box-tiny"))]
    (folder / "regressions.json").write_text(json.dumps({"regressions": entries}))
    feed = "".join(f'<entry><title>30.00% {name}</title><link href="index.html#x?machine={machine}&amp;os=l" />'
                   f"</entry>" for name, _, params, *_ in entries for machine in [params["machine"]])
    (folder / "regressions.xml").write_text(f"<?xml version='1.0' encoding='utf-8'?><feed xmlns=\"{ATOM}\">{feed}</feed>")


def test_site_lists_only_confirmed_regressions_and_links_their_reports(tmp_path):
    results = tmp_path / "results"
    (results / "regressions").mkdir(parents=True)
    (results / "regressions" / "r.md").write_text("# Slower")
    (results / "regressions" / "confirmed.json").write_text(json.dumps([
        {"benchmark": SLOW, "machine": "box-history", "a": "torch-2.14.1", "b": "torch-2.15.0", "ratio": 1.3,
         "low": 1.2, "high": 1.4, "report": "r.md"}]))
    site = tmp_path / "html"
    asv_site(site)
    regressions.publish(results, site)
    listed = json.loads((site / "regressions.json").read_text())["regressions"]
    assert [(r[0], r[2]["machine"]) for r in listed] == [(SLOW, "box-history")]
    feed = (site / "regressions.xml").read_text()
    assert feed.count("<entry>") == 1 and "machine=box-history" in feed
    assert (site / "regressions" / "r.md").read_text() == "# Slower"
    page = (site / "regressions" / "index.html").read_text()
    assert 'href="r.md"' in page and "torch-2.14.1 → torch-2.15.0" in page
    assert 'href="regressions/index.html"' in (site / "index.html").read_text()
    regressions.publish(results, site)  # again: one link, not two
    assert (site / "index.html").read_text().count("mlxvspt-confirmed") == 1


def test_no_confirmed_regression_empties_the_view(tmp_path):
    site = tmp_path / "html"
    asv_site(site)
    regressions.publish(tmp_path / "results", site)
    assert json.loads((site / "regressions.json").read_text())["regressions"] == []
    assert "None." in (site / "regressions" / "index.html").read_text()


def test_retired_machines_leave_the_published_results_but_stay_on_disk(tmp_path):
    results = tmp_path / "results"
    for machine in ("box-tiny", "box-history"):
        (results / machine).mkdir(parents=True)
        (results / machine / "machine.json").write_text("{}")
    (results / "benchmarks.json").write_text("{}")
    with regressions.without_retired(results) as shown:
        assert shown == results
    (results / "retired.txt").write_text("# the tiny preset is for tests\nbox-tiny\n")
    with regressions.without_retired(results) as shown:
        assert sorted(p.name for p in shown.iterdir()) == ["benchmarks.json", "box-history", "retired.txt"]
    assert (results / "box-tiny" / "machine.json").is_file()


def test_bisect_finds_the_first_slower_point_and_skips_points_without_results():
    points = ["a", "p1", "p2", "p3", "p4", "b"]
    slow_from = {"p3", "p4", "b"}
    asked = []

    def slower(point):
        asked.append(point)
        return None if point == "p2" else point in slow_from

    assert bisect.search(points, slower, say=lambda line: None) == ("p1", "p3")
    assert len(asked) <= 4
    before = len(asked)
    assert bisect.search(["a", "b"], slower, say=lambda line: None) == ("a", "b")
    assert len(asked) == before  # no point lies between the two ends: nothing to ask


def test_bisect_searches_only_points_on_the_way_from_a_to_b():
    def entry(mlx, torch):
        return {"pins": {"mlx": mlx, "mlx-lm": "0.30.6", "torch": torch}}
    a, b = entry("0.26.5", "2.13.0"), entry("0.32.4", "2.13.0")
    assert ledger.on_the_way(entry("0.30.6", "2.13.0"), a, b)
    assert not ledger.on_the_way(entry("0.30.6", "2.11.0"), a, b)  # a GPU machine's line
