"""llm workload: cross-check on the toy model (and that it can fail), what ran per precision, the wait on
mlx-lm's stream, a Hugging Face checkpoint folder, bad folders refused."""
import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from mlxvspt.measure import asvbench
from mlxvspt.measure.check import CheckResult
from mlxvspt.measure.devices import Target
from mlxvspt.errors import UsageError
from mlxvspt.measure.presets import TABLE, sizes
from mlxvspt.workloads.llm import checkpoint, spec

SIZES = {**sizes("llm", "tiny"), "batch": 2, "prompt_tokens": 8, "prefill_tokens": 8, "tokens": 4}
TOY = checkpoint.config("toy")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("MLXVSPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MLXVSPT_LLM_CHECKPOINT", raising=False)


def hf_checkpoint(folder, tokenizer=False):
    """A toy Llama saved by transformers itself (config.json + model.safetensors), optionally a tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(**{k: v for k, v in TOY.items() if k != "architectures"})).save_pretrained(folder)
    if tokenizer:
        from tokenizers import Tokenizer, models, pre_tokenizers
        from transformers import PreTrainedTokenizerFast

        words = sorted({w for p in spec.PROMPTS for w in p.split()} | {"<|user|>", "<|assistant|>"})
        vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>"] + words)}
        tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
        fast.chat_template = ("<s> {% for m in messages %}<|user|> {{ m['content'] }} </s> {% endfor %}"
                              "{% if add_generation_prompt %}<|assistant|>{% endif %}")
        fast.save_pretrained(folder)
    return folder


def run_both(sizes):
    runners = {fw: spec.build(Target(fw, "cpu").activate(), sizes) for fw in ("mlx", "torch")}
    for runner in runners.values():
        figures = runner.step()
        energy = figures.pop("energy_j_per_token")
        assert set(figures) == {"prefill_ms_per_token", "ttft_ms", "decode_ms_per_token", "peak_memory_bytes"}
        assert all(value > 0 for value in figures.values())
        assert energy == "energy is read from NVIDIA's NVML counter: n/a on the CPU"  # the figure's n/a reason
    return runners


def test_check_tiny():
    result = spec.check("tiny")
    assert result.passed, result.lines
    compared = {(line.path, line.precision) for line in result.entries if line.what != "n/a"}
    assert compared == {("generate", "fp32"), ("generate", "bf16")}


def test_check_fails_on_perturbed_weights(monkeypatch):
    """MLX's weights off by 1% in one layer: the logits lines must FAIL."""
    from mlxvspt.workloads.llm import mlx as mlx_impl

    load = mlx_impl.load

    def perturbed(folder, target):
        model = load(folder, target)
        down = model.layers[0].mlp.down_proj
        down.weight = down.weight * 1.01
        return model

    monkeypatch.setattr(mlx_impl, "load", perturbed)
    monkeypatch.setitem(TABLE["llm"]["tiny"], "cpu", {"static_compile": False, "precisions": ["fp32"], "batches": [1]})
    result = spec.check("tiny")
    failed = [line.what for line in result.entries if not line.ok]
    assert not result.passed
    assert any("logits" in what for what in failed), result.lines


def observed_on_built_runners(chosen, precision):
    """Each framework's observation on a runner built as the benchmarks build it (MLX first: PyTorch's
    teacher-forces MLX's tokens); each runner still steps afterwards."""
    observed = {}
    for framework in ("mlx", "torch"):
        runner = spec.build(Target(framework, "cpu", precision).activate(), chosen)
        observed[framework] = spec.observe(runner, chosen, dict(observed))
        assert runner.step()["decode_ms_per_token"] > 0
    return observed


