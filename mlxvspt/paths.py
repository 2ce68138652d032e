"""Where the suite keeps what it builds or downloads, and the user's data/checkpoint choices.

The CLI turns `--ptb DIR` etc. into MLXVSPT_* environment variables, because asv runs the benchmarks
in child processes that inherit the environment and nothing else.
"""
import os
from pathlib import Path

from .errors import UsageError

# option name -> (environment variable, what it points to)
INPUTS = {
    "ptb": ("MLXVSPT_PTB", "a folder with PTB's ptb.train.txt, ptb.valid.txt, ptb.test.txt"),
    "nli": ("MLXVSPT_NLI", "a folder with AllNLI.tsv.gz and vocab.txt (bert-base-uncased)"),
    "audio": ("MLXVSPT_AUDIO", "a folder of .wav/.flac clips"),
    "llm_checkpoint": ("MLXVSPT_LLM_CHECKPOINT", "a Hugging Face Llama folder (config.json, *.safetensors)"),
    "whisper_checkpoint": ("MLXVSPT_WHISPER_CHECKPOINT", "an openai-whisper .pt or a Hugging Face whisper folder"),
    "hosts": ("MLXVSPT_HOSTS", "a text file of IP addresses, one a line, this machine first (dp_train over machines)"),
}
FILES_ALLOWED = {"whisper_checkpoint", "hosts"}  # a file or a folder
FILES_ONLY = {"hosts"}


def cache_dir():
    """Seeded weights, synthetic data and verified downloads (MLXVSPT_CACHE, default ~/.cache/mlxvspt)."""
    path = Path(os.environ.get("MLXVSPT_CACHE", Path.home() / ".cache" / "mlxvspt"))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"MLXVSPT_CACHE {path}: cannot be the cache folder ({exc.strerror})") from None
    return path


def user_input(name):
    """The path the user chose for `name`, checked to exist, or None for the offline default."""
    value = os.environ.get(INPUTS[name][0])
    return checked(name, value) if value else None


def checked(name, value):
    """`value` as a Path if it is what option `name` needs; one clear UsageError otherwise."""
    what = INPUTS[name][1]
    path = Path(value).expanduser()
    flag = f"--{name.replace('_', '-')} {value}"
    if not path.exists():
        raise UsageError(f"{flag}: not found (expected {what})")
    if not path.is_dir() and name not in FILES_ALLOWED:
        raise UsageError(f"{flag}: not a folder (expected {what})")
    if path.is_dir() and name in FILES_ONLY:
        raise UsageError(f"{flag}: not a file (expected {what})")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{flag}: not readable")
    return path


def writable(flag, value, folder=True):
    """`value` where the command will write (a folder, else a file), refused in one line if it cannot be:
    an existing thing of the other kind, or a first existing ancestor that is a file or not writable."""
    path = Path(value).expanduser().absolute()
    kind, other = ("folder", "file") if folder else ("file", "folder")
    if path.exists() and path.is_dir() != folder:
        raise UsageError(f"{flag} {value}: a {other}, expected a {kind}")
    above = next(p for p in [path, *path.parents] if p.exists())
    if above != path and not above.is_dir():
        raise UsageError(f"{flag} {value}: cannot be created ({above} is a file)")
    if not os.access(above, os.W_OK):
        raise UsageError(f"{flag} {value}: cannot be written ({above} is not writable)")
    return path


def site_folder(html_dir, results_dir):
    """--html-dir checked before a run: publishing replaces the whole folder, so it must neither hold nor
    sit in the results, and an existing folder must be a published site (its index.html) or empty."""
    html, results = (writable(flag, v) for flag, v in (("--html-dir", html_dir), ("--results-dir", results_dir)))
    html, results = html.resolve(), results.resolve()
    if html == results or html in results.parents or results in html.parents:
        raise UsageError(f"--html-dir {html_dir}: publishing replaces this folder, and the results "
                         f"({results_dir}) would go with it or into it")
    if html.is_dir() and any(html.iterdir()) and not (html / "index.html").is_file():
        raise UsageError(f"--html-dir {html_dir}: not a published site (no index.html) and not empty; publishing "
                         f"replaces the whole folder")
    return html
