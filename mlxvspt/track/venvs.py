"""Virtualenvs that each hold one ledger entry's release set, built once under .asv/ab/ by the
install_pins.py that asv's own environments use. confirm's A/B and the `--headline` runs of ledger points
(asvrun) measure in them."""
import shutil
import subprocess
import sys

from .. import ledger
from . import scratch
from ..ledger import ROOT

ENVS = ROOT / ".asv" / "ab"


def environment(entry):
    """The python of a virtualenv holding one ledger entry's release set (built on first use)."""
    folder = ENVS / entry["name"].replace("+", "_")
    python, stamp = folder / "bin" / "python", folder / "pins.txt"
    pins = ledger.pins_text(entry)
    if not (stamp.is_file() and stamp.read_text() == pins):
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        build = scratch.folder("mlxvspt-ab-")
        (build / "pins.txt").write_text(pins)
        subprocess.run([str(python), str(ROOT / "mlxvspt" / "track" / "install_pins.py"), str(build), str(ROOT)],
                       check=True)
        shutil.rmtree(build, ignore_errors=True)
        stamp.write_text(pins)
    return python
