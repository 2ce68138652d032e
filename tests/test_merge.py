"""`mlxvspt merge`: a machine's results measured in parts (one framework or workload per GPU) read as one
run; each combination comes from the part that measured it, records and checks are kept whole."""
import datetime
import json
import shutil

import pytest

import fabricate as fab
from mlxvspt import cli
from mlxvspt.measure import check
from mlxvspt.publish import results
from mlxvspt.track import asvrun

STEP = "bench_lm_train.LMTrain.time_step"
MATMUL = "bench_matmul.Matmul.time_matmul"
BENCHES = [fab.benchmark(STEP, {"framework": ["mlx", "torch"], "device": ["gpu"], "precision": ["fp32", "bf16"]}),
           fab.benchmark(MATMUL, {"framework": ["mlx", "torch"], "device": ["gpu"], "n": [64]})]
MACHINE = "H100-full"
NEW = fab.POINTS[-1][0]


def part(root, name, samples, record_lines, benches=BENCHES):
    folder = root / name
    fab.write_benchmarks(folder, benches)
    fab.write_results(folder, MACHINE, NEW, benches, samples)
    fab.write_records(folder, MACHINE, NEW, record_lines)
    return folder / MACHINE


def test_parts_fill_each_others_combinations_and_keep_every_record(tmp_path, capsys):
    mlx = part(tmp_path, "gpu0", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.0),
                                  (STEP, ("mlx", "gpu", "bf16")): fab.steady(0.5)},
               [fab.record(STEP, framework="mlx", device="gpu", precision=p) for p in ("fp32", "bf16")])
    torch = part(tmp_path, "gpu1", {(STEP, ("torch", "gpu", "fp32")): fab.steady(2.0),
                                    (STEP, ("torch", "gpu", "bf16")): fab.FAILED,
                                    (MATMUL, ("torch", "gpu", "64")): fab.steady(1e-3)},
                 [fab.record(STEP, framework="torch", device="gpu", precision="fp32")])
    dest = tmp_path / "results" / MACHINE
    fab.write_benchmarks(dest.parent, BENCHES)

    assert cli.main(["merge", str(dest), str(mlx), str(torch)]) == 0
    assert "merged 2 part(s)" in capsys.readouterr().out
    snap = results.latest(dest.parent)[MACHINE]
    fp32, bf16 = snap.row(STEP, precision="fp32"), snap.row(STEP, precision="bf16")
    assert fp32.mlx.n == 10 and fp32.torch.n == 10 and fp32.ratio == pytest.approx(0.5)
    assert bf16.mlx.ok and bf16.torch.status == "failed"  # the failed part does not erase MLX's measurement
    assert snap.row(MATMUL).torch.ok
    records = (dest / f"records-{NEW}.jsonl").read_text().splitlines()
    assert len(records) == 3
    assert fp32.mlx.check == "passed" and fp32.torch.check == "passed"
    assert (dest / "machine.json").is_file()


def test_a_later_part_remeasuring_a_combination_replaces_it_and_its_record(tmp_path):
    first = part(tmp_path, "first", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.0),
                                     (STEP, ("mlx", "gpu", "bf16")): fab.steady(0.5)},
                 [fab.record(STEP, framework="mlx", device="gpu", precision="bf16", detail="first")])
    again = part(tmp_path, "again", {(STEP, ("mlx", "gpu", "bf16")): fab.steady(0.7),
                                     (STEP, ("mlx", "gpu", "fp32")): fab.FAILED},
                 [fab.record(STEP, framework="mlx", device="gpu", precision="bf16", detail="again")])
    dest = tmp_path / "results" / MACHINE
    fab.write_benchmarks(dest.parent, BENCHES)
    assert cli.main(["merge", str(dest), str(first), str(again)]) == 0
    snap = results.latest(dest.parent)[MACHINE]
    assert snap.row(STEP, precision="bf16").mlx.value == pytest.approx(0.7, rel=0.05)  # re-measured
    assert snap.row(STEP, precision="fp32").mlx.value == pytest.approx(1.0, rel=0.05)  # a failure erases nothing
    assert snap.row(STEP, precision="bf16").mlx.check_detail == "again"


