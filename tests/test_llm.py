"""llm workload: cross-check on the toy model, a Hugging Face checkpoint folder, bad folders refused."""
import json

import pytest

from mlxvspt.devices import Target
from mlxvspt.errors import Unavailable, UsageError
from mlxvspt.workloads.llm import spec

SIZES = {"model": "toy", "prompts": 2, "prompt_tokens": 8, "tokens": 4}
TOY = spec.config("toy")


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
        stats = runner.step()
        assert stats["decode_ms_per_token"] > 0 and stats["ttft_ms"] > 0 and stats["peak_memory_bytes"] > 0
    return runners


def test_check_tiny():
    result = spec.check("tiny")
    assert result.passed, result.lines


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
        assert mlx.prompts[0][:2] == [1, spec.tokenizer(folder).convert_tokens_to_ids("<|user|>")]
        assert len(mlx.prompts[0]) != SIZES["prompt_tokens"]
    else:
        assert [len(p) for p in mlx.prompts] == [8, 8]
    assert mlx.outputs == torch.outputs
    diff = abs(mlx.generator.logits(mlx.prompts[0]) - torch.generator.logits(torch.prompts[0])).max()
    assert diff <= 1e-4


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


@pytest.mark.parametrize("damage", [break_missing, break_file, break_no_config, break_bad_json, break_architecture,
                                    break_pickle, break_incomplete, break_shape, break_truncated])
def test_bad_checkpoint_is_one_usage_error(tmp_path, monkeypatch, damage):
    folder = damage(spec.write_checkpoint(tmp_path / "ckpt", TOY))
    monkeypatch.setenv("MLXVSPT_LLM_CHECKPOINT", str(folder))

    def no_loading(*args):
        raise AssertionError("a framework was touched before the checkpoint was validated")

    monkeypatch.setattr(spec, "implementation", no_loading)
    with pytest.raises(UsageError) as info:
        spec.build(Target("mlx", "cpu"), SIZES)
    assert "\n" not in str(info.value)


def test_paths_that_do_not_apply():
    with pytest.raises(NotImplementedError):
        spec.applies("mlx", "static-compile")
    with pytest.raises(Unavailable):
        spec.build(Target("torch", "cpu"), {**SIZES, "path": "static-compile", "compile": False})
    with pytest.raises(UsageError):
        spec.build(Target("torch", "cpu").activate(), {**SIZES, "tokens": 1})
