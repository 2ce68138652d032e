"""The seed-style headline table, read from the committed results: same cells as the full table."""
import json
import re
from pathlib import Path

import pytest

from mlxvspt.measure import check
from mlxvspt import cli
from mlxvspt.publish import report, results

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def cells(text, label):
    """(PyTorch, MLX) cell texts of the row whose first column starts with label."""
    for line in text.splitlines():
        parts = [p.strip() for p in line.strip("|").split("|")]
        if parts[0].startswith(label):
            return parts[1], parts[2]
    raise AssertionError(f"no row {label!r} in:\n{text}")


def test_headline_pairs_mlx_with_pytorchs_fastest_path_and_keeps_to_twenty_rows():
    snap = results.latest(RESULTS, ["NVIDIA-H200-full"])["NVIDIA-H200-full"]
    rows = dict(report.headline_rows(snap))
    eager = rows["TinyLlama decode, batch 1, fp16, vs transformers `generate`"]
    fastest = rows["TinyLlama decode, batch 1, fp16, vs static cache + torch.compile"]
    static = snap.row("bench_llm.Generation.track_decode", device="gpu", path="static-compile", precision="fp16",
                     batch="1")
    assert fastest.torch is static.torch and fastest.mlx is static.mlx  # MLX's generate, measured beside
    assert eager.torch.value > static.torch.value  # PyTorch's eager generate against its compiled path
    assert 10 <= len(rows) <= 20 and report.device_name(snap.environment).startswith("NVIDIA H200 · mlx ")


def test_the_static_compile_headline_pairs_the_cells_measured_beside_and_falls_back_for_older_results(tmp_path):
    """Where MLX's static-compile cell exists (its generate, measured beside PyTorch's static-compile) the
    headline takes both cells from that row and can name a winner; an older result, MLX n/a there, pairs
    MLX's generate row's cell: no verdict, whether measured in another process or in the same one (its
    samples alternated with PyTorch's generate samples, not these)."""
    import fabricate as fab

    decode = "bench_llm.Generation.track_decode"
    bench = fab.benchmark(decode, {"framework": ["mlx", "torch"], "device": ["gpu"],
                                   "path": ["generate", "static-compile"], "precision": ["fp16"], "batch": [1]},
                          unit="ms/token", version="2")
    fab.write_benchmarks(tmp_path, [bench])
    for machine, mlx_beside, pids in (("new-full", fab.steady(1.0), {"generate": 7, "static-compile": 8}),
                                      ("old-full", fab.NA, {"generate": 7, "static-compile": 8}),
                                      ("old-one-process-full", fab.NA, {"generate": 7, "static-compile": 7})):
        fab.write_results(tmp_path, machine, fab.POINTS[-1][0], [bench], {
            (decode, ("mlx", "gpu", "generate", "fp16", "1")): fab.steady(1.1),
            (decode, ("torch", "gpu", "generate", "fp16", "1")): fab.steady(4.0),
            (decode, ("mlx", "gpu", "static-compile", "fp16", "1")): mlx_beside,
            (decode, ("torch", "gpu", "static-compile", "fp16", "1")): fab.steady(2.0)})
        fab.write_records(tmp_path, machine, fab.POINTS[-1][0], [
            {**fab.record(decode, framework=fw, device="gpu", path=path, precision="fp16", batch="1"),
             "alternates": True, "interleaved": True, "environment": {"pid": pid}}
            for fw in ("mlx", "torch") for path, pid in pids.items()])
    title = "TinyLlama decode, batch 1, fp16, vs static cache + torch.compile"
    for machine, mlx_path, verdict in (("new-full", "static-compile", "MLX 2x lower"),
                                       ("old-full", "generate", "not interleaved"),
                                       ("old-one-process-full", "generate", "not interleaved")):
        snap = results.latest(tmp_path, [machine])[machine]
        row = dict(report.headline_rows(snap))[title]
        static = snap.row(decode, path="static-compile")
        assert row.torch is static.torch and row.mlx.value == snap.row(decode, path=mlx_path).mlx.value
        assert row.verdict == verdict and row.ratio == pytest.approx(row.mlx.value / 2.0)


