import os

import pytest

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
