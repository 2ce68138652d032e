"""The results layer: latest per machine, stale versions skipped and counted, run records and checks,
verdicts only where the ratio's interval and the cross-checks allow one; renderers never import a
workload."""
import ast
import datetime
import json
from pathlib import Path

import pytest

import fabricate as fab
from mlxvspt.errors import UsageError
from mlxvspt.publish import release_diff, report, results

STEP = "bench_lm_train.LMTrain.time_step"
MATMUL = "bench_matmul.Matmul.time_matmul"
BENCHES = [fab.benchmark(STEP, {"framework": ["mlx", "torch"], "device": ["cpu"], "compile": [False],
                                "precision": ["fp32", "bf16"]}, version="2"),
           fab.benchmark(MATMUL, {"framework": ["mlx", "torch"], "device": ["cpu"], "precision": ["fp32"],
                                  "n": [64]})]
MACHINE = "box-tiny"
# two neighbouring points of the committed ledger, named: PyTorch's releases change between them, MLX's do not
OLD, NEW = "torch-2.14.1", "torch-2.15.0"
MATMUL_MLX = MATMUL, ("mlx", "cpu", "fp32", "64")


def cell(framework, precision="fp32"):
    return STEP, (framework, "cpu", "False", precision)


@pytest.fixture
def folder(tmp_path):
    """Two ledger points of one machine: at the newer one MLX is clearly faster at fp32, the two are
    the same within noise at bf16; the older point also has a result of the previous step version."""
    fab.write_benchmarks(tmp_path, BENCHES)
    fab.write_results(tmp_path, MACHINE, OLD, BENCHES, {cell("mlx"): fab.steady(2.0), cell("torch"): fab.steady(2.0),
                                                        MATMUL_MLX: fab.steady(2 * 64**3 / 1e9)}, versions={STEP: "1"})
    fab.write_results(tmp_path, MACHINE, NEW, BENCHES, {
        cell("mlx"): fab.steady(1.0), cell("torch"): fab.steady(2.0),
        cell("mlx", "bf16"): [1.0, 1.6, 0.7, 1.9, 1.2, 0.8], cell("torch", "bf16"): [1.1, 0.6, 1.8, 1.5, 0.9, 1.3],
        MATMUL_MLX: fab.steady(2 * 64**3 / 1e9),  # 1 GFLOP/s
        (MATMUL, ("torch", "cpu", "fp32", "64")): fab.FAILED})
    return tmp_path


def passed_records(folder, precision="fp32"):
    fab.write_records(folder, MACHINE, NEW, [fab.record(STEP, framework=fw, device="cpu", compile="False",
                                                        precision=precision) for fw in ("mlx", "torch")])


def test_latest_point_cells_samples_spread_and_ratio(folder):
    snap = results.latest(folder)[MACHINE]
    assert snap.point == NEW and not snap.stale
    row = snap.row(STEP, precision="fp32")
    assert row.params == {"device": "cpu", "compile": "False", "precision": "fp32"}
    assert row.mlx.n == 10 and row.mlx.spread == pytest.approx((0.995, 1.005))
    assert row.ratio == pytest.approx(0.5)
    low, high = row.ratio_interval
    assert low < 0.5 < high
    assert snap.row(MATMUL).torch.status == "failed" and snap.row(MATMUL).ratio is None


def test_stale_versions_are_skipped_and_counted(folder):
    old = results.history(folder, MACHINE)[0]
    assert old.point == OLD and old.stale == {STEP: "1"} and old.row(STEP) is None
    assert old.row(MATMUL).mlx.ok  # the current version's results of that point stay
    text = report.table(folder)
    assert "Skipped" not in text  # the latest point has no stale result
    fab.write_results(folder, MACHINE, NEW, BENCHES, {}, versions={STEP: "1"})
    assert "Skipped 1 result(s) of another benchmark version" in report.table(folder)


