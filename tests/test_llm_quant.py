"""llm_quant on a CPU: bits, group size and dtypes read back from the quantized weights (MLX always, torchao
where installed), perplexity computed one way in both frameworks, the check's lines and what fails them,
n/a reasons, and a checkpoint unfit for int4 groups refused before anything runs."""
import json
import math
import sys
import types

import numpy as np
import pytest

from mlxvspt import cli
from mlxvspt.errors import UsageError
from mlxvspt.measure import asvbench, check
from mlxvspt.measure.check import PERPLEXITY_MARGIN, TOLERANCES, CheckResult
from mlxvspt.measure.devices import Target
from mlxvspt.measure.presets import sizes
from mlxvspt.track import asvrun
from mlxvspt.workloads import inputs
from mlxvspt.workloads.lm_train.data import SPLITS
from mlxvspt.workloads.llm import checkpoint
from mlxvspt.workloads.llm_quant import perplexity, spec

TINY = sizes("llm_quant", "tiny", "cpu")
SIZES = {**TINY, "batch": 2, "prompt_tokens": 8, "prefill_tokens": 8, "tokens": 4}
NO_TORCHAO = "torchao is not installed (pip install 'mlxvspt[quant]'): PyTorch's quantized side is not tested here"
# PTB-like text: every test word is in the training split (read_ptb's vocabulary)
LINES = ["the cat sat on the mat", "a dog ran to the park", "the bird sang in the tree"]


def torchao():
    return pytest.importorskip("torchao", reason=NO_TORCHAO)


def ptb(folder):
    """A small PTB folder (the three splits read_ptb wants): about 400 test tokens, four tiny windows' worth."""
    folder.mkdir()
    for name in SPLITS:
        (folder / name).write_text("\n".join(LINES * (20 if name == "ptb.test.txt" else 2)) + "\n")
    return folder


def built(framework, scheme, chosen=SIZES):
    """A runner as the benchmarks build it (PyTorch's eager: a CPU at `tiny` does not compile)."""
    return spec.build(Target(framework, "cpu").activate(), {**chosen, "path": scheme})


@pytest.mark.parametrize("scheme, bits", [("int4", 4), ("int8", 8)])
def test_mlx_weights_read_back_as_quantized_linear_of_the_scheme(scheme, bits):
    import mlx.core as mx
    import mlx.nn as nn

    runner = built("mlx", scheme)
    model = runner.generator.model
    layers = [m for _, m in model.named_modules() if isinstance(m, nn.QuantizedLinear)]
    assert len(layers) == 7 * 2 + 1  # q k v o gate up down in each of the toy's 2 layers, and lm_head
    for layer in layers:
        assert (layer.bits, layer.group_size, layer.mode) == (bits, 64, "affine")
        width = layer.scales.shape[-1] * 64  # the layer's inputs: a scale per group of 64
        assert layer.weight.dtype == mx.uint32 and layer.weight.shape[-1] * 32 == width * bits
    assert type(model.model.embed_tokens) is nn.Embedding  # the embedding stays float, as torchao leaves it
    runner.step()
    ran = runner.ran()
    assert ran["quantized"] == {"layers": 15, "float_linear": 0, "bits": bits, "group_size": 64,
                                "format": "QuantizedLinear affine", "packed_dtype": "uint32"}
    assert ran["weights_dtype"] == ran["compute_dtype"] == "float32"
    assert ran == {**spec.expected(runner.target, {**SIZES, "path": scheme}), "padded_inputs": "none"}
    asvbench.verify("llm_quant", runner.target, {**SIZES, "path": scheme}, {**ran, "matmul_mode": "ieee"})


def test_torchao_int8_weights_read_back_as_int8_tensors_per_row():
    torchao()
    import torch

    runner = built("torch", "int8")
    linear = [m for m in runner.generator.model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linear) == 15
    for layer in linear:
        weight = layer.weight
        assert type(weight).__name__ == "Int8Tensor" and weight.qdata.dtype == torch.int8
        assert list(weight.block_size) == [1, weight.shape[-1]] and weight.scale.shape == (weight.shape[0], 1)
    assert runner.generator.model.model.embed_tokens.weight.dtype == torch.float32
    runner.step()
    ran = runner.ran()
    assert ran["quantized"] == {"layers": 15, "float_linear": 0, "bits": 8, "group_size": "per-row",
                                "format": "Int8Tensor", "packed_dtype": "int8", "scales_dtype": "float32"}
    assert ran == {**spec.expected(runner.target, {**SIZES, "path": "int8"}), "padded_inputs": "none"}
    assert ran["compiled"] == "none"  # `tiny` on a CPU: generate eagerly (such rows are n/a in a run)


