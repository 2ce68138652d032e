"""The comparison page (html/compare.html): its data from the results layer, and the page itself in
headless Chromium: offline, no console error, the selectors change the table, readable on a phone."""
import json
import os
import re
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import fabricate as fab
from mlxvspt.publish import comparison_page, site
from test_site import chromium, requested_urls  # noqa: F401 (a fixture, and the log reader beside it)

STEP = "bench_lm_train.LMTrain.time_step"
DECODE, MEMORY = "bench_llm.Generation.track_decode", "bench_llm.Generation.track_peak_memory"
LLM = {"framework": ["mlx", "torch"], "device": ["gpu"], "path": ["generate"], "dtype": ["float16"]}
BENCHES = [fab.benchmark(STEP, {"framework": ["mlx", "torch"], "device": ["cpu", "gpu"], "compile": [False, True],
                                "precision": ["fp32", "bf16"]}),
           fab.benchmark(DECODE, LLM, unit="ms/token"), fab.benchmark(MEMORY, LLM, unit="bytes")]
GPU, CPU = "gpu-box-full", "cpu-box-tiny"
# two neighbouring points of the committed ledger, named: its tail grows with every release `update` adds
OLD, NEW = "mlx-0.32.4+torch-2.11.0", "torch-2.14.1"
ROOT = Path(__file__).resolve().parents[1]


def step(fw, device, compile, precision):
    return STEP, (fw, device, str(compile), precision)


@pytest.fixture
def folder(tmp_path):
    """A GPU machine at two ledger points (MLX's eager fp32 step got 1.5x slower at the newer one) and a
    CPU machine at one; asv's index.html stands in with its navigation bar."""
    results = tmp_path / "results"
    fab.write_benchmarks(results, BENCHES)
    gpu = {step(fw, "gpu", c, p): fab.steady(t * (1 if p == "fp32" else 0.3) * (0.8 if c else 1))
           for fw, t in (("mlx", 1.0), ("torch", 2.0)) for c in (False, True) for p in ("fp32", "bf16")}
    gpu.update({(DECODE, ("mlx", "gpu", "generate", "float16")): fab.steady(3.0),
                (DECODE, ("torch", "gpu", "generate", "float16")): fab.steady(15.0),
                (MEMORY, ("mlx", "gpu", "generate", "float16")): fab.steady(3.5 * 2**30),
                (MEMORY, ("torch", "gpu", "generate", "float16")): [2.5 * 2**30]})
    fab.write_results(results, GPU, OLD, BENCHES, {**gpu, step("mlx", "gpu", False, "fp32"): fab.steady(1.0 / 1.5),
                                                   (MEMORY, ("mlx", "gpu", "generate", "float16")): fab.steady(2**30)})
    fab.write_results(results, GPU, NEW, BENCHES, gpu)
    fab.write_records(results, GPU, NEW, [fab.record(STEP, framework=fw, device="gpu", compile=c, precision=p)
                                          for fw in ("mlx", "torch") for c in ("False", "True") for p in ("fp32", "bf16")])
    fab.write_results(results, CPU, NEW, BENCHES, {step("mlx", "cpu", False, "fp32"): fab.steady(4.0),
                                                   step("torch", "cpu", False, "fp32"): fab.steady(1.0)})
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(f"<html><body><ul>{comparison_page.NAV_AFTER}</ul></body></html>")
    return results, html


def machine(data, name):
    return next(m for m in data["machines"] if m["name"] == name)


def test_page_data_rows_verdicts_memory_history_and_changes(folder):
    results, html = folder
    comparison_page.write(results, html)
    data = json.loads((html / "compare.json").read_text())
    gpu = machine(data, GPU)
    rows = {(r["label"]): r for r in gpu["rows"]}
    assert len(rows) == 5  # 4 steps and the decode; peak memory is a column, not a row
    eager = rows["LMTrain.time_step (device=gpu, compile=False, precision=fp32)"]
    assert (eager["title"], eager["precision"], eager["path"]) == ("TransformerLM training", "fp32", "eager")
    assert eager["verdict"] == "MLX 2x faster" and eager["mlx"]["check"] == "passed"
    assert re.fullmatch(r"0\.5 \(0\.4\d*–0\.5\d*\)", eager["ratio_text"]), eager["ratio_text"]
    decode = rows["Generation.track_decode (device=gpu, path=generate, dtype=float16)"]
    assert decode["precision"] == "fp16" and decode["verdict"] == "unchecked"  # no record for it
    assert decode["memory"] == {"torch": "2560 MiB", "mlx": "3584 MiB ±0.5%"}
    url = urlsplit(eager["asv"])
    assert url.path == "index.html" and url.fragment.startswith(STEP + "?")
    assert unquote(url.fragment).split("?")[1].split("&") == [
        f"machine={GPU}", "p-framework='mlx'", "p-framework='torch'", "p-device='gpu'", "p-compile=False",
        "p-precision='fp32'"]
    series = {s["label"]: s for s in gpu["history"]["series"]}
    assert gpu["history"]["points"] == [OLD, NEW]
    assert series[eager["label"]]["ratios"] == [pytest.approx(1 / 3), pytest.approx(0.5)]
    assert series[eager["label"]]["borrowed"] == [False, False]
    changes = gpu["changes"]
    assert (changes["from"], changes["to"]) == (OLD, NEW) and changes["releases"]
    # a peak memory that grew reads "more memory", a time "slower"; each parameter named
    assert [(m["mark"], m["said"]) for m in changes["moved"]] == [("slower", "more memory"), ("slower", "slower")]
    assert changes["untested"] == 1  # PyTorch's peak memory: one sample at each point
    assert changes["moved"][1]["text"].startswith(
        "MLX LMTrain.time_step (device=gpu, compile=False, precision=fp32): 667 ms → 1 s")
    assert machine(data, CPU)["changes"] is None and len(machine(data, CPU)["rows"]) == 1