def test_without_records_every_cell_is_unchecked_and_no_verdict_is_given(folder):
    row = results.latest(folder)[MACHINE].row(STEP, precision="fp32")
    assert (row.mlx.check, row.torch.check) == ("unchecked", "unchecked")
    assert row.verdict == "unchecked"


def test_verdict_needs_both_checks_and_a_significant_difference(folder):
    passed_records(folder)
    passed_records(folder, "bf16")
    snap = results.latest(folder)[MACHINE]
    assert snap.row(STEP, precision="fp32").verdict == "MLX 2x faster"
    assert snap.row(STEP, precision="bf16").verdict == results.NOISE  # medians differ, samples overlap
    # the latest line for a cell wins; a half-written line is ignored
    fab.write_records(folder, MACHINE, NEW, [fab.record(STEP, "failed", "loss differs by 3e-2", framework="'torch'",
                                                        device="cpu", compile="False", precision="fp32"),
                                             '{"benchmark": "bench_lm_train.LMTr'])
    row = results.latest(folder)[MACHINE].row(STEP, precision="fp32")
    assert row.torch.check == "failed" and row.torch.check_detail == "loss differs by 3e-2"
    assert row.mlx.check == "passed" and row.mlx.ran["dtype"] == "float32"
    assert row.verdict == "check failed"


def test_a_check_at_the_published_size_that_failed_after_the_run_fails_the_row(folder):
    """The run's own pre-check (smaller) passed; a full-size check of the same combination, stored in the
    point's check file later, disagreed: the row gets no verdict and says what disagreed."""
    key = ["lm_train", "cpu", "seed", "fp32"]
    fab.write_records(folder, MACHINE, NEW, [{**fab.record(STEP, framework=fw, device="cpu", compile="False",
                                                           precision="fp32"), "check_key": key}
                                             for fw in ("mlx", "torch")])
    assert results.latest(folder)[MACHINE].row(STEP, precision="fp32").verdict == "MLX 2x faster"
    line = dict(zip(("workload", "device", "path", "precision"), key))
    with open(folder / MACHINE / f"check-{NEW}.jsonl", "a") as f:
        f.write(json.dumps({**line, "what": "first-step loss", "ok": True, "value": 1e-7, "limit": 1e-5}) + "\n")
        f.write(json.dumps({**line, "what": "first-step gradients", "ok": False, "value": 0.27, "limit": 0.15}) + "\n")
        f.write(json.dumps({**line, "precision": "bf16", "what": "first-step loss", "ok": False}) + "\n")
        f.write('{"workload": "lm_tr')  # a line a killed check left
    row = results.latest(folder)[MACHINE].row(STEP, precision="fp32")
    assert row.verdict == "check failed"
    assert row.mlx.check_detail == "first-step gradients 0.27 > 0.15"


def test_six_steady_samples_a_side_give_a_verdict_and_its_interval(folder):
    """The H100's fp32 LM row of the issue: 837 ms ±0.2% against 930 ms ±0.3%, 6 samples each."""
    fab.write_results(folder, MACHINE, NEW, BENCHES, {cell("torch"): fab.steady(0.837, 6, 0.004),
                                                      cell("mlx"): fab.steady(0.930, 6, 0.006)})
    passed_records(folder)
    row = results.latest(folder)[MACHINE].row(STEP, precision="fp32")
    assert row.verdict == "PyTorch 1.11x faster"
    low, high = row.ratio_interval
    assert 1 < low < row.ratio < high


def test_too_few_samples_give_no_verdict(folder):
    fab.write_results(folder, MACHINE, NEW, BENCHES, {cell("mlx"): [1.0, 1.0, 1.0], cell("torch"): fab.steady(2.0)})
    passed_records(folder)
    assert results.latest(folder)[MACHINE].row(STEP, precision="fp32").verdict == "too few samples (3)"