def test_torchaos_bits_are_read_from_its_packed_data_not_its_format():
    torchao()
    runner = built("torch", "int8")
    weight = runner.generator.model.model.layers[0].self_attn.q_proj.weight
    weight.qdata = weight.qdata[:, :weight.shape[-1] // 2].contiguous()  # as if two 4-bit values a byte
    assert runner.generator.quantized()["bits"] == "4/8"


def test_torchaos_int4_padding_of_the_inputs_is_read_back():
    """tinygemm's int4 pads a weight's inputs to a multiple of 1024 (its kernel is CUDA-only: the weight is
    made here as torchao packs it, 1088 inputs held as 2048); its bits are those of the padded weight."""
    torchao()
    import torch
    from torchao.quantization import Int4TilePackedTo4dTensor

    from mlxvspt.workloads.llm_quant.torch import Generator

    rows, inputs, held = 32, 1088, 2048
    weight = Int4TilePackedTo4dTensor(torch.zeros(rows // 8, held // 128, 32, 4, dtype=torch.int32),
                                      torch.zeros(held // 64, rows, 2, dtype=torch.bfloat16), [1, 64],
                                      torch.Size([rows, inputs]))
    generator = Generator.__new__(Generator)  # its read-back alone, on one layer
    generator.model, generator.target = torch.nn.Linear(inputs, rows, bias=False), Target("torch", "cpu")
    generator.model.weight = torch.nn.Parameter(weight, requires_grad=False)
    assert generator.padded_inputs() == "1088->2048"
    assert generator.quantized() == {"layers": 1, "float_linear": 0, "bits": 4, "group_size": 64,
                                     "format": "Int4TilePackedTo4dTensor", "packed_dtype": "int32",
                                     "scales_dtype": "bfloat16"}


def test_torchao_int8_compiled_decoding_reads_back_and_agrees_with_the_scored_forward(real_checkpoint):
    """What the GPU rows run: torchao's tensors under transformers' static-cache torch.compile (on a CPU here:
    the compile takes ~25 s for the toy model); the logits its compiled decoding gives are those of the eager
    forward perplexity scores, on the same tokens."""
    torchao()
    chosen = {**SIZES, "batch": 1, "static_compile": True, "path": "int8"}
    runner = built("torch", "int8", chosen)
    assert runner.path == "static-compile"
    observed = {"mlx": spec.observe(built("mlx", "int8", chosen), chosen, {}),
                "torch": spec.observe(runner, chosen, {})}
    ran = observed["torch"]["ran"]
    assert ran["compiled"] == "decode-forward" and ran["quantized"]["format"] == "Int8Tensor"
    assert ran == {**spec.expected(runner.target, chosen), "padded_inputs": "none"}
    result = CheckResult("llm_quant").at("int8", "fp32")
    spec.compare(result, observed, chosen, "cpu")
    assert result.passed, result.lines
    assert "torch int8 timed generation's logits (static-compile)" in result.lines[-2]


def test_the_perplexity_formula():
    uniform = np.zeros((5, 7), np.float32)  # every next token equally likely: perplexity = the vocabulary
    assert perplexity.perplexity(lambda w: uniform, np.array([[0, 1, 2, 3, 4]])) == pytest.approx(7, rel=1e-12)
    logits = np.random.default_rng(0).standard_normal((6, 11)).astype(np.float32)
    window = np.array([3, 1, 4, 1, 5, 9])
    log_softmax = logits.astype(np.float64) - np.log(np.exp(logits.astype(np.float64)).sum(-1, keepdims=True))
    by_hand = -sum(log_softmax[i - 1, window[i]] for i in range(1, 6))
    assert perplexity.negative_log_likelihood(logits, window) == pytest.approx(by_hand, rel=1e-6)
    two = np.stack([window, window[::-1]])
    total = sum(perplexity.negative_log_likelihood(logits, w) for w in two)
    assert perplexity.perplexity(lambda w: logits, two) == pytest.approx(math.exp(total / 10), rel=1e-12)


def test_windows_are_the_first_non_overlapping_ones():
    ids = np.arange(100)
    assert perplexity.windows(ids, 32, 2).tolist() == [list(range(32)), list(range(32, 64))]
    assert perplexity.windows(ids, 32, 9).shape == (3, 32)  # fewer where the text ends
    with pytest.raises(UsageError, match="100 tokens, fewer than one window of 128"):
        perplexity.windows(ids, 128, 1)


def test_the_text_is_ptb_test_when_given_else_a_seeded_stream(tmp_path, monkeypatch):
    folder = checkpoint.seeded_checkpoint("toy64")
    stream, source = spec.text_windows(TINY, folder)
    assert stream.shape == (4, 32) and "no --ptb" in source
    assert np.array_equal(stream, spec.text_windows(TINY, folder)[0])
    monkeypatch.setenv("MLXVSPT_PTB", str(ptb(tmp_path / "ptb")))
    words, source = spec.text_windows(TINY, folder)
    assert source == "PTB test, word ids" and words.shape == (4, 32)
    vocabulary = sorted(set(" ".join(LINES).split()) | {"<eos>"})  # PTB's ids: its sorted training words
    expected = [vocabulary.index(w) for w in (" <eos> ".join(LINES) + " <eos>").split()]
    assert words[0].tolist() == (expected * 4)[:32]


def test_a_checkpoints_tokenizer_tokenizes_the_ptb_text(tmp_path, monkeypatch):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    folder = checkpoint.write_checkpoint(tmp_path / "ckpt", checkpoint.config("toy64"))
    words = sorted(set(" ".join(LINES).split()))
    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>"] + words)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>").save_pretrained(folder)
    monkeypatch.setenv("MLXVSPT_PTB", str(ptb(tmp_path / "ptb")))
    ids, source = spec.text_windows(TINY, folder)
    assert source == "PTB test, the checkpoint's tokenizer"
    assert ids[0].tolist() == ([vocab[w] for w in " ".join(LINES).split()] * 4)[:32]  # no <s>, no <eos> word


def test_both_unquantized_models_give_the_same_perplexity(tmp_path, monkeypatch):
    """The same seeded weights in both frameworks, the same PTB windows, one formula: fp32 perplexities agree
    far inside the loss tolerance the check holds them to."""
    monkeypatch.setenv("MLXVSPT_PTB", str(ptb(tmp_path / "ptb")))
    folder = checkpoint.seeded_checkpoint("toy64")
    windows, _ = spec.text_windows(TINY, folder)
    mlx, torch = (spec.unquantized(Target(fw, "cpu").activate(), folder, windows) for fw in ("mlx", "torch"))
    assert 1 < mlx < 512 * 2  # seeded weights: near the vocabulary's 512
    assert abs(mlx - torch) / torch < 1e-6 < TOLERANCES["loss"]["fp32"][0]


FORCED = np.random.default_rng(0).standard_normal((2, 4, 16))  # logits [batch, G, vocab]


def observation(perplexity_, reference, ran=None, generated=FORCED):
    ran = ran or {"bits": 4}
    return {"ran": ran, "asked": {"bits": 4}, "perplexity": perplexity_, "reference": reference, "scored": 124,
            "text": "a seeded Zipf stream (no --ptb)", "generated": generated, "forced": FORCED}


def compared(observed, scheme="int4"):
    result = CheckResult("llm_quant").at(scheme, "fp32")
    spec.compare(result, observed, {**SIZES, "path": scheme}, "cpu")
    return result


@pytest.fixture
def real_checkpoint(monkeypatch):
    """compare as it runs on a checkpoint the user gave (the observations stand for its models')."""
    monkeypatch.setattr(spec, "seeded", lambda: False)


def test_on_seeded_weights_the_quality_check_is_na_so_no_verdict():
    """Seeded weights' perplexity hardly moves with quantization: the combination is n/a, so its rows are
    unchecked (no verdict), whatever the observations say."""
    result = compared({"mlx": observation(11.0, 10.0), "torch": observation(10.5, 10.0)})
    assert [line.what for line in result.entries] == ["n/a"] and "real checkpoint" in result.entries[0].detail
    stored = [json.loads(text) for text in check.dump(result.entries).splitlines()]
    assert check.status(stored, "llm_quant", "cpu", "int4", "fp32") == "unchecked"


def test_the_check_passes_within_the_margin_and_fails_beyond_it_or_on_other_work(real_checkpoint):
    limit = PERPLEXITY_MARGIN["int4"][0]
    good = compared({"mlx": observation(11.0, 10.0), "torch": observation(10.5, 10.0)})
    assert good.passed and len(good.entries) == 7, good.lines
    assert [line.value for line in good.entries if "perplexity within" in line.what] == pytest.approx([0.1, 0.05])
    beyond = compared({"mlx": observation(10.0 * (1 + limit) * 1.01, 10.0), "torch": observation(10.5, 10.0)})
    assert [line.what for line in beyond.entries if not line.ok] == \
        [f"mlx int4 perplexity within {limit:.0%} of its unquantized model's"]
    below = compared({"mlx": observation(10.0 * (1 - limit) * 0.99, 10.0), "torch": observation(10.5, 10.0)})
    assert [line.what for line in below.entries if not line.ok] == \
        [f"mlx int4 perplexity within {limit:.0%} of its unquantized model's"]  # either direction
    apart = compared({"mlx": observation(11.0, 10.0), "torch": observation(11.0, 10.1)})
    assert [line.what.split(":")[0] for line in apart.entries if not line.ok] == ["unquantized perplexity"]
    other = compared({"mlx": observation(11.0, 10.0), "torch": observation(11.0, 10.0, ran={"bits": 8})})
    assert [line.what for line in other.entries if not line.ok] == ["torch ran what was asked, batch 2"]
    shifted = compared({"mlx": observation(11.0, 10.0, generated=FORCED - 3.0), "torch": observation(10.5, 10.0)})
    assert shifted.passed  # log-probabilities for logits: the same softmax
    off = FORCED * (1 + 2 * TOLERANCES["output"]["fp32"][0])
    timed = compared({"mlx": observation(11.0, 10.0), "torch": observation(10.5, 10.0, generated=off)})
    assert [line.what for line in timed.entries if not line.ok] == \
        ["torch int4 timed generation's logits (generate) against the scored forward's on its tokens, centred"]


def test_the_check_of_real_builds_passes_and_a_coarser_quantization_fails_it(monkeypatch, real_checkpoint):
    """Both frameworks' int8 builds observed as the measuring process observes them; then MLX's int8 made
    2-bit behind the check's back: its read-back fails the check (its perplexity moves too; on seeded
    weights, whose logits are all near 0, not necessarily beyond the margin)."""
    torchao()
    chosen = {**SIZES, "path": "int8"}
    observed = {fw: spec.observe(built(fw, "int8"), chosen, {}) for fw in ("mlx", "torch")}
    result = compared(observed, "int8")
    assert result.passed and len(result.entries) == 7, result.lines
    from mlxvspt.workloads.llm_quant import mlx as quant_mlx

    with monkeypatch.context() as patched:
        patched.setitem(quant_mlx.LAYOUT, "int8", {**quant_mlx.LAYOUT["int8"], "bits": 2})
        coarse = spec.observe(built("mlx", "int8"), chosen, {})
    result = compared({**observed, "mlx": {**coarse, "asked": observed["mlx"]["asked"]}}, "int8")
    failed = [line.what for line in result.entries if not line.ok]
    assert failed[0] == "mlx ran what was asked, batch 2" and "'bits': 2" in result.entries[0].detail
    assert coarse["perplexity"] != observed["mlx"]["perplexity"]


def drift(runner):
    """The runner's generation gives its step logits as a timed path computing other numbers would (a compiled
    kernel 1% off); its tokens and the forward perplexity scores stay as they were."""
    generate = runner.generator.generate

    def other(prompts, tokens, stamps, logits):
        out = generate(prompts, tokens, stamps, logits)
        logits[:] = [step * 1.01 for step in logits]
        return out

    runner.generator.generate = other


@pytest.mark.parametrize("framework", ["mlx", "torch"])
def test_a_timed_path_whose_logits_differ_from_the_scored_forwards_fails_the_check(framework, real_checkpoint):
    """The perplexity scores the forward, so it cannot see a timed path (transformers' compiled decoding,
    mlx-lm's one-token steps) that computes other logits: the line holding the two together does."""
    torchao()
    chosen = {**SIZES, "path": "int8"}
    runners = {fw: built(fw, "int8") for fw in ("mlx", "torch")}
    drift(runners[framework])
    result = compared({fw: spec.observe(runner, chosen, {}) for fw, runner in runners.items()}, "int8")
    failed = [line for line in result.entries if not line.ok]
    assert [line.what.split(" (")[0] for line in failed] == [f"{framework} int8 timed generation's logits"]
    assert failed[0].value == pytest.approx(0.01, rel=1e-3)


def importable_torchao(monkeypatch):
    """torchao's import succeeds (stand-in modules where it is not installed): the n/a reasons past it."""
    for name in ("torchao", "torchao.quantization"):
        if sys.modules.get(name) is None:
            monkeypatch.setitem(sys.modules, name, types.ModuleType(name))


def test_unavailable_says_why(monkeypatch):
    from mlxvspt.workloads.llm_quant import torch as quant_torch

    cpu = {**TINY, "batch": 1}
    assert spec.unavailable(Target("mlx", "cpu"), {**cpu, "path": "int4"}) is None
    monkeypatch.setattr(quant_torch, "torchao_version", lambda: "0.18.0")
    monkeypatch.setitem(sys.modules, "torchao", None)  # installed, yet its import fails (built for another torch)
    assert "torchao 0.18.0 cannot be imported here" in spec.unavailable(Target("torch", "cpu"), {**cpu, "path": "int8"})
    importable_torchao(monkeypatch)
    assert "int4 weight-only kernel (tinygemm's _weight_int4pack_mm) is CUDA-only: none for the CPU" in \
        spec.unavailable(Target("torch", "cpu"), {**cpu, "path": "int4"})
    assert "only under torch.compile" in spec.unavailable(Target("torch", "cpu"), {**cpu, "path": "int8"})
    small = {**sizes("llm_quant", "small"), "path": "int8", "batch": 1}
    assert "scheme int8 is not measured at this preset on the CPU (measured: none)" == \
        spec.unavailable(Target("mlx", "cpu"), small)
    monkeypatch.setattr(quant_torch, "torchao_version", lambda: None)
    assert "torchao is not installed: pip install 'mlxvspt[quant]'" in \
        spec.unavailable(Target("torch", "cpu"), {**cpu, "path": "int8"})
    monkeypatch.setattr(quant_torch, "torchao_version", lambda: "0.13.0")
    assert quant_torch.lacks(Target("torch", "gpu", "bf16"), "int4").endswith("needs torchao >= 0.14.0")
    assert quant_torch.lacks(Target("torch", "gpu", "bf16"), "int8").endswith("needs torchao >= 0.15.0")


def test_torchaos_int4_kernel_wants_bfloat16_and_an_ampere_gpu(monkeypatch):
    import torch

    from mlxvspt.workloads.llm_quant import torch as quant_torch

    class CudaTarget(Target):
        def backend(self):
            return "cuda"

    monkeypatch.setattr(quant_torch, "torchao_version", lambda: "0.18.0")
    importable_torchao(monkeypatch)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda: (9, 0))
    assert quant_torch.lacks(CudaTarget("torch", "gpu", "bf16"), "int4") is None
    assert "bfloat16 only, not float16" in quant_torch.lacks(CudaTarget("torch", "gpu", "fp16"), "int4")
    assert quant_torch.lacks(CudaTarget("torch", "gpu", "fp16"), "int8") is None
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda: (7, 5))
    assert "compute capability 8.0, this GPU has 7.5" in quant_torch.lacks(CudaTarget("torch", "gpu", "bf16"), "int4")


