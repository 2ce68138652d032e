import json

import numpy as np
import pytest

from mlxvspt.measure.devices import Target
from mlxvspt.measure.presets import sizes as preset_sizes
from mlxvspt.workloads.matmul import spec as matmul
from mlxvspt.workloads.switch import spec as switch


def test_switch_agrees_across_frameworks_and_with_float64():
    result = switch.check("tiny")
    assert result.passed, result.lines
    assert len(result.lines) == 6
    assert {(l.device, l.path, l.precision) for l in result.entries} == {("cpu", "default", "fp32")}


def observed_on_built_runners(workload, sizes, precision="fp32"):
    """Each framework's observation on a runner built as the benchmarks build it; the runner then still steps."""
    observed = {}
    for framework in ("mlx", "torch"):
        runner = workload.build(Target(framework, "cpu", precision).activate(), sizes)
        observed[framework] = workload.observe(runner, sizes, dict(observed))
        runner.step()
    return observed


def compared(workload, observed, sizes, precision):
    from mlxvspt.measure.check import CheckResult

    result = CheckResult(workload.__name__).at("default", precision)
    workload.compare(result, observed, sizes, "cpu")
    return result


TINY_MATMUL = {**preset_sizes("matmul", "tiny", "cpu"), "n": preset_sizes("matmul", "tiny", "cpu")["sizes"][0]}


@pytest.mark.parametrize("workload,sizes,precision,lines", [(switch, preset_sizes("switch", "tiny"), "fp32", 6),
                                                            (matmul, TINY_MATMUL, "fp32", 3),
                                                            (matmul, TINY_MATMUL, "bf16", 1)])
def test_observations_of_built_runners_agree_and_a_wrong_one_fails(workload, sizes, precision, lines):
    observed = observed_on_built_runners(workload, sizes, precision)
    result = compared(workload, observed, sizes, precision)
    assert result.passed and len(result.entries) == lines, result.lines
    wrong = compared(workload, {**observed, "mlx": 1.1 * np.asarray(observed["mlx"])}, sizes, precision)
    # MLX's products 10% off: every line that reads them fails (against PyTorch's, against float64), no other
    assert {l.what for l in wrong.entries if not l.ok} == {l.what for l in wrong.entries if "mlx" in l.what} != set()


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
    result = matmul.check("tiny")
    assert result.passed, result.lines
    checked = {l.precision for l in result.entries if l.what != "n/a"}
    assert checked == {"fp32", "fp16", "bf16"}  # tf32 is n/a on a CPU
    errors = {}
    for precision in ("fp32", "bf16"):
        runner = matmul.build(Target("torch", "cpu", precision).activate(), {"n": 64})
        runner.step()
        errors[precision] = matmul.relative_error(runner.result(), *runner.inputs)
    assert errors["fp32"] < 1e-5 < errors["bf16"]


def test_runners_report_what_they_ran():
    for precision in ("fp32", "fp16", "bf16"):
        for framework in ("mlx", "torch"):
            target = Target(framework, "cpu", precision).activate()
            runner = matmul.build(target, {"n": 16})
            runner.step()
            assert runner.ran() == {"compute_dtype": target.dtype_name, "compiled": "none"}
            assert matmul.expected(target, {}).items() <= runner.ran().items()


@pytest.mark.parametrize("framework", ["mlx", "torch"])
def test_a_matmul_step_frees_the_last_product_before_making_the_next(framework):
    """Equal work for the peak-memory row: at a step's peak each framework holds one product (PyTorch's
    step had kept the last one until the next was made, MLX's had not)."""
    runner = matmul.build(Target(framework, "cpu", "fp32").activate(), {"n": 16})
    runner.step()
    a, held = runner.a, []

    class Left:  # the step's left operand: notes whether a product is still held as the next is made
        def __matmul__(self, b):
            held.append(runner.product is not None)
            return a @ b

    runner.a = Left()
    runner.step()
    assert held == [False]
    np.testing.assert_allclose(runner.result(), runner.inputs[0] @ runner.inputs[1], rtol=1e-5, atol=1e-5)