@pytest.mark.parametrize("mlx, torch, expected", [
    ({"alternates": True, "environment": {"pid": 7}}, {"alternates": True, "environment": {"pid": 7}}, "MLX 2x faster"),
    ({"alternates": True, "environment": {"pid": 7}}, {"alternates": True, "environment": {"pid": 8}},
     "not interleaved"),  # a class that alternates, its two cells taken in separate processes
    ({"environment": {"pid": 7}}, {"environment": {"pid": 8}}, "not interleaved"),  # nor one that does not:
    # two processes' cells cannot have alternated (an older harness's records, one process a framework's combination)
    ({"environment": {"pid": 7}}, {"environment": {}}, "MLX 2x faster"),  # one record names no process: no telling
    ({"alternates": True, "interleaved": True, "environment": {"pid": 7}},
     {"alternates": True, "interleaved": False, "environment": {"pid": 7}},
     "not interleaved"),  # one process, but one cell measured alone (another combination's, paired by the headline)
    ({"interleaved": False, "environment": {"pid": 7}}, {"interleaved": False, "environment": {"pid": 7}},
     "not interleaved"),  # a time_ class whose two builds did not fit the device together: one after the other
    ({"warmup": {"steady": False}}, {"warmup": {"steady": True}}, "unsteady warm-up"),
])
def test_verdict_needs_interleaved_samples_where_the_class_alternates_and_a_steady_warm_up(folder, mlx, torch,
                                                                                           expected):
    fab.write_records(folder, MACHINE, NEW, [
        {**fab.record(STEP, framework=fw, device="cpu", compile="False", precision="fp32"), **extra}
        for fw, extra in (("mlx", mlx), ("torch", torch))])
    assert results.latest(folder)[MACHINE].row(STEP, precision="fp32").verdict == expected

def test_derived_figures_come_from_the_workload_and_mfu_from_the_calibration(folder):
    row = results.latest(folder)[MACHINE].row(STEP, precision="fp32")
    from mlxvspt.measure.presets import sizes
    from mlxvspt.workloads.lm_train.spec import flops_per_step
    tiny = sizes("lm_train", "tiny")
    assert row.mlx.figures["tokens/s"] == (pytest.approx(tiny["batch"] * tiny["context"] / 1.0), "tokens/s")
    rate = flops_per_step(tiny) / 1.0 / 1e12
    assert row.mlx.figures["MFU"] == (pytest.approx(rate / 1e-3), "fraction")  # peak: MLX's 1 GFLOP/s matmul
    assert "MFU" not in results.latest(folder)[MACHINE].row(STEP, precision="bf16").mlx.figures  # no bf16 peak


def test_report_shows_spread_verdict_ran_detail_and_figures(folder):
    passed_records(folder)
    text = report.table(folder)
    line = next(line for line in text.splitlines() if line.startswith("| LMTrain.time_step (device=cpu, compile=False, "
                                                                      "precision=fp32)"))
    assert line == "| LMTrain.time_step (device=cpu, compile=False, precision=fp32) | 2 s ±0.5% | 1 s ±0.5% | 0.5 " \
                   "| MLX 2x faster |"
    assert "- LMTrain.time_step (device=cpu, compile=False, precision=fp32): PyTorch: dtype float32, matmul strict, " \
           "compiled False, versions mlx 0.32.4; check passed." in text
    assert "MFU" in text and "tokens/s" in text


def test_a_peak_memory_needs_neither_interleaving_nor_a_steady_warm_up(folder):
    apart = {"alternates": True, "environment": {"pid": 7}, "warmup": {"steady": False}}
    fab.write_records(folder, MACHINE, NEW, [
        {**fab.record(STEP, framework=fw, device="cpu", compile="False", precision="fp32"), **apart,
         "environment": {"pid": pid}} for fw, pid in (("mlx", 7), ("torch", 8))])
    row = results.latest(folder)[MACHINE].row(STEP, precision="fp32")
    assert row.verdict == "not interleaved"
    assert results.verdict(row.torch, row.mlx, "bytes") == "MLX 2x lower"