def test_a_part_copied_while_its_run_wrote_brings_only_its_whole_record_lines(tmp_path):
    """`gpu_point.sh wait N OUT` packs the results while the run measures: a records line cut mid-write is
    left out, the lines before it merged."""
    whole = fab.record(STEP, framework="mlx", device="gpu", precision="fp32")
    cut = json.dumps(fab.record(STEP, framework="mlx", device="gpu", precision="bf16"))[:40]
    copied = part(tmp_path, "copied", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.0)}, [whole, cut])
    dest = tmp_path / "results" / MACHINE
    assert cli.main(["merge", str(dest), str(copied)]) == 0
    assert (dest / f"records-{NEW}.jsonl").read_text().splitlines() == [json.dumps(whole)]


def copied(root, name, dest, point, samples, measured, workload):
    """A point's folder as `gpu_point.sh start` makes it, a copy of the machine's results, after a run that
    measured `measured` ({(benchmark, bare params): samples}) at `point`: the result file holds the copy's
    other rows, a record and a check line for each row measured, the run's line once it ended
    (`workload` None: packed before)."""
    folder = root / name / MACHINE
    shutil.copytree(dest, folder)
    fab.write_results(folder.parent, MACHINE, point, BENCHES, {**samples, **measured})
    fab.write_records(folder.parent, MACHINE, point, [
        {"benchmark": bench, "params": as_recorded(bench, combo), "check_key": check_key(bench, combo)}
        for bench, combo in measured])
    check.replace_combinations(folder / f"check-{point}.jsonl", [
        check_line(bench, combo, True) for bench, combo in measured])
    if workload:
        with open(folder / f"runs-{point}.jsonl", "a") as f:
            f.write(json.dumps({"started": name, "parts": [{"workload": workload, "measured": len(measured)}]}) + "\n")
    return folder


def as_recorded(bench, combo):
    """A row's params as its record names them: each value as asv lists it (repr)."""
    names = ("framework", "device", "n" if bench == MATMUL else "precision")
    return {name: value if value.isdigit() else repr(value) for name, value in zip(names, combo)}


def check_key(bench, combo):
    """(workload, device, path, precision, case) of a row of BENCHES, as its check line names it."""
    if bench == MATMUL:
        return ("matmul", "gpu", "-", "fp32", f"n {combo[2]}")
    return ("lm_train", "gpu", "seed", combo[2], "")


def check_line(bench, combo, ok):
    *key, case = check_key(bench, combo)
    return check.Line(*key, "output", ok, case=case)


