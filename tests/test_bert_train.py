import gzip

import numpy as np
import pytest
import torch

from mlxvspt.measure import asvbench
from mlxvspt.measure.devices import Target
from mlxvspt.errors import Unavailable, UsageError
from mlxvspt.measure.presets import sizes
from mlxvspt.workloads import cross_check
from mlxvspt.workloads.bert_train import data, spec

TINY = sizes("bert_train", "tiny")
HEADER = "split\tdataset\tfilename\tsentence1\tsentence2\tlabel\n"
GOOD = [
    "train\tSNLI\tsnli_1.0_train.jsonl\tA man plays a guitar.\tA man makes music.\tentailment\n",
    "train\tSNLI\tsnli_1.0_train.jsonl\tA dog runs.\tThe cat sleeps.\tcontradiction\n",
    "dev\tMNLI\tdev_matched.jsonl\tTwo kids play outside.\tChildren are outdoors.\tneutral\n",
]
MALFORMED = [
    "train\tSNLI\tsnli_1.0_train.jsonl\tonly four columns\n",  # wrong column count
    "train\tSNLI\tsnli_1.0_train.jsonl\tA b.\tC d.\tmaybe\n",  # unknown label
    "train\tSNLI\tx\tA b.\tC d.\tneutral\textra\n",  # wrong column count
]
WORDS = ["a", "man", "plays", "guitar", "makes", "music", "dog", "runs", "the", "cat", "sleeps", "two", "kids",
         "play", "outside", "children", "are", "outdoors", "."]


def write_nli(folder, rows, vocab=True):
    folder.mkdir(parents=True, exist_ok=True)
    with gzip.open(folder / "AllNLI.tsv.gz", "wt", encoding="utf8") as f:
        f.write(HEADER + "".join(rows))
    if vocab:
        specials = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        (folder / "vocab.txt").write_text("\n".join(specials + WORDS) + "\n")
    return folder


def test_parser_keeps_good_rows_and_counts_malformed(tmp_path):
    folder = write_nli(tmp_path / "nli", GOOD[:2] + MALFORMED + GOOD[2:])
    with pytest.warns(UserWarning, match="skipped 3 malformed rows"):
        rows = data.read_allnli(folder / "AllNLI.tsv.gz", "train")
    assert rows == [("A man plays a guitar.", "A man makes music.", 2), ("A dog runs.", "The cat sleeps.", 0)]
    with pytest.warns(UserWarning):
        dev = data.read_allnli(folder / "AllNLI.tsv.gz", "dev")
    assert dev == [("Two kids play outside.", "Children are outdoors.", 1)]
    assert data.read_allnli(folder / "AllNLI.tsv.gz", "train", limit=1) == rows[:1]


def test_parser_rejects_a_file_without_the_columns(tmp_path):
    path = tmp_path / "AllNLI.tsv.gz"
    with gzip.open(path, "wt") as f:
        f.write("a\tb\n1\t2\n")
    with pytest.raises(UsageError, match="header"):
        data.read_allnli(path, "train")


def test_missing_vocabulary_is_one_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("MLXVSPT_NLI", str(write_nli(tmp_path / "nli", GOOD, vocab=False)))
    with pytest.raises(UsageError, match="vocabulary file not found"):
        data.pairs(TINY, "train")


def test_real_pairs_are_tokenised_padded_and_trainable(tmp_path, monkeypatch):
    monkeypatch.setenv("MLXVSPT_NLI", str(write_nli(tmp_path / "nli", GOOD * 4)))
    tiny = {**TINY, "pairs": 8, "dev_pairs": 4}
    train = data.pairs(tiny, "train")
    assert train["a_ids"].shape == (8, tiny["seq"]) and train["labels"].tolist()[:2] == [2, 0]
    first = train["a_ids"][0][train["a_mask"][0] == 1]
    assert first[0] == data.CLS and first[-1] == data.SEP and data.UNK not in first
    assert np.all(train["a_ids"][train["a_mask"] == 0] == data.PAD)
    runner = spec.build(Target("torch", "cpu").activate(), tiny)
    runner.step()
    assert np.isfinite(runner.loss_history()).all() and 0 <= runner.validate() <= 1


def test_synthetic_pairs_are_seeded_and_shaped_like_sentences():
    a, b = data.synthetic(32, 16, 1000, seed=0), data.synthetic(32, 16, 1000, seed=0)
    assert all(np.array_equal(a[f], b[f]) for f in data.FIELDS)
    lengths = a["a_mask"].sum(1)
    assert np.all(a["a_ids"][:, 0] == data.CLS) and np.all(a["a_ids"][np.arange(32), lengths - 1] == data.SEP)
    assert lengths.min() >= 3 and set(a["labels"].tolist()) <= {0, 1, 2}
    batches = data.batches(a, 5)
    assert len(batches) == 6 and all(len(x) == 5 for batch in batches for x in batch)


