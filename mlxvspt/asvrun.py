"""Run the asv suite, save results, publish the site.

`run` measures this Python environment (asv's "existing" environment, which saves results only with
--set-commit-hash: the hash is the ledger point of the installed releases). `history` lets asv build
one virtualenv per ledger point. The preset is part of the machine name so presets never share a graph.
"""
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from . import ledger, presets

ROOT = Path(__file__).resolve().parents[1]


def asv(*args, config, env=None, check=True):
    """Run one asv command; returns its exit code."""
    cmd = [sys.executable, "-m", "asv", *args, "--config", str(config)]
    code = subprocess.run(cmd, env=env).returncode
    if check and code != 0:
        raise RuntimeError(f"{' '.join(cmd[2:4])} failed with exit code {code}")
    return code


def load_conf(path):
    """asv.conf.json allows // comments; asv's own loader does the same."""
    text = re.sub(r"^\s*//.*$", "", Path(path).read_text(), flags=re.M)
    return json.loads(text)


def write_conf(results_dir, html_dir):
    """asv.conf.json with absolute paths, so results and site can live anywhere (tests use tmp dirs)."""
    conf = load_conf(ROOT / "asv.conf.json")
    conf.update(repo=str(ledger.LEDGER), benchmark_dir=str(ROOT / "benchmarks"), env_dir=str(ROOT / ".asv" / "env"),
                results_dir=str(Path(results_dir).resolve()), html_dir=str(Path(html_dir).resolve()))
    fd, path = tempfile.mkstemp(prefix="asv-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(conf, f)
    return Path(path)


def machine_name(preset):
    """MLXVSPT_MACHINE (default: the host name) plus the preset."""
    return f"{os.environ.get('MLXVSPT_MACHINE') or platform.node() or 'machine'}-{preset}"


def run(preset, results_dir, html_dir, bench=None, resume=False, points=None):
    """Benchmark, save, publish. `points`: ledger entry names to build virtualenvs for (history);
    None measures this environment. Returns (machine, asv run's exit code: non-zero if anything failed)."""
    ledger_points = ledger.build()
    config = write_conf(results_dir, html_dir)
    env = {**os.environ, presets.ENV: preset}
    machine = machine_name(preset)
    if points is None:
        where = ["-E", f"existing:{sys.executable}", "--set-commit-hash",
                 ledger.point_for_installed(ledger_points)[1]]
    else:
        hashes = Path(config).with_suffix(".hashes")
        hashes.write_text("".join(ledger.resolve(ledger_points, p)[1] + "\n" for p in points))
        where = [f"HASHFILE:{hashes}"]
    try:
        asv("machine", "--yes", "--machine", machine, config=config, env=env)
        args = ["run", *where, "--machine", machine, "--show-stderr", "--record-samples"]
        if bench:
            args += ["--bench", bench]
        if resume:
            args.append("--skip-existing-successful")
        code = asv(*args, config=config, env=env, check=False)
        asv("publish", config=config, env=env)
    finally:
        config.unlink()
        Path(config).with_suffix(".hashes").unlink(missing_ok=True)
    return machine, code
