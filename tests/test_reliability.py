"""Failures stay isolated, interrupted runs keep what finished, downloads are verified."""
import hashlib
import http.server
import io
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from mlxvspt.measure import settings
from mlxvspt.track import asvrun, progress, scratch
from mlxvspt.workloads import download
from mlxvspt.publish import report, results as results_layer
from mlxvspt.measure.asvbench import WorkloadBenchmark
from mlxvspt.errors import UsageError

FAKE_SUITE = '''
import os, signal, time
from pathlib import Path

LOG = Path(os.environ["FAKE_LOG"])


def record(what):
    with LOG.open("a") as f:
        f.write(what + "\\n")


class Good:
    params = [["mlx", "torch"]]
    param_names = ["framework"]
    number, repeat, rounds, warmup_time = 1, 1, 1, 0

    def time_ok(self, framework):
        record(f"good {framework}")


class Faults:
    params = [["mlx", "torch"], ["ok", "error", "memory", "unavailable", "timeout", "killed"]]
    param_names = ["framework", "kind"]
    number, repeat, rounds, warmup_time, timeout = 1, 1, 1, 0, 3

    def setup(self, framework, kind):
        if kind == "unavailable":
            raise NotImplementedError("this device lacks the op")

    def time_work(self, framework, kind):
        record(f"faults {framework} {kind}")
        if kind == "error":
            raise RuntimeError("boom")
        if kind == "memory":
            raise MemoryError("out of memory")
        if kind == "timeout":
            time.sleep(30)
        if kind == "killed":  # what the kernel's OOM killer does
            os.kill(os.getpid(), signal.SIGKILL)
'''

SLOW_SUITE = '''
import os, time
from pathlib import Path


class Slow:
    params = [["mlx", "torch"]]
    param_names = ["framework"]
    number, repeat, rounds, warmup_time, timeout = 1, 1, 1, 0, 120

    def time_slow(self, framework):
        with Path(os.environ["FAKE_LOG"]).open("a") as f:
            f.write(f"slow {framework}\\n")
        time.sleep(float(os.environ["SLOW_SECONDS"]))
'''


def suite(tmp_path, modules):
    bench = tmp_path / "benchmarks"
    bench.mkdir()
    (bench / "__init__.py").write_text("")
    for name, source in modules.items():
        (bench / f"bench_{name}.py").write_text(source)
    return bench


def slow_graphs(html):
    """The slow benchmark's graphs with points (the site has an empty one where a machine has no results)."""
    return [p for p in html.glob("graphs/**/bench_a_slow.Slow.time_slow.json") if json.loads(p.read_text())]


def log_lines(path):
    return path.read_text().splitlines() if path.exists() else []


GRID_SUITE = """
class Grid:
    params = [["mlx", "torch"], ["cpu", "gpu"], {sizes}]
    param_names = ["framework", "device", "n"]
    number, repeat, rounds, warmup_time, version = 1, 1, 1, 0, "1"  # a version of its own: results carry over

    def time_n(self, framework, device, n):
        pass
"""


def test_a_parameter_value_added_since_is_na_where_a_run_does_not_measure_it(tmp_path, monkeypatch):
    """A size added to a benchmark after a point was measured, on a device this run leaves out (a GPU point
    measured with --device gpu while the CPU gained a size): n/a in the results file, not 'failed'."""
    results, html = tmp_path / "results", tmp_path / "html"
    monkeypatch.setenv(settings.DEVICES, "cpu")
    for sizes in ([1, 3], [1, 2, 3]):
        (tmp_path / f"v{len(sizes)}").mkdir()
        bench = suite(tmp_path / f"v{len(sizes)}", {"grid": GRID_SUITE.format(sizes=sizes)})
        asvrun.run("tiny", results, html, benchmark_dir=bench)
    stored = json.loads(next(p for p in (results / asvrun.machine_name("tiny")).glob("*.json")
                             if p.name != "machine.json").read_text())
    values = stored["results"]["bench_grid.Grid.time_n"][0]
    grid = list(itertools.product(["mlx", "torch"], ["cpu", "gpu"], [1, 2, 3]))
    for (framework, device, n), value in zip(grid, values):
        assert value is not None, (framework, device, n)  # None: asv's "failed"
        assert (value == value) == (device == "cpu"), (framework, device, n, value)  # NaN: n/a, never measured