def test_a_part_begun_as_a_copy_of_the_results_gives_only_the_rows_it_measured(tmp_path):
    """`gpu_point.sh start` copies the machine's results into the point's folder (the plan's durations,
    `--resume`): a part holds the rows it did not measure as the copy had them. Merged one after another,
    each part brings only the rows its records say it measured and whose values its result file holds (with
    their records and check lines), whole workloads or some of their rows, at each release set apart, packed
    while its run measured and again once it ended, merged twice; a part whose runs lines name no parts (an
    older harness's) brings everything, as before."""
    old_point = fab.POINTS[-2][0]
    fp32, bf16, n64 = (STEP, ("mlx", "gpu", "fp32")), (STEP, ("mlx", "gpu", "bf16")), (MATMUL, ("mlx", "gpu", "64"))
    old = {fp32: fab.steady(1.0), bf16: fab.steady(1.0), n64: fab.steady(1e-3)}
    dest = part(tmp_path, "results", old, [])
    fab.write_results(dest.parent, MACHINE, old_point, BENCHES, old)
    for point in (NEW, old_point):
        check.replace_combinations(dest / f"check-{point}.jsonl", [
            check_line(*row, False) for row in old])
        (dest / f"runs-{point}.jsonl").write_text(json.dumps({"started": "earlier", "parts": []}) + "\n")

    def value(row, point=NEW):
        snap = next(s for s in results.history(dest.parent, MACHINE) if s.point == point)
        return snap.row(row[0], **dict(zip(("precision", "n") if row[0] == STEP else ("n",), row[1][2:]))).mlx.value

    def checks(point=NEW):
        return {line["case"] or line["precision"]: line["ok"] for line in check.load(dest / f"check-{point}.jsonl")}

    # b: matmul again at NEW, the LM's fp32 again at the older release set
    b = copied(tmp_path, "b", dest, NEW, old, {n64: fab.steady(2e-3)}, "matmul")
    fab.write_results(b.parent, MACHINE, old_point, BENCHES, {**old, fp32: fab.steady(5.0)})
    fab.write_records(b.parent, MACHINE, old_point, [{"benchmark": STEP, "params": as_recorded(*fp32),
                                                      "check_key": check_key(*fp32)}])
    # c: the LM's bf16 alone at NEW (one row of its workload), packed while its run measured (the row's
    # record written, its value not yet in the result file, no runs line), then once the run ended
    c_early = copied(tmp_path, "c_early", dest, NEW, old, {bf16: fab.steady(3.0)}, None)
    fab.write_results(c_early.parent, MACHINE, NEW, BENCHES, old)
    c = copied(tmp_path, "c", dest, NEW, old, {bf16: fab.steady(3.0)}, "lm_train")
    assert cli.main(["merge", str(dest), str(b)]) == 0
    assert cli.main(["merge", str(dest), str(c_early)]) == 0
    assert value(bf16) == pytest.approx(1.0, rel=0.05) and checks()["bf16"] is False
    assert not (dest / f"records-{NEW}.jsonl").read_text().count("bf16")  # its record waits for its value
    assert cli.main(["merge", str(dest), str(c)]) == 0
    assert cli.main(["merge", str(dest), str(b)]) == 0  # again: adds nothing
    assert value(n64) == pytest.approx(2e-3, rel=0.05)  # not put back by c's copy
    assert value(bf16) == pytest.approx(3.0, rel=0.05) and value(fp32) == pytest.approx(1.0, rel=0.05)
    assert value(fp32, old_point) == pytest.approx(5.0, rel=0.05) and value(n64, old_point) == pytest.approx(1e-3, rel=0.05)
    assert checks() == {"n 64": True, "bf16": True, "fp32": False}
    assert checks(old_point) == {"n 64": False, "bf16": False, "fp32": False}  # b measured fp32 there, checked nothing
    stranger = copied(tmp_path, "stranger", dest, NEW, old, {n64: fab.steady(6e-3)}, "matmul")
    for result in stranger.glob("*-*.json"):
        result.write_text(result.read_text().replace(dict(fab.POINTS)[NEW], "f" * 40))
    before = {path.name: path.read_text() for path in dest.iterdir()}
    assert cli.main(["merge", str(dest), str(stranger)]) == 2  # a commit no release set here: nothing written
    assert {path.name: path.read_text() for path in dest.iterdir()} == before
    older = part(tmp_path, "older", {n64: fab.steady(4e-3)}, [])
    (older / f"runs-{NEW}.jsonl").write_text(json.dumps({"started": "older", "benchmarks": 1}) + "\n")
    assert cli.main(["merge", str(dest), str(older)]) == 0
    assert value(n64) == pytest.approx(4e-3, rel=0.05)


