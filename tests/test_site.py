"""The published asv site works offline: a real `asv publish` of a tiny project, made offline, served
on 127.0.0.1 and opened in headless Chromium (Debian's chromium + chromium-driver, via Selenium)."""
import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import asv
import pytest

from mlxvspt.publish import site

DATES = ["2024-01-01T12:00:00+00:00", "2024-02-01T12:00:00+00:00", "2024-03-01T12:00:00+00:00"]
BENCH = '''
class Decode:
    params = ["mlx", "torch"]
    param_names = ["framework"]
    number, repeat, rounds, warmup_time = 1, 1, 1, 0

    def time_decode(self, framework):
        sum(range(1000))

    def time_prefill(self, framework):
        sum(range(1000))
'''
CONF = {"version": 1, "project": "tiny", "project_url": "#", "repo": ".", "branches": ["main"],
        "environment_type": "existing", "benchmark_dir": "benchmarks", "results_dir": "results",
        "html_dir": "html"}


def sh(*cmd, cwd, env):
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{cmd}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A real asv site (not yet offline): 3 commits, each with results for bench_llm.Decode.*,
    run in this Python (asv's "existing" environment). Returns (html_dir, the 3 commit hashes)."""
    root = tmp_path_factory.mktemp("asvsite")
    project = root / "project"
    (project / "benchmarks").mkdir(parents=True)
    (project / "benchmarks" / "__init__.py").write_text("")
    (project / "benchmarks" / "bench_llm.py").write_text(BENCH)
    (project / "asv.conf.json").write_text(json.dumps(CONF))
    (project / ".gitignore").write_text("results/\nhtml/\n")
    env = {**os.environ, "HOME": str(root), "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost", "GIT_CONFIG_NOSYSTEM": "1"}
    sh("git", "init", "-q", "-b", "main", cwd=project, env=env)
    hashes = []
    for i, date in enumerate(DATES):
        (project / "release.txt").write_text(f"{i}\n")
        sh("git", "add", "-A", cwd=project, env=env)
        sh("git", "commit", "-q", "-m", f"release {i}", cwd=project,
           env={**env, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
        hashes.append(sh("git", "rev-parse", "HEAD", cwd=project, env=env).strip())
    asv_cmd = [sys.executable, "-m", "asv"]
    sh(*asv_cmd, "machine", "--yes", "--machine", "m", cwd=project, env=env)
    for h in hashes:
        sh(*asv_cmd, "run", "-E", f"existing:{sys.executable}", "--set-commit-hash", h, "--machine", "m",
           cwd=project, env=env)
    sh(*asv_cmd, "publish", cwd=project, env=env)
    return project / "html", hashes


def copy_site(published, tmp_path):
    html = tmp_path / "html"
    shutil.copytree(published[0], html)
    return html


def tags(html):
    return site.TAG.findall(html)


# ---------------------------------------------------------------- no browser

def test_make_offline_leaves_no_remote_script_or_link(published, tmp_path):
    html = copy_site(published, tmp_path)
    before = {p: site.remote_urls(p.read_text()) for p in site.pages(html)}
    assert any(before.values()), "asv's page loads nothing from a CDN any more: revisit mlxvspt.publish.site"
    changed = site.make_offline(html)
    assert changed == [p for p, urls in before.items() if urls]
    for page in site.pages(html):
        text = page.read_text()
        assert not re.search(r"""<(script|link)\b[^>]*\b(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I), page
        assert not re.search(r"\bintegrity\s*=", text), page
        for tag in tags(text):  # every local script/stylesheet it names exists
            for m in site.URL_ATTR.finditer(tag):
                url = next(g for g in m.groups()[1:] if g is not None)
                assert (page.parent / url).is_file(), (page, url)
    index = (html / "index.html").read_text()
    assert index.count('src="vendor/') == 9 and index.count('href="vendor/') == 1
    assert 'onerror="js_load_failure()"' in index  # the rest of the tag is untouched
    assert (html / "vendor" / "jquery-3.3.1" / "LICENSE.txt").is_file()
    # idempotent
    snapshot = {p: p.read_bytes() for p in html.rglob("*") if p.is_file()}
    assert site.make_offline(html) == []
    assert snapshot == {p: p.read_bytes() for p in html.rglob("*") if p.is_file()}


def test_unknown_cdn_url_is_one_clear_error_and_changes_nothing(published, tmp_path):
    html = copy_site(published, tmp_path)
    index = html / "index.html"
    text = index.read_text()
    new = "https://cdn.example.org/new-lib@2.0/new.min.js"
    index.write_text(text.replace("</head>", f'<script src="{new}"></script>\n</head>'))
    before = index.read_text()
    with pytest.raises(site.UnknownAsset, match=re.escape(f"index.html: {new}")):
        site.make_offline(html)
    assert index.read_text() == before and not (html / "vendor").exists()


def test_vendored_files_are_the_versions_asv_pins():
    """Where npm ships the very file the CDN serves, its hash equals asv's integrity attribute."""
    template = (Path(asv.__file__).parent / "www" / "index.html").read_text()
    urls = site.remote_urls(template)
    assert sorted(urls) == sorted(site.CDN), "asv's CDN list changed: update mlxvspt.publish.site.CDN and site_assets"
    same = set()
    for tag in tags(template):
        url = next(iter(site.remote_urls(tag)), None)
        m = re.search(r'integrity="(sha\d+)-([^"]+)"', tag)
        if url and m:
            data = (site.ASSETS / site.CDN[url]).read_bytes()
            if base64.b64encode(hashlib.new(m.group(1), data).digest()).decode() == m.group(2):
                same.add(site.CDN[url])
    assert same == {"jquery-3.3.1/jquery.min.js", "flot-orderbars-1.0.0/jquery.flot.orderBars.js",
                    "blueimp-md5-2.19.0/md5.min.js", "bootstrap-3.1.1/js/bootstrap.min.js",
                    "bootstrap-3.1.1/css/bootstrap.min.css"}
    total = sum(p.stat().st_size for p in site.ASSETS.rglob("*") if p.is_file())
    assert total < 1_000_000


def test_server_serves_the_site_on_localhost(published, tmp_path):
    from urllib.request import urlopen
    html = copy_site(published, tmp_path)
    server = site.make_server(html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address
        assert host == "127.0.0.1"
        with urlopen(f"http://127.0.0.1:{port}/index.json", timeout=10) as r:
            assert "bench_llm.Decode.time_decode" in json.load(r)["benchmarks"]
    finally:
        server.shutdown()
        server.server_close()


def test_plain_asv_publish_writes_the_offline_site(published, tmp_path):
    """asv.conf.json's plugin makes `asv publish` itself write no CDN URL (as `mlxvspt publish` does)."""
    from mlxvspt.track.asvrun import ROOT, load_conf

    project = tmp_path / "project"
    shutil.copytree(published[0].parent, project, symlinks=True)
    shutil.rmtree(project / "html")
    plugins = load_conf(ROOT / "asv.conf.json")["plugins"]
    assert plugins == [".mlxvspt.publish.asv_plugin"]
    (project / "asv.conf.json").write_text(json.dumps({**CONF, "plugins": plugins}))
    env = {**os.environ, "HOME": str(tmp_path)}
    sh(sys.executable, "-m", "asv", "publish", cwd=project, env=env)
    html = project / "html"
    assert (html / "index.json").is_file() and (html / "vendor" / "jquery-3.3.1" / "jquery.min.js").is_file()
    for page in site.pages(html):
        text = page.read_text()
        assert not site.remote_urls(text), page
        assert not [url for url in site.CDN if url in text], page


# ---------------------------------------------------------------- headless Chromium

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1280,900",
                  # offline even where CI has internet: every host but 127.0.0.1 fails to resolve
                  "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]

# The x of every point flot drew in each series of the plot in `selector` (y null: no point).
GRAPH_POINTS_JS = """
var plot = $(arguments[0]).data('plot');
if (!plot) { return null; }
return plot.getData().map(function (s) {
    var d = s.datapoints, xs = [];
    for (var i = 0; i < d.points.length; i += d.pointsize) {
        if (d.points[i] != null && d.points[i + 1] != null && isFinite(d.points[i + 1])) {
            xs.push(d.points[i]);
        }
    }
    return {label: String(s.label), xs: xs};
});
"""


def count_graph_points(driver, selector="#main-graph"):
    """{series label: sorted x of its drawn points} of the flot plot in `selector`, or None if there
    is no plot (yet). Reads flot's processed datapoints: what was actually drawn, not the json."""
    series = driver.execute_script(GRAPH_POINTS_JS, selector)
    return None if series is None else {s["label"]: sorted(s["xs"]) for s in series}


def wait_for(what, fn, timeout=30):
    end = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def chromium(tmp_path):
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver_path):
        pytest.skip("chromium and chromedriver not installed (apt-get install chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("chromium is installed but the Python package selenium is not: pip install selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def requested_urls(driver):
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_offline_site_in_headless_chromium(published, tmp_path, chromium):
    html = copy_site(published, tmp_path)
    site.make_offline(html)
    server = site.make_server(html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    driver, urls = chromium, []
    try:
        driver.get(base + "index.html")
        # the benchmark grid lists both benchmarks
        def grid_links():
            assert "error.html" not in driver.current_url, "a script failed to load: asv showed error.html"
            return driver.execute_script(
                "return window.jQuery && $('#summarygrid-display:visible a.benchmark-container')"
                ".map(function () { return $(this).attr('href'); }).get();")
        grid = wait_for("the benchmark grid", grid_links)
        assert sorted(grid) == ["#bench_llm.Decode.time_decode", "#bench_llm.Decode.time_prefill"]
        assert driver.execute_script("return [typeof $.plot, typeof $.fn.stupidtable, typeof md5, "
                                     "typeof $.fn.modal, typeof $.plot.plugins].join()") == \
            "function,function,function,function,object"

        # the counter counts drawn points only: 2 of these 3 (one y is null)
        driver.execute_script("$('<div id=\"selftest\" style=\"width:300px;height:200px\">').appendTo('body');"
                              "$.plot('#selftest', [{label: 'x', data: [[1, 1], [2, null], [3, 2]]}]);")
        assert count_graph_points(driver, "#selftest") == {"x": [1, 3]}
        driver.execute_script("$('#selftest').remove();")

        # open the decode graph from the grid: one point per commit in each framework's series
        driver.find_element("css selector", 'a.benchmark-container[href="#bench_llm.Decode.time_decode"]').click()
        wait_for("the graph page", lambda: "time_decode" in driver.current_url)
        wait_for("the decode graph", lambda: (lambda p: p and all(p.values()))(count_graph_points(driver)))
        time.sleep(0.5)  # let any late re-plot land, then read what is drawn
        points = count_graph_points(driver)
        # asv's x-axis is the revision number of each commit (index.json: revision_to_hash)
        revision = {h: int(r) for r, h in json.loads((html / "index.json").read_text())["revision_to_hash"].items()}
        commits = sorted(revision[h] for h in published[1])
        assert len(commits) == 3 and sorted(points) == ["framework-mlx", "framework-torch"], points
        assert points == {"framework-mlx": commits, "framework-torch": commits}, points
        shot = tmp_path / "asv-graph.png"
        driver.save_screenshot(str(shot))
        print(f"screenshot: {shot}")
        assert driver.current_url.startswith(base + "index.html")  # never sent to error.html
        severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
    finally:
        urls = requested_urls(driver)
        print("requested:", *urls, sep="\n  ")  # shown if the test fails
        server.shutdown()
        server.server_close()
    assert any(u.endswith("/index.json") or "/index.json?" in u for u in urls), urls
    assert any("/vendor/jquery-3.3.1/jquery.min.js" in u for u in urls), urls
    # browser-internal pages (chrome://new-tab-page...) are not network; anything else must be ours
    internal = ("data", "blob", "about", "chrome", "chrome-untrusted", "devtools")
    remote = [u for u in urls if urlsplit(u).scheme not in internal
              and urlsplit(u).hostname not in ("127.0.0.1", "localhost")]
    assert not remote, remote


def test_comparison_page_links_select_those_parameters_in_asvs_graph(published, tmp_path, chromium):
    """The comparison page's row links (comparison_page.asv_url: p-<name>=<asv's repr>) select those
    parameters in asv's graph: the link of a row draws both frameworks; the same link format naming
    one framework draws only that one."""
    from mlxvspt.publish import comparison_page, results

    html = copy_site(published, tmp_path)
    site.make_offline(html)
    meta = results.benchmarks(published[0].parent / "results")
    row = results.Row("bench_llm.Decode.time_decode", {}, "seconds", results.Cell(), results.Cell())
    link = comparison_page.asv_url(meta, row, "m")
    assert link == "index.html#bench_llm.Decode.time_decode?machine=m&p-framework=%27mlx%27&p-framework=%27torch%27"
    server = site.make_server(html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        for url, drawn in ((link, ["framework-mlx", "framework-torch"]),
                           (link.replace("&p-framework=%27torch%27", ""), ["framework-mlx"])):
            chromium.get("about:blank")
            chromium.get(base + url)
            wait_for("the graph", lambda: (lambda p: p and all(p.values()))(count_graph_points(chromium)))
            time.sleep(0.5)
            assert sorted(count_graph_points(chromium)) == drawn, url
        severe = [e["message"] for e in chromium.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------- the committed site

COMMITTED = Path(__file__).resolve().parents[1] / "html"


def graph_files(html):
    """{benchmark: [the graph file asv's graph page loads for each entry of graph_param_list, and the
    summary the benchmark grid loads]}."""
    from asv.graph import Graph

    index = json.loads((html / "index.json").read_text())
    return {name: [html / (Graph.get_file_path(params, name) + ".json")
                   for params in index["graph_param_list"] + [{"summary": ""}]]
            for name in index["benchmarks"]}


def test_committed_site_has_every_graph_file_its_index_implies():
    missing = [str(p.relative_to(COMMITTED)) for files in graph_files(COMMITTED).values() for p in files
               if not p.is_file()]
    assert not missing, missing


def network(driver):
    """(every URL requested, [(status, URL) of each response >= 400]) since the last call."""
    urls, failed = [], []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
        elif message["method"] == "Network.responseReceived" and message["params"]["response"]["status"] >= 400:
            failed.append((message["params"]["response"]["status"], message["params"]["response"]["url"]))
    return urls, failed


def test_committed_site_loads_without_errors_in_headless_chromium(chromium):
    """The summary pages and the graphs of benchmarks some machines never ran (asv answered 404 for those
    before the plugin's empty graph files) open with no console error, no failed request, nothing remote."""
    server = site.make_server(COMMITTED)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/index.html"
    partial = [name for name, files in graph_files(COMMITTED).items()
               if any(not p.is_file() or json.loads(p.read_text()) == [] for p in files)]
    assert partial, "every machine ran every benchmark: pick graph pages another way"
    driver, urls, failed, severe = chromium, [], [], []
    try:
        for page in ["", "#summarylist", "#regressions"] + [f"#{name}" for name in sorted(partial)[:4]]:
            driver.get(base + page)
            wait_for(f"{page or 'index'} to load", lambda: driver.execute_script(
                "return window.jQuery && $.asv && $.asv.main_json && "
                "($('#main-graph').data('plot') || !location.hash.startsWith('#bench_'))"))
            time.sleep(1.0)  # graph files load asynchronously after the plot appears
            page_urls, page_failed = network(driver)
            urls += page_urls
            failed += [(page, *f) for f in page_failed]
            severe += [(page, e["message"]) for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert "error.html" not in driver.current_url
    finally:
        server.shutdown()
        server.server_close()
    assert any("/graphs/" in u for u in urls), urls
    assert not failed, failed
    assert not severe, severe
    internal = ("data", "blob", "about", "chrome", "chrome-untrusted", "devtools")
    assert not [u for u in urls if urlsplit(u).scheme not in internal and urlsplit(u).hostname != "127.0.0.1"]
