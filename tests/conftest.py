import pytest

from mlxvspt.paths import INPUTS


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test writes its weights/data under its own tmp dir and runs with the tiny preset."""
    monkeypatch.setenv("MLXVSPT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MLXVSPT_PRESET", "tiny")
    for variable in ("MLXVSPT_FRAMEWORKS", "MLXVSPT_DEVICES", "MLXVSPT_RUN_FOLDER", "MLXVSPT_RECORDS", "MLXVSPT_RELEASES", "MLXVSPT_CHECKS", *(v for v, _ in INPUTS.values())):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path / "cache"