@pytest.mark.parametrize("env", ["other-py", "aaa-py"])  # its file named after the copy's, and before it
def test_a_part_in_another_environments_result_file_brings_its_records_checks_and_values_into_the_points_file(
        tmp_path, env):
    """A run from a clone at another path (or in another venv) writes its values to a result file of another
    asv environment, one the destination lacks: the rows it measured go into the destination's file of the
    point with their records and check lines, as from a file the destination holds (one point, one file), and
    are the rows published."""
    n64 = MATMUL, ("mlx", "gpu", "64")
    dest = part(tmp_path, "results", {n64: fab.steady(1e-3)}, [])
    check.replace_combinations(dest / f"check-{NEW}.jsonl", [check_line(*n64, False)])
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    b = copied(tmp_path, "b", dest, NEW, {}, {n64: fab.steady(2e-3)}, "matmul")
    for result in b.glob("*-*.json"):
        result.unlink()  # the copy's own file stays as the destination's: the run wrote another environment's
    shutil.copy(dest / next(p.name for p in dest.glob("*-*.json")), b)
    fab.write_results(b.parent, MACHINE, NEW, BENCHES, {n64: fab.steady(2e-3)}, env=env, started=later)
    files = [p.name for p in dest.glob("*-*.json")]
    assert cli.main(["merge", str(dest), str(b)]) == 0
    assert [p.name for p in dest.glob("*-*.json")] == files
    assert (dest / f"records-{NEW}.jsonl").read_text().count("check_key") == 1
    row = results.latest(dest.parent)[MACHINE].row(MATMUL, n="64")
    assert row.mlx.value == pytest.approx(2e-3, rel=0.05) and row.mlx.check == "passed"
    before = {p.name: p.read_text() for p in dest.iterdir()}
    assert cli.main(["merge", str(dest), str(b)]) == 0  # again: adds nothing
    assert {p.name: p.read_text() for p in dest.iterdir()} == before


def test_an_entry_measured_again_whole_takes_the_parts_duration_and_start_and_one_measured_in_part_adds_it(tmp_path):
    """A part that measured every combination again stands for the entry: its duration and its start (a point
    re-measured whole read as begun when the run it replaced began); one that measured some adds its duration,
    and the entry began with the earlier part."""
    def with_timing(folder, seconds, started):
        path = next(folder.glob("*-*.json"))
        data = json.loads(path.read_text())
        entry, columns = data["results"][STEP], data["result_columns"]
        entry[columns.index("duration")], entry[columns.index("started_at")] = seconds, started
        path.write_text(json.dumps(data))
        return folder

    def merged_timing(*parts):
        dest = tmp_path / "results" / f"{MACHINE}-{len(list(tmp_path.glob('results/*')))}"
        assert cli.main(["merge", str(dest), *map(str, parts)]) == 0
        data = json.loads(next(dest.glob("*-*.json")).read_text())
        entry, columns = data["results"][STEP], data["result_columns"]
        return entry[columns.index("duration")], entry[columns.index("started_at")]

    both = {(STEP, ("mlx", "gpu", p)): fab.steady(1.0) for p in ("fp32", "bf16")}
    first = with_timing(part(tmp_path, "first", both, []), 30.0, 1_700_000_000_000)
    again = with_timing(part(tmp_path, "again", both, []), 20.0, 1_700_000_900_000)
    bf16 = with_timing(part(tmp_path, "bf16", {(STEP, ("mlx", "gpu", "bf16")): fab.steady(1.0)}, []), 5.0,
                       1_700_000_600_000)
    assert merged_timing(first, again) == (20.0, 1_700_000_900_000)
    assert merged_timing(first, bf16) == (35.0, 1_700_000_000_000)


def test_a_part_measuring_a_combination_again_replaces_its_check_lines_and_keeps_the_others(tmp_path):
    """As a run's own check file does: the part's lines stand for the combinations they compare (an old FAIL
    of a combination measured again does not stay beside its new pass); other combinations keep theirs."""
    def line(precision, ok):
        return check.Line("lm_train", "gpu", "seed", precision, "first-step loss", ok)

    first = part(tmp_path, "first", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.0)}, [])
    check.replace_combinations(first / f"check-{NEW}.jsonl", [line("fp32", True), line("bf16", False)])
    again = part(tmp_path, "again", {(STEP, ("mlx", "gpu", "bf16")): fab.steady(0.5)}, [])
    check.replace_combinations(again / f"check-{NEW}.jsonl", [line("bf16", True)])
    dest = tmp_path / "results" / MACHINE
    assert cli.main(["merge", str(dest), str(first), str(again)]) == 0
    stored = {(l["precision"], l["ok"]) for l in check.load(dest / f"check-{NEW}.jsonl")}
    assert stored == {("fp32", True), ("bf16", True)}


