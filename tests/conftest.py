import os

import pytest

from mlxvspt.measure import asvbench, settings
from mlxvspt.paths import INPUTS


@pytest.fixture(autouse=True)
def restored_environment():
    """The CLI exports the user's choices into os.environ for its child processes (cli.selection): a test
    that calls it must not hand them to the next test, nor to a module-scoped fixture set up after it."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(autouse=True)
def isolated_cache(restored_environment, tmp_path, monkeypatch):
    """Every test writes its weights/data under its own tmp dir and runs with the tiny preset."""
    monkeypatch.setenv("MLXVSPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLXVSPT_LOGS", str(tmp_path / "logs"))  # asv's logs stay in the test's folder
    monkeypatch.setenv("MLXVSPT_PRESET", "tiny")
    for variable in ("MLXVSPT_FRAMEWORKS", "MLXVSPT_DEVICES", "MLXVSPT_RUN_FOLDER", "MLXVSPT_RECORDS", "MLXVSPT_RELEASES", "MLXVSPT_CHECKS", *(v for v, _ in INPUTS.values())):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path / "cache"


@pytest.fixture
def run_env(tmp_path, monkeypatch):
    """What `mlxvspt run` tells a measuring process: preset, run folder, check and records files."""
    for variable, value in ((settings.PRESET, "tiny"), (settings.RUN_FOLDER, tmp_path / "run"),
                            (settings.CHECKS, tmp_path / "check.jsonl"), (settings.RECORDS, tmp_path / "records.jsonl"),
                            (settings.DEVICES, "cpu")):
        monkeypatch.setenv(variable, str(value))
    (tmp_path / "run").mkdir()
    monkeypatch.setattr(asvbench, "defer_records", True)
    yield tmp_path
    asvbench.release()


@pytest.fixture
def static_compile_on_cpu(monkeypatch):
    """The llm's static-compile combination on the CPU at `tiny` (fp32, batch 1): transformers' own
    static-cache generate, its torch.compile of the decoding forward handing the forward back uncompiled
    (compiling the toy takes 37 s on a CPU, the reason the preset leaves it out there)."""
    import torch

    from mlxvspt.measure.presets import TABLE

    monkeypatch.setitem(TABLE["llm"]["tiny"], "cpu", {"static_compile": True, "precisions": ["fp32"], "batches": [1]})
    monkeypatch.setattr(torch, "compile", lambda forward, **options: forward)