def test_a_second_environment_without_a_value_keeps_the_measured_cell(folder):
    fab.write_results(folder, MACHINE, NEW, BENCHES, {}, env="other-py")  # every cell n/a there
    row = results.latest(folder)[MACHINE].row(STEP, precision="fp32")
    assert row.mlx.value == pytest.approx(1.0) and row.torch.value == pytest.approx(2.0)


@pytest.mark.parametrize("newer_env", ["a-py", "z-py"])
def test_of_two_environments_with_values_the_cell_measured_last_is_published(folder, newer_env):
    """A run from a clone at another path writes another environment's file for the same commit: its
    cells, not the older file's, are the row's, whichever file the folder lists first."""
    older_env = "z-py" if newer_env == "a-py" else "a-py"
    now = datetime.datetime.now(datetime.timezone.utc)  # after the fixture's file: both later runs
    written = [(older_env, 4.0, 1), (newer_env, 3.0, 2)]  # the folder's listing order is the file system's:
    for env, value, hours in written if newer_env == "a-py" else written[::-1]:  # each case writes another first
        fab.write_results(folder, MACHINE, NEW, BENCHES, {cell("mlx"): fab.steady(value)}, env=env,
                          started=now + datetime.timedelta(hours=hours))
    row = results.latest(folder)[MACHINE].row(STEP, precision="fp32")
    assert row.mlx.value == pytest.approx(3.0) and row.torch.value == pytest.approx(2.0)
    compared = release_diff.values(folder, MACHINE, dict(fab.POINTS)[NEW])  # what compare and confirm read
    assert compared[STEP, ("'mlx'", "'cpu'", "False", "'fp32'")][0] == pytest.approx(3.0)


def test_compare_values_leave_out_results_of_another_benchmark_version_and_zero_has_no_mark(folder):
    benchmarks = {name for name, _ in release_diff.values(folder, MACHINE, dict(fab.POINTS)[OLD])}
    assert benchmarks == {MATMUL}  # the old point's step result is version 1
    assert release_diff.mark(0.0, 0.0, (None, None), (None, None), 1.1) == ""


def test_compare_flags_slowdowns_beyond_the_factor_and_calls_overlap_noise(folder):
    """OLD -> NEW changes PyTorch's releases (torch 2.14.1 -> 2.15.0), not MLX's."""
    lines, slower = release_diff.compare(folder, OLD, NEW, factor=1.1, machine=MACHINE)
    assert not slower  # the old point's step is stale: only the matmul is compared, and it did not change
    fab.write_results(folder, MACHINE, OLD, BENCHES, {cell("torch"): fab.steady(0.5), cell("mlx"): fab.steady(2.0),
                                                      cell("torch", "bf16"): [1.5, 0.7, 1.9, 0.6, 1.6, 1.45],
                                                      MATMUL_MLX: fab.steady(2 * 64**3 / 1e9)})
    lines, slower = release_diff.compare(folder, OLD, NEW, factor=1.1, machine=MACHINE)
    assert slower and any("| framework=torch, device=cpu, compile=False, precision=fp32 |" in line
                          and line.endswith("| slower |") for line in lines)
    assert any("| framework=torch, device=cpu, compile=False, precision=bf16 |" in line and line.endswith("| noise |")
               for line in lines)
    assert any("| framework=mlx, device=cpu, compile=False, precision=fp32 |" in line
               and line.endswith("| faster, same release |") for line in lines)
    assert not release_diff.compare(folder, OLD, NEW, factor=4.5, machine=MACHINE)[1]


LOOP = "bench_switch.Switch.time_loop"


def loop_points(folder, seconds):
    """The switch loop (host-bound) on the GPU at ledger points: `seconds` {point: {framework: seconds a loop}}."""
    benches = [fab.benchmark(LOOP, {"framework": ["mlx", "torch"], "device": ["gpu"]})]
    fab.write_benchmarks(folder, benches)
    for point, by_framework in seconds.items():
        fab.write_results(folder, MACHINE, point, benches, {(LOOP, (framework, "gpu")): fab.steady(value)
                                                            for framework, value in by_framework.items()})