def compared(observed, chosen, precision):
    result = CheckResult("llm").at(chosen["path"], precision)
    spec.compare(result, observed, chosen, "cpu")
    return result


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_observations_of_the_timed_builds_agree_and_wrong_ones_fail(precision):
    chosen = {**SIZES, "path": "generate"}
    observed = observed_on_built_runners(chosen, precision)
    result = compared(observed, chosen, precision)
    assert result.passed and len(result.entries) == 6, result.lines
    mlx, torch = observed["mlx"], observed["torch"]
    off = compared({**observed, "torch": {**torch, "forced": 1.1 * torch["forced"]}}, chosen, precision)
    assert [line.what for line in off.entries if not line.ok] == ["teacher-forced logits, batch 2"]
    tokens = [row[:-1] + [(row[-1] + 1) % TOY["vocab_size"]] for row in torch["tokens"]]  # a changed last token
    changed = compared({**observed, "torch": {**torch, "tokens": tokens}}, chosen, precision)
    tie = "" if precision == "fp32" else ": identical up to a near tie"  # below fp32 a near tie may differ
    assert [line.what for line in changed.entries if not line.ok] == [f"4 greedy tokens x 2 prompts{tie}"]
    unasked = compared({**observed, "mlx": {**mlx, "ran": {**mlx["ran"], "batch": 1}}}, chosen, precision)
    assert [line.what for line in unasked.entries if not line.ok] == ["mlx ran what was asked, batch 2"]


def test_mlx_runs_its_generate_where_it_lacks_the_path_and_pytorch_is_observed_without_mlx():
    compiled = {**SIZES, "path": "static-compile"}
    target = Target("mlx", "cpu").activate()
    runner = spec.build(target, compiled)
    runner.step()
    assert runner.ran() == spec.expected(target, compiled) == spec.expected(target, SIZES)  # path generate
    assert spec.expected(Target("torch", "cpu"), compiled)["path"] == "static-compile"
    alone = spec.build(Target("torch", "cpu").activate(), SIZES)  # MLX n/a here: no tokens to teacher-force on
    assert spec.observe(alone, SIZES, {"mlx": None})["forced"] is None


def test_the_check_holds_mlx_generate_to_pytorchs_static_compile(static_compile_on_cpu):
    """Each framework's line says what it ran in the static-compile combination: MLX its generate."""
    result = spec.check("tiny")
    assert result.passed, result.lines
    lines = {line.what: line.detail for line in result.entries if line.path == "static-compile"}
    assert "path generate" in lines["mlx ran what was asked, batch 1"]
    assert "compiled decode-forward, path static-compile" in lines["torch ran what was asked, batch 1"]
    assert "PyTorch static-compile generation logits vs MLX teacher-forced, while the contexts agree" in lines


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("framework", ["mlx", "torch"])
def test_ran_is_what_was_asked(framework, precision):
    """The dtype plumbing: weights and logits dtypes read back from the framework after a step."""
    target = Target(framework, "cpu", precision).activate()
    runner = spec.build(target, SIZES)
    runner.step()
    ran = runner.ran()
    assert ran["weights_dtype"] == ran["compute_dtype"] == {"fp32": "float32", "bf16": "bfloat16"}[precision]
    assert ran == spec.expected(target, SIZES)
    asvbench.verify("llm", target, SIZES, {**ran, "matmul_mode": target.matmul_mode()})  # raises on a mismatch


def test_verify_fails_a_mismatch():
    target = Target("torch", "cpu", "bf16")
    ran = {**spec.expected(target, SIZES), "weights_dtype": "float32"}
    with pytest.raises(RuntimeError, match="weights_dtype asked 'bfloat16', ran 'float32'"):
        asvbench.verify("llm", target, SIZES, ran)


@pytest.mark.parametrize("batch", [1, 2])
def test_mlx_waits_on_mlx_lm_generation_stream(monkeypatch, batch):
    """mlx-lm queues generation on its own stream; waiting on the default stream would stop the clock early."""
    import mlx.core as mx
    from mlx_lm.generate import generation_stream

    runner = spec.build(Target("mlx", "cpu").activate(), {**SIZES, "batch": batch})
    waited = []
    synchronize = mx.synchronize
    monkeypatch.setattr(mx, "synchronize", lambda *stream: (waited.append(stream), synchronize(*stream))[1])
    runner.step()
    assert waited and all(stream == (generation_stream,) for stream in waited), waited


