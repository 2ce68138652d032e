"""The suite as asv sees it: `asv check` passes and `mlxvspt run` goes end to end."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mlxvspt.track import asvrun
from mlxvspt.publish import report, results as results_layer


def test_asv_check_passes(tmp_path):
    config = asvrun.write_conf(tmp_path / "results", tmp_path / "html")
    try:
        out = subprocess.run([sys.executable, "-m", "asv", "check", "-E", f"existing:{sys.executable}",
                              "--config", str(config)], capture_output=True, text=True)
    finally:
        config.unlink()  # written beside asv.conf.json (asv's {conf_dir})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_every_benchmark_class_is_declared_in_its_module():
    """asv treats every class named in a benchmark module as a benchmark: an imported base class with a
    track_ method (asvbench.StepMemory) would run as one, without a workload."""
    import importlib
    import inspect

    for path in sorted((asvrun.ROOT / "benchmarks").glob("bench_*.py")):
        module = importlib.import_module(f"benchmarks.{path.stem}")
        for name, value in vars(module).items():
            if inspect.isclass(value) and not name.startswith("_") and any(
                    m.startswith(("time_", "track_")) for m in dir(value)):
                assert value.__module__ == module.__name__, f"{path.name}: {name} comes from {value.__module__}"


def test_run_tiny_end_to_end_saves_results_publishes_site_prints_table(tmp_path):
    results, html = tmp_path / "results", tmp_path / "html"
    # relative folders: asv's benchmark processes, in their own working directory, still find the run's files
    out = subprocess.run([sys.executable, "-m", "mlxvspt", "run", "--preset", "tiny", "--results-dir",
                          "results", "--html-dir", "html", "--workload", "switch", "--workload", "matmul", "--bench", r"Matmul\.time_|Switch\."],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (html / "index.html").is_file()
    assert list(html.glob("graphs/branch-main/machine-*"))  # the ledger's whole history, not the run's point
    machine = asvrun.machine_name("tiny")
    assert list((results / machine).glob("*-existing-*.json"))
    assert list((results / machine).glob("environment-*.txt"))  # the installed ledger point's record
    wall = json.loads(next((results / machine).glob("runs-*.jsonl")).read_text())
    assert wall["wall_seconds"] > 0 and wall["exit_code"] == 0 and "wall time: " in out.stdout
    assert "Matmul.track_relative_error" not in out.stdout  # --bench left it out
    assert "| Matmul.time_matmul (device=cpu, precision=fp32, n=64) |" in out.stdout
    # this machine's table (no headline row at `tiny`: its first rows), then where every row and the site are
    assert "\n".join(report.console(results, asvrun.machine_name("tiny"))) in out.stdout
    assert "--full" in out.stdout and "mlxvspt serve --html-dir html" in out.stdout
    # one line per benchmark, then the table; asv's own output (and stderr) only in the log named first
    lines = out.stdout.splitlines()
    after = len(lines) - 1 - max(i for i, line in enumerate(lines) if re.match(r"\[\d+/\d+\] |wall time: ", line))
    assert after <= 60, out.stdout
    # one line per part (a workload on a device, one measuring process); the switch has no CPU rows
    counted = [line for line in lines if re.match(r"\[\d+/\d+\] ", line)]
    assert len(counted) == 1 and re.match(r"\[1/1\] matmul on cpu: 6 rows measured, \d+ n/a, 0 failed", counted[0]), counted
    assert lines[1].startswith("plan: 1 parts, ")
    output = (out.stdout + out.stderr).splitlines()  # asv's own lines ("· Discovering", "[ 50%] ···") stay in the log
    assert not any(line.lstrip().startswith("·") for line in output) and "%]" not in out.stdout + out.stderr
    log = Path(lines[0].split()[1])
    assert lines[0].startswith("log: ") and "Discovering benchmarks" in log.read_text()
    # cross-checked first, and each row's record read back in the benchmark process, not this one
    checks = list((results / machine).glob("check-*.jsonl"))
    assert checks and all(json.loads(line)["ok"] for line in checks[0].read_text().splitlines())
    records = [json.loads(line) for line in next((results / machine).glob("records-*.jsonl")).read_text().splitlines()]
    row = next(r for r in records if r["benchmark"] == "bench_matmul.Matmul.time_matmul"
               and r["params"] == {"framework": "'torch'", "device": "'cpu'", "precision": "'fp32'", "n": "64"})
    assert row["ran"]["compute_dtype"] == "float32" and row["ran"]["matmul_mode"] == "ieee"
    assert row["check"] == "passed" and row["warmup"]["warmup_steps"] >= 2
    assert row["environment"]["pid"] != os.getpid() and row["environment"]["preset"] == "tiny"
    assert next(r for r in records if r["params"]["framework"] == "'mlx'")["environment"]["tf32_env"] == "0"
    # the results layer reads them back: the row's cells carry their check and run detail, the report prints it
    row = results_layer.latest(results)[machine].row("bench_matmul.Matmul.time_matmul", precision="fp32", n="64")
    assert row.torch.check == "passed" and row.torch.ran["matmul_mode"] == "ieee"
    # a 64^3 matmul lasts microseconds: each sample is the mean of the calls filling presets.SAMPLE_SECONDS
    assert row.torch.stats["number"] > 1 and row.torch.n >= 7  # how many calls fill it depends on the load
    assert "- Matmul.time_matmul (device=cpu, precision=fp32, n=64): PyTorch: " in report.table(results)  # --records
    # the comparison page is published beside asv's pages and linked from them
    assert (html / "compare.html").is_file() and 'href="compare.html"' in (html / "index.html").read_text()


def test_host_bound_figures_alternate_both_frameworks_in_one_process(tmp_path):
    """WhisperDecoder and WhisperClips (alternate_on cpu): the first framework's process takes both
    frameworks' samples, alternating; the other framework's rows read them, so both records name one
    process, say `interleaved` and share the rounds."""
    out = subprocess.run([sys.executable, "-m", "mlxvspt", "run", "--preset", "tiny", "--results-dir", "results",
                          "--html-dir", "html", "--workload", "whisper", "--bench", "WhisperDecoder|WhisperClips"],
                         capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    folder = tmp_path / "results" / asvrun.machine_name("tiny")
    records = [json.loads(line) for line in next(folder.glob("records-*.jsonl")).read_text().splitlines()]
    by_params = {}
    for r in records:
        if r["benchmark"].startswith(("bench_whisper.WhisperDecoder.", "bench_whisper.WhisperClips.track_real")):
            key = (r["benchmark"], *((k, v) for k, v in r["params"].items() if k != "framework"))
            by_params.setdefault(key, {})[r["params"]["framework"]] = (r["environment"]["pid"], r["interleaved"],
                                                                       r["warmup"]["sampling_seconds"])
    assert by_params and all(len(runs) == 2 and len(set(runs.values())) == 1 and next(iter(runs.values()))[1]
                             for runs in by_params.values())
    assert {key[0] for key in by_params} == {"bench_whisper.WhisperDecoder.track_decode_ms_per_token",
                                              "bench_whisper.WhisperClips.track_real_time_factor"}
    snap = results_layer.latest(tmp_path / "results")[asvrun.machine_name("tiny")]
    rows = [r for r in snap.rows if r.benchmark.endswith("WhisperDecoder.track_decode_ms_per_token")
            and r.mlx.ok and r.torch.ok]
    assert rows and all(r.mlx.n == r.torch.n == 5 for r in rows)


def test_a_local_run_changes_no_tracked_file(tmp_path):
    """`make bench` in a fresh clone: its results are new files under results/<machine>/ and its site goes
    where git ignores it, so the next `git pull` meets no local change; and the committed
    results/benchmarks.json is what asv's discovery writes for this code (a run rewrites it)."""
    clone = tmp_path / "clone"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=asvrun.ROOT, capture_output=True, text=True, check=True)
    for name in filter(None, tracked.stdout.split("\0")):  # the working tree's tracked files, as they are now
        if (asvrun.ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(asvrun.ROOT / name, clone / name)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "clone"]):
        subprocess.run(git + args, cwd=clone, check=True)
    out = subprocess.run([sys.executable, "-m", "mlxvspt", "run", "--preset", "tiny", "--workload", "matmul", "--bench",
                          r"Matmul\.time_matmul"], capture_output=True, text=True, timeout=900, cwd=clone,
                         env={**os.environ, "PYTHONPATH": str(clone)})  # the clone's own code
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    changed = [line for line in status if not line.startswith("??")]
    assert not changed, f"{changed} (results/benchmarks.json stale? commit {clone}/results/benchmarks.json)"
    machine = asvrun.machine_name("tiny")
    assert status and all(line[3:].startswith(f"results/{machine}/") for line in status), status
    assert (clone / ".asv" / "html" / "index.html").is_file() and "mlxvspt serve`" in out.stdout
