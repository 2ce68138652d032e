"""TransformerLM training: both frameworks follow the same loss curve; PTB parsing and bad input."""
import numpy as np
import pytest

from mlxvspt.devices import Target
from mlxvspt.errors import Unavailable, UsageError, device_limits
from mlxvspt.presets import sizes as preset_sizes
from mlxvspt.workloads.lm_train import data, spec

TRAIN = "the cat sat on the mat\n a dog sat \n"
VALID = "the dog sat on the cat\n"


def write_ptb(folder, valid=VALID, skip=()):
    folder.mkdir(exist_ok=True)
    for name, text in zip(data.SPLITS, (TRAIN, valid, "the mat\n")):
        if name not in skip:
            (folder / name).write_text(text)
    return folder


def test_twenty_steps_agree_and_train_in_both():
    sizes = preset_sizes("lm_train", "tiny")
    runs = {fw: spec.train(fw, sizes, 20) for fw in ("mlx", "torch")}
    (m, m_before, m_after), (t, t_before, t_after) = runs["mlx"], runs["torch"]
    assert len(m.losses) == len(t.losses) == 20
    assert abs(m.losses[0] - t.losses[0]) <= spec.FIRST_LOSS_RTOL * abs(t.losses[0])
    np.testing.assert_allclose(m.losses, t.losses, rtol=spec.CURVE_RTOL)
    assert m_after < m_before and t_after < t_before
    assert np.mean(m.losses[-5:]) < np.mean(m.losses[:5]) and np.mean(t.losses[-5:]) < np.mean(t.losses[:5])
    start = spec.initial_weights(m.sizes)
    for runner in (m, t):
        weights = runner.trainer.weights()
        assert sorted(weights) == sorted(spec.parameter_shapes(m.sizes))
        assert all(not np.array_equal(weights[k], start[k]) for k in weights if k.endswith("proj.weight"))


def test_check_passes_at_tiny():
    result = spec.check("tiny")
    assert result.passed, result.lines


def test_batches_are_seeded_and_shifted():
    tokens = np.arange(1000, dtype=np.int32)
    a, b = data.Batches(tokens, 4, 8), data.Batches(tokens, 4, 8)
    for _ in range(3):
        (xa, ya), (xb, yb) = next(a), next(b)
        np.testing.assert_array_equal(xa, xb)
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


@pytest.mark.parametrize("framework", ["mlx", "torch"])
def test_batch_larger_than_memory_is_unavailable(framework):
    sizes = {**preset_sizes("lm_train", "tiny"), "batch": 10**9}
    with pytest.raises(Unavailable, match="needs at least"):
        spec.build(Target(framework, "cpu").activate(), sizes)


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