def test_headline_skips_rows_neither_framework_ran():
    snap = results.latest(RESULTS, ["linux-2core-small"])["linux-2core-small"]
    titles = [title for title, _ in report.headline_rows(snap)]
    assert not any("switch" in t for t in titles)  # no GPU on that machine
    assert "Transformer LM training step, seed path, eager, fp32" in titles
    assert not any("static cache" in t for t in titles)  # PyTorch's compiled path is GPU-only: n/a here


def test_names_a_person_reads():
    assert report.device_name({"nvidia": "NVIDIA H100 80GB HBM3, 580.159.04", "mlx": "0.32.4", "torch": "2.11.0"}) \
        == "NVIDIA H100 80GB HBM3 · mlx 0.32.4 · torch 2.11.0"
    assert report.hardware({"nvidia": "NVIDIA H100 80GB HBM3, 580\nNVIDIA H100 80GB HBM3, 580"}) == \
        "2 × NVIDIA H100 80GB HBM3"
    assert report.hardware({"cpu": "Intel(R) Xeon(R) Processor", "cpu_count": 2}) == "Intel Xeon Processor, 2 cores"
    assert report.kind({"cpu": "Apple M3", "mlx_gpu_backend": "metal"}) == "GPU"


def test_history_chart_of_a_machine_with_two_ledger_points(tmp_path):
    from mlxvspt.publish import charts

    path = charts.history(RESULTS, tmp_path, "NVIDIA-H100-80GB-HBM3-full")  # mlx 0.30.6 and 0.32.4
    assert path and path.stat().st_size > 10_000


def test_a_retired_machine_leaves_the_report_unless_named(tmp_path, capsys):
    """results/retired.txt takes a machine off the site; `mlxvspt report` (and so the README's tables)
    leaves it out too, and shows it when asked for by name."""
    from fabricate import POINTS, benchmark, steady, write_benchmarks, write_results

    from mlxvspt.cli import main

    bench = benchmark("bench_demo.Demo.time_step", {"framework": ["mlx", "torch"], "device": ["cpu"]})
    write_benchmarks(tmp_path, [bench])
    for machine in ("box-small", "box-tiny"):
        write_results(tmp_path, machine, POINTS[-1][0], [bench],
                      {(bench["name"], (f, "cpu")): steady(0.01) for f in ("mlx", "torch")})
    (tmp_path / "retired.txt").write_text("# gone from the site\nbox-tiny\n")
    assert main(["report", "--results-dir", str(tmp_path)]) == 0
    shown = capsys.readouterr().out
    assert "box-small" in shown and "box-tiny" not in shown
    assert main(["report", "--results-dir", str(tmp_path), "--machine", "box-tiny"]) == 0
    assert "box-tiny" in capsys.readouterr().out


def test_memory_reads_in_mib_and_from_ten_gib_in_gib():
    """An LM step's 68 GB peak printed as "6.852e+04 MiB"."""
    assert report.fmt(3584 * 2**20, "bytes") == "3584 MiB"
    assert report.fmt(68520 * 2**20, "bytes") == "66.9 GiB"


def generate(tmp_path, extra=()):
    """The README and pages as `mlxvspt report --readme --pages` writes them from the committed results,
    into tmp_path (docs/ and README.md laid out as in the repository)."""
    (tmp_path / "docs").mkdir(exist_ok=True)
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text())
    code = cli.main(["report", "--readme", str(readme), "--pages", str(tmp_path / "docs" / "results"), *extra])
    return code, readme


def test_the_committed_readme_and_pages_are_what_the_command_writes(tmp_path, capsys):
    """README.md's generated part and every page under docs/results/ follow the results and the code: run
    `mlxvspt report --readme README.md --pages docs/results --charts docs/charts` after changing either."""
    assert generate(tmp_path, ["--charts", str(tmp_path / "docs" / "charts")])[0] == 0
    assert (tmp_path / "README.md").read_text() == (ROOT / "README.md").read_text()
    written = sorted(p.name for p in (tmp_path / "docs" / "results").glob("*.md"))
    assert written == sorted(p.name for p in (ROOT / "docs" / "results").glob("*.md"))
    for name in written:
        assert (tmp_path / "docs" / "results" / name).read_text() == (ROOT / "docs" / "results" / name).read_text()


