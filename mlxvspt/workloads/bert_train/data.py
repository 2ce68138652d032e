"""NLI sentence pairs as numpy arrays: the one batch source both frameworks train on.

Offline default: seeded synthetic pairs (random word-piece ids, lengths drawn around typical AllNLI
premise/hypothesis lengths, masks, random labels): timing depends on shapes and masks, not meaning.
With `--nli DIR`: DIR/AllNLI.tsv.gz (sentence-transformers' SNLI+MultiNLI file, columns split, dataset,
filename, sentence1, sentence2, label) tokenised with DIR/vocab.txt (bert-base-uncased WordPiece) by the
`tokenizers` fast tokenizer. Everything here runs when a runner is built, never inside a timed step.

Downloads: vocab.txt is pinned below (the 30,522-entry uncased WordPiece vocabulary, 231,508 bytes, as
other projects pin it); `fetch_vocab` gets and verifies it. No published checksum of AllNLI.tsv.gz was
found, so the suite does not download it: fetch ALLNLI_URL yourself and pass the folder with --nli.
"""
import csv
import gzip
import warnings

import numpy as np

from .. import download
from ... import paths
from ...measure import weights
from ...errors import UsageError

LABELS = ("contradiction", "neutral", "entailment")
FIELDS = ("a_ids", "a_mask", "b_ids", "b_mask", "labels")
COLUMNS = ("split", "sentence1", "sentence2", "label")
PAD, UNK, CLS, SEP, MASK = 0, 100, 101, 102, 103  # bert-base-uncased special tokens
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")

ALLNLI_URL = "https://sbert.net/datasets/AllNLI.tsv.gz"
VOCAB_URL = "https://huggingface.co/google-bert/bert-base-uncased/resolve/main/vocab.txt"
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"

# Median length in word pieces incl. [CLS]/[SEP] and log-normal spread (assumed, SNLI/MNLI-like).
PREMISE, HYPOTHESIS = (18, 0.45), (11, 0.4)


def fetch_vocab(folder=None):
    """Download bert-base-uncased's vocab.txt, verified against the pinned sha256."""
    return download.fetch(VOCAB_URL, VOCAB_SHA256, name="vocab.txt", folder=folder)


def synthetic_sentences(rng, n, seq, vocab, median, spread):
    lengths = np.clip(np.rint(rng.lognormal(np.log(median), spread, n)), 3, seq).astype(np.int64)
    ids = rng.integers(MASK + 1, vocab, size=(n, seq), dtype=np.int64)
    mask = np.arange(seq)[None, :] < lengths[:, None]
    ids[:, 0] = CLS
    ids[np.arange(n), lengths - 1] = SEP
    ids[~mask] = PAD
    return ids.astype(np.int32), mask.astype(np.int32)


def synthetic(n, seq, vocab, seed):
    """n seeded pairs {field: array}; labels are random, so accuracy stays at chance (1/3)."""
    rng = np.random.default_rng(seed)
    a_ids, a_mask = synthetic_sentences(rng, n, seq, vocab, *PREMISE)
    b_ids, b_mask = synthetic_sentences(rng, n, seq, vocab, *HYPOTHESIS)
    labels = rng.integers(0, len(LABELS), size=n, dtype=np.int64)
    return dict(zip(FIELDS, (a_ids, a_mask, b_ids, b_mask, labels)))


def read_allnli(path, split, limit=None):
    """The first `limit` (premise, hypothesis, label index) rows of `split`; malformed rows (wrong
    column count, unknown label) are counted, skipped and reported in one warning."""
    rows, malformed = [], 0
    try:
        with gzip.open(path, "rt", encoding="utf8", newline="") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            header = next(reader, None)
            if header is None or not set(COLUMNS) <= set(header):
                raise UsageError(f"{path}: expected a header with columns {', '.join(COLUMNS)}")
            where = {name: header.index(name) for name in COLUMNS}
            for row in reader:
                if len(row) != len(header) or row[where["label"]] not in LABELS:
                    malformed += 1
                    continue
                if row[where["split"]] == split:
                    rows.append((row[where["sentence1"]], row[where["sentence2"]],
                                 LABELS.index(row[where["label"]])))
                    if limit is not None and len(rows) == limit:
                        break
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"{path}: not a readable gzip'd tab-separated file ({exc})") from None
    if malformed:
        warnings.warn(f"{path}: skipped {malformed} malformed rows (wrong column count or unknown label)")
    if not rows:
        raise UsageError(f"{path}: no usable {split!r} rows")
    return rows


