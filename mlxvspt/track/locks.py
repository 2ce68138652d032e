"""File locks: one writer of a results folder at a time, and appends that never interleave."""
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from ..errors import UsageError


@contextmanager
def held(path, what):
    """Hold `path` exclusively for the block, or refuse (UsageError: one line, exit 2) naming the process
    that holds it: two runs into one results folder would measure the same rows into the same files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise UsageError(f"{path.parent}: {holder} is writing these results; wait for it to end or choose "
                             f"another --results-dir") from None
        f.seek(0)
        f.truncate()
        f.write(f"{what} (pid {os.getpid()})\n")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)
