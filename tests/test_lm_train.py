"""TransformerLM training: both frameworks follow the same loss curve on every path and precision, say
what they ran, and the check fails on wrong input; PTB parsing and bad input; harness overhead."""
import json
import os
import subprocess
import tempfile

import numpy as np
import pytest

from mlxvspt.measure import check, overhead
from mlxvspt.measure.check import CheckResult
from mlxvspt.measure.devices import Target
from mlxvspt.errors import Unavailable, UsageError, device_limits
from mlxvspt.measure.presets import sizes as preset_sizes
from mlxvspt.workloads import cross_check
from mlxvspt.workloads.lm_train import data, first_step, spec
from mlxvspt.workloads.lm_train.spec import COMPILED

TRAIN = "the cat sat on the mat\n a dog sat \n"
VALID = "the dog sat on the cat\n"


def write_ptb(folder, valid=VALID, skip=()):
    folder.mkdir(exist_ok=True)
    for name, text in zip(data.SPLITS, (TRAIN, valid, "the mat\n")):
        if name not in skip:
            (folder / name).write_text(text)
    return folder


def test_twenty_steps_agree_and_train_in_both():
    sizes = {**preset_sizes("lm_train", "tiny"), "path": "seed"}
    runners = {fw: spec.build(Target(fw, "cpu").activate(), sizes) for fw in ("mlx", "torch")}
    before = {fw: r.validate() for fw, r in runners.items()}
    for runner in runners.values():
        for _ in range(20):
            runner.step()
    m, t = runners["mlx"], runners["torch"]
    np.testing.assert_allclose(m.losses, t.losses, rtol=1e-5)
    assert all(r.validate() < before[fw] for fw, r in runners.items())
    start = spec.initial_weights(m.sizes)
    for runner in runners.values():
        weights = runner.trainer.weights()
        assert sorted(weights) == sorted(spec.parameter_shapes(m.sizes))
        assert all(not np.array_equal(weights[k], start[k]) for k in weights if k.endswith("proj.weight"))


@pytest.mark.parametrize("path", spec.PATHS)
@pytest.mark.parametrize("precision", ["fp32", "bf16", "bf16-mixed"])
@pytest.mark.parametrize("framework", ["mlx", "torch"])
def test_dtype_plumbing_ran_is_what_was_asked(framework, precision, path):
    """Read back after a step: parameter, optimizer-state and logits dtypes, compiled scope, path."""
    sizes = {**preset_sizes("lm_train", "tiny"), "path": path, "compile": False}
    target = Target(framework, "cpu", precision).activate()
    runner = spec.build(target, sizes)
    runner.step()
    ran = runner.ran()
    assert {k: ran[k] for k in spec.expected(target, sizes)} == spec.expected(target, sizes)
    assert ran["attention"] == ("causal" if path == "best" else "additive mask")


@pytest.mark.parametrize("framework", ["mlx", "torch"])
def test_validation_runner_says_what_ran_before_any_step(framework):
    """LMValidation never steps: PyTorch has no optimizer state yet, so forward_only leaves it out."""
    sizes = {**preset_sizes("lm_train", "tiny"), "path": "seed", "forward_only": True}
    target = Target(framework, "cpu").activate()
    runner = spec.build(target, sizes)
    runner.validate()
    want = spec.expected(target, sizes)
    assert "state_dtype" not in want and {k: runner.ran()[k] for k in want} == want


@pytest.mark.parametrize("framework", ["mlx", "torch"])
def test_bf16_mixed_keeps_float32_weights_and_state_and_computes_in_bfloat16(framework):
    """Read back from a compiled best-path build after a step, not only from what `expected` asks."""
    sizes = {**preset_sizes("lm_train", "tiny"), "path": "best", "compile": True}
    target = Target(framework, "cpu", "bf16-mixed").activate()
    want = {"weights_dtype": "float32", "state_dtype": "float32", "compute_dtype": "bfloat16",
            "compiled": "forward+backward+optimizer", "path": "best"}
    assert spec.expected(target, sizes) == want
    runner = spec.build(target, sizes)
    runner.step()
    assert {k: runner.ran()[k] for k in want} == want
    assert np.isfinite(runner.losses).all()


