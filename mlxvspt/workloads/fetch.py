"""`mlxvspt fetch`: the real datasets and checkpoints, downloaded on request, verified against pinned
sha256 and cached; each returns the flag that points a run at it. Runs never download by themselves.
"""
from . import download
from ..paths import cache_dir


def ptb():
    from .lm_train.data import fetch_ptb

    return "--ptb", fetch_ptb(), "the TransformerLM's corpus (lm_train)"


def bert_vocab():
    from .bert_train.data import ALLNLI_URL, fetch_vocab

    folder = cache_dir() / "nli"
    fetch_vocab(folder)
    return "--nli", folder, (f"bert-base-uncased vocab.txt only: put AllNLI.tsv.gz from {ALLNLI_URL} "
                             f"beside it (no published checksum, so not fetched here)")


def whisper_tiny():
    import whisper

    url = whisper._MODELS["tiny"]  # openai-whisper pins each checkpoint's sha256 in its URL
    path = download.fetch(url, url.rsplit("/", 2)[-2], folder=cache_dir() / "whisper")
    return "--whisper-checkpoint", path, "openai-whisper tiny (both frameworks load it)"


def librispeech():
    from .whisper.audio import librispeech

    return "--audio", librispeech(), ("LibriSpeech test-clean, 2620 clips with references (whisper; flac: "
                                      "reading it needs the ffmpeg command)")


SOURCES = {"ptb": ptb, "bert-vocab": bert_vocab, "whisper-tiny": whisper_tiny, "librispeech": librispeech}