TIERED_SUITE = """
import os


class Tiered:
    params = [["mlx", "torch"]]
    param_names = ["framework"]
    number, repeat, rounds, warmup_time = 1, 1, 1, 0

    def setup(self, framework):
        if framework in os.environ.get("FAKE_NA", ""):
            raise NotImplementedError("a diagnostic row: run with --tier diagnostic")
        if framework in os.environ.get("FAKE_FAIL", ""):
            raise RuntimeError("broke this time")

    def time_ok(self, framework):
        pass
"""


def test_a_row_na_in_a_later_run_keeps_what_an_earlier_run_measured_at_the_point(tmp_path, monkeypatch):
    """A run of one tier (or framework) at a point another run measured: the rows it leaves out are n/a to
    it, and their earlier values stay; a row never measured is n/a; a re-run whose rows fail keeps the values
    they had (the run's exit code and log carry the failure)."""
    bench = suite(tmp_path, {"tiered": TIERED_SUITE})
    results, html = tmp_path / "results", tmp_path / "html"
    monkeypatch.setenv("FAKE_NA", "torch")
    machine, _ = asvrun.run("tiny", results, html, benchmark_dir=bench)
    row = results_layer.latest(results)[machine].row("bench_tiered.Tiered.time_ok")
    assert row.cells["torch"].status == "n/a" and row.cells["mlx"].value > 0
    first = row.cells["mlx"].value
    monkeypatch.setenv("FAKE_NA", "mlx")  # the other tier's run at the same point
    asvrun.run("tiny", results, html, benchmark_dir=bench)
    row = results_layer.latest(results)[machine].row("bench_tiered.Tiered.time_ok")
    assert row.cells["mlx"].value == first and row.cells["torch"].value > 0
    second = row.cells["torch"].value
    monkeypatch.setenv("FAKE_NA", "")
    monkeypatch.setenv("FAKE_FAIL", "mlx torch")  # a re-run that fails both rows: the run says so, the file keeps
    _, code = asvrun.run("tiny", results, html, benchmark_dir=bench)
    row = results_layer.latest(results)[machine].row("bench_tiered.Tiered.time_ok")
    assert code == 1 and (row.cells["mlx"].value, row.cells["torch"].value) == (first, second)


def test_a_run_from_a_clone_at_another_path_adds_its_rows_to_the_points_file(tmp_path, monkeypatch):
    """asv names an existing environment after its Python's path, so a clone at another path is another
    environment: its run of a point another clone measured adds its rows to that point's file, keeping the
    rows it leaves out. Before, it wrote a second file, and of two files a cell measured earlier could be
    published for a later one (asv stamps a benchmark's start, not a cell's) beside another run's record."""
    bench = suite(tmp_path, {"tiered": TIERED_SUITE})
    results, html = tmp_path / "results", tmp_path / "html"
    monkeypatch.setenv("FAKE_NA", "torch")
    machine, _ = asvrun.run("tiny", results, html, benchmark_dir=bench)
    [mine] = [p for p in (results / machine).glob("*.json") if p.name != "machine.json"]
    elsewhere = "/elsewhere/.venv/bin/python"  # the point as a clone at another path wrote it
    data = {**json.loads(mine.read_text()), "env_name": "existing-py_elsewhere_.venv_bin_python"}
    data["python"] = data["params"]["python"] = elsewhere
    other = mine.with_name(f"{mine.name[:8]}-{data['env_name']}.json")
    other.write_text(json.dumps(data))
    mine.unlink()
    first = results_layer.latest(results)[machine].row("bench_tiered.Tiered.time_ok").cells["mlx"].value
    monkeypatch.setenv("FAKE_NA", "mlx")
    asvrun.run("tiny", results, html, benchmark_dir=bench)
    assert [p.name for p in (results / machine).glob("*.json") if p.name != "machine.json"] == [other.name]
    row = results_layer.latest(results)[machine].row("bench_tiered.Tiered.time_ok")
    assert row.cells["mlx"].value == first and row.cells["torch"].value > 0