def test_a_headline_row_a_machine_lacks_reads_a_dash_explained_under_its_table_in_the_headlines_order(tmp_path):
    """A machine without a headline row (never measured, or only at an older benchmark version) shows "—",
    and the note under the table says what that means; the rows keep HEADLINE's order even where the first
    machine lacks the earlier one. A table without such a cell has no note."""
    import fabricate as fab

    matmul, switch = "bench_matmul.Matmul.time_matmul", "bench_switch.Switch.time_loop"
    benches = [fab.benchmark(matmul, {"framework": ["mlx", "torch"], "device": ["gpu"], "precision": ["bf16"],
                                      "n": [8192]}),
               fab.benchmark(switch, {"framework": ["mlx", "torch"], "device": ["gpu"]})]
    fab.write_benchmarks(tmp_path, benches)
    both = {(switch, (fw, "gpu")): fab.steady(1.0) for fw in ("mlx", "torch")}
    both_and_matmul = {**both, **{(matmul, (fw, "gpu", "bf16", "8192")): fab.steady(2.0) for fw in ("mlx", "torch")}}
    for machine, samples in (("lacks-full", both), ("has-full", both_and_matmul), ("also-full", both_and_matmul)):
        fab.write_results(tmp_path, machine, fab.POINTS[-1][0], benches, samples)
        (tmp_path / machine / "environment.txt").write_text(json.dumps({"nvidia": f"GPU {machine}, 80 GB"}))

    def table(*machines):
        snaps = results.latest(tmp_path, list(machines))
        return report.readme_block({m: snaps[m] for m in machines}, {m: f"{m}.md" for m in machines})

    lacking = table("lacks-full", "has-full")
    assert lacking.index("| Matmul 8192³, bf16 | — | ") < lacking.index("| CPU↔GPU switch loop")
    assert report.MISSING_NOTE in lacking
    complete = table("has-full", "also-full")
    assert "| — |" not in complete and report.MISSING_NOTE not in complete


def test_readme_is_short_with_a_headline_of_at_most_twenty_rows_a_kind_of_machine():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 250
    block = text[text.index(report.START):text.index(report.END)]
    tables = re.split(r"^### ", block, flags=re.M)[1:]
    assert [t.split("\n", 1)[0] for t in tables] == ["GPU", "CPU"]
    for table in tables:
        assert 5 <= len([line for line in table.splitlines() if line.startswith("| ")]) - 1 <= 20
    assert "existing-py" not in text and "/tmp/" not in text and "session" not in text.lower()
    for link in re.findall(r"\]\((docs/[^)#]+)", text):
        assert (ROOT / link).exists(), link


def test_pages_name_the_machine_and_hold_every_table_the_check_and_what_ran(tmp_path):
    generate(tmp_path)
    pages = tmp_path / "docs" / "results"
    assert "linux-2core-tiny.md" not in {p.name for p in pages.iterdir()}  # retired
    page = (pages / "NVIDIA-H100-80GB-HBM3-full.md").read_text()
    assert page.startswith("# NVIDIA H100 80GB HBM3 · mlx 0.32.4 · torch 2.11.0\n")
    assert re.search(r"^\| lm_train \| \d+ \| [1-9]\d* \| \d+ \|$", page, re.M)  # its FAIL lines counted
    for part in ("## Headline", "## Every row", "| Derived figures |", "## Cross-check",
                 "FAIL lm_train [gpu seed bf16] first-step gradients", "## What each framework ran",
                 "| WhisperClips.track_real_time_factor (device=gpu, precision=fp16, path=fp16-weights) ʰ |",
                 report.HOST_NOTE):
        assert part in page, part
    assert "existing-py" not in page and "env_name" not in page
    stale = "Skipped 1 result(s) of another benchmark version than the current one (asv's site hides them too): "
    history = (pages / "linux-2core-history.md").read_text()  # its ledger points hold an older MatmulMemory
    assert stale + "MatmulMemory.track_peak_memory." in history and "No cross-check stored" in history


