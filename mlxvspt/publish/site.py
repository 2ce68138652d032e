"""The published asv site without internet: local copies of its CDN scripts, and a local server.

`asv publish` writes html whose index.html loads jQuery, flot, Bootstrap & co. from CDNs and fetches
index.json by AJAX, so it needs an HTTP server and, offline, local copies of those scripts.
`make_offline(html_dir)` points every such <script>/<link> at `html_dir/vendor/` (copied from
site_assets/, see site_assets/SOURCES.md); `serve(html_dir, port)` serves the folder on 127.0.0.1.
"""
import os
import re
import shutil
import sys
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from ..errors import UsageError

ASSETS = Path(__file__).with_name("site_assets")
VENDOR = "vendor"

# Every URL asv 0.6.6's index.html loads, and the file under site_assets/ that replaces it.
CDN = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery-3.3.1/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": "flot-0.8.3/jquery.flot.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": "flot-0.8.3/jquery.flot.time.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        "flot-0.8.3/jquery.flot.selection.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        "flot-0.8.3/jquery.flot.categories.js",
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        "flot-orderbars-1.0.0/jquery.flot.orderBars.js",
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        "stupid-table-plugin-1.1.3/stupidtable.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": "blueimp-md5-2.19.0/md5.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": "bootstrap-3.1.1/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        "bootstrap-3.1.1/css/bootstrap.min.css",
}

TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
URL_ATTR = re.compile(r"""(\b(?:src|href)\s*=\s*)(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
# Subresource integrity and CORS attributes only make sense for the CDN copy: drop them with the URL.
CDN_ATTR = re.compile(r"""\s+(?:integrity|crossorigin|referrerpolicy)(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?""",
                      re.IGNORECASE)
REMOTE = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


class UnknownAsset(RuntimeError):
    """asv's page loads a remote script or stylesheet this module has no local copy of."""


def remote_urls(html):
    """Every remote (http:, https:, protocol-relative) URL in a <script src> or <link href> of `html`."""
    urls = []
    for tag in TAG.findall(html):
        for m in URL_ATTR.finditer(tag):
            url = next(g for g in m.groups()[1:] if g is not None)
            if REMOTE.match(url):
                urls.append(url.strip())
    return urls


def _localise(html, page_dir, vendor_dir):
    """`html` with each known CDN tag pointing at vendor_dir; the unknown remote URLs it found."""
    unknown = []

    def tag(m):
        text = m.group(0)
        urls = remote_urls(text)
        if not urls:
            return text
        missing = [u for u in urls if u not in CDN]
        if missing:
            unknown.extend(missing)
            return text

        def attr(a):
            url = next(g for g in a.groups()[1:] if g is not None)
            if url.strip() not in CDN:
                return a.group(0)
            local = os.path.relpath(vendor_dir / CDN[url.strip()], page_dir).replace(os.sep, "/")
            return f'{a.group(1)}"{local}"'
        return CDN_ATTR.sub("", URL_ATTR.sub(attr, text))

    return TAG.sub(tag, html), unknown


def pages(html_dir):
    """The html files of a published site (not the vendored copies)."""
    html_dir = Path(html_dir)
    return sorted(p for p in html_dir.rglob("*.html")
                  if p.is_file() and VENDOR not in p.relative_to(html_dir).parts[:1])


def make_offline(html_dir):
    """Rewrite the CDN <script>/<link> URLs of every html page under html_dir to local copies in
    html_dir/vendor/. Idempotent. Raises UnknownAsset (changing nothing) if a page loads a remote URL
    this module does not know: asv changed its page and site_assets/ must follow.
    Returns the pages it changed."""
    html_dir = Path(html_dir)
    if not (html_dir / "index.html").is_file():
        raise FileNotFoundError(f"{html_dir}/index.html not found: publish the site first (asv publish)")
    vendor_dir = html_dir / VENDOR
    rewritten, unknown = {}, []
    for page in pages(html_dir):
        old = page.read_text(encoding="utf-8")
        new, missing = _localise(old, page.parent, vendor_dir)
        unknown += [f"  {page.relative_to(html_dir)}: {url}" for url in missing]
        if new != old:
            rewritten[page] = new
    if unknown:
        raise UnknownAsset(
            "the published asv site loads remote files mlxvspt has no offline copy of "
            "(asv upgraded? add them to mlxvspt/site_assets/ and mlxvspt.publish.site.CDN):\n" + "\n".join(unknown))
    shutil.copytree(ASSETS, vendor_dir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.pyc"))
    for page, text in rewritten.items():
        page.write_text(text, encoding="utf-8")
    return sorted(rewritten)


class Handler(SimpleHTTPRequestHandler):
    """Static files, never cached (a re-published index.json must show at once), no access log."""

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args):
        pass


def make_server(html_dir, port=0, host="127.0.0.1"):
    """A threaded HTTP server for html_dir, bound but not yet serving (port 0: a free port;
    the one chosen is server.server_address[1]). Call serve_forever() / shutdown() / server_close()."""
    html_dir = Path(html_dir).resolve()
    if not (html_dir / "index.html").is_file():
        raise UsageError(f"{html_dir}/index.html not found: publish the site first (mlxvspt run), or serve the "
                         "project's published site with --html-dir html")
    try:
        return ThreadingHTTPServer((host, port), partial(Handler, directory=str(html_dir)))
    except OSError as e:
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def serve(html_dir, port=8080):
    """Serve html_dir on http://127.0.0.1:port/ until Ctrl-C (blocks)."""
    server = make_server(html_dir, port)
    print(f"serving {Path(html_dir).resolve()} at http://127.0.0.1:{server.server_address[1]}/ "
          "(Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