def test_frameworks_agree_on_every_path_and_compile():
    result = spec.check("tiny")
    assert result.passed, result.lines
    labels = {(line.path, line.what) for line in result.entries}
    for path in TINY["paths"]:
        for label in (path, f"{path}+compiled"):
            assert {(label, "first-step loss"), (label, "first-step gradients"), (label, "mlx ran what was asked"),
                    (label, "torch ran what was asked")} <= labels


@pytest.mark.parametrize("path", ["seed", "best"])
@pytest.mark.parametrize("precision", ["fp32", "bf16", "bf16-mixed"])
def test_what_ran_is_what_was_asked(precision, path):
    """Weights, activations and AdamW state in the requested dtypes, in both frameworks (PyTorch "bf16"
    once trained in float32 because load_state_dict copied bfloat16 values into float32 parameters)."""
    for framework in ("mlx", "torch"):
        target = Target(framework, "cpu", precision).activate()
        chosen = {**TINY, "path": path}
        runner = spec.build(target, chosen)
        runner.step()
        want = spec.expected(target, chosen)
        assert {k: runner.ran()[k] for k in want} == want
    assert want["state_dtype"] == ("float32" if precision != "bf16" else "bfloat16")


def test_pairs_batched_is_the_same_math_as_two_forwards():
    losses = {path: spec.build(Target("torch", "cpu").activate(), {**TINY, "path": path,
                                                                    "dropout": 0.0}).gradients()[0]
              for path in spec.PATHS}
    assert max(losses.values()) - min(losses.values()) < 1e-6


def test_check_fails_when_one_framework_computes_something_else(monkeypatch):
    """Scaling one framework's classifier weights moves the loss and every gradient: the check must say FAIL."""
    build = spec.build

    def perturbed(target, chosen):
        runner = build(target, chosen)
        if target.framework == "torch":
            with torch.no_grad():
                runner.model.classifier.weight.mul_(1.5)
        return runner

    monkeypatch.setattr(spec, "build", perturbed)
    result = spec.CheckResult("bert_train").at("seed", "fp32")
    cross_check("bert_train", result, {**TINY, "path": "seed", "compile": False}, "cpu", "fp32")
    failed = {line.what for line in result.entries if not line.ok}
    assert {"first-step loss", "first-step gradients"} <= failed and not result.passed


def observed_on(sizes_by_framework):
    """Each framework's runner built as the benchmarks build it (dropout 0.1), observed (MLX first)."""
    runners, observed = {}, {}
    for framework, chosen in sizes_by_framework.items():
        runners[framework] = spec.build(Target(framework, "cpu").activate(), chosen)
        observed[framework] = spec.observe(runners[framework], chosen, dict(observed))
    return runners, observed


def test_observe_on_the_benchmarks_builds_then_compare_passes_with_dropout_back_on_after():
    """The measuring process's order on MLX's compiled step (PyTorch's eager one standing in): observed with
    dropout off, compared, then stepped on with dropout on. A twin built with dropout 0 observes the same
    losses, but its next step differs: the timed step is not the check's (mx.compile traces once)."""
    chosen = {**TINY, "path": "best", "compile": True}
    assert TINY["dropout"] > 0 and spec.stand_in("mlx", chosen) is None
    sizes_by_framework = {"mlx": chosen, "torch": spec.stand_in("torch", chosen)}
    runners, observed = observed_on(sizes_by_framework)
    result = spec.CheckResult("bert_train").at("best+compiled", "fp32")
    spec.compare(result, observed, chosen, "cpu")
    assert result.passed, result.lines
    assert [line.what for line in result.entries] == [
        "first-step loss", "first-step gradients", "mlx ran what was asked", "torch ran what was asked",
        f"loss over {TINY['check_steps']} AdamW steps"]
    assert "torch eager" in result.entries[-1].detail
    twins, twin_observed = observed_on({fw: {**s, "dropout": 0.0} for fw, s in sizes_by_framework.items()})
    for framework, runner in runners.items():
        assert twin_observed[framework]["losses"] == observed[framework]["losses"]
        runner.step()
        twins[framework].step()
        assert runner.loss_history()[-1] != twins[framework].loss_history()[-1], framework
        assert len(runner.loss_history()) == TINY['check_steps'] + 1
        want = spec.expected(runner.target, sizes_by_framework[framework])
        assert {k: runner.ran()[k] for k in want} == want