def test_a_page_lists_each_run_with_its_parts_wall_times_and_the_host(tmp_path):
    """Which run measured which workload, what it cost, and whether other work shared the host: a run
    stopped mid-part names the rows it kept, a part what it compiled into the caches where its line says;
    runs from before parts were recorded are left out."""
    folder = tmp_path / "box-full"
    folder.mkdir()
    runs = [{"started": "2026-11-27T05:15:04Z", "wall_seconds": 953.0, "exit_code": 0},
            {"started": "2026-12-06T07:24:41Z", "wall_seconds": 1427.6, "exit_code": "interrupted", "resumed": False,
             "parts": [{"workload": "matmul", "device": "gpu", "seconds": 109.1, "rows": 144},
                       {"workload": "lm_train", "device": "gpu", "seconds": 329.5, "rows": 12, "stopped": True,
                        "compiled": 57}]},
            {"started": "2026-12-06T10:24:28Z", "wall_seconds": 625.7, "exit_code": 0, "selection": "headline",
             "host": {"load_1min": 0.44, "other_gpu_processes": 0, "shared": False, "single_core_seconds": 0.1131,
                      "single_core_seconds_end": 0.0641},
             "parts": [{"workload": "matmul", "device": "gpu", "seconds": 16.2, "rows": 6, "measured": 4,
                        "compiled": 0}]}]
    (folder / "runs-p.jsonl").write_text("".join(json.dumps(run) + "\n" for run in runs))
    lines = report.runs_list(tmp_path, "box-full", "p")
    assert lines[0] == "## Runs" and len([line for line in lines if line.startswith("- ")]) == 2
    assert ("- 2026-12-06 07:24:41 UTC, 23:47 in all, interrupted after its last part below: matmul on gpu 1:49 "
            "(144 rows), lm_train on gpu 5:29 (stopped with 12 rows measured, 57 files compiled into the "
            "caches)") in lines
    assert ("- 2026-12-06 10:24:28 UTC, 10:25 in all (the headline's rows, `--headline`), host's single-core probe "
            "0.113 s at the start, 0.064 s at the end, ended: matmul on gpu 0:16 (4 of 6 rows measured, nothing "
            "compiled into the caches)") in lines
    assert report.runs_list(tmp_path, "other-full", "p") == []
    host = {"host_cores": 16, "host_load": {"load_1min": 0.48, "other_gpu_processes": 0, "shared": False}}
    assert report.host_line(host) == "16 cores, load 0.48 at the start, no other GPU process"
    assert report.host_line({}) is None
    host["host_load"]["single_core_seconds"] = 0.0812
    assert report.host_line(host).endswith("no other GPU process, single-core probe 0.081 s (devices.single_core_seconds: "
                                           "lower is a faster host)")
    host["host_load"]["others_cpu_share"] = 0.021
    assert report.host_line(host).startswith("16 cores, load 0.48 at the start, other work 2% of the CPU time then, no "
                                             "other GPU process")


def test_a_machine_whose_results_git_does_not_track_is_shown_but_gets_no_page(tmp_path, capsys):
    """A fresh clone's own machine (its host name) is in `mlxvspt report`, never among the committed pages."""
    from fabricate import POINTS, benchmark, steady, write_benchmarks, write_results
    import subprocess

    results_dir = tmp_path / "results"
    bench = benchmark("bench_demo.Demo.time_step", {"framework": ["mlx", "torch"], "device": ["cpu"]})
    write_benchmarks(results_dir, [bench])
    for machine in ("box-small", "vm-small"):
        write_results(results_dir, machine, POINTS[-1][0], [bench],
                      {(bench["name"], (f, "cpu")): steady(0.01) for f in ("mlx", "torch")})
    git = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], check=True, capture_output=True)
    git("init", "-q")
    git("add", "results/box-small", "results/benchmarks.json")
    pages = tmp_path / "docs" / "results"
    assert cli.main(["report", "--results-dir", str(results_dir), "--pages", str(pages)]) == 0
    assert [p.name for p in pages.iterdir()] == ["box-small.md"]
    assert cli.main(["report", "--results-dir", str(results_dir), "--machine", "vm-small"]) == 0
    assert "vm-small" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["a folder of other files", "a file", "readme without pages"])