def test_a_framework_at_the_same_releases_never_regresses_and_is_the_others_control(tmp_path):
    """A host twice as slow at NEW: MLX, the same releases at both points, reads 2x slower; PyTorch, whose
    release changed, 2.2x. Only PyTorch's row can regress, and MLX's same row says how much the host moved."""
    loop_points(tmp_path, {OLD: {"mlx": 1.0, "torch": 1.0}})
    for torch_at_new, regresses in ((2.2, True), (1.0, False)):
        loop_points(tmp_path, {NEW: {"mlx": 2.0, "torch": torch_at_new}})
        lines, slower = release_diff.compare(tmp_path, OLD, NEW, factor=1.1, machine=MACHINE)
        by_framework = {fw: next(line for line in lines if f"| framework={fw}, device=gpu |" in line)
                        for fw in ("mlx", "torch")}
        assert by_framework["mlx"].endswith("| 2.000 |  | slower, same release |")
        assert by_framework["torch"].endswith(f"| {torch_at_new:.3f} | 2.000 | {'slower' if regresses else ''} |")
        assert slower == regresses and lines[-1].startswith("REGRESSED" if regresses else "no regression")
        assert ("control: MLX's releases (mlx, mlx-lm, mlx-whisper, numpy) are the same at A and B, so its rows' moves "
                "are the host's (median B / A: 2 over its host-bound timings)") in "\n".join(lines)
        found = release_diff.rows(tmp_path, OLD, NEW, MACHINE)[2]
        assert [row.framework for row in release_diff.regressed(found, {"mlx"}, 1.1)] == ["torch"] * regresses
    assert release_diff.unchanged(OLD, NEW) == {"mlx"}


def test_a_framework_at_the_same_releases_without_a_timing_at_both_points_is_no_control(tmp_path):
    """A point that measured only the framework that changed (the site takes the other's cells from a point
    with the same releases of it): no median to show."""
    loop_points(tmp_path, {OLD: {"torch": 1.0}, NEW: {"torch": 2.0}})
    lines, slower = release_diff.compare(tmp_path, OLD, NEW, factor=1.1, machine=MACHINE)
    assert slower and ("no control: MLX's releases (mlx, mlx-lm, mlx-whisper, numpy) are the same at A and B, but "
                       "none of its timings was measured at both") in lines


def test_update_confirms_only_rows_of_a_framework_whose_releases_changed(tmp_path, monkeypatch):
    """An interleaved A/B of a row at the same releases at both points could only measure the host."""
    from mlxvspt.track import update

    loop_points(tmp_path, {OLD: {"mlx": 1.0, "torch": 1.0}, NEW: {"mlx": 2.0, "torch": 2.0}})
    monkeypatch.setenv("MLXVSPT_MACHINE", MACHINE.rsplit("-", 1)[0])
    measurer = update.AsvMeasurer("tiny", tmp_path, tmp_path / "html")
    assert [row.name for row in measurer.slowdowns(OLD, NEW)] == [f"{LOOP}('torch', 'gpu')"]


FIGURES = {"seconds": ("slower", "faster"), "bytes": ("more memory", "less memory"),
           "rel. error": ("higher error", "lower error")}


def test_compare_says_slower_only_of_times_and_more_memory_of_memory(tmp_path):
    benches = [fab.benchmark(f"bench_demo.Demo.track_{i}", {"framework": ["torch"], "n": [64]}, unit=unit)
               for i, unit in enumerate(FIGURES)]
    for point, value in ((OLD, 1.0), (NEW, 2.0)):
        fab.write_results(tmp_path, MACHINE, point, benches, {(b["name"], ("torch", "64")): fab.steady(value)
                                                              for b in benches})
    fab.write_benchmarks(tmp_path, benches)
    for a, b, word in ((OLD, NEW, 0), (NEW, OLD, 1)):
        lines, slower = release_diff.compare(tmp_path, a, b, factor=1.1, machine=MACHINE)
        marks = [line.rsplit("|", 2)[1].strip() for line in lines if line.startswith("| bench_demo.")]
        assert marks == [words[word] for words in FIGURES.values()], lines
        assert slower == (word == 0)


