import subprocess
import sys

import pytest

from mlxvspt import cli, devices


def no_gpu_anywhere():
    return all(devices.framework_module(f).gpu_backend() is None for f in devices.FRAMEWORKS)


BAD = [
    ["run", "--framework", "jax"],
    ["run", "--device", "tpu"],
    ["run", "--preset", "huge"],
    ["run", "--workload", "nope"],
    ["check", "--framework", "jax"],
    ["check", "--preset", "huge"],
    ["frobnicate"],
    ["run", "--ptb", "/nonexistent/ptb"],
    ["run", "--llm-checkpoint", "/nonexistent/llama"],
    ["run", "--unknown-flag"],
    [],
]


@pytest.mark.parametrize("argv", BAD, ids=lambda a: " ".join(a) or "<none>")
def test_bad_input_one_line_exit_2_nothing_written(argv, tmp_path, capsys):
    results = tmp_path / "results"
    code = cli.main(argv + (["--results-dir", str(results)] if argv[:1] == ["run"] else []))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("mlxvspt: error:")
    assert not results.exists()


@pytest.mark.skipif(not no_gpu_anywhere(), reason="this machine has a GPU backend")
def test_gpu_request_without_backend_names_valid_devices(capsys):
    assert cli.main(["run", "--device", "gpu"]) == 2
    assert "valid devices: cpu" in capsys.readouterr().err


def test_check_cli_switch_and_matmul():
    out = subprocess.run([sys.executable, "-m", "mlxvspt", "check", "--workload", "switch",
                          "--workload", "matmul"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all checks agree" in out.stdout