def test_compiled_scope_is_the_whole_step_in_both_frameworks():
    """Forward, backward and the optimizer update compiled in MLX (mx.compile of the step) and
    PyTorch (torch.compile of the loss and of the optimizer step), read back from the objects."""
    sizes = {**preset_sizes("lm_train", "tiny"), "path": "best", "compile": True}
    for framework in ("mlx", "torch"):
        runner = spec.build(Target(framework, "cpu").activate(), sizes)
        runner.step()
        runner.step()
        assert runner.ran()["compiled"] == "forward+backward+optimizer"
        assert np.isfinite(runner.losses).all()


def built(framework, precision="fp32", weights=None, **overrides):
    """A runner as the benchmarks build it: the preset's sizes for the device plus the row's overrides."""
    chosen = {**preset_sizes("lm_train", "tiny", "cpu"), **overrides}
    return spec.build(Target(framework, "cpu", precision).activate(), chosen, weights), chosen


@pytest.fixture(scope="module")
def seed_observations():
    """Both frameworks observed on the benchmarks' own builds of seed, eager, fp32 (MLX first)."""
    observed = {}
    for framework in ("mlx", "torch"):
        runner, chosen = built(framework, path="seed", compile=False)
        observed[framework] = spec.observe(runner, chosen, dict(observed))
    return observed, chosen


def compared(observed, sizes):
    """compare's lines for one fp32 combination."""
    result = CheckResult("lm_train").at(check.path_label(sizes["path"], sizes["compile"]), "fp32")
    spec.compare(result, observed, sizes, "cpu")
    return result


def test_observe_on_the_benchmarks_builds_then_compare_passes_and_the_runners_step_on():
    """The measuring process's order: each runner built as the benchmark builds it, observed (the check's
    steps), compared, then warmed up and timed on: it steps on and still runs what was asked."""
    observed, runners = {}, {}
    for framework in ("mlx", "torch"):
        runners[framework], chosen = built(framework, path="best", compile=False)
        observed[framework] = spec.observe(runners[framework], chosen, dict(observed))
        assert len(observed[framework]["losses"]) == chosen["steps"]
    result = compared(observed, chosen)
    assert result.passed, result.lines
    steps = chosen["steps"]
    assert [line.what for line in result.entries] == [
        "mlx ran as asked", "torch ran as asked", "first-step loss", "first-step gradients",
        f"loss curve over {steps} steps", f"weight updates over {steps} steps"]
    # within the flat limit: no reference run was needed, so none is named
    assert "MLX's own distance" not in result.entries[-1].detail and "reversed" not in result.entries[-1].detail
    for runner in runners.values():
        runner.step()
        runner.step()
        assert len(runner.losses) == steps + 2 and np.isfinite(runner.losses).all()
        want = spec.expected(runner.target, chosen)
        assert {k: runner.ran()[k] for k in want} == want


def test_observe_skips_what_the_check_does_not_compare():
    runner, chosen = built("torch", path="seed", forward_only=True)
    assert spec.observe(runner, chosen, {}) is None and runner.losses == []


@pytest.mark.parametrize("wrong, fails", [
    (lambda o: {**o, "gradients": {k: 20 * v for k, v in o["gradients"].items()}}, {"first-step gradients"}),
    (lambda o: {**o, "losses": [o["losses"][0] * 1.01, *o["losses"][1:]]},
     {"first-step loss", "loss curve over 6 steps"}),
    (lambda o: {**o, "updates": {k: 1.05 * v for k, v in o["updates"].items()}}, {"weight updates over 6 steps"}),
    (lambda o: {**o, "ran": {**o["ran"], "compiled": "none"}, "expected": {**o["expected"], "compiled": COMPILED}},
     {"mlx ran as asked"}),
])
def test_compare_fails_on_a_wrong_mlx_observation(seed_observations, wrong, fails):
    """MLX's gradients 20x, its loss 1% off, its updates 5% off, or a step that was not compiled: FAIL."""
    observed, chosen = seed_observations
    assert compared(observed, chosen).passed
    result = compared({**observed, "mlx": wrong(observed["mlx"])}, chosen)
    assert {line.what for line in result.entries if not line.ok} == fails, result.lines


