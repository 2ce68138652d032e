"""releases.json -> a git repository that asv tracks: one tagged commit per set of framework releases.

asv's x-axis is the commits of one repository. Here each commit holds only the pins of one release set,
with fixed author, committer and dates, so the same releases file gives the same commit hashes on every
machine and results from different machines line up. asv builds one virtualenv per entry by running
`install_pins.py` (beside this file) inside it.
"""
import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

from packaging.version import InvalidVersion, Version

from .errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
RELEASES = ROOT / "releases.json"
LEDGER = ROOT / ".ledger"
IDENTITY = {"GIT_AUTHOR_NAME": "mlxvspt ledger", "GIT_AUTHOR_EMAIL": "ledger@mlxvspt.invalid",
            "GIT_COMMITTER_NAME": "mlxvspt ledger", "GIT_COMMITTER_EMAIL": "ledger@mlxvspt.invalid"}
REQUIRED = ("mlx", "torch")
# The pins that make up each framework's side of an entry: a row of a framework whose side two entries pin
# alike measures the same code at both (its move between them is the host's, never a release's).
SIDES = {"mlx": ("mlx", "mlx-lm", "mlx-whisper", "numpy"),
         "torch": ("torch", "transformers", "openai-whisper", "numpy")}


def load(path=RELEASES):
    """The entries of a releases file, validated: names unique, dates ordered, mlx and torch pinned."""
    try:
        entries = json.loads(Path(path).read_text())["entries"]
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"cannot read releases file {path}: {exc}") from None
    names, last_date = set(), ""
    for entry in entries:
        name, date, pins = entry.get("name"), entry.get("date", ""), entry.get("pins", {})
        missing = [p for p in REQUIRED if p not in pins]
        if not name or name in names or missing or date < last_date:
            raise UsageError(f"releases file {path}: entry {name!r} needs a unique name, a date not before the "
                             f"previous entry's, and pins for {', '.join(REQUIRED)}")
        for package, version in pins.items():
            try:
                Version(version)
            except (InvalidVersion, TypeError):
                raise UsageError(f"releases file {path}: entry {name!r} pins {package} to {version!r}, "
                                 "which is not a version") from None
        names.add(name)
        last_date = date
    return entries


def pins(path=RELEASES):
    """{entry name: its pins} of a releases file."""
    return {entry["name"]: entry["pins"] for entry in load(path)}


def same_releases(pins, a, b, framework):
    """Whether entries a and b (`pins`: {name: pins}, as pins() gives it) pin the same releases of
    `framework`'s side."""
    return a in pins and b in pins and all(pins[a].get(p) == pins[b].get(p) for p in SIDES[framework])


def pins_text(entry):
    return "".join(f"{package}=={version}\n" for package, version in sorted(entry["pins"].items()))


def git(ledger, *args, date=None):
    env = {**os.environ, **IDENTITY}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"{date}T12:00:00+00:00"
    return subprocess.run(["git", "-C", str(ledger), *args], env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def build(releases=RELEASES, ledger=LEDGER):
    """The ledger repository for `releases`, rewritten only where the entries changed since it was last
    written, under a lock: several runs of one checkout (one per GPU of a host) start together, and a
    rewrite under a running one broke its git calls. Returns [(entry name, commit hash)] oldest first.

    Each commit's hash depends on every entry before it, so an entry inserted between two others (an
    older release measured later) changes the hashes of the points after it: their results, filed by
    hash in the folder `results` beside the ledger, are re-filed under the new ones."""
    entries = load(releases)
    ledger = Path(ledger)
    ledger.parent.mkdir(parents=True, exist_ok=True)
    stamp = ledger / ".git" / "mlxvspt-entries.json"
    with open(ledger.parent / f"{ledger.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        before = {}
        try:
            kept = json.loads(stamp.read_text())
            if kept["entries"] == entries:
                return [tuple(point) for point in kept["points"]]
            before = dict(kept["points"])
        except (OSError, ValueError, KeyError):
            pass
        points = rewrite(ledger, entries)
        moved = {before[name]: commit for name, commit in points if before.get(name, commit) != commit}
        refile(ledger.parent / "results", moved)
        stamp.write_text(json.dumps({"entries": entries, "points": points}))
        return points


def refile(results, moved):
    """asv result files (`<machine>/<commit[:8]>-<env>.json`, and restore_damaged's .bak copies) of a
    moved commit rewritten under its new hash."""
    if not moved:
        return
    for path in sorted(results.glob("*/*.json")) + sorted(results.glob("*/*.json.bak")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        new = isinstance(data, dict) and moved.get(data.get("commit_hash"))
        if new:
            data["commit_hash"] = new
            path.with_name(new[:8] + path.name[8:]).write_text(json.dumps(data))
            path.unlink()


def rewrite(ledger, entries):
    """Write the ledger repository afresh: one tagged commit per entry."""
    shutil.rmtree(ledger, ignore_errors=True)
    ledger.mkdir(parents=True)
    git(ledger, "init", "-q", "-b", "main")
    git(ledger, "config", "commit.gpgsign", "false")
    points = []
    for entry in entries:
        (ledger / "pins.txt").write_text(pins_text(entry))
        git(ledger, "add", "pins.txt")
        git(ledger, "commit", "-q", "--allow-empty", "-m", entry["name"], date=entry["date"])
        git(ledger, "tag", entry["name"])
        points.append((entry["name"], git(ledger, "rev-parse", "HEAD")))
    return points


def point_for_installed(points, releases=RELEASES):
    """The ledger point (name, commit) whose pins are the mlx and torch versions installed here."""
    name = entry_for_installed(load(releases), releases)["name"]
    return name, dict(points)[name]


def entry_for_installed(entries, releases=RELEASES):
    """The latest ledger entry whose pins are the mlx and torch versions installed here."""
    from importlib.metadata import version

    installed = {p: version(p).split("+")[0] for p in REQUIRED}
    for entry in reversed(entries):
        if all(entry["pins"][p] == installed[p] for p in REQUIRED):
            return entry
    raise UsageError(f"installed {', '.join(f'{p} {v}' for p, v in installed.items())} match no entry of "
                     f"{releases}: add an entry for them (results are filed under a release set)")


def resolve(points, name):
    """A ledger point by entry name or commit-hash prefix; unknown names list the known ones."""
    for entry, commit in points:
        if name == entry or (len(name) >= 7 and commit.startswith(name)):
            return entry, commit
    raise UsageError(f"unknown ledger point {name!r}; known points: {', '.join(e for e, _ in points)}")


def on_the_way(entry, a, b):
    """Whether every pin of `entry` lies between entry A's and entry B's. A point of another line (e.g. the
    release set of a GPU machine's preinstalled PyTorch) is not between two CPU points, whatever its date."""
    for package, version in entry["pins"].items():
        low, high = sorted(Version(side["pins"].get(package, version)) for side in (a, b))
        if not low <= Version(version) <= high:
            return False
    return True
