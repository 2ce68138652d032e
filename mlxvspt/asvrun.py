"""Run the asv suite in this Python environment, save results, publish the site.

asv's "existing" environment saves results only with --set-commit-hash; the hash is this checkout's
HEAD. The preset becomes part of the machine name so that presets never share a graph.
"""
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from . import presets

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
    conf.update(repo=str(ROOT), benchmark_dir=str(ROOT / "benchmarks"), env_dir=str(ROOT / ".asv" / "env"),
                results_dir=str(Path(results_dir).resolve()), html_dir=str(Path(html_dir).resolve()))
    fd, path = tempfile.mkstemp(prefix="asv-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(conf, f)
    return Path(path)


def head_commit():
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{ROOT} has no git commit to attach results to (asv needs one)")
    return out.stdout.strip()


def machine_name(preset):
    return f"{platform.node() or 'machine'}-{preset}"


def run(preset, results_dir, html_dir, bench=None, resume=False):
    """Benchmark, save, publish. Returns (machine, asv run's exit code: non-zero if any benchmark failed)."""
    config = write_conf(results_dir, html_dir)
    env = {**os.environ, presets.ENV: preset}
    machine = machine_name(preset)
    try:
        asv("machine", "--yes", "--machine", machine, config=config, env=env)
        args = ["run", "-E", f"existing:{sys.executable}", "--set-commit-hash", head_commit(),
                "--machine", machine, "--show-stderr"]
        if bench:
            args += ["--bench", bench]
        if resume:
            args.append("--skip-existing-successful")
        code = asv(*args, config=config, env=env, check=False)
        asv("publish", config=config, env=env)
    finally:
        config.unlink()
    return machine, code
