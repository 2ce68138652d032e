"""Every command the README (and a finding's page) shows, taken from its ```sh blocks, works.

Commands that only read results (report, compare, ledger) and the findings' repros run for real, the
README's regeneration into a copy; commands that measure, install or serve (run, check, history, update,
confirm, bisect, publish, serve) are parsed by mlxvspt's own parser and their values checked against what
the suite knows (presets, workloads, devices, precisions, ledger entries, rows): running them is the other
tests' work (test_asv_suite runs `mlxvspt run` end to end) and takes minutes to hours.
"""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from mlxvspt import cli, ledger, workloads
from mlxvspt.publish import release_diff
from mlxvspt.measure import devices, presets

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs" / "findings").glob("*.md"))]


def commands(path):
    """(line, argv) of every command in the file's ```sh blocks, comments and environment settings dropped."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", path.read_text(), re.S):
        for line in block.splitlines():
            argv = shlex.split(line, comments=True)
            while argv and re.match(r"^[A-Z_]+=", argv[0]):
                argv = argv[1:]
            if argv:
                found.append((line.strip(), argv))
    return found


SHOWN = [(path.relative_to(ROOT).as_posix(), line, argv) for path in DOCS for line, argv in commands(path)]


def test_the_readme_shows_commands():
    assert len([s for s in SHOWN if s[0] == "README.md"]) >= 15


def checked_values(args):
    """The values a parsed command names, each against what the suite knows (UsageError otherwise)."""
    for kind, valid in (("preset", presets.NAMES), ("framework", devices.FRAMEWORKS), ("device", devices.DEVICES),
                        ("precision", tuple(devices.PRECISIONS)), ("workload", workloads.NAMES)):
        for value in (lambda v: v if isinstance(v, list) else [v])(getattr(args, kind, None) or []):
            devices.choose(kind, value, valid)
    known = ledger.build()
    for point in [*getattr(args, "points", []), *(getattr(args, name, None) or [] for name in ("a", "b"))]:
        if isinstance(point, str):
            ledger.resolve(known, point)
    rows = release_diff.known_rows(ROOT / "results")
    if args.command == "confirm":
        assert args.row in rows, args.row
    if args.command == "bisect":
        assert len([r for r in rows if re.search(args.bench, r)]) == 1, args.bench


@pytest.mark.parametrize("where,line,argv", SHOWN, ids=[f"{w}: {line}" for w, line, _ in SHOWN])
def test_every_command_shown_works(where, line, argv, tmp_path, capsys):
    program = argv[0].removeprefix(".venv/bin/")
    if program == "make":
        targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M)
        assert all(t in targets for t in argv[1:] if "=" not in t), line
        return
    if program == "python":
        out = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0 and re.search(r"expected|exact", out.stdout), out.stdout + out.stderr
        return
    assert program == "mlxvspt", f"{where}: a command the test does not know how to check: {line}"
    args = cli.parser().parse_args(argv[1:])
    if args.command == "report" and args.readme:  # the regeneration, into a copy of the README and docs
        (tmp_path / "README.md").write_text((ROOT / "README.md").read_text())
        argv = [{"README.md": str(tmp_path / "README.md")}.get(a, a) for a in argv]
        argv = [str(tmp_path / a) if a.startswith("docs/") else a for a in argv]
    if args.command in ("report", "compare", "ledger"):
        assert cli.main(argv[1:]) in ((0, 1) if args.command == "compare" else (0,)), line
        assert capsys.readouterr().out
        return
    assert args.command in ("run", "check", "history", "update", "confirm", "bisect", "publish", "serve"), line
    checked_values(args)