def test_fp32_updates_are_held_to_pytorchs_own_reordered_distance():
    """Updates 0.2% apart fail the flat 0.1% alone, pass where PyTorch with its batch rows reversed moved
    0.15%, and a tensor far beyond twice that still fails."""
    rng = np.random.default_rng(0)
    torch_updates = {"w": rng.standard_normal(1000)}
    nudge = lambda base, size: {"w": base["w"] + size * np.linalg.norm(base["w"]) / np.sqrt(1000)  # noqa: E731
                                * rng.standard_normal(1000)}
    reordered, mlx = nudge(torch_updates, 1.5e-3), nudge(torch_updates, 2e-3)

    def lines(mlx_updates, reference):
        result = CheckResult("lm_train")
        spec.check_updates(result, mlx_updates, torch_updates, 10, reference)
        return result

    assert not lines(mlx, None).passed  # no reference: the flat limit
    both = lines(mlx, reordered)
    assert both.passed, both.lines
    assert "PyTorch's own distance from its updates with the batch rows reversed" in both.lines[0]
    assert not lines(nudge(torch_updates, 1e-2), reordered).passed


def test_the_check_names_mlxs_own_run_to_run_distance_of_the_updates(seed_observations, monkeypatch):
    """A second identical MLX run's distance is information in the line (whether MLX's own sums vary), not
    a limit: the same updates pass or fail as without it. PyTorch's reordered run happens only where the
    updates exceed the flat limit, MLX's second only where they fail against that reference too."""
    runs = []
    train, reference = spec.train, spec.eager_reference
    monkeypatch.setattr(spec, "train", lambda framework, *a, **k: runs.append(framework) or train(framework, *a, **k))
    monkeypatch.setattr(spec, "eager_reference", lambda *a: runs.append(a[-1]) or reference(*a))
    observed, chosen = seed_observations
    assert compared(observed, chosen).passed and runs == []
    larger = {k: 1.05 * v for k, v in observed["mlx"]["updates"].items()}
    off = {**observed, "mlx": {**observed["mlx"], "updates": larger}}
    line = compared(off, chosen).entries[-1]
    # PyTorch's reordered run (cached once a process: its own train call only the first time) and MLX's again
    assert runs[0] == "reordered updates" and runs.count("mlx") == 1 and not line.ok
    assert "MLX's own distance from an identical second run: " in line.detail
    torch_updates = {"w": np.arange(1.0, 11.0)}
    plain, noted = (CheckResult("lm_train") for _ in range(2))
    spec.check_updates(plain, {"w": torch_updates["w"] * 1.01}, torch_updates, 10)
    spec.check_updates(noted, {"w": torch_updates["w"] * 1.01}, torch_updates, 10,
                       repeated={"w": torch_updates["w"] * 1.01})
    assert [line.ok for line in plain.entries] == [line.ok for line in noted.entries] == [False]
    assert "identical second run: 0 (bit-identical)" in noted.entries[0].detail


def test_mlxs_second_run_happens_only_where_the_updates_fail_against_the_reordered_reference(seed_observations,
                                                                                            monkeypatch):
    """Updates 0.2% from PyTorch's fail the flat limit, so PyTorch's reordered run (0.15% from its own) is
    taken, and they pass against it: MLX's second run, which would only explain a failure, is not taken."""
    observed, chosen = seed_observations
    rng = np.random.default_rng(0)
    nudge = lambda size: {k: v + size * np.linalg.norm(v) / np.sqrt(v.size) * rng.standard_normal(v.shape)  # noqa: E731
                          for k, v in observed["torch"]["updates"].items()}
    runs, train = [], spec.train
    monkeypatch.setattr(spec, "train", lambda framework, *a, **k: runs.append(framework) or train(framework, *a, **k))
    monkeypatch.setattr(spec, "eager_reference", lambda *a: runs.append(a[-1]) or nudge(1.5e-3))
    result = compared({**observed, "mlx": {**observed["mlx"], "updates": nudge(2e-3)}}, chosen)
    assert result.passed and runs == ["reordered updates"], (runs, result.lines)