@pytest.fixture(scope="module")
def seed_observations():
    chosen = {**TINY, "path": "seed", "compile": False}
    return observed_on({"mlx": chosen, "torch": chosen})[1], chosen


@pytest.mark.parametrize("wrong, fails", [
    (lambda o: {**o, "gradients": {k: 20 * v for k, v in o["gradients"].items()}}, {"first-step gradients"}),
    (lambda o: {**o, "loss": o["loss"] * 1.01}, {"first-step loss"}),
    (lambda o: {**o, "losses": [*o["losses"][:-1], o["losses"][-1] * 1.01]},
     {f"loss over {TINY['check_steps']} AdamW steps"}),
    (lambda o: {**o, "ran": {**o["ran"], "state_dtype": "bfloat16"}}, {"mlx ran what was asked"}),
])
def test_compare_fails_on_a_wrong_mlx_observation(seed_observations, wrong, fails):
    """MLX's gradients 20x, its first loss or its last 1% off, or AdamW state not as asked: FAIL."""
    observed, chosen = seed_observations
    result = spec.CheckResult("bert_train").at("seed", "fp32")
    spec.compare(result, observed, chosen, "cpu")
    assert result.passed, result.lines
    result = spec.CheckResult("bert_train").at("seed", "fp32")
    spec.compare(result, {**observed, "mlx": wrong(observed["mlx"])}, chosen, "cpu")
    assert {line.what for line in result.entries if not line.ok} == fails, result.lines


def test_observe_skips_validation():
    chosen = {**TINY, "path": "seed", "trains": False}
    runner = spec.build(Target("torch", "cpu").activate(), chosen)
    assert spec.observe(runner, chosen, {}) is None and runner.loss_history() == []


def test_epoch_and_validation_run_and_refusals_are_one_reason():
    runner = spec.build(Target("mlx", "cpu").activate(), TINY)
    runner.epoch()
    assert len(runner.loss_history()) == TINY["pairs"] // TINY["batch"]
    assert 0 <= runner.validate() <= 1
    assert "loss scaling" in spec.unavailable(Target("torch", "cpu", "fp16"), TINY)
    with pytest.raises(Unavailable):
        spec.build(Target("torch", "cpu", "fp16").activate(), TINY)
    with pytest.raises(Unavailable, match="torch.compile"):
        spec.build(Target("torch", "cpu").activate(), {**TINY, "compile": True})
    assert spec.unavailable(Target("mlx", "cpu"), {**TINY, "compile": True}) is None


def test_validation_is_warmed_and_verified_without_an_optimizer_step():
    runner, record = asvbench.prepared("bert_train", "torch", "cpu", "fp32", "validate", path="seed", trains=False)
    assert record["ran"]["path"] == "seed" and record["warmup"]["warmup_steps"] >= 2
    assert runner.loss_history() == []  # validation never trained


@pytest.mark.parametrize("path", ["seed", "best"])
def test_bf16_mixed_mlx_computes_where_autocast_does(path):
    """MLX has no autocast: its bf16-mixed must put bfloat16 where PyTorch's autocast does, and float32
    elsewhere (MLX's bf16-mixed once ran a bfloat16 copy of the whole model, LayerNorms and embeddings
    included). Both frameworks' dtypes at each stage of a forward, from the same batch."""
    import mlx.core as mx

    def stages(model, ids, mask):
        bert, layer = model.bert, model.bert.layers[0]
        x = bert.embeddings(ids)
        bias = (1.0 - mask[:, None, None, :].astype(x.dtype) if hasattr(mask, "astype") else
                1.0 - mask[:, None, None, :].to(x.dtype)) * -1e4
        return {"embeddings": x, "attention": layer.attention(x, bias), "layer": layer(x, bias),
                "pooled": bert(ids, mask), "logits": model(ids, mask, ids, mask)}

    seen = {}
    for framework in ("mlx", "torch"):
        trainer = spec.build(Target(framework, "cpu", "bf16-mixed").activate(), {**TINY, "path": path})
        ids, mask, *_ = trainer.train_batches[0]
        if framework == "torch":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = stages(trainer.model, ids, mask)
        else:
            out = stages(trainer.model, ids, mask.astype(mx.float32))
        seen[framework] = {k: str(v.dtype).rsplit(".", 1)[-1] for k, v in out.items()}
    assert seen["mlx"] == seen["torch"] == {"embeddings": "float32", "attention": "bfloat16", "layer": "float32",
                                             "pooled": "bfloat16", "logits": "bfloat16"}, seen
