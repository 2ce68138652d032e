import numpy as np

from mlxvspt.devices import Target
from mlxvspt.workloads.matmul import spec as matmul
from mlxvspt.workloads.switch import spec as switch


def test_switch_agrees_across_frameworks_and_with_float64():
    result = switch.check("tiny")
    assert result.passed, result.lines
    assert len(result.lines) == 6


def test_switch_records_phases_per_framework():
    sizes = {"n": 32, "loops": 1}
    mlx_runner = switch.build(Target("mlx", "cpu").activate(), sizes)
    torch_runner = switch.build(Target("torch", "cpu").activate(), sizes)
    mlx_runner.step()
    torch_runner.step()
    assert set(mlx_runner.phases) == {"gpu", "cpu"}
    assert set(torch_runner.phases) == {"gpu", "transfer", "cpu"}
    assert all(v > 0 for v in torch_runner.phases.values())


def test_matmul_check_and_reduced_precision_error_shows():
    assert matmul.check("tiny").passed
    errors = {}
    for precision in ("fp32", "bf16"):
        runner = matmul.build(Target("torch", "cpu", precision).activate(), {"n": 64})
        runner.step()
        errors[precision] = matmul.relative_error(runner.result(), *runner.inputs)
    assert errors["fp32"] < 1e-5 < errors["bf16"]


def test_check_fails_when_outputs_differ():
    from mlxvspt.check import CheckResult

    result = CheckResult("demo")
    result.close("same", np.ones(3), np.ones(3), atol=1e-6)
    assert result.passed
    result.close("different", np.ones(3), np.ones(3) * 1.1, atol=1e-6)
    assert not result.passed and result.lines[-1].startswith("FAIL")
