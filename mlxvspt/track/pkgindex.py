"""What the package index pip is configured with knows about a project: its releases, when each came out,
which are yanked, which install on this platform, and which pip's own constraint files exclude.

The index URLs and constraint files come from pip itself (`pip config list`, which includes PIP_*
environment variables), so this works behind a user's mirror and with a local `file://` simple index.
Servers are asked for PEP 691 JSON (it carries upload times and yanked flags) and understood in PEP 503
HTML too; a `file://` index's release date is its files' modification time.
"""
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import sys_tags
from packaging.utils import (InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename,
                             parse_wheel_filename)
from packaging.version import Version

from ..errors import UsageError

PYPI = "https://pypi.org/simple"
ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
PYTHON = Version(".".join(map(str, sys.version_info[:3])))


class Unreachable(OSError):
    """The index did not answer (as opposed to answering that it has no such project)."""


@dataclass
class Release:
    project: str
    version: Version
    date: str = ""                  # YYYY-MM-DD of the earliest upload; "" when the index does not say
    yanked: str | None = None       # the reason ("" if none given) when every file is yanked
    files: list = field(default_factory=list)   # (filename, requires-python or "")

    def wheel_problem(self, tags=None):
        """Why no file of this release installs here as a wheel, or None if one does."""
        tags = set(tags or sys_tags())
        wheels = [(f, rp) for f, rp in self.files if f.endswith(".whl")]
        if not wheels:
            return "no wheel on the index (only a source distribution)"
        fitting = [(f, rp) for f, rp in wheels if tags & set(parse_wheel_filename(f)[3])]
        if not fitting:
            return "no wheel for this platform (e.g. " + ", ".join(f for f, _ in wheels[:2]) + ")"
        if not any(python_ok(rp) for _, rp in fitting):
            return f"its wheels require Python {fitting[0][1]} (this is {PYTHON})"
        return None


def python_ok(requires_python):
    try:
        return not requires_python or SpecifierSet(requires_python).contains(PYTHON, prereleases=True)
    except InvalidSpecifier:
        return True  # pip ignores what it cannot parse, too


def pip_config():
    """{key: value} as `pip config list` prints it (e.g. global.index-url, :env:.constraint)."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    config = {}
    for line in out.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            config[key.strip()] = value.strip().strip("'\"")
    return config


def setting(config, name):
    """Every value pip has for an option, in pip's order of precedence (environment first)."""
    sections = (":env:", "install", "download", "index", "global")
    return [config[f"{s}.{name}"] for s in sections if f"{s}.{name}" in config]


def index_urls(config):
    """The index pip installs from (index-url, else PyPI) and its extra indexes, in that order."""
    main = (setting(config, "index-url") or [PYPI])[0]
    extras = [u for value in setting(config, "extra-index-url") for u in value.split()]
    return list(dict.fromkeys([main, *extras]))


def constraints(config):
    """{project: [(specifier, file)]} from every constraint file pip is configured with."""
    found = {}
    for path in dict.fromkeys(p for value in setting(config, "constraint") for p in value.split()):
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            continue  # pip itself will complain about a missing file when it installs
        for line in lines:
            line = line.split("#")[0].strip()
            try:
                req = Requirement(line) if line and not line.startswith("-") else None
            except InvalidRequirement:
                req = None
            if req is not None:
                found.setdefault(canonicalize_name(req.name), []).append((req.specifier, path))
    return found


def excluded_by(constraint_list, version):
    """(specifier, file) of the first constraint that rules `version` out, or None."""
    return next(((spec, path) for spec, path in constraint_list
                 if not spec.contains(version, prereleases=True)), None)


class _Links(HTMLParser):
    """The <a> tags of a PEP 503 project page: (href, data-yanked or None, data-requires-python)."""

    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.links.append((attrs["href"], attrs.get("data-yanked"), attrs.get("data-requires-python") or ""))


def _fetch(url, timeout):
    """(content type, text) of an index page; None if the index has no such project."""
    if url.startswith("file:"):
        path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        if not path.parent.is_dir():
            raise Unreachable(f"{path.parent} does not exist")
        page = path / "index.html"
        return ("text/html", page.read_text()) if page.is_file() else None
    context = ssl.create_default_context(cafile=os.environ.get("PIP_CERT") or None)
    request = urllib.request.Request(url, headers={"Accept": ACCEPT, "User-Agent": "mlxvspt (pip index lookup)"})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.headers.get("Content-Type", ""), response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise Unreachable(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise Unreachable(str(getattr(exc, "reason", exc))) from None


def _file_date(url):
    """A local file's modification date (a file:// index has no upload times)."""
    if not url.startswith("file:"):
        return ""
    path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%d")
    except OSError:
        return ""


def _files(page_url, content_type, text):
    """[(filename, upload date, yanked reason or None, requires-python)] of one project page."""
    if "json" in content_type:
        return [(f["filename"], (f.get("upload-time") or "")[:10],
                 (f["yanked"] if isinstance(f["yanked"], str) else "") if f.get("yanked") else None,
                 f.get("requires-python") or "") for f in json.loads(text)["files"]]
    parser = _Links()
    parser.feed(text)
    files = []
    for href, yanked, requires_python in parser.links:
        url = urllib.parse.urljoin(page_url, href).split("#")[0]
        files.append((urllib.parse.unquote(url.rsplit("/", 1)[-1]), _file_date(url), yanked, requires_python))
    return files


def _version(project, filename):
    try:
        if filename.endswith(".whl"):
            name, version = parse_wheel_filename(filename)[:2]
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return version if canonicalize_name(name) == canonicalize_name(project) else None


def releases(project, urls, timeout=30):
    """Every final release of `project` over the indexes, oldest first. Raises UsageError (one line)
    if none of the indexes answered."""
    by_version, failures, answered = {}, [], False
    for base in urls:
        page_url = base.rstrip("/") + f"/{canonicalize_name(project)}/"
        try:
            page = _fetch(page_url, timeout)
        except Unreachable as exc:
            failures.append(f"{base} ({exc})")
            continue
        answered = True
        for filename, date, yanked, requires_python in _files(page_url, *page) if page else []:
            version = _version(project, filename)
            if version is None or version.is_prerelease or version.is_devrelease or version.local:
                continue
            release = by_version.setdefault(version, Release(project, version, date, "", []))
            release.files.append((filename, requires_python))
            release.date = min(d for d in (release.date, date) if d) if (release.date or date) else ""
            if yanked is None:
                release.yanked = None
            elif release.yanked is not None and yanked:
                release.yanked = yanked
    if not answered:
        raise UsageError("no package index reachable: " + "; ".join(failures))
    return [by_version[v] for v in sorted(by_version)]


def newest(found, before=None):
    """The newest release in `found` dated on or before `before` (all when None)."""
    usable = [r for r in found if before is None or (r.date or "") <= before]
    return usable[-1] if usable else None


def describe(config):
    """One line saying which indexes and constraint files are in force (for the update log)."""
    files = [p for v in setting(config, "constraint") for p in v.split()]
    return f"indexes: {', '.join(index_urls(config))}" + (f"; pip constraints: {', '.join(files)}" if files else "")

