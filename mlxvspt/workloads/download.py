"""Downloads that are verified before use: pinned sha256, temporary file, rename only when it matches.

A cached file is re-hashed on every use, so a truncated or corrupt entry is fetched again.
"""
import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from ..errors import UsageError
from ..paths import cache_dir


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url, expected_sha256, name=None, folder=None, timeout=60):
    """Return the local path of `url`'s verified content, downloading it if needed."""
    folder = Path(folder or cache_dir() / "downloads")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or url.rsplit("/", 1)[-1])
    if path.is_file() and sha256(path) == expected_sha256:
        return path
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
        got = sha256(tmp)
        if got != expected_sha256:
            raise UsageError(f"download {url}: sha256 {got} does not match the pinned {expected_sha256}")
        os.replace(tmp, path)
        return path
    except OSError as exc:
        raise UsageError(f"download {url} failed: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