def test_pages_into_a_folder_that_is_not_theirs_is_refused_and_nothing_is_written(case, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{report.START}\nold\n{report.END}\n")
    target = tmp_path / "notes"
    if case == "a file":
        target.write_text("mine")
    else:
        target.mkdir()
        (target / "mine.md").write_text("my notes")
    argv = ["report", "--readme", str(readme)] + ([] if case == "readme without pages" else ["--pages", str(target)])
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mlxvspt: error:"), err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_report_prints_this_machines_headline_and_records_only_when_asked(capsys):
    assert cli.main(["report", "--machine", "linux-2core-small"]) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 25 and "What each framework ran" not in out and "--full" in out
    assert out.startswith("AMD EPYC, 2 cores · mlx 0.32.4 · torch 2.13.0+cpu (machine linux-2core-small")
    assert cli.main(["report", "--machine", "linux-2core-small", "--records"]) == 0
    assert "What each framework ran" in capsys.readouterr().out


def test_the_end_of_a_run_shows_only_this_machines_table_in_sixty_lines(monkeypatch, capsys):
    """`make bench` ends with the machine just measured: its headline, where every row and the site are."""
    from argparse import Namespace

    from mlxvspt.measure import settings

    monkeypatch.setenv(settings.MACHINE, "NVIDIA-H100-80GB-HBM3")
    monkeypatch.setenv(settings.PRESET, "full")
    assert cli.finish(Namespace(results_dir=str(RESULTS), html_dir="html"), 0) == 0
    out = capsys.readouterr().out
    assert len(out.splitlines()) <= 60
    assert out.startswith("NVIDIA H100 80GB HBM3 · mlx 0.32.4 · torch 2.11.0 (machine NVIDIA-H100-80GB-HBM3-full")
    assert "NVIDIA H200" not in out and "linux-2core" not in out and "What each framework ran" not in out
    assert "mlxvspt report --machine NVIDIA-H100-80GB-HBM3-full --full" in out
    assert "mlxvspt serve --html-dir html" in out and "asv preview" not in out


def test_the_end_of_a_run_of_an_older_release_shows_that_releases_table(monkeypatch, capsys):
    """A GPU machine measures mlx 0.32.3 after 0.32.4 was recorded: its run ends with 0.32.3's rows and
    heading, not the newest point's."""
    from argparse import Namespace

    from mlxvspt import ledger
    from mlxvspt.measure import settings

    monkeypatch.setenv(settings.MACHINE, "NVIDIA-H100-80GB-HBM3")
    monkeypatch.setenv(settings.PRESET, "full")
    older = dict(ledger.build())["mlx-0.32.3+torch-2.11.0"]
    assert cli.finish(Namespace(results_dir=str(RESULTS), html_dir="html"), 0, older) == 0
    out = capsys.readouterr().out
    assert out.startswith("NVIDIA H100 80GB HBM3 · mlx 0.32.3 · torch 2.11.0 (machine NVIDIA-H100-80GB-HBM3-full, "
                          "release set mlx-0.32.3+torch-2.11.0)")
    snap = next(s for s in results.history(RESULTS, "NVIDIA-H100-80GB-HBM3-full") if s.commit == older)
    assert report.verdict_counts(snap) in out
    measured = {s.commit for s in results.history(RESULTS, "NVIDIA-H100-80GB-HBM3-full")}
    never = next(commit for _, commit in ledger.build() if commit not in measured)
    assert report.console(RESULTS, "NVIDIA-H100-80GB-HBM3-full", never) == []  # `finish` says: no results of it


def test_an_accuracy_row_shows_its_values_and_no_timing_verdict(capsys):
    assert cli.main(["report", "--machine", "linux-2core-small", "--full"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| Matmul.track_relative_error")]
    assert rows and all(re.search(r"\d rel\. error \|.*\| accuracy: no timing verdict \|$", row) for row in rows), rows


def test_methodology_states_the_tolerances_the_code_applies():
    text = (ROOT / "docs" / "methodology.md").read_text()
    rows = {line.split("|")[1].split(" (")[0].strip(): [float(c) for c in line.split("|")[2:-1]]
            for line in text.splitlines() if re.match(r"\| (loss|tensor|output) ", line)}
    assert rows == {kind: [limit for limit, _ in by.values()] for kind, by in check.TOLERANCES.items()}
    header = next(line for line in text.splitlines() if line.startswith("| Kind |"))
    assert [c.strip() for c in header.split("|")[2:-1]] == list(check.TOLERANCES["loss"])


def test_methodology_states_the_perplexity_margins_the_code_applies():
    text = (ROOT / "docs" / "methodology.md").read_text()
    rows = {line.split("|")[1].strip(): float(line.split("|")[2]) for line in text.splitlines()
            if re.match(r"\| int\d ", line)}
    assert rows == {scheme: limit for scheme, (limit, _) in check.PERPLEXITY_MARGIN.items()}


def test_every_test_the_docs_name_exists():
    """The methodology and findings name the test that enforces each rule: each must be there."""
    import ast

    for doc in [ROOT / "docs" / "methodology.md", *(ROOT / "docs" / "findings").glob("*.md")]:
        for path, name in re.findall(r"(tests/\w+\.py)::(\w+)", doc.read_text()):
            tree = ast.parse((ROOT / path).read_text())
            assert name in {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}, (doc.name, path, name)
        for path in re.findall(r"`((?:mlxvspt|scripts)/[\w/]+\.py)`", doc.read_text()):
            assert (ROOT / path).is_file(), (doc.name, path)


def test_each_finding_has_a_standalone_repro_of_at_most_forty_lines():
    """A repro a framework's maintainers can run as it is: mlx, torch, numpy and the standard library only."""
    import ast
    import sys

    pages = [p for p in (ROOT / "docs" / "findings").glob("*.md") if p.name != "README.md"]
    assert pages
    for page in pages:
        repro = page.with_name(page.stem.replace("-", "_") + ".py")
        text = repro.read_text()
        assert len(text.splitlines()) <= 40 and repro.name in page.read_text() and page.name in \
            (ROOT / "docs" / "findings" / "README.md").read_text()
        nodes = list(ast.walk(ast.parse(text)))
        imported = {alias.name.split(".")[0] for node in nodes if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module.split(".")[0] for node in nodes if isinstance(node, ast.ImportFrom)}
        assert imported - set(sys.stdlib_module_names) <= {"mlx", "torch", "numpy"}, imported


def test_host_bound_gpu_rows_are_marked_and_explained_where_a_table_has_one():
    """Two quiet one-H100 machines of one kind gave host-bound rows values up to 2x apart: those rows say so."""
    cell = results.Cell(0.01, None, None, {"check": "passed"})

    def row(benchmark, unit="seconds", device="gpu", **params):
        return results.Row(benchmark, {"device": device, **params}, unit, cell, cell)

    bert, lm = row("bench_bert_train.BertTrainStep.time_step"), row("bench_lm_train.LMTrain.time_step")
    assert bert.host_bound and not lm.host_bound
    # a workload may decide by parameters: a GPU's 1024^3 product is mostly its launch, the 8192^3 one is not
    matmul = "bench_matmul.Matmul.time_matmul"
    assert row(matmul, n="1024").host_bound and not row(matmul, n="8192").host_bound
    assert not row(matmul, device="cpu", n="256").host_bound
    assert not row("bench_matmul.MatmulMemory.track_peak_memory", unit="bytes", n="1024").host_bound
    assert not row("bench_bert_train.BertTrainMemory.track_peak_memory", unit="bytes").host_bound  # memory: no
    assert not row("bench_bert_train.BertTrainStep.time_step", device="cpu").host_bound  # a CPU row is the host's
    assert report.row_line("BERT step", bert).startswith(f"| BERT step{report.HOST_MARK} |")
    assert report.row_line("LM step", lm).startswith("| LM step |")
    assert report.host_note([lm, bert]) == [report.HOST_NOTE, ""] and report.host_note([lm]) == []
