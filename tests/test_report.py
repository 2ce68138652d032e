"""The seed-style headline table, read from the committed results: same cells as the full table."""
import re
from pathlib import Path

from mlxvspt import report

RESULTS = Path(__file__).resolve().parents[1] / "results"


def cells(text, label):
    """(PyTorch, MLX) cell texts of the row whose first column starts with label."""
    for line in text.splitlines():
        parts = [p.strip() for p in line.strip("|").split("|")]
        if parts[0].startswith(label):
            return parts[1], parts[2]
    raise AssertionError(f"no row {label!r} in:\n{text}")


def test_headline_names_the_device_and_pairs_mlx_with_pytorchs_fastest_path():
    summary = report.headline(RESULTS, ["NVIDIA-H200-full"])
    full = report.table(RESULTS, ["NVIDIA-H200-full"])
    assert re.search(r"^#### NVIDIA-H200-full: NVIDIA H200, .*; mlx \S+, torch \S+$", summary, re.M)
    eager = cells(summary, "TinyLlama decode, PyTorch as transformers `generate`: gpu, fp16, 1")
    fastest = cells(summary, "TinyLlama decode, PyTorch with static cache + torch.compile: gpu, fp16, 1")
    assert eager == cells(full, "Generation.track_decode (device=gpu, path=generate, precision=fp16, batch=1)")
    assert fastest[0] == cells(full, "Generation.track_decode (device=gpu, path=static-compile, precision=fp16, "
                                     "batch=1)")[0]
    assert fastest[1] == eager[1]  # MLX has one path: the same measurement in both rows


def test_headline_skips_rows_neither_framework_ran():
    summary = report.headline(RESULTS, ["linux-2core-small"])
    assert "CPU/GPU switch" not in summary  # no GPU on that machine: n/a in both
    assert "Transformer LM training step, eager: cpu, seed, fp32" in summary


def test_history_chart_of_a_machine_with_two_ledger_points(tmp_path):
    from mlxvspt import charts

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