def test_seeded_runs_exact_work():
    runners = run_both(SIZES)
    for runner in runners.values():
        assert [len(p) for p in runner.prompts] == [8, 8]
        assert [len(o) for o in runner.outputs] == [4, 4]
    assert runners["mlx"].outputs == runners["torch"].outputs


@pytest.mark.parametrize("tokenizer", [False, True])
def test_hf_checkpoint(tmp_path, monkeypatch, tokenizer):
    folder = hf_checkpoint(tmp_path / "ckpt", tokenizer)
    monkeypatch.setenv("MLXVSPT_LLM_CHECKPOINT", str(folder))
    runners = run_both(SIZES)
    mlx, torch = runners["mlx"], runners["torch"]
    assert mlx.prompts == torch.prompts
    if tokenizer:  # the chat template, not the seeded ids of `prompt_tokens`
        assert mlx.prompts[0][:2] == [1, checkpoint.tokenizer(folder).convert_tokens_to_ids("<|user|>")]
        assert len(mlx.prompts[0]) != SIZES["prompt_tokens"]
    else:
        assert [len(p) for p in mlx.prompts] == [8, 8]
    assert mlx.outputs == torch.outputs
    logits = [r.generator.numpy(r.prefill(r.prompts[:1])) for r in (mlx, torch)]
    assert abs(logits[0] - logits[1]).max() <= 1e-4


def break_missing(folder):
    return folder / "nowhere"


def break_file(folder):
    return folder / "config.json"


def break_no_config(folder):
    (folder / "config.json").unlink()
    return folder


def break_bad_json(folder):
    (folder / "config.json").write_text("{not json")
    return folder


def break_architecture(folder):
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(model_type="gpt2", architectures=["GPT2LMHeadModel"])
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def break_pickle(folder):
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    return folder


def break_incomplete(folder):
    from safetensors.numpy import load_file, save_file

    arrays = load_file(folder / "model.safetensors")
    del arrays["model.layers.1.mlp.down_proj.weight"]
    save_file(arrays, folder / "model.safetensors")
    return folder


def break_shape(folder):
    cfg = json.loads((folder / "config.json").read_text())
    cfg["intermediate_size"] *= 2
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def break_truncated(folder):
    (folder / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes()[:100])
    return folder


@pytest.mark.parametrize("cores", [1, 3])
def test_a_seeded_checkpoint_holds_each_tensors_own_draw_in_name_order_on_any_number_of_threads(
        tmp_path, monkeypatch, cores):
    """The writer draws tensors on a thread a core, a few ahead of the file: each must still be the draw of
    its own seed (its place in name order), or the two frameworks' checks would compare other weights."""
    monkeypatch.setattr(checkpoint.os, "cpu_count", lambda: cores)
    stored = load_file(checkpoint.write_checkpoint(tmp_path / "ckpt", TOY) / "model.safetensors")
    shapes = checkpoint.parameter_shapes(TOY)
    assert sorted(stored) == sorted(shapes) and len(shapes) > 3 * cores
    for i, name in enumerate(sorted(shapes)):
        np.testing.assert_array_equal(stored[name], checkpoint.drawn(name, shapes[name], i))


@pytest.mark.parametrize("damage", [break_missing, break_file, break_no_config, break_bad_json, break_architecture,
                                    break_pickle, break_incomplete, break_shape, break_truncated])
def test_bad_checkpoint_is_one_usage_error(tmp_path, monkeypatch, damage):
    folder = damage(checkpoint.write_checkpoint(tmp_path / "ckpt", TOY))
    monkeypatch.setenv("MLXVSPT_LLM_CHECKPOINT", str(folder))

    def no_loading(*args):
        raise AssertionError("a framework was touched before the checkpoint was validated")

    monkeypatch.setattr(spec, "implementation", no_loading)
    with pytest.raises(UsageError) as info:
        spec.build(Target("mlx", "cpu"), SIZES)
    assert "\n" not in str(info.value)


