"""Every environment variable the suite reads, in one place, and what a benchmark process is told.

`mlxvspt run` resolves the user's choices once and passes them to asv's child processes through the
environment (the only thing asv passes on); the children read them here and nowhere else.
"""
import os
from pathlib import Path

from .devices import library_versions  # noqa: F401  (re-exported: what a record lists)

PRESET = "MLXVSPT_PRESET"
FRAMEWORKS = "MLXVSPT_FRAMEWORKS"
DEVICES = "MLXVSPT_DEVICES"
PRECISIONS = "MLXVSPT_PRECISIONS"  # --precision: only these of each preset's precisions
TIERS = "MLXVSPT_TIERS"  # --tier: which tiers of rows run (default: standard; cold: a fresh process's first step;
# diagnostic: the training paths' other compile settings)
RUN_ID = "MLXVSPT_RUN_ID"
RUN_FOLDER = "MLXVSPT_RUN_FOLDER"  # where MeasuredOnce shares one measurement between methods
RECORDS = "MLXVSPT_RECORDS"  # the records file (JSON lines) this run appends to; "{point}": the installed one's
RELEASES = "MLXVSPT_RELEASES"  # the release ledger file a history run's virtualenvs name their point from
CHECKS = "MLXVSPT_CHECKS"  # the check lines (JSON lines) of this run
MACHINE = "MLXVSPT_MACHINE"
CACHE = "MLXVSPT_CACHE"
LOGS = "MLXVSPT_LOGS"  # the folder of a run's full asv output (default .asv/logs; tests: their tmp_path)
DEFAULT_PRESET = "small"  # the preset of a run that names none (presets.DEFAULT)
HOST_GPUS = "MLXVSPT_HOST_GPUS"  # the GPUs mlx.launch was given (CUDA_VISIBLE_DEVICES), for its ranks to map


def preset():
    """The preset of this run; the CLI has validated it (tests and plain `asv run`: small)."""
    return os.environ.get(PRESET) or DEFAULT_PRESET


def _listed(variable):
    value = os.environ.get(variable)
    return value.split(",") if value else []


def frameworks():
    return _listed(FRAMEWORKS)


def devices():
    return _listed(DEVICES)


def precisions():
    return _listed(PRECISIONS)


def tiers():
    """The tiers of rows this run measures: "standard" unless --tier chose (cold rows cost minutes each,
    diagnostic ones are a quarter of a GPU point's combinations)."""
    return _listed(TIERS) or ["standard"]


def run_folder():
    value = os.environ.get(RUN_FOLDER)
    return Path(value) if value else None


def records_file():
    """The run's records file; a history run names it after each virtualenv's ledger point."""
    value = os.environ.get(RECORDS)
    if value and "{point}" in value:
        value = value.format(point=installed_point())
    return Path(value) if value else None


def installed_point():
    """The name of the ledger entry this process's mlx and torch are (the ledger file a history run names)."""
    from .. import ledger

    return ledger.entry_for_installed(ledger.load(os.environ[RELEASES]))["name"]


def environment_file():
    """Where a history run's virtualenv leaves its `mlxvspt info` record (None in any other run: the CLI
    writes that one itself)."""
    value = os.environ.get(RECORDS)
    if not (value and "{point}" in value):
        return None
    return Path(value).with_name(f"environment-{installed_point()}.txt")


def check_lines():
    """The stored check lines of this run ([] when it ran none: every row is then 'unchecked')."""
    from .check import load

    return load(os.environ.get(CHECKS))
