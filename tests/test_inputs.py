"""Bad data sets and checkpoints are refused before anything runs: exit 2, one line naming the path and
what is wrong (the issue's cases before a framework is imported); good ones pass the same checks."""
import gzip
import json
import os
import subprocess
import sys
import wave

import numpy as np
import pytest

from mlxvspt.track import asvrun
from mlxvspt import cli, workloads
from mlxvspt.workloads import inputs
from mlxvspt.workloads.lm_train import data as ptb_data
from mlxvspt.workloads.llm import checkpoint as llm
from mlxvspt.workloads.whisper import checkpoint as whisper

# A fresh process with this on its path cannot import a framework: a refusal that needed one fails.
NO_FRAMEWORKS = """import sys
class NoFrameworks:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "mlx", "transformers", "whisper", "mlx_lm", "mlx_whisper"):
            raise ImportError(f"{name} imported before the inputs were refused")
sys.meta_path.insert(0, NoFrameworks())
"""
NLI_HEADER = "split\tdataset\tfilename\tsentence1\tsentence2\tlabel\n"
NLI_ROW = "train\tSNLI\tx\tA man plays.\tA man makes music.\tentailment\n"
NLI_VOCAB = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "man"]


def ptb(folder, train="the cat sat\n" * 5, skip=()):  # 20 tokens: a tiny window is 17
    folder.mkdir()
    for name in ptb_data.SPLITS:
        if name not in skip:
            (folder / name).write_text(train if name == "ptb.train.txt" else "the cat\n")
    return folder


def binary_train(folder):
    (folder / "ptb.train.txt").write_bytes(bytes(range(256)))
    return folder


def nli(folder, table=NLI_HEADER + NLI_ROW + NLI_ROW.replace("train", "dev"), vocab=NLI_VOCAB):
    folder.mkdir()
    if table is not None:
        with gzip.open(folder / "AllNLI.tsv.gz", "wt", encoding="utf8") as f:
            f.write(table)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    return folder


def not_gzip(folder):
    (folder / "AllNLI.tsv.gz").write_text(NLI_HEADER + NLI_ROW)
    return folder


def llama(folder, model="toy64"):
    return llm.write_checkpoint(folder, llm.config(model))


def whisper_pt(path, drop=None, state_as=None, dims_as=None):
    import torch

    dims, arrays = whisper.seeded("toy")
    state = {k: torch.from_numpy(v) for k, v in arrays.items() if k != drop}
    torch.save({"dims": dims_as(dims) if dims_as else dims,
                "model_state_dict": state_as(state) if state_as else state}, path)
    return path


def llama_config(folder, **changes):
    llama(folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, **changes}))
    return folder


def hosts(path, text):
    path.write_text(text)
    return path


def wav(path, samples=np.zeros(1600)):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(16000)
        f.writeframes((np.asarray(samples) * 32767).astype("<i2").tobytes())
    return path


def clips(folder, *names):
    folder.mkdir()
    for name in names:
        wav(folder / name) if name == "good.wav" else (folder / name).write_text("not audio")
    return folder


def sharded_llama(folder):
    """The toy checkpoint as an index over two shards, the second one missing."""
    llama(folder)
    names = list(json.loads((folder / "model.safetensors").read_bytes()[8:].split(b"}}")[0] + b"}}"))
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    weight_map = {n: f"model-0000{1 + (i % 2)}-of-00002.safetensors" for i, n in enumerate(names)}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    return folder


def truncated_llama(folder):
    llama(folder)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-1000])
    return folder


def pickle_only(folder):
    folder.mkdir()
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    return folder


def hf_whisper_wrong(folder):
    """A Hugging Face whisper folder whose config says tiny while the tensors are the toy's."""
    from safetensors.numpy import save_file

    folder.mkdir()
    dims = whisper.MODELS["tiny"]
    (folder / "config.json").write_text(json.dumps({hf: dims[ours] for ours, hf in whisper.HF_DIMS.items()}))
    save_file({"model.encoder.conv1.weight": np.zeros((64, 80, 3), np.float32)}, folder / "model.safetensors")
    return folder


def text_file(path):
    path.write_text("not a checkpoint\n")
    return path


