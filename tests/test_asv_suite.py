"""The suite as asv sees it: `asv check` passes and `mlxvspt run` goes end to end."""
import re
import subprocess
import sys
from pathlib import Path

from mlxvspt import asvrun, report


def test_asv_check_passes(tmp_path):
    config = asvrun.write_conf(tmp_path / "results", tmp_path / "html")
    out = subprocess.run([sys.executable, "-m", "asv", "check", "-E", f"existing:{sys.executable}",
                          "--config", str(config)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_run_tiny_end_to_end_saves_results_publishes_site_prints_table(tmp_path):
    results, html = tmp_path / "results", tmp_path / "html"
    out = subprocess.run([sys.executable, "-m", "mlxvspt", "run", "--preset", "tiny", "--results-dir",
                          str(results), "--html-dir", str(html), "--workload", "switch", "--workload", "matmul", "--bench", r"Matmul\.time_|Switch\."],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (html / "index.html").is_file()
    assert list(html.glob("graphs/branch-main/machine-*"))  # the ledger's whole history, not the run's point
    machine = asvrun.machine_name("tiny")
    assert list((results / machine).glob("*-existing-*.json"))
    assert list((results / machine).glob("environment-*.txt"))  # the installed ledger point's record
    assert "Matmul.track_relative_error" not in out.stdout  # --bench left it out
    assert "| Matmul.time_matmul (device=cpu, precision=fp32, n=64) |" in out.stdout
    # the switch needs a GPU: counted among the n/a combinations here, or a row of the table on a GPU
    assert "Switch.time_loop x1" in out.stdout or "| Switch.time_loop (device=gpu) |" in out.stdout
    assert report.table(results) in out.stdout
    # one line per benchmark, then the table; asv's own output (and stderr) only in the log named first
    lines = out.stdout.splitlines()
    ran = [b for b in report.load_benchmarks(results) if re.search(r"^bench_(switch|matmul)\.(Matmul\.time_|Switch\.)", b)]
    counted = [line for line in lines if re.match(r"\[\d+/\d+\] ", line)]
    assert len(counted) == len(ran) and counted[-1].startswith(f"[{len(ran)}/{len(ran)}] "), counted
    assert "·" not in out.stdout + out.stderr and "%]" not in out.stdout + out.stderr
    log = Path(lines[0].split()[1])
    assert lines[0].startswith("log: ") and "Discovering benchmarks" in log.read_text()