def test_a_framework_at_the_same_releases_at_both_points_moved_with_the_host(tmp_path):
    """mlx 0.32.3 -> 0.32.4 with PyTorch 2.11.0 at both: PyTorch's step 1.5x slower is the host's move, and
    the page says so beside MLX's, which may be the release's."""
    from mlxvspt.publish import results as results_layer

    a, b = "mlx-0.32.3+torch-2.11.0", "mlx-0.32.4+torch-2.11.0"
    fab.write_benchmarks(tmp_path, BENCHES[:1])
    base = {step(fw, "gpu", False, "fp32"): fab.steady(1.0) for fw in ("mlx", "torch")}
    fab.write_results(tmp_path, GPU, a, BENCHES[:1], base)
    fab.write_results(tmp_path, GPU, b, BENCHES[:1], {key: fab.steady(1.5) for key in base})
    changes = comparison_page.changes(results_layer.history(tmp_path, GPU))
    assert [(m["text"].split()[0], m["said"], m["same_release"]) for m in changes["moved"]] == [
        ("MLX", "slower", False), ("PyTorch", "slower, same release", True)]


def test_a_framework_not_rerun_takes_its_value_from_a_point_with_the_same_releases_of_it(folder):
    """MLX alone measured at an earlier MLX release: its ratio uses PyTorch's cell of the point that pins
    the same PyTorch side (and says so); the newest point (another torch) lends nothing."""
    results, html = folder
    alone = "mlx-0.30.6+torch-2.11.0"  # same torch, transformers, openai-whisper, numpy as OLD
    fab.write_results(results, GPU, alone, BENCHES, {step("mlx", "gpu", False, "fp32"): fab.steady(1.2)})
    comparison_page.write(results, html)
    gpu = machine(json.loads((html / "compare.json").read_text()), GPU)
    assert gpu["history"]["points"] == [alone, OLD, NEW]
    eager = next(s for s in gpu["history"]["series"]
                 if s["label"] == "LMTrain.time_step (device=gpu, compile=False, precision=fp32)")
    assert eager["ratios"] == [pytest.approx(0.6), pytest.approx(1 / 3), pytest.approx(0.5)]
    assert eager["borrowed"] == [True, False, False]