HANG_SUITE = """
import time


class Hangs:
    params = [["mlx", "torch"], ["ok", "hang"]]
    param_names = ["framework", "kind"]
    number, repeat, rounds, warmup_time = 1, 1, 1, 0

    def setup(self, framework, kind):
        if kind == "hang":
            time.sleep(600)  # a build that never ends: no sampling deadline covers it

    def time_work(self, framework, kind):
        pass
"""


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
def test_a_measuring_process_that_hangs_is_stopped_and_fails_only_its_combination(tmp_path, monkeypatch, capsys):
    """No line for SILENCE_SECONDS: the process and its children are stopped, the combination it was on fails
    saying so, and a new process measures the rest."""
    bench = suite(tmp_path, {"hangs": HANG_SUITE})
    monkeypatch.setattr(asvrun, "SILENCE_SECONDS", 20)
    monkeypatch.setenv("MLXVSPT_TEST_TAG", tmp_path.name)
    results, html = tmp_path / "results", tmp_path / "html"
    started = time.monotonic()
    machine, code = asvrun.run("tiny", results, html, benchmark_dir=bench, log=tmp_path / "asv.log")
    assert code == 1 and time.monotonic() - started < 300
    snap = results_layer.latest(results)[machine]
    for framework in ("mlx", "torch"):
        assert snap.row("bench_hangs.Hangs.time_work", kind="ok").cells[framework].value > 0
        assert snap.row("bench_hangs.Hangs.time_work", kind="hang").cells[framework].status == "failed"
    assert "no output for 20 s: stopped as hung" in (tmp_path / "asv.log").read_text()
    assert "stopped as hung" in capsys.readouterr().out  # the part's line names its first failure
    assert tagged(f"MLXVSPT_TEST_TAG={tmp_path.name}") == []


