"""The report in a real browser: headless Chromium (Debian's /usr/bin/chromium) with every request
outside the report file blocked. Every declared chart renders, nothing is fetched, nothing is logged
as an error, the table sorts and downloads as TSV; a screenshot is written as a test artifact
(to $MULTIRM_ARTIFACTS when set, else the test's tmp_path).

Skipped where /usr/bin/chromium or Playwright is absent (.ci/run installs chromium).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from test_report import (
    predictions_table,
    write_correlate_dir,
    write_evaluate_dir,
    write_explain_dir,
    write_motifs_dir,
    write_predict_dir,
)

from multirm_tools.cli import report as report_cli

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

if not CHROMIUM.exists():
    pytest.skip("/usr/bin/chromium is absent (Debian package 'chromium'; .ci/run installs it)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("browser")
    table = predictions_table({"chr1:1000-1300(+)": 300, "tx2": 2500, "tx3": 90}, seed=4, sig_rate=0.02)
    inputs = [write_predict_dir(d / "predict", table), write_evaluate_dir(d / "evaluate"),
              write_explain_dir(d / "explain", n_sites=6, window=21), write_motifs_dir(d / "motifs"),
              write_correlate_dir(d / "correlate")]
    out = d / "report.html"
    assert report_cli.main([*map(str, inputs), "-o", str(out), "--quiet", "--max-points", "1500"]) == 0
    return out


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def open_report(browser, path: Path):
    """Open ``path`` with the network blocked; returns (page, outside requests, console errors, seconds)."""
    url = path.resolve().as_uri()
    outside: list[str] = []
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)

    def route(r):
        u = r.request.url
        if u == url or u.startswith(("data:", "blob:")):
            r.continue_()
        else:
            outside.append(u)
            r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: None if r.url in outside else errors.append(f"failed: {r.url}"))
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_function("document.body.dataset.rendered !== undefined", timeout=60_000)
    return page, outside, errors, time.perf_counter() - start


def test_report_renders_offline(browser, report, tmp_path):
    page, outside, errors, seconds = open_report(browser, report)
    declared = int(page.get_attribute("body", "data-charts"))
    assert declared == 8  # 3 tracks, 2 explained classes (m6A, Psi), the heatmap, ROC, PR
    containers = page.locator("div.chart")
    assert containers.count() == declared
    assert page.get_attribute("body", "data-rendered") == str(declared)
    assert page.get_attribute("body", "data-failed") == "0"
    assert page.get_attribute("body", "data-first-screen") is not None  # drawn before the rest
    # each chart container holds one drawn Vega scene (canvas or svg with class "marks"), not empty
    marks = page.evaluate("""Array.from(document.querySelectorAll('div.chart')).map(function (el) {
        var m = el.querySelectorAll('canvas.marks, svg.marks');
        var r = m.length ? m[0].getBoundingClientRect() : {width: 0, height: 0};
        return [m.length, r.width, r.height]; })""")
    assert [m[0] for m in marks] == [1] * declared
    assert all(w > 100 and h > 50 for _, w, h in marks)
    assert page.locator("img.logo").count() == 2
    assert page.evaluate("Array.from(document.images).every(function (i) { return i.naturalWidth > 0; })")
    artifacts = Path(os.environ.get("MULTIRM_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report_browser.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"\nreport {report.stat().st_size / 1e6:.2f} MB opened and drew {declared} charts in {seconds:.2f} s; "
          f"screenshot {shot}")
    assert outside == [], f"requests outside the file: {outside}"
    assert errors == [], errors
    page.close()


def test_sites_table_sorts_and_downloads(browser, report):
    page, outside, errors, _ = open_report(browser, report)
    table = page.locator("#sites-table")
    n_rows = table.locator("tbody tr").count()
    assert n_rows > 3
    header = table.locator("th", has_text="probability")
    col = [h.strip() for h in table.locator("th").all_inner_texts()].index("probability")

    def column():
        return [float(r.locator("td").nth(col).inner_text()) for r in table.locator("tbody tr").all()]

    header.click()
    assert column() == sorted(column())
    header.click()
    assert column() == sorted(column(), reverse=True)
    with page.expect_download() as info:
        page.locator('button[data-table="sites-table"]').click()
    download = info.value
    assert download.suggested_filename == "significant_sites.tsv"
    lines = Path(download.path()).read_text().splitlines()
    assert lines[0].split("\t") == ["record", "position", "base", "modification", "probability", "p", "q"]
    assert len(lines) == n_rows + 1
    assert [float(x.split("\t")[4]) for x in lines[1:]] == column()  # the table as shown, sorted
    assert outside == [] and errors == []
    page.close()
