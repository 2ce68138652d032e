"""`mlxvspt profile`: binding NAME=VALUE to a workload combination, and reading a trace into kernel vs host time."""
import pytest
import torch

from mlxvspt.measure import devices, profile
from mlxvspt.errors import UsageError


def kernel(name, ts, dur, cat="kernel"):
    return {"ph": "X", "cat": cat, "name": name, "ts": ts, "dur": dur}


def test_busy_time_counts_overlapping_kernels_once():
    assert profile.busy_time([(0, 10), (5, 15), (20, 25), (21, 22)]) == 20
    assert profile.busy_time([]) == 0


def test_summarise_per_step_busy_counts_and_top_kernels():
    events = [kernel("gemm", 0, 400), kernel("gemm", 1000, 400), kernel("softmax", 300, 200),
              kernel("Memcpy HtoD", 2000, 100, "gpu_memcpy"),
              {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 0, "dur": 5},
              {"ph": "X", "cat": "cuda_driver", "name": "cuGraphLaunch", "ts": 9, "dur": 5},
              {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 0, "dur": 3000}]
    s = profile.summarise(events, steps=2)
    assert s["gpu_busy_ms"] == pytest.approx((500 + 400 + 100) / 1000 / 2)  # gemm+softmax overlap once
    assert s["kernels"] == 1.5 and s["launch_calls"] == 1
    assert s["top"][0] == ("gemm", pytest.approx(0.4))


def test_measure_times_unprofiled_steps_and_writes_the_trace(tmp_path):
    a = torch.randn(64, 64)
    calls = []
    s = profile.measure(lambda: calls.append(a @ a), lambda: None, 2, tmp_path / "t.trace.json")
    assert len(calls) == 4 and (tmp_path / "t.trace.json").stat().st_size > 0
    assert s["wall_ms"] > 0 and s["kernels"] == 0  # no GPU here: no kernels, and the table says so
    assert "no kernels traced" in profile.table("X.time_x", [], {"torch": s}, 2)


def test_bind_reads_precision_and_typed_overrides():
    assert profile.bind(["precision=fp16", "n=64", "compile=True", "path=best"]) == \
        ("fp16", {"n": 64, "compile": True, "path": "best"})
    with pytest.raises(UsageError, match="NAME=VALUE"):
        profile.bind(["n"])
    with pytest.raises(UsageError, match="unknown precision"):
        profile.bind(["precision=fp64"])


def test_rows_this_machine_cannot_run_are_n_a(tmp_path, monkeypatch):
    """A GPU where MLX runs the combination and PyTorch cannot: MLX's summary, PyTorch's n/a with the reason,
    the trace of MLX's alone (the frameworks and the timing stand in: a CPU machine has no GPU)."""
    from mlxvspt.measure import asvbench
    from mlxvspt.measure.frameworks import mlx, torch as torch_fw

    class Runner:
        def step(self):
            pass

    monkeypatch.setattr(mlx, "gpu_backend", lambda: "cuda")
    monkeypatch.setattr(torch_fw, "gpu_backend", lambda: None)
    monkeypatch.setattr(asvbench, "unavailable",
                        lambda workload, target, overrides: "no GPU backend" if target.framework == "torch" else None)
    monkeypatch.setattr(asvbench, "prepared", lambda *args, **overrides: (Runner(), {}))
    traced = []
    monkeypatch.setattr(profile, "measure", lambda step, sync, steps, path: traced.append(path.name) or {"wall_ms": 1.0})
    monkeypatch.setattr(mlx, "synchronize", lambda device: None)
    found = profile.profile("matmul", ["precision=fp32", "n=64"], ["mlx", "torch"], 1, tmp_path / "p")
    assert found == {"mlx": {"wall_ms": 1.0}, "torch": "n/a: no GPU backend"}
    assert traced == ["matmul-mlx-fp32-n=64.trace.json"] and (tmp_path / "p").is_dir()


def test_cli_without_a_gpu_refuses_in_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    if devices.gpu_anywhere():
        pytest.skip("this machine has a GPU backend")
    from mlxvspt import cli
    from mlxvspt.track import asvrun

    monkeypatch.setattr(asvrun, "ROOT", tmp_path)  # the default --out: profiles/<machine> under it
    default = tmp_path / "profiles" / asvrun.machine_name("tiny")
    for out in ([], ["--out", str(tmp_path / "p")]):
        assert cli.main(["profile", "matmul", "precision=fp32", "n=64", "--preset", "tiny", *out]) == 2
        captured = capsys.readouterr()
        assert not captured.out  # no table of n/a rows, no stray None
        err = captured.err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("mlxvspt: error:") and "no GPU" in err[0], err
    assert not default.exists() and not (tmp_path / "p").exists()
    assert cli.main(["profile", "nope", "--out", str(tmp_path)]) == 2


def test_cli_a_gpu_where_no_framework_can_run_the_combination_exits_1_and_writes_nothing(tmp_path, monkeypatch,
                                                                                      capsys):
    from mlxvspt import cli
    from mlxvspt.measure import asvbench
    from mlxvspt.measure.frameworks import mlx, torch as torch_fw

    for fw in (mlx, torch_fw):
        monkeypatch.setattr(fw, "gpu_backend", lambda: "cuda")
    monkeypatch.setattr(asvbench, "unavailable", lambda *args: "too large for this GPU")
    # a GPU no NVIDIA driver reports (Apple's): its line names no driver, and never as "None"
    monkeypatch.setattr(devices, "environment", lambda: {"nvidia": None, "mlx": "0.32.4", "torch": "2.13.0"})
    assert cli.main(["profile", "matmul", "precision=fp32", "n=64", "--preset", "tiny",
                     "--out", str(tmp_path / "p")]) == 1
    captured = capsys.readouterr()
    assert "n/a: too large for this GPU" in captured.out and "None" not in captured.out
    assert "no framework could run" in captured.err
    assert not (tmp_path / "p").exists()
