"""The suite's JSON-lines files (checks, records, runs, a measuring process's output) as they are read back.

Each is appended a line at a time, so a run killed mid-write leaves its last line cut short: a line that is
not JSON is skipped, never an error; a file that does not exist reads as no lines.
"""
import json
from pathlib import Path


def read(path):
    """The values of the file's complete lines, in order ([] where there is no file)."""
    return [value for _, value in lines(path)]


def lines(path):
    """(text, value) of the file's complete lines, in order: `read` for those who keep the text as it is
    (`mlxvspt merge` copies lines, and leaves out a copy's cut last one)."""
    kept = []
    if path and Path(path).is_file():
        for text in Path(path).read_text().splitlines():
            try:
                kept.append((text, json.loads(text)))
            except ValueError:
                continue
    return kept


def minutes(seconds):
    """"m:ss" of a duration, "?" where there is none: how plans and the pages' runs show wall times."""
    return "?" if seconds is None else f"{int(seconds // 60)}:{int(seconds % 60):02d}"