# (flag, make the bad input under tmp_path, words the error must contain)
BAD = {
    # the four of issue 16
    "ptb incomplete": ("--ptb", lambda t: ptb(t / "ptb", skip=("ptb.test.txt",)), "ptb.test.txt"),
    "llm pytorch_model.bin only": ("--llm-checkpoint", lambda t: pickle_only(t / "llama"), "pytorch_model.bin"),
    "whisper text file": ("--whisper-checkpoint", lambda t: text_file(t / "whisper.pt"), "openai-whisper"),
    "nli no pairs": ("--nli", lambda t: nli(t / "nli", table=None), "AllNLI.tsv.gz not found"),
    # and more
    "ptb binary": ("--ptb", lambda t: binary_train(ptb(t / "ptb")), "not readable text"),
    "ptb empty train": ("--ptb", lambda t: ptb(t / "ptb", train="\n\n"), "no vocabulary"),
    "ptb shorter than a window": ("--ptb", lambda t: ptb(t / "ptb", train="the cat sat\n"), "4 tokens, fewer"),
    "ptb word outside vocabulary": ("--ptb", lambda t: ptb(t / "ptb", train="a b\n"), "not in the vocabulary"),
    "nli not gzip": ("--nli", lambda t: not_gzip(nli(t / "nli")), "not a readable gzip"),
    "nli no dev pairs": ("--nli", lambda t: nli(t / "nli", table=NLI_HEADER + NLI_ROW), "no usable 'dev' rows"),
    "nli no header": ("--nli", lambda t: nli(t / "nli", table=NLI_ROW), "header"),
    "nli no train pairs": ("--nli", lambda t: nli(t / "nli", table=NLI_HEADER + NLI_ROW.replace("train", "dev")),
                           "no usable 'train' rows"),
    "nli vocab without specials": ("--nli", lambda t: nli(t / "nli", vocab=["a", "man"]),
                                   "not a WordPiece vocabulary"),
    "nli vocab larger than the model's": ("--nli", lambda t: nli(t / "nli", vocab=NLI_VOCAB + [f"w{i}" for i in
                                                                                            range(2000)]),
                                          "more than the model's vocabulary"),
    "llm shard missing": ("--llm-checkpoint", lambda t: sharded_llama(t / "llama"), "model-00002-of-00002"),
    "llm truncated": ("--llm-checkpoint", lambda t: truncated_llama(t / "llama"), "model.safetensors"),
    "llm config does not match": ("--llm-checkpoint", lambda t: llama_config(t / "llama", hidden_size=128),
                                  "config.json"),
    "llm widths unfit for int4 groups": ("--llm-checkpoint", lambda t: llama(t / "llama", "toy"),
                                         "intermediate_size 176 is not a multiple of 64"),
    "llm no attention heads": ("--llm-checkpoint", lambda t: llama_config(t / "llama", num_attention_heads=0),
                               "num_attention_heads is 0"),
    "llm negative layers": ("--llm-checkpoint", lambda t: llama_config(t / "llama", num_hidden_layers=-1),
                            "num_hidden_layers is -1"),
    "whisper tensor missing": ("--whisper-checkpoint", lambda t: whisper_pt(t / "w.pt", drop="decoder.ln.bias"),
                               "decoder.ln.bias"),
    "whisper state a list": ("--whisper-checkpoint", lambda t: whisper_pt(t / "w.pt", state_as=lambda d: list(d)),
                             "a dict of tensors"),
    "whisper state holds a number": ("--whisper-checkpoint",
                                     lambda t: whisper_pt(t / "w.pt", state_as=lambda d: {**d, "decoder.ln.bias": 3}),
                                     "not a tensor"),
    "whisper dims not numbers": ("--whisper-checkpoint",
                                 lambda t: whisper_pt(t / "w.pt", dims_as=lambda d: {**d, "n_mels": "abc"}),
                                 "not all whole numbers"),
    "hosts a folder": ("--hosts", lambda t: t, "not a file"),
    "hosts not addresses": ("--hosts", lambda t: hosts(t / "hosts", "node1\n"), "not an IP address"),
    "whisper hf wrong shapes": ("--whisper-checkpoint", lambda t: hf_whisper_wrong(t / "whisper"), "missing"),
    "audio none decodable": ("--audio", lambda t: clips(t / "clips", "a.wav", "b.wav"), "no readable audio"),
    "audio no clips": ("--audio", lambda t: clips(t / "clips", "notes.txt"), "no readable audio"),
}
ISSUE = list(BAD)[:4]


def assert_refused(code, err, out, path, words):
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("mlxvspt: error: --"), lines
    assert str(path) in lines[0], lines[0]
    assert words is None or words in lines[0], lines[0]
    assert not out.strip()


@pytest.mark.parametrize("case", ISSUE)
def test_issue_inputs_exit_2_at_once_in_a_fresh_process(case, tmp_path):
    flag, make, words = BAD[case]
    path = make(tmp_path)
    argv = [sys.executable, "-m", "mlxvspt", "run", flag, str(path), "--results-dir", str(tmp_path / "results"),
            "--html-dir", str(tmp_path / "html")]
    (tmp_path / "blocker").mkdir()
    (tmp_path / "blocker" / "sitecustomize.py").write_text(NO_FRAMEWORKS)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "blocker")}
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert_refused(out.returncode, out.stderr, out.stdout, path, words)
    assert not (tmp_path / "results").exists() and not (tmp_path / "html").exists()


@pytest.mark.parametrize("case", list(BAD))
@pytest.mark.parametrize("command", ["run", "history", "check"])
def test_bad_input_exits_2_with_one_line(case, command, tmp_path, capsys, monkeypatch):
    flag, make, words = BAD[case]
    path = make(tmp_path)

    def started(*args, **kwargs):
        raise AssertionError("a benchmark or check started")

    monkeypatch.setattr(asvrun, "run", started)
    monkeypatch.setattr(workloads, "spec", started)
    where = ["--results-dir", str(tmp_path / "r"), "--html-dir", str(tmp_path / "h")] if command != "check" else []
    code = cli.main([command, "--preset", "tiny", flag, str(path), *where])
    captured = capsys.readouterr()
    assert_refused(code, captured.err, captured.out, path, words)
    assert not (tmp_path / "r").exists()


def test_good_inputs_pass(tmp_path):
    good = {"ptb": ptb(tmp_path / "ptb"), "nli": nli(tmp_path / "nli"),
            "llm_checkpoint": llama(tmp_path / "llama"), "whisper_checkpoint": whisper_pt(tmp_path / "w.pt"),
            "audio": clips(tmp_path / "clips", "bad.wav", "good.wav"), "hosts": hosts(tmp_path / "hosts", "10.0.0.1\n")}
    for name, path in good.items():
        inputs.check(name, path, "tiny")  # a Hugging Face whisper folder: tests/test_whisper.py