def test_comparing_a_point_with_itself_is_refused_unless_two_machines(folder):
    with pytest.raises(UsageError, match="the same ledger point"):
        release_diff.compare(folder, NEW, NEW, machine=MACHINE)
    fab.write_results(folder, "other-tiny", NEW, BENCHES, {cell("mlx"): fab.steady(1.0)})
    lines, _ = release_diff.compare(folder, NEW, NEW, machine=MACHINE, machine_b="other-tiny")
    assert f"{NEW} ({MACHINE}) -> {NEW} (other-tiny)" in lines[0]


def test_a_rerun_on_a_second_machine_says_how_many_values_it_reproduced(tmp_path):
    """The same point measured again as another machine of one kind: one value of the three moved 8%."""
    benches = [fab.benchmark("bench_matmul.Matmul.time_matmul", {"framework": ["mlx", "torch"], "n": [64]}),
               fab.benchmark("bench_switch.Switch.time_loop", {"framework": ["torch"], "device": ["gpu"]})]
    fab.write_benchmarks(tmp_path, benches)
    for machine, moved in ((MACHINE, 1.0), ("rerun-tiny", 1.08)):
        fab.write_results(tmp_path, machine, NEW, benches, {
            (benches[0]["name"], ("mlx", "64")): fab.steady(1.0), (benches[0]["name"], ("torch", "64")): fab.steady(2.0),
            (benches[1]["name"], ("torch", "gpu")): fab.steady(moved)})
    lines, slower = release_diff.compare(tmp_path, NEW, NEW, machine=MACHINE, machine_b="rerun-tiny")
    assert "B within 5% of A: 2 of 3 values (host-bound rows: 0 of 1)" in lines
    assert not slower and any(line.startswith("no release changed between A and B") for line in lines)


RENDERERS = ("report", "release_diff", "charts", "comparison_page", "site")


@pytest.mark.parametrize("name", RENDERERS)
def test_no_renderer_imports_a_workload(name):
    path = Path(results.__file__).with_name(f"{name}.py")
    if not path.is_file():
        pytest.skip(f"{path.name} not in this tree")
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        else:
            continue
        assert not any("workloads" in m for m in modules), f"{path.name} imports {modules}"


def test_a_history_point_without_its_own_environment_record_names_no_releases(tmp_path):
    """A history run measures each point in its own virtualenv; the machine's latest record (environment.txt)
    names the interpreter that ran asv, so a point without environment-<point>.txt keeps only the machine."""
    folder = tmp_path / "box-history"
    folder.mkdir()
    latest = {"cpu": "Xeon", "cpu_count": 2, "mlx": "0.32.4", "torch": "2.13.0+cpu", "transformers": "5.24.0"}
    (folder / "environment.txt").write_text(json.dumps(latest))
    assert results.environment(tmp_path, "box-history", "torch-2.15.0") == {"cpu": "Xeon", "cpu_count": 2}
    assert results.environment(tmp_path, "box-history") == latest
    (folder / "environment-torch-2.15.0.txt").write_text(json.dumps({**latest, "torch": "2.15.0"}))
    assert results.environment(tmp_path, "box-history", "torch-2.15.0")["torch"] == "2.15.0"
    assert report.device_name(results.environment(tmp_path, "box-history", "torch-2.14.1")) == "Xeon, 2 cores"