def test_a_checkpoint_unfit_for_int4_groups_is_refused_before_anything_runs(tmp_path, monkeypatch, capsys):
    folder = checkpoint.write_checkpoint(tmp_path / "ckpt", checkpoint.config("toy"))  # intermediate 176
    inputs.check("llm_checkpoint", folder, "tiny", ["llm"])  # llm alone takes it
    with pytest.raises(UsageError, match="intermediate_size 176 is not a multiple of 64"):
        inputs.check("llm_checkpoint", folder, "tiny", ["llm_quant"])

    def started(*args, **kwargs):
        raise AssertionError("a framework or a run was touched")

    monkeypatch.setattr(asvrun, "run", started)
    code = cli.main(["run", "--workload", "llm_quant", "--llm-checkpoint", str(folder), "--results-dir",
                     str(tmp_path / "r"), "--html-dir", str(tmp_path / "h")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "intermediate_size 176 is not a multiple of 64" in err[0], err
    monkeypatch.setenv("MLXVSPT_LLM_CHECKPOINT", str(folder))
    monkeypatch.setattr(spec, "implementation", started)
    with pytest.raises(UsageError, match="not a multiple of 64"):
        spec.build(Target("mlx", "cpu"), {**SIZES, "path": "int4"})


def test_a_checkpoint_silent_on_tied_embeddings_is_refused(tmp_path):
    """mlx-lm ties the head to the embedding where config.json does not say, transformers does not: one would
    quantize a head the other lacks."""
    cfg = {k: v for k, v in checkpoint.config("toy64").items() if k != "tie_word_embeddings"}
    folder = checkpoint.write_checkpoint(tmp_path / "ckpt", cfg)
    with pytest.raises(UsageError, match="does not say tie_word_embeddings"):
        inputs.check("llm_checkpoint", folder, "tiny", ["llm_quant"])
    inputs.check("llm_checkpoint", folder, "tiny", ["llm"])


def test_a_head_tied_to_the_embedding_stays_float_in_mlx():
    """mlx-lm's tied model has no head of its own (it decodes through the float embedding), so its quantized
    layers are the 14 of the toy's two blocks; an untied head is a 15th."""
    from mlx_lm.models import llama

    from mlxvspt.workloads.llm_quant import mlx as quant_mlx

    for tied, layers in ((True, 14), (False, 15)):
        model = llama.Model(llama.ModelArgs.from_dict({**checkpoint.config("toy64"), "tie_word_embeddings": tied}))
        quant_mlx.quantize(model, "int8")
        kinds = {name: type(module).__name__ for name, module in model.named_modules()}
        assert kinds["model.embed_tokens"] == "Embedding" and kinds["model.layers.0.mlp.down_proj"] == "QuantizedLinear"
        assert kinds.get("lm_head") == (None if tied else "QuantizedLinear")
        assert sum(kind == "QuantizedLinear" for kind in kinds.values()) == layers


def test_a_head_tied_to_the_embedding_stays_float_in_transformers():
    """A tied head is the float embedding in mlx-lm (above), so torchao leaves transformers' tied lm_head alone."""
    torchao()
    from transformers import LlamaConfig, LlamaForCausalLM

    from mlxvspt.workloads.llm_quant import torch as quant_torch

    cfg = {k: v for k, v in checkpoint.config("toy64").items() if k in LlamaConfig().to_dict()}
    for tied, quantized in ((True, False), (False, True)):
        model = LlamaForCausalLM(LlamaConfig(**{**cfg, "tie_word_embeddings": tied}))
        quant_torch.quantize(model, "int8")
        assert (type(model.lm_head.weight).__name__ != "Parameter") is quantized
        assert type(model.model.layers[0].mlp.down_proj.weight).__name__ != "Parameter"


def test_the_benchmark_rows_map_to_schemes_and_say_why_they_are_na():
    from benchmarks.bench_llm_quant import QuantizedGeneration

    bench = QuantizedGeneration()
    assert bench.overrides("int4", "bf16", 8) == ("bf16", {"path": "int4", "batch": 8})
    assert {"int4", "int8"} <= set(QuantizedGeneration.params[2]) and 8 in QuantizedGeneration.params[4]
    with pytest.raises(NotImplementedError, match="precision fp16 is not measured at this preset on the CPU"):
        bench.setup("mlx", "cpu", "int4", "fp16", 1)
    assert QuantizedGeneration.track_energy_per_token.unit == "J/token"