def tokenizer(vocab_path, seq):
    """bert-base-uncased WordPiece: lower-cased, [CLS] ... [SEP], truncated and padded to `seq`."""
    from tokenizers import BertWordPieceTokenizer

    if not vocab_path.is_file():
        raise UsageError(f"vocabulary file not found: {vocab_path} (bert-base-uncased vocab.txt, {VOCAB_URL})")
    try:
        tok = BertWordPieceTokenizer(str(vocab_path), lowercase=True)
    except Exception as exc:  # the Rust tokenizer raises plain Exception for a file it cannot parse
        raise UsageError(f"{vocab_path}: not a WordPiece vocabulary ({exc})") from None
    absent = [t for t in SPECIAL_TOKENS if tok.token_to_id(t) is None]
    if absent:
        raise UsageError(f"{vocab_path}: not a BERT WordPiece vocabulary (no {', '.join(absent)})")
    tok.enable_truncation(max_length=seq)
    tok.enable_padding(length=seq, pad_id=PAD)
    return tok


def encode(tok, sentences):
    encoded = tok.encode_batch(sentences)
    return (np.array([e.ids for e in encoded], np.int32), np.array([e.attention_mask for e in encoded], np.int32))


def opened(folder, seq, vocab):
    """(pairs file, tokenizer) of an --nli folder, the vocabulary checked against the model's."""
    table, vocab_path = folder / "AllNLI.tsv.gz", folder / "vocab.txt"
    tok = tokenizer(vocab_path, seq)
    if tok.get_vocab_size() > vocab:
        raise UsageError(f"{vocab_path}: {tok.get_vocab_size()} tokens, more than the model's vocabulary {vocab}")
    if not table.is_file():
        raise UsageError(f"{table} not found (sentence-transformers' AllNLI.tsv.gz, {ALLNLI_URL})")
    return table, tok


def validate(folder, sizes):
    """An --nli folder checked before a run: the vocabulary parses and fits, the first training pair and the
    first validation pair parse (the validation benchmark reads the dev split)."""
    table, _ = opened(folder, sizes["seq"], sizes["vocab"])
    for split in ("train", "dev"):
        read_allnli(table, split, limit=1)


def allnli(folder, split, n, seq, vocab):
    """Tokenised pairs of one AllNLI split, cached per file content, split, count and length."""
    table, tok = opened(folder, seq, vocab)
    vocab_path = folder / "vocab.txt"

    def build():
        rows = read_allnli(table, split, n)
        a_ids, a_mask = encode(tok, [r[0] for r in rows])
        b_ids, b_mask = encode(tok, [r[1] for r in rows])
        return dict(zip(FIELDS, (a_ids, a_mask, b_ids, b_mask, np.array([r[2] for r in rows], np.int64))))

    key = f"{download.sha256(table)[:16]}-{download.sha256(vocab_path)[:16]}-{split}-{n}-{seq}"
    return weights.cached(paths.cache_dir() / "bert_train" / f"allnli-{key}.safetensors", build)


def pairs(sizes, split):
    """Training ("train", the first `pairs`) or validation ("dev", the first `dev_pairs`) pairs."""
    n = sizes["pairs"] if split == "train" else sizes["dev_pairs"]
    folder = paths.user_input("nli")
    if folder is None:
        return synthetic(n, sizes["seq"], sizes["vocab"], seed=0 if split == "train" else 1)
    return allnli(folder, split, n, sizes["seq"], sizes["vocab"])


def batches(data, batch, seed=0):
    """Whole batches (the last partial one dropped) in one seeded shuffled order, as field tuples."""
    order = np.random.default_rng(seed).permutation(len(data["labels"]))
    return [tuple(data[f][order[i:i + batch]] for f in FIELDS) for i in range(0, len(order) - batch + 1, batch)]