@pytest.mark.parametrize("b, said", [
    ({"cpu": "Intel(R) Xeon(R) Processor", "cpu_count": 2},
     "AMD EPYC, 2 cores at A, Intel(R) Xeon(R) Processor, 2 cores at B"),
    ({"cpu": "AMD EPYC", "cpu_count": 2, "cpu_features": "avx avx2 avx512_fp16"},
     None),  # A's record is from before the CPU's features were recorded: nothing tells them apart
    ({"cpu": "AMD EPYC", "cpu_count": 4}, "AMD EPYC, 2 cores at A, AMD EPYC, 4 cores at B")])
def test_compare_says_when_the_two_points_ran_on_different_kinds_of_host(tmp_path, b, said):
    """Two 2-core hosts named "Intel(R) Xeon(R) Processor" ran PyTorch's fp16 512^3 matmul in 131 ms and in
    about 1 ms (the second with AVX-512 FP16), an AMD EPYC in 105 ms: every row's change may be the host's,
    host-bound or not, and a line says so though the single-core loops agreed."""
    bench = fab.benchmark("bench_matmul.MatmulMemory.track_peak_memory", {"framework": ["torch"], "device": ["cpu"]},
                          unit="bytes")
    for point, host in zip((OLD, NEW), ({"cpu": "AMD EPYC", "cpu_count": 2}, b)):
        fab.write_results(tmp_path, MACHINE, point, [bench], {(bench["name"], ("torch", "cpu")): fab.steady(1.0)})
        record = {**host, "host_load": {"single_core_seconds": 0.053}}
        (tmp_path / MACHINE / f"environment-{point}.txt").write_text(json.dumps(record))
    fab.write_benchmarks(tmp_path, [bench])
    lines, _ = release_diff.compare(tmp_path, OLD, NEW, machine=MACHINE)
    hosts = [line for line in lines if line.startswith("hosts")]
    assert hosts == ([] if said is None else [f"hosts differ: {said}, so any row's change may be the host's; `mlxvspt "
                                              "confirm` measures a row at both points interleaved on one host"])
    assert report.HOST_NOTE not in lines  # no host-bound row to mark
    (tmp_path / MACHINE / f"environment-{NEW}.txt").write_text(json.dumps({"cpu": "AMD EPYC", "cpu_count": 2}))
    lines, _ = release_diff.compare(tmp_path, OLD, NEW, machine=MACHINE)
    assert not any(line.startswith("hosts") for line in lines), lines


@pytest.mark.parametrize("speeds, said", [
    ((0.053, 0.054), "hosts alike as their runs began: the single-core loop took 0.053 s at A, 0.054 s at B"),
    ((0.053, 0.09), "loop took 0.053 s at A, 0.09 s at B, so a host-bound"),
    ((0.053, None), "not timed at both points, so a host-bound")])
def test_compare_marks_host_bound_rows_and_says_whether_the_two_hosts_were_alike(tmp_path, speeds, said):
    """An H100 point measured on a faster host than the one before it: PyTorch, the same release at both
    points, read up to 2.4x slower in its host-bound rows."""
    benches = [fab.benchmark("bench_switch.Switch.time_loop", {"framework": ["torch"], "device": ["gpu"]}),
               fab.benchmark("bench_matmul.MatmulMemory.track_peak_memory", {"framework": ["torch"], "device": ["gpu"]},
                             unit="bytes")]
    for point, speed in zip((OLD, NEW), speeds):
        fab.write_results(tmp_path, MACHINE, point, benches, {(b["name"], ("torch", "gpu")): fab.steady(1.0)
                                                              for b in benches})
        host = {} if speed is None else {"host_load": {"single_core_seconds": speed}}
        (tmp_path / MACHINE / f"environment-{point}.txt").write_text(json.dumps(host))
    fab.write_benchmarks(tmp_path, benches)
    lines, _ = release_diff.compare(tmp_path, OLD, NEW, machine=MACHINE)
    assert any(line.startswith("| bench_switch.Switch.time_loop ʰ |") for line in lines)
    assert any(line.startswith("| bench_matmul.MatmulMemory.track_peak_memory |") for line in lines)
    assert report.HOST_NOTE in lines and any(said in line for line in lines if line.startswith("hosts")), lines
