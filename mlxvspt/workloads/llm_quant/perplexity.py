"""Perplexity of a causal language model, computed one way for every framework and model: the same tokens,
the same windows, one formula (here), so two perplexities differ only by what the models compute.

- Tokens: PTB's test split when the user gives `--ptb` (`mlxvspt fetch ptb`, sha256-pinned), through the
  checkpoint's tokenizer; for weights without one (the seeded ones) PTB's word ids (its training vocabulary,
  as lm_train numbers them) folded into the model's vocabulary where that is smaller. Without `--ptb`, a
  seeded Zipf-distributed stream (lm_train's synthetic corpus): runs never download by themselves.
- Windows: the first `count` non-overlapping windows of `length` tokens; each is one forward from an empty
  cache, and every token after a window's first is scored given the tokens before it in the window.
- Formula: perplexity = exp(sum of -log softmax(logits)[next token] / tokens scored), from each framework's
  logits as float32 on the host, the log-normaliser accumulated in float64.
"""
import functools
import math

import numpy as np

from ...errors import UsageError
from ..lm_train.data import read_ptb, synthetic
from ..llm.checkpoint import tokenizer


@functools.lru_cache(maxsize=4)
def tokens(ptb, folder, vocab, needed):
    """(token ids, where they came from) of the text: see the module docstring. `ptb`: the user's PTB
    folder or None; `folder`: the checkpoint (its tokenizer, if any); `needed`: the synthetic stream's length."""
    if ptb is None:
        return synthetic(vocab, needed, seed=3), "a seeded Zipf stream (no --ptb)"
    tok = tokenizer(folder)
    if tok is None:
        _, _, _, test = read_ptb(ptb)
        return test % vocab, f"PTB test, word ids{f' mod {vocab}' if test.max() >= vocab else ''}"
    text = (ptb / "ptb.test.txt").read_text(encoding="utf-8")
    return np.array(tok(text, add_special_tokens=False).input_ids), "PTB test, the checkpoint's tokenizer"


def windows(ids, length, count):
    """The first `count` non-overlapping windows of `length` tokens, [windows, length] (fewer where the text ends)."""
    usable = min(count, len(ids) // length)
    if usable < 1:
        raise UsageError(f"perplexity: the text has {len(ids)} tokens, fewer than one window of {length}")
    return np.asarray(ids[:usable * length], np.int64).reshape(usable, length)


def negative_log_likelihood(logits, window):
    """Sum over a window's positions 1.. of -log softmax(logits[i - 1])[window[i]]; logits [length, vocab]."""
    x = np.asarray(logits, np.float32)[:-1]
    top = x.max(axis=-1)
    log_z = np.log(np.exp(x - top[:, None]).sum(axis=-1, dtype=np.float64)) + top
    return float(np.sum(log_z - x[np.arange(len(x)), window[1:]]))


def perplexity(logits_of, windows):
    """exp(mean negative log-likelihood) over every window's scored tokens; `logits_of(window)` gives one
    window's logits [length, vocab] as a numpy array."""
    total = sum(negative_log_likelihood(logits_of(window), window) for window in windows)
    return math.exp(total / (windows.shape[0] * (windows.shape[1] - 1)))