def test_a_newer_benchmark_version_replaces_the_older_entry(tmp_path):
    old = part(tmp_path, "old", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.0)}, [])
    stale = json.loads(next(old.glob("*-*.json")).read_text())
    new = part(tmp_path, "new", {(STEP, ("torch", "gpu", "fp32")): fab.steady(2.0)}, [])
    path = next(old.glob("*-*.json"))
    data = json.loads(path.read_text())
    data["results"][STEP][data["result_columns"].index("version")] = "0"  # an older version of the benchmark
    path.write_text(json.dumps(data))
    dest = tmp_path / "results" / MACHINE
    cli.main(["merge", str(dest), str(old), str(new)])
    merged = json.loads(next(dest.glob("*-*.json")).read_text())
    result = merged["results"][STEP][merged["result_columns"].index("result")]
    assert result[0] != result[0] and result[2] == pytest.approx(2.0, rel=0.05)  # MLX old value gone (n/a), torch kept
    assert stale["results"][STEP] != merged["results"][STEP]


def test_a_part_merged_into_an_entry_asv_trimmed_keeps_its_samples(tmp_path):
    """asv stores an entry without samples (an older run's) only up to its last non-empty column: a part
    merged into it keeps its own statistics and samples (they were cut to the shorter entry's columns)."""
    old = part(tmp_path, "old", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.0)}, [])
    path = next(old.glob("*-*.json"))
    data = json.loads(path.read_text())
    data["results"][STEP] = data["results"][STEP][:data["result_columns"].index("duration") + 1]
    path.write_text(json.dumps(data))
    new = part(tmp_path, "new", {(STEP, ("torch", "gpu", "fp32")): fab.steady(2.0)}, [])
    dest = tmp_path / "results" / MACHINE
    fab.write_benchmarks(dest.parent, BENCHES)
    assert cli.main(["merge", str(dest), str(old), str(new)]) == 0
    row = results.latest(dest.parent)[MACHINE].row(STEP, precision="fp32")
    assert row.torch.n == 10 and row.mlx.value == pytest.approx(1.0, rel=0.05)


def test_a_part_of_a_wider_params_grid_pairs_each_combination_with_its_own_figures(tmp_path):
    """The suite's matmul sizes grew (every preset's sizes) between two parts of the H200's results: merged
    by position, PyTorch's n=8192 row read 64 us (another size's figure). Combinations are matched by value."""
    old = part(tmp_path, "old", {(MATMUL, ("mlx", "gpu", "64")): fab.steady(2e-3),
                                 (MATMUL, ("torch", "gpu", "64")): fab.steady(1e-3)}, [])
    wider = [BENCHES[0], fab.benchmark(MATMUL, {"framework": ["mlx", "torch"], "device": ["gpu"], "n": [32, 64]})]
    new = part(tmp_path, "new", {(MATMUL, ("torch", "gpu", "32")): fab.steady(1e-5),
                                 (MATMUL, ("mlx", "gpu", "64")): fab.steady(3e-3)}, [], wider)
    dest = tmp_path / "results" / MACHINE
    fab.write_benchmarks(dest.parent, wider)
    assert cli.main(["merge", str(dest), str(old), str(new)]) == 0
    snap = results.latest(dest.parent)[MACHINE]
    n64, n32 = snap.row(MATMUL, n="64"), snap.row(MATMUL, n="32")
    assert n64.torch.value == pytest.approx(1e-3, rel=0.05) and n64.mlx.value == pytest.approx(3e-3, rel=0.05)
    assert n32.torch.value == pytest.approx(1e-5, rel=0.05) and n32.mlx.status == "n/a"
    assert n64.torch.n == 10  # its samples came along