def test_failures_are_isolated_recorded_and_resume_skips_finished(tmp_path, monkeypatch, capsys):
    bench = suite(tmp_path, {"fake": FAKE_SUITE})
    log = tmp_path / "log.txt"
    monkeypatch.setenv("FAKE_LOG", str(log))
    results, html, asv_log = tmp_path / "results", tmp_path / "html", tmp_path / "asv.log"
    machine, code = asvrun.run("tiny", results, html, benchmark_dir=bench, log=asv_log)
    assert code != 0  # something failed, and the exit code says so
    # the plan, one line for the part (a workload on a device) with the first failure and its reason; the
    # measuring processes' output, tracebacks included, in the log
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"log: {asv_log}") and lines[1].startswith("plan: 1 parts, 14 rows")
    assert re.match(r"\[1/1\] fake on cpu: 4 rows measured, 2 n/a, 8 failed in \d\d:\d\d \(first: "
                    r"bench_fake.Faults.time_work\[\d+\]: RuntimeError: boom\); ~00:00 left$", lines[3]), lines[3]
    assert re.match(r"wall time: \d\d:\d\d:\d\d \(checks and benchmarks\)$", lines[4]) and len(lines) == 5
    text = asv_log.read_text()
    assert "Traceback" in text and "timed out (timeout 3 s)" in text and "exited with code -9" in text
    assert "Generating output for" in text
    assert (html / "index.html").is_file()
    snap = results_layer.latest(results)[machine]
    for framework in ("mlx", "torch"):
        def status(kind):
            return snap.row("bench_fake.Faults.time_work", kind=kind).cells[framework].status
        assert status("ok") == "ok" and snap.row("bench_fake.Faults.time_work", kind="ok").cells[framework].value > 0
        assert status("unavailable") == "n/a"
        for kind in ("error", "memory", "timeout", "killed"):
            assert status(kind) == "failed", kind
    assert snap.row("bench_fake.Good.time_ok").ratio > 0
    table = report.table(results)
    assert "| Faults.time_work (kind=error) | failed | failed |" in table
    assert "Faults.time_work x1" in table.split("n/a in both frameworks here")[1]  # kind=unavailable

    asvrun.run("tiny", results, html, benchmark_dir=bench, resume=True, log=asv_log, verbose=True)
    assert "bench_fake.Faults.time_work('mlx', 'error'): None" in capsys.readouterr().out  # verbose: the processes' output too
    assert log_lines(log).count("good mlx") == 1  # finished benchmarks are not redone
    assert log_lines(log).count("faults mlx error") == 2  # failed ones are tried again


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_killed_run_keeps_earlier_results_and_site_then_resumes(tmp_path, sig):
    bench = suite(tmp_path, {"good": FAKE_SUITE.replace("class Faults:", "class _Faults:"), "a_slow": SLOW_SUITE})
    log = tmp_path / "log.txt"
    env = {**os.environ, "FAKE_LOG": str(log), "SLOW_SECONDS": "60"}
    results, html = tmp_path / "results", tmp_path / "html"

    def command(workloads=None, resume=False):
        return [sys.executable, "-c", "from mlxvspt.track import asvrun; asvrun.run('tiny', "
                f"{str(results)!r}, {str(html)!r}, workloads={workloads!r}, resume={resume!r}, "
                f"benchmark_dir={str(bench)!r})"]

    subprocess.run(command(["good"]), env=env, check=True, capture_output=True, timeout=300)
    site_before = (html / "index.json").read_text()
    assert not slow_graphs(html)
    saved = {p: json.loads(p.read_text()) for p in results.glob("*/*.json")}
    # The full run is interrupted while the slow module (sorted first) runs.
    # SIGINT at its default, as in a terminal: a shell starts background jobs with SIGINT ignored, and an
    # ignored SIGINT is inherited (a CI started with `&` ran this run to its end)
    proc = subprocess.Popen(command(), env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while "slow mlx" not in log_lines(log) and time.time() < deadline:
        time.sleep(0.5)
    assert "slow mlx" in log_lines(log)
    os.killpg(proc.pid, sig)
    proc.wait(timeout=60)
    left = scratch_of(proc.pid)
    assert bool(left) == (sig == signal.SIGKILL)  # a SIGKILLed run runs no cleanup
    assert (html / "index.json").read_text() == site_before
    for path, data in saved.items():
        assert json.loads(path.read_text()) == data
    subprocess.run(command(resume=True), env={**env, "SLOW_SECONDS": "0.1"}, check=True, capture_output=True,
                   timeout=300)
    assert log_lines(log).count("good mlx") == 1  # finished before the kill: not redone
    assert not scratch_of(proc.pid)  # the next run removed what the killed one left
    snap = next(iter(results_layer.latest(results).values()))
    assert snap.row("bench_a_slow.Slow.time_slow").ratio > 0
    assert slow_graphs(html)


def scratch_of(pid):
    """A run's scratch: its asv configuration in the checkout and its run folder."""
    return [*asvrun.ROOT.glob(f".asv-run-{pid}-*"), *Path(tempfile.gettempdir()).glob(f"mlxvspt-run-{pid}-*")]


def test_scratch_of_processes_gone_is_removed_and_of_living_ones_kept(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    orphans = [tmp_path / f".asv-run-{gone}-x.json", tmp_path / f"mlxvspt-run-{gone}-y"]
    kept = [tmp_path / f".asv-run-{os.getpid()}-z.json", tmp_path / ".asv-run-nopid.json"]
    orphans[0].write_text("{}")
    orphans[1].mkdir()
    (orphans[1] / "part.jsonl").write_text("")
    for path in kept:
        path.write_text("{}")
    made = scratch.file(tmp_path, ".asv-run-", ".json")
    scratch.remove_orphans(tmp_path, "mlxvspt-run-")
    assert made.name.startswith(f".asv-run-{os.getpid()}-") and made.suffix == ".json"
    assert not any(path.exists() for path in orphans) and all(path.exists() for path in kept)


def tagged(tag):
    """Pids of living processes whose environment holds `tag` (a run's asv, forkserver, benchmarks)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and tag.encode() in (entry / "environ").read_bytes() \
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_to_the_run_alone_leaves_no_process_behind(tmp_path, sig):
    """`kill PID` (or `timeout`), or a hang-up, signals mlxvspt only, not its process group: asv's processes go
    too, and the run's scratch with them."""
    bench = suite(tmp_path, {"a_slow": SLOW_SUITE})
    log, tag = tmp_path / "log.txt", f"MLXVSPT_TEST_TAG={tmp_path.name}"
    env = {**os.environ, "FAKE_LOG": str(log), "SLOW_SECONDS": "120", "MLXVSPT_TEST_TAG": tmp_path.name}
    proc = subprocess.Popen([sys.executable, "-c", "from mlxvspt.track import asvrun; asvrun.run('tiny', "
                             f"{str(tmp_path / 'results')!r}, {str(tmp_path / 'html')!r}, "
                             f"benchmark_dir={str(bench)!r})"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while "slow mlx" not in log_lines(log) and time.time() < deadline:
        time.sleep(0.5)
    assert "slow mlx" in log_lines(log) and len(tagged(tag)) >= 2  # the run and its measuring process
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == 128 + sig
    deadline = time.time() + 30
    while tagged(tag) and time.time() < deadline:
        time.sleep(0.2)
    assert tagged(tag) == [] and not scratch_of(proc.pid)


class Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "good.bin").write_bytes(b"x" * 5000)
    (root / "truncated.bin").write_bytes(b"x" * 100)
    (root / "wrong.bin").write_bytes(b"y" * 5000)
    handler = lambda *a, **k: Files(*a, directory=str(root), **k)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_downloads_are_verified_and_corrupt_cache_refetched(server, tmp_path):
    good = hashlib.sha256(b"x" * 5000).hexdigest()
    folder = tmp_path / "dl"
    path = download.fetch(f"{server}/good.bin", good, name="data.bin", folder=folder)
    assert path.read_bytes() == b"x" * 5000
    for bad in ("truncated.bin", "wrong.bin", "missing.bin"):
        with pytest.raises(UsageError):
            download.fetch(f"{server}/{bad}", good, name=f"{bad}.cached", folder=folder)
        assert not (folder / f"{bad}.cached").exists()
    assert not list(folder.glob("*.part"))
    path.write_bytes(b"x" * 10)  # a corrupt cache entry is detected and fetched again
    assert download.fetch(f"{server}/good.bin", good, name="data.bin", folder=folder).read_bytes() == b"x" * 5000


def test_unavailable_device_is_skipped_not_failed():
    class Calibration(WorkloadBenchmark):
        workload = "matmul"

        def overrides(self, precision, n):
            return precision, {"n": n}

    with pytest.raises(NotImplementedError, match="TF32"):
        Calibration().setup("torch", "cpu", "tf32", 64)


def test_a_missing_mlx_op_is_reported_as_n_a(monkeypatch):
    from mlxvspt.measure import asvbench

    def lacks_op(*args, **kwargs):
        raise RuntimeError("[AddMM::eval_cpu] Currently only supports float32.")

    monkeypatch.setattr(asvbench, "prepared", lacks_op)
    bench = WorkloadBenchmark()
    bench.workload = "matmul"
    with pytest.raises(NotImplementedError, match="lacks an op"):
        bench.setup("mlx", "cpu")
    monkeypatch.setattr(asvbench, "prepared", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):
        bench.setup("mlx", "cpu")


def test_fetch_downloads_verifies_and_prints_the_flag(server, tmp_path, monkeypatch, capsys):
    import whisper

    from mlxvspt import cli
    from mlxvspt.workloads.lm_train import data

    root = tmp_path / "www"
    for name in data.SPLITS:
        (root / name).write_text(f"{name} words\n")
    monkeypatch.setattr(data, "PTB_URL", f"{server}/")
    monkeypatch.setattr(data, "PTB_SHA256", {n: download.sha256(root / n) for n in data.SPLITS})
    assert cli.main(["fetch", "ptb"]) == 0
    flag, folder = capsys.readouterr().out.split()[:2]
    assert flag == "--ptb" and sorted(p.name for p in Path(folder).iterdir()) == sorted(data.SPLITS)

    digest = hashlib.sha256(b"x" * 5000).hexdigest()  # good.bin, served under its sha256 as openai's URLs are
    (root / digest).mkdir()
    (root / digest / "tiny.pt").write_bytes(b"x" * 5000)
    monkeypatch.setitem(whisper._MODELS, "tiny", f"{server}/{digest}/tiny.pt")
    assert cli.main(["fetch", "whisper-tiny"]) == 0
    assert capsys.readouterr().out.startswith("--whisper-checkpoint ")
    monkeypatch.setitem(whisper._MODELS, "tiny", f"{server}/{digest}/missing.pt")
    (Path(folder).parent / "whisper" / "missing.pt").unlink(missing_ok=True)
    assert cli.main(["fetch", "whisper-tiny"]) == 2  # a failed download: one line, exit 2
    assert capsys.readouterr().err.count("\n") == 1


ASV_OUTPUT = """[100.00%] ··· bench_llm.Llm.track_decode                  2/4 failed
              For parameters: 'mlx', 'cpu'
              asv: skipped: NotImplementedError('no GPU')

              For parameters: 'torch', 'gpu'
              Traceback (most recent call last):
                File "x.py", line 1, in <module>
              torch.OutOfMemoryError: CUDA out of memory
"""


HISTORY_OUTPUT = """[ 0.00%] · For mlxvspt commit 3c8b4103 <mlx-0.26.5>:
[ 0.32%] ··· bench_a.A.time_x                      ok
[45.45%] · For mlxvspt commit b64aa0ce <mlx-0.30.6+torch-2.11.0>:
[45.45%] ·· Building for virtualenv-py3.11
[45.45%] ··· Error running /e/bin/python /r/mlxvspt/track/install_pins.py /e/project /r (exit status 1)
             WARNING: Location 'file:///opt/pypi/simple/torch/' is ignored
             ERROR: Cannot install numpy==2.5.2 because these package versions have conflicting dependencies.
             ERROR: ResolutionImpossible: for help visit https://pip.pypa.io
             subprocess.CalledProcessError: Command '['/e/bin/python', '-m', 'pip']' returned non-zero exit status 1.
[45.45%] ·· Skipping virtualenv-py3.11
[45.78%] ··· bench_a.A.time_x                      skipped
[54.55%] · For mlxvspt commit ba23a395 <mlx-0.31.2>:
[54.88%] ··· bench_a.A.time_x                      ok
"""


@pytest.mark.parametrize("output, code, status, reason", [
    (ASV_OUTPUT, 2, "2/4 failed", "'torch', 'gpu': torch.OutOfMemoryError: CUDA out of memory"),
    ("[50.00%] ··· bench_a.A.time_x    ok\n[100.00%] ··· bench_a.A.time_y    n/a\n", 0, "ok", None),
    ("[100.00%] ··· bench_a.A.time_y                n/a\n", 0, "n/a", None),
    ("[100.00%] ··· bench_a.A.time_y      failed\n\n\n asv: benchmark timed out (timeout 3s)\n", 2, "failed",
     "asv: benchmark timed out (timeout 3s)"),
    ("· Discovering benchmarks\nImportError: no module named x\n", 1, "failed", "ImportError: no module named x"),
    ("· Discovering benchmarks\n", 0, "nothing to run (results kept)", None),
    (HISTORY_OUTPUT, 2, "ok but for ledger points that do not install here",
     "mlx-0.30.6+torch-2.11.0 does not install here: Cannot install numpy==2.5.2 because these package versions "
     "have conflicting dependencies."),
])
def test_progress_line_reads_asvs_outcome(output, code, status, reason):
    assert progress.outcome(output, code) == (status, reason)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_failures_are_red_on_a_terminal_only(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    for stream, red in ((Terminal(), True), (io.StringIO(), False)):
        shown = progress.Progress(tmp_path / "x.log", stream=stream)
        shown.begin({"a": [1], "b": [1]}, {})
        shown.finished("Llm.track_decode", ASV_OUTPUT, 2)
        shown.finished("Llm.track_prefill", "[100.00%] ··· bench_llm.Llm.track_prefill    ok\n", 0)
        shown.close()
        lines = [line for line in stream.getvalue().splitlines() if "[1/2]" in line or "[2/2]" in line]
        assert ("\033[31m[1/2] Llm.track_decode: 2/4 failed" in lines[0]) == red, lines
        assert "\033[31m" not in lines[-1] and "Llm.track_prefill: ok" in lines[-1]