def test_equal_and_opposite_update_elements_are_set_aside_only_while_rare():
    """One element of 100,000 with MLX's update the negative of PyTorch's (Adam's +-lr of a gradient at
    rounding) fails the flat limit as it is, passes set aside and is named; 1% of them stays a failure, and
    updates 5% larger are no flips at all."""
    rng = np.random.default_rng(0)
    torch_updates = {"w": rng.standard_normal(100_000), "b": np.zeros(10)}
    one = {"w": torch_updates["w"].copy(), "b": np.zeros(10)}
    one["w"][7] *= -1.0
    many = {"w": torch_updates["w"] * np.where(rng.random(100_000) < 0.01, -1.0, 1.0), "b": np.zeros(10)}

    def passes(mlx):
        result = CheckResult("lm_train").at("seed", "fp32")
        kept, flips = spec.set_aside_flips(mlx, torch_updates)
        spec.check_updates(result, kept, torch_updates, 10, flips=flips)
        return result.passed, result.entries[0].detail

    raw = CheckResult("lm_train").at("seed", "fp32")
    spec.check_updates(raw, one, torch_updates, 10)
    assert not raw.passed
    ok, detail = passes(one)
    assert ok and "1 equal and opposite element(s) set aside" in detail
    ok, detail = passes(many)
    assert not ok and "set aside" not in detail
    assert spec.set_aside_flips({k: 1.05 * v for k, v in torch_updates.items()}, torch_updates)[1] == 0


def test_reversed_rows_reorder_sums_but_not_arithmetic():
    """PyTorch trained on the same batches with rows reversed: the same losses to rounding, updates not
    bit-identical (else it could not measure reordering)."""
    sizes = {**preset_sizes("lm_train", "tiny"), "path": "seed", "compile": False}
    plain, reversed_ = (spec.train("torch", "cpu", "fp32", sizes, 3, reverse_rows=r) for r in (False, True))
    np.testing.assert_allclose(plain["losses"], reversed_["losses"], rtol=1e-5)
    assert any(not np.array_equal(plain["updates"][k], reversed_["updates"][k]) for k in plain["updates"])


def test_bf16_mixed_mlx_sums_the_embedding_gradient_in_float32():
    """One token repeated over the whole batch: its embedding row's gradient sums over all positions.
    MLX's bf16-mixed runs the embedding (and LayerNorms) in float32, as autocast does, so that sum stays
    close to float32's; the pure bfloat16 model sums it in bfloat16. (LayerNorm gradients summed in
    bfloat16 are off on MLX's CUDA backend only: on a CPU both are within 1%.)"""
    sizes = {**preset_sizes("lm_train", "tiny"), "path": "seed", "compile": False, "batch": 16, "context": 64}
    tokens = np.zeros((sizes["batch"], sizes["context"]), np.int32)

    def gradient(precision):
        runner = spec.build(Target("mlx", "cpu", precision).activate(), sizes)
        runner.trainer.step(tokens, tokens + 1)
        return runner.trainer.gradients()["embedding.weight"]

    exact = gradient("fp32")
    error = {p: check.relative_l2(gradient(p), exact) for p in ("bf16-mixed", "bf16")}
    assert error["bf16-mixed"] < 0.02 < error["bf16"], error


def test_check_passes_at_bf16_mixed():
    sizes = {**preset_sizes("lm_train", "tiny"), "path": "best", "compile": False}
    result = CheckResult("lm_train").at("best", "bf16-mixed")
    cross_check("lm_train", result, sizes, "cpu", "bf16-mixed")
    assert result.passed and len(result.entries) == 5, result.lines
    assert "PyTorch's own distance from float32" in result.entries[3].detail


def test_check_fails_on_perturbed_weights():
    wrong = dict(spec.initial_weights(preset_sizes("lm_train", "tiny")))
    name = "transformer.layers.0.linear1.weight"
    wrong[name] = wrong[name] * 1.05
    observed = {}
    for framework in ("mlx", "torch"):
        runner, chosen = built(framework, weights=wrong if framework == "mlx" else None, path="seed", compile=False)
        observed[framework] = spec.observe(runner, chosen, dict(observed))
    failed = {line.what for line in compared(observed, chosen).entries if not line.ok}
    assert {"first-step loss", "first-step gradients"} <= failed