def test_unavailable_says_why():
    cpu = {**sizes("llm", "tiny"), "path": "generate", "batch": 1}
    for framework in ("mlx", "torch"):  # MLX's static-compile rows are measured beside PyTorch's
        assert "left out at this preset on the CPU" in spec.unavailable(Target(framework, "cpu"),
                                                                         {**cpu, "path": "static-compile"})
    assert "fp16 is not measured" in spec.unavailable(Target("torch", "cpu", "fp16"), cpu)
    assert "batch 8 is not measured" in spec.unavailable(Target("torch", "cpu"), {**cpu, "batch": 8})
    assert spec.unavailable(Target("mlx", "cpu", "bf16"), cpu) is None
    full = {**sizes("llm", "full"), "path": "static-compile", "batch": 8}
    assert spec.unavailable(Target("torch", "gpu", "fp16"), full) is None
    assert spec.unavailable(Target("mlx", "gpu", "fp16"), full) is None
    assert spec.unavailable(Target("torch", "gpu", "bf16"), {**sizes("llm", "small"), "path": "static-compile",
                                                              "batch": 8}) is None  # what `run --preset full` checks
    assert "fp16 is not measured" in spec.unavailable(Target("torch", "cpu", "fp16"), {**full, "path": "generate"})
    assert spec.expected(Target("torch", "gpu", "fp16"), full)["compiled"] == "decode-forward"


def test_too_few_tokens_is_a_usage_error():
    with pytest.raises(UsageError):
        spec.build(Target("torch", "cpu").activate(), {**SIZES, "tokens": 1})


def test_overhead_runs_mlx_lm_benchmark_and_the_suite_on_the_same_work():
    from mlxvspt.workloads.llm import overhead

    result = overhead.measure("tiny", trials=1, rounds=1)
    folder = overhead.tool_folder(checkpoint.seeded_checkpoint("toy"), "fp32")
    assert result["folder"] == str(folder) and (folder / "tokenizer.json").is_file()
    for figure in ("decode_ms_per_token", "prompt_ms_per_token"):
        row = result[figure]
        assert row["mlx_lm.benchmark"]["median"] > 0 and row["suite"]["median"] > 0
        assert row["ratio"] == row["suite"]["median"] / row["mlx_lm.benchmark"]["median"]
    assert "suite / mlx_lm.benchmark" in overhead.report(result)


def test_an_older_mlx_lm_is_na_with_the_release_it_needs(monkeypatch):
    """The release history installs mlx-lm back to 0.26: where it lacks what the generation needs (a
    stream argument, batch_generate's loop), the row is n/a with the reason, not a failed traceback."""
    from mlxvspt.workloads.llm import mlx as llm_mlx

    target, chosen = Target("mlx", "cpu", "fp32"), {**sizes("llm", "tiny"), "batch": 2}
    assert spec.unavailable(target, chosen) is None
    monkeypatch.setattr(llm_mlx, "BATCHED", False)
    assert "batched decode needs mlx-lm >= 0.31" in spec.unavailable(target, chosen)
    assert spec.unavailable(target, {**chosen, "batch": 1}) is None  # generate_step's stream is the CPU's here
    monkeypatch.setattr(llm_mlx, "STREAM_ARGUMENT", False)
    monkeypatch.setattr(llm_mlx, "generation_stream", llm_mlx.mx.new_stream(llm_mlx.mx.cpu))
    assert spec.unavailable(target, {**chosen, "batch": 1}) is None
    assert "needs mlx-lm >= 0.32" in llm_mlx.lacks(type("GPU", (), {"handle": "gpu", "device": "gpu"})(), 1)