def test_every_release_of_a_machine_is_described_alike_so_asv_graphs_them_on_one_line(tmp_path):
    """The H200's older result file had no num_cpu, the newer release's had: asv drew two graph lines per
    benchmark and never showed the two MLX releases side by side."""
    old_point = fab.POINTS[-2][0]
    dest = tmp_path / "results" / MACHINE
    fab.write_results(dest.parent, MACHINE, old_point, BENCHES, {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.0)})
    new = part(tmp_path, "new", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.1)}, [])
    described = {"machine": MACHINE, "num_cpu": "16", "os": "Linux-6.18", "version": 1}
    (new / "machine.json").write_text(json.dumps(described))
    for path in new.glob("*-*.json"):
        data = json.loads(path.read_text())
        data["params"].update(num_cpu="16", os="Linux-6.18")
        path.write_text(json.dumps(data))
    (dest / "half-written.json").write_text('{"params": ')  # restore_damaged's to mend, not merge's
    assert cli.main(["merge", str(dest), str(new)]) == 0
    assert (dest / "half-written.json").read_text() == '{"params": '
    params = [json.loads(p.read_text())["params"] for p in sorted(dest.glob("*-*.json")) if p.name != "half-written.json"]
    assert len(params) == 2 and params[0] == params[1] and params[0]["num_cpu"] == "16"
    assert json.loads((dest / "machine.json").read_text()) == described


def test_a_key_the_newest_part_leaves_out_keeps_its_last_description(tmp_path):
    """asv records num_cpu only where it differs from its own count: a run on a 16-core H100 had none after
    runs pinned to 16 of a 64-core host's cores had it, and merging it wiped num_cpu from every file."""
    dest = tmp_path / "results" / MACHINE
    first = part(tmp_path, "first", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.0)}, [])
    second = part(tmp_path, "second", {(STEP, ("torch", "gpu", "fp32")): fab.steady(1.0)}, [])
    (first / "machine.json").write_text(json.dumps({"machine": MACHINE, "num_cpu": "16", "os": "A", "version": 1}))
    (second / "machine.json").write_text(json.dumps({"machine": MACHINE, "os": "B", "version": 1}))
    assert cli.main(["merge", str(dest), str(first)]) == 0
    assert cli.main(["merge", str(dest), str(second)]) == 0
    described = {"machine": MACHINE, "num_cpu": "16", "os": "B", "version": 1}
    assert json.loads((dest / "machine.json").read_text()) == described
    for path in dest.glob("*-*.json"):
        assert {k: json.loads(path.read_text())["params"].get(k) for k in ("num_cpu", "os")} == {"num_cpu": "16", "os": "B"}


def test_the_environment_files_are_the_latest_parts_so_the_page_names_the_host_that_measured_last(tmp_path):
    """A later run on another host of the same GPU kind (its single-core loop 2x slower) re-measured rows; the
    merge kept the first host's description, and the page's "host of the latest run" named the wrong host."""
    dest = tmp_path / "results" / MACHINE
    first = part(tmp_path, "first", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.0)}, [])
    later = part(tmp_path, "later", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.5)}, [])
    for folder, speed in ((first, 0.0578), (later, 0.1131)):
        for name in ("environment.txt", f"environment-{NEW}.txt"):
            (folder / name).write_text(json.dumps({"host_load": {"single_core_seconds": speed}}))
    assert cli.main(["merge", str(dest), str(first)]) == 0
    assert cli.main(["merge", str(dest), str(later)]) == 0
    for name in ("environment.txt", f"environment-{NEW}.txt"):
        assert json.loads((dest / name).read_text())["host_load"]["single_core_seconds"] == 0.1131
    assert results.environment(dest.parent, MACHINE, NEW)["host_load"]["single_core_seconds"] == 0.1131