def test_check_skips_tf32_on_cpu_with_the_reason(monkeypatch):
    tiny = preset_sizes("lm_train", "tiny")
    monkeypatch.setattr(spec, "preset_sizes", lambda *args: {**tiny, "precisions": ["tf32"]})
    result = spec.check("tiny", "cpu")
    assert [(line.path, line.what, line.ok) for line in result.entries] == [
        (label, "n/a", True) for label in ("seed", "seed+compiled", "best", "best+compiled")]
    assert all("GPU matmul mode" in line.detail for line in result.entries)


def test_together_only_where_both_steps_fit():
    """Both runners at once where 5x the floor at the precision's dtypes fits: in float32 not at `full` on
    an 80 GB H100 (MLX's step peaked at ~70 GiB, PyTorch's at ~25 GiB), yes on a 141 GB H200; in bf16 and
    bf16-mixed (MLX 25-34 GB, PyTorch 15-20 GB there) on both; at `tiny` on this CPU."""
    full = preset_sizes("lm_train", "full", "gpu")
    assert spec.together(Target("torch", "cpu"), preset_sizes("lm_train", "tiny"))
    for memory, fits in ((80e9, {"fp32": False, "tf32": False, "bf16": True, "bf16-mixed": True}),
                         (141e9, {"fp32": True, "tf32": True, "bf16": True, "bf16-mixed": True})):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(spec, "available_memory", lambda target: memory)
            assert {p: spec.together(Target("mlx", "gpu", p), full) for p in fits} == fits
            assert spec.together(Target("mlx", "gpu"), preset_sizes("lm_train", "small", "gpu"))


def test_check_labels_match_the_benchmark_rows():
    from mlxvspt.measure.asvbench import combination

    assert combination({"path": "best", "compile": True}) == check.path_label("best", True) == "best+compiled"


@pytest.mark.parametrize("precision, overrides, reason", [
    ("tf32", {}, "GPU matmul mode"),
    ("fp16", {}, "float16"),
    ("bf16", {"precisions": ["fp32"]}, "left out at this preset"),
    ("fp32", {"path": "best", "paths": ["seed"]}, "path 'best' is left out"),
    ("fp32", {"batch": 10**9}, "needs at least"),
    ("fp32", {"measure_first_step": True}, "cold first step is left out"),
])
def test_unavailable_says_why(precision, overrides, reason):
    sizes = {**preset_sizes("lm_train", "tiny"), **overrides}
    assert reason in spec.unavailable(Target("mlx", "cpu", precision), sizes)


def test_unavailable_is_none_for_a_published_combination():
    sizes = {**preset_sizes("lm_train", "tiny"), "path": "best", "compile": True}
    assert spec.unavailable(Target("torch", "cpu", "bf16-mixed"), sizes) is None


@pytest.mark.parametrize("framework", ["mlx", "torch"])
def test_step_peaks_are_one_figure_a_step(framework):
    from mlxvspt.measure.asvbench import step_peaks

    target = Target(framework, "cpu").activate()
    runner = spec.build(target, {**preset_sizes("lm_train", "tiny"), "path": "seed"})
    peaks = step_peaks(runner, target, 3)
    assert len(peaks) == 3 and all(p["peak_memory_bytes"] > 10 * 2**20 for p in peaks)  # CPU: max RSS
    assert len(runner.losses) == 3


def test_first_steps_share_one_fresh_cache_folder_and_hand_over_one_pair(monkeypatch):
    seen = []

    def fake_run(command, env, capture_output, text):
        seen.append({k: env[k] for k in first_step.CACHE_FOLDERS})
        measured = {"seconds": 3.0 / len(seen), "ran": {"path": "best"}}
        return subprocess.CompletedProcess(command, 0, json.dumps(measured), "")

    monkeypatch.setattr(first_step.subprocess, "run", fake_run)
    runner = first_step.FirstSteps(Target("torch", "cpu"), {"measure_first_step": True, "path": "best"})
    runner.ready()
    assert runner.ran() == {"path": "best"}
    assert runner.step() == {"cold_seconds": 3.0, "warm_seconds": 1.5}
    assert seen[0] == seen[1] and all(v.startswith(tempfile.gettempdir()) for v in seen[0].values())
    assert not os.path.exists(os.path.dirname(seen[0]["TMPDIR"]))  # removed after the pair
    runner.step()
    assert len(seen) == 4 and seen[2] != seen[0]  # a later step measures anew, in a new folder