def test_tolerances_follow_precision_and_a_wrong_output_fails():
    from mlxvspt.measure.check import CheckResult

    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000)
    noisy = x * (1 + 1e-2 * rng.standard_normal(1000))
    assert not CheckResult("demo").at("default", "fp32").output("1% off", noisy, x)
    assert CheckResult("demo").at("default", "bf16").output("1% off", noisy, x)
    grads = {"a": x, "b": x[:10]}
    wrong = {"a": x, "b": x[:10] * 1.5}  # one small tensor 50% off: an overall L2 would hide it
    result = CheckResult("demo").at("default", "bf16")
    assert not result.tensors("gradients", wrong, grads)
    assert "worst b" in result.lines[-1]
    # measured against float32: a tensor bf16 itself moves by 50% in PyTorch may differ by 30% between the
    # frameworks (attention query weights' gradients); one that bf16 leaves as it is may not be 50% off
    reference = {"a": x, "b": x[:10]}
    rounded = {"a": x, "b": x[:10] * 1.5}
    assert CheckResult("demo").at("default", "bf16").tensors("gradients", {"a": x, "b": x[:10] * 1.8}, rounded,
                                                             reference=reference)
    assert not CheckResult("demo").at("default", "bf16").tensors("gradients", wrong, grads, reference=grads)
    several = CheckResult("demo").at("default", "bf16")
    several.tensors("gradients", {"a": x * 1.3, "b": x[:10] * 1.5, "c": x}, {"a": x, "b": x[:10], "c": x})
    assert "worst b" in several.lines[-1] and "2 over their limit (a too)" in several.lines[-1]


def test_nan_and_far_off_tensors_fail_even_where_rounding_is_large():
    from mlxvspt.measure.check import CheckResult

    x = np.random.default_rng(0).standard_normal(1000)
    nan_later = CheckResult("demo").at("default", "fp32")
    assert not nan_later.tensors("gradients", {"a": x, "b": x * np.nan}, {"a": x, "b": x})
    assert "worst b" in nan_later.lines[-1]
    # PyTorch's own bf16 rounding moved the tensor 50% (limit 2x that = 1.0 before the ceiling):
    # an MLX gradient 20x too small is 95% away and must not pass as rounding
    rounded = {"a": x * 1.5}
    assert not CheckResult("demo").at("default", "bf16").tensors("gradients", {"a": x * 1.5 / 20}, rounded,
                                                                 reference={"a": x})


def test_a_loss_curve_with_a_later_nan_or_fewer_steps_fails():
    from mlxvspt.measure.check import CheckResult

    result = CheckResult("demo").at("default", "fp32")
    assert result.loss_curve("same", [2.0, 1.5, 1.2], [2.0, 1.5, 1.2])
    assert not result.loss_curve("nan at step 3", [2.0, 1.5, float("nan")], [2.0, 1.5, 1.2])
    assert "step 3" in result.lines[-1]
    assert not result.loss_curve("shorter", [2.0, 1.5], [2.0, 1.5, 1.2])


def test_a_combination_the_device_cannot_finish_is_n_a_and_the_check_goes_on():
    from mlxvspt.measure.check import CheckResult
    from mlxvspt.errors import Unavailable

    result = CheckResult("demo")
    with result.combination("seed", "fp32"):
        result.require("first", True, "")
        raise Unavailable("out of memory")
    with result.combination("seed", "bf16"):
        result.require("second", False, "disagrees")
    assert [(l.precision, l.what, l.ok) for l in result.entries] == [
        ("fp32", "first", True), ("fp32", "n/a", True), ("bf16", "second", False)]
    assert not result.passed


def test_check_lines_store_numpy_values_as_json():
    import json

    from mlxvspt.measure.check import CheckResult, dump

    result = CheckResult("demo").at("default", "fp32")
    result.within("a numpy float32", np.float32(1e-6), "output")
    assert json.loads(dump(result.entries))["value"] == pytest.approx(1e-6)


def test_check_fails_when_outputs_differ():
    from mlxvspt.measure.check import CheckResult

    result = CheckResult("demo")
    result.close("same", np.ones(3), np.ones(3), atol=1e-6)
    assert result.passed
    result.close("different", np.ones(3), np.ones(3) * 1.1, atol=1e-6)
    assert not result.passed and result.lines[-1].startswith("FAIL")


def test_a_check_of_one_workload_keeps_the_stored_lines_of_the_others(tmp_path, capsys):
    from mlxvspt import cli
    from mlxvspt.measure.check import load

    stored = tmp_path / "check.jsonl"
    other = {"workload": "lm_train", "device": "cpu", "path": "seed", "precision": "fp32", "what": "first-step loss",
             "ok": True, "value": 1e-7, "limit": 1e-5, "detail": ""}
    stale = {**other, "workload": "switch", "path": "default", "what": "an old switch line"}
    stored.write_text("".join(json.dumps(line) + "\n" for line in (other, stale)) + "5\n")
    assert cli.main(["check", "--workload", "switch", "--json", str(stored)]) == 0
    lines = load(stored)
    assert other in lines and stale not in lines
    assert {line["workload"] for line in lines} == {"lm_train", "switch"}