def test_a_part_measured_on_another_kind_of_host_is_refused_before_any_write(tmp_path, capsys):
    """One machine's history is one kind of host's (CPU model, cores, math extensions): a part whose run names
    another is refused, naming both; a part of the same kind, or from before the extensions were recorded,
    merges."""
    dest = tmp_path / "results" / MACHINE
    xeon = {"cpu": "Intel(R) Xeon(R) Processor", "cpu_count": 16, "cpu_features": "avx avx2 avx512f"}
    first = part(tmp_path, "first", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.0)}, [])
    (first / "environment.txt").write_text(json.dumps(xeon))
    assert cli.main(["merge", str(dest), str(first)]) == 0
    before = {p.name: p.read_text() for p in dest.iterdir()}
    for other in ({**xeon, "cpu_features": "avx avx2 avx512f amx_tile"}, {**xeon, "cpu": "AMD EPYC"}):
        later = part(tmp_path, "later", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.5)}, [])
        (later / "environment.txt").write_text(json.dumps(other))
        assert cli.main(["merge", str(dest), str(later)]) == 2
        assert capsys.readouterr().err.strip() == (
            f"mlxvspt: error: {later}: measured on {results.host_words(other)}, {dest} on "
            f"{results.host_words(xeon)}: one machine's results come from one kind of host")
        assert {p.name: p.read_text() for p in dest.iterdir()} == before
    (later / "environment.txt").write_text(json.dumps({**xeon, "cpu_features": None}))
    assert cli.main(["merge", str(dest), str(later)]) == 0


def test_a_folder_without_machine_json_is_refused(tmp_path, capsys):
    assert cli.main(["merge", str(tmp_path / "dest"), str(tmp_path)]) == 2
    assert "not a machine's results folder" in capsys.readouterr().err
    (tmp_path / "machine.json").write_text('{"machine": ')  # a copy cut short
    assert cli.main(["merge", str(tmp_path / "dest"), str(tmp_path)]) == 2
    assert "no readable machine.json" in capsys.readouterr().err
    assert not (tmp_path / "dest").exists()


def test_merging_a_part_again_adds_nothing_and_a_damaged_part_is_refused_before_any_write(tmp_path, capsys):
    mlx = part(tmp_path, "gpu0", {(STEP, ("mlx", "gpu", "fp32")): fab.steady(1.0)},
               [fab.record(STEP, framework="mlx", device="gpu", precision="fp32")])
    dest = tmp_path / "results" / MACHINE
    assert cli.main(["merge", str(dest), str(mlx)]) == 0
    merged = {p.name: json.loads(p.read_text()) if p.suffix == ".json" else p.read_text() for p in dest.iterdir()}
    assert cli.main(["merge", str(dest), str(mlx)]) == 0  # the durations too: a run began as a copy of dest
    assert {p.name: json.loads(p.read_text()) if p.suffix == ".json" else p.read_text()
            for p in dest.iterdir()} == merged
    before = {p.name: p.read_text() for p in dest.iterdir()}
    assert cli.main(["merge", str(dest), str(dest)]) == 2
    assert "the destination itself" in capsys.readouterr().err
    cut = part(tmp_path, "gpu1", {(STEP, ("torch", "gpu", "fp32")): fab.steady(2.0)}, [])
    result_file = next(p for p in cut.glob("*.json") if p.name != "machine.json")
    result_file.write_text(result_file.read_text()[:100])
    assert cli.main(["merge", str(dest), str(cut)]) == 2
    assert "not a readable asv result file" in capsys.readouterr().err
    assert {p.name: p.read_text() for p in dest.iterdir()} == before


def test_a_machine_lent_again_with_another_kernel_build_keeps_one_description():
    """Two leases of one H100 came with kernel builds v1272 and v1294: asv filed each run's graphs apart."""
    lent = [asvrun.os_family(f"Linux-6.18.44-fc-v{build}-gpu-x86_64-with-glibc2.39") for build in (1272, 1294)]
    assert lent == ["Linux-6.18-x86_64"] * 2
    assert asvrun.os_family("macOS-15.1-arm64-arm-64bit") == "macOS-15.1-arm64"
