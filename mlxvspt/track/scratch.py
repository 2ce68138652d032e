"""Scratch files and folders a run makes and removes at its end, named after the run's process, so that
the next run removes what a killed one (SIGKILL: no cleanup runs) left behind."""
import os
import shutil
import tempfile
from pathlib import Path

from ..measure.processes import processes


def file(folder, prefix, suffix=""):
    """A new file `prefix<pid>-*suffix` in `folder` (its path), after removing the orphans of `prefix`."""
    remove_orphans(folder, prefix)
    fd, path = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=suffix, dir=folder)
    os.close(fd)
    return Path(path)


def folder(prefix):
    """A new folder `prefix<pid>-*` in the system's temporary folder, after removing the orphans of `prefix`."""
    remove_orphans(tempfile.gettempdir(), prefix)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def remove_orphans(where, prefix):
    """Remove the entries `prefix<pid>-*` in `where` whose process no longer runs."""
    living = processes()
    for path in Path(where).glob(f"{prefix}*-*"):
        pid = path.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and int(pid) not in living:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