def test_page_loads_nothing_remote_and_asv_links_to_it_once(folder):
    results, html = folder
    page = comparison_page.write(results, html).read_text()
    assert not re.search(r"""\b(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert not re.search(r"@import|url\(", page)
    assert json.loads(re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1)) \
        == json.loads((html / "compare.json").read_text())
    comparison_page.write(results, html)
    assert (html / "index.html").read_text().count('href="compare.html"') == 1


# ---------------------------------------------------------------- headless Chromium

def serve(html):
    server = site.make_server(html)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def table_rows(driver):
    return driver.execute_script("return Array.from(document.querySelectorAll('#table tbody tr[data-key]'))"
                                 ".map(function (tr) { return tr.cells[0].querySelector('a').textContent; });")


def choose(driver, select, value):
    driver.execute_script("var s = document.getElementById(arguments[0]); s.value = arguments[1];"
                          "s.dispatchEvent(new Event('change'));", select, value)


def open_page(driver, base):
    """The comparison page, loaded: `get` can return while a large page (every machine's rows) still loads
    on a busy 2-core machine, so its readyState is awaited, up to 30 s."""
    driver.get(base + "compare.html")
    deadline = time.monotonic() + 30
    while driver.execute_script("return document.readyState") != "complete" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert driver.execute_script("return document.readyState") == "complete"


def check_offline_and_quiet(driver):
    severe = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    internal = ("data", "blob", "about", "chrome", "chrome-untrusted", "devtools")
    remote = [u for u in requested_urls(driver) if urlsplit(u).scheme not in internal
              and urlsplit(u).hostname not in ("127.0.0.1", "localhost")]
    assert not severe and not remote, (severe, remote)


def test_selectors_change_the_table_and_chart(folder, chromium):  # noqa: F811
    results, html = folder
    comparison_page.write(results, html)
    server, base = serve(html)
    driver = chromium
    try:
        open_page(driver, base)
        assert driver.find_element("id", "machine").get_attribute("value") in (GPU, CPU)
        choose(driver, "machine", GPU)
        assert driver.find_element("id", "precision").get_attribute("value") == "fp32"
        fp32 = table_rows(driver)
        assert sorted(fp32) == ["LMTrain.time_step (device=gpu, compile=False, precision=fp32)",
                                "LMTrain.time_step (device=gpu, compile=True, precision=fp32)"]
        assert len(driver.find_elements("css selector", "#chart svg path")) == 2
        choose(driver, "precision", "bf16")
        assert all("precision=bf16" in r for r in table_rows(driver)) and len(table_rows(driver)) == 2
        choose(driver, "path", "compiled")
        assert table_rows(driver) == ["LMTrain.time_step (device=gpu, compile=True, precision=bf16)"]
        assert len(driver.find_elements("css selector", "#chart svg path")) == 1
        choose(driver, "precision", "fp16")
        choose(driver, "path", "(all)")
        assert table_rows(driver) == ["Generation.track_decode (device=gpu, path=generate, dtype=float16)"]
        assert "MLX 3584 MiB" in driver.find_element("css selector", "#table tbody tr[data-key]").text
        assert "slower: MLX LMTrain.time_step" in driver.find_element("id", "changes").text
        choose(driver, "machine", CPU)
        assert table_rows(driver) == ["LMTrain.time_step (device=cpu, compile=False, precision=fp32)"]
        assert "nothing to compare yet" in driver.find_element("id", "changes").text
        # the row links to asv's graph of the same parameters
        link = driver.find_element("css selector", "#table tbody tr[data-key] a").get_attribute("href")
        assert link.startswith(base + "index.html#" + STEP + "?machine=" + CPU)
        driver.set_window_size(390, 844)  # a phone: nothing wider than the screen but the scrolled table
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        check_offline_and_quiet(driver)
    finally:
        server.shutdown()
        server.server_close()


def test_page_of_the_committed_results_shows_cpu_and_gpu_machines(tmp_path, chromium):  # noqa: F811
    """The page as published from this repository's results/, at 1,280 px: every machine's widest table
    (every precision and path) fits without a horizontal scroll bar; the findings are shown. A screenshot is
    kept (MLXVSPT_SCREENSHOT names where; docs/compare.png is one)."""
    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text("<html></html>")  # asv's site is not needed to show the page
    comparison_page.write(ROOT / "results", html)
    server, base = serve(html)
    driver = chromium
    try:
        driver.set_window_size(1280, 2000)
        open_page(driver, base)
        names = driver.execute_script("return Array.from(document.getElementById('machine').options)"
                                      ".map(function (o) { return o.value; });")
        assert any("NVIDIA" in n for n in names) and any("linux" in n for n in names), names
        for name in names:
            choose(driver, "machine", name)
            choose(driver, "precision", "(all)")
            choose(driver, "path", "(all)")
            wide = driver.execute_script(
                "var s = document.querySelector('.scroll'); return [s.scrollWidth, s.clientWidth, "
                "document.documentElement.scrollWidth, document.documentElement.clientWidth];")
            assert wide[0] <= wide[1] and wide[2] <= wide[3], (name, wide)
        assert "Findings" in driver.find_element("tag name", "body").text
        assert driver.find_elements("css selector", "#findings h3")
        choose(driver, "machine", "NVIDIA-H100-80GB-HBM3-full")
        choose(driver, "precision", "tf32")
        assert table_rows(driver) and len(driver.find_elements("css selector", "#chart svg")) >= 1
        shot = Path(os.environ.get("MLXVSPT_SCREENSHOT") or tmp_path / "compare.png")
        driver.save_screenshot(str(shot))
        check_offline_and_quiet(driver)
    finally:
        server.shutdown()
        server.server_close()


def test_the_page_carries_each_finding_with_its_repro(folder):
    """docs/findings/<name>.md and its <name>.py repro, as text for the page's Findings section."""
    found = comparison_page.data(folder[0])["findings"]
    bf16 = next(f for f in found if "bfloat16 embedding" in f["title"])
    assert bf16["repro_name"] == "bf16_embedding_gradient.py" and "import mlx.core" in bf16["repro"]
    assert bf16["report"].startswith("# ") and not any(f["title"] == "Findings" for f in found)  # the index