def test_overhead_bad_input_is_a_usage_error():
    with pytest.raises(UsageError, match="overhead is measured for lm_train"):
        overhead.run("bert_train", "tiny", "cpu", ["torch"], "fp32", False, 2, 1)
    with pytest.raises(UsageError, match="tf32"):
        overhead.run("lm_train", "tiny", "cpu", ["torch"], "tf32", False, 2, 1)


def test_overhead_times_suite_and_standalone_script(capsys):
    line, = overhead.run("lm_train", "tiny", "cpu", ["torch"], "fp32", False, 3, 1)
    assert line.startswith("lm_train [cpu best fp32 tiny] torch: suite ") and "suite/standalone " in line


def test_batches_are_seeded_and_shifted():
    tokens = np.arange(1000, dtype=np.int32)
    a, b = data.Batches(tokens, 4, 8), data.Batches(tokens, 4, 8)
    for _ in range(3):
        (xa, ya), (xb, yb) = next(a), next(b)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa[:, 1:], ya[:, :-1])
        assert xa.shape == (4, 8) and xa.dtype == np.int32


def test_ptb_parser_builds_vocabulary_from_train(tmp_path):
    ids, train, valid, test = data.read_ptb(write_ptb(tmp_path / "ptb"))
    assert list(ids) == sorted(["<eos>", "a", "cat", "dog", "mat", "on", "sat", "the"])
    words = {i: w for w, i in ids.items()}
    assert [words[i] for i in train] == "the cat sat on the mat <eos> a dog sat <eos>".split()
    assert [words[i] for i in valid] == "the dog sat on the cat <eos>".split()
    assert [words[i] for i in test] == ["the", "mat", "<eos>"]


def test_ptb_from_the_user_sets_vocabulary(tmp_path, monkeypatch):
    monkeypatch.setenv("MLXVSPT_PTB", str(write_ptb(tmp_path / "ptb")))
    corpus = data.corpus(preset_sizes("lm_train", "tiny"))
    assert corpus.vocab == 8 and corpus.source.startswith("ptb:")


def test_ptb_missing_files_are_named(tmp_path):
    with pytest.raises(UsageError, match="ptb.valid.txt, ptb.test.txt"):
        data.read_ptb(write_ptb(tmp_path / "ptb", skip=("ptb.valid.txt", "ptb.test.txt")))


def test_ptb_word_outside_vocabulary_names_file_and_word(tmp_path):
    with pytest.raises(UsageError, match=r"ptb.valid.txt: word 'zebra'"):
        data.read_ptb(write_ptb(tmp_path / "ptb", valid="the zebra sat\n"))


def test_bad_sizes_are_usage_errors():
    sizes = {**preset_sizes("lm_train", "tiny"), "heads": 3}
    with pytest.raises(UsageError, match="multiple of heads"):
        spec.build(Target("torch", "cpu").activate(), sizes)


@pytest.mark.parametrize("error", [MemoryError(), RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"),
                                   RuntimeError("DefaultCPUAllocator: can't allocate memory")])
def test_out_of_memory_errors_become_unavailable(error):
    with pytest.raises(Unavailable, match="ran out of memory"):
        with device_limits("a step"):
            raise error


def test_other_errors_pass_through_the_memory_guard():
    with pytest.raises(RuntimeError, match="shape mismatch"):
        with device_limits("a step"):
            raise RuntimeError("shape mismatch")


def test_flops_per_step_is_about_six_per_parameter_per_token():
    sizes = preset_sizes("lm_train", "full")
    params = sum(int(np.prod(s)) for name, (s, _) in spec.parameter_shapes(sizes).items()
                 if name != "embedding.weight")
    tokens = sizes["batch"] * sizes["context"]
    assert 6 * params * tokens < spec.flops_per_step(sizes) < 1.5 * 6 * params * tokens
