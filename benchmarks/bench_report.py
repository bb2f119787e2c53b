#!/usr/bin/env python3
"""Benchmark multirm-report on the predictions of a 10-Mb scan: report size, build time, peak RSS,
and the time headless Chromium takes to draw its first screen and every chart.

Generates ``predictions.tsv`` directly (no model run) as multirm-predict writes it for a random
sequence of ``--megabases`` Mb in records of ``--record-length`` nt: every position, each class of
its base (about 3 rows per position; 10 Mb is 30 million rows, 1.34 GB), a share
``--sig-rate`` of rows significant, plus ``run.json``. Then runs ``multirm_tools.cli.report.main``
in-process and opens the report in /usr/bin/chromium with the network blocked (Playwright).
Targets (issue 5): the report stays under multirm_tools.report.SIZE_BOUND_MB and opens in < 5 s
(its first screen drawn; the page draws the other charts in the background, each as it nears the view).

    python benchmarks/bench_report.py                  # 10 Mb, 100 records of 100 kb
    python benchmarks/bench_report.py --megabases 1 --keep out/bench_report
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from multirm_tools.cli.report import main as report_main
from multirm_tools.constants import BY_NAME, CLASS_NAMES
from multirm_tools.report import SIZE_BOUND_MB

CHROMIUM = "/usr/bin/chromium"


def make_predictions(path: Path, megabases: float, record_length: int, sig_rate: float, seed: int = 0) -> int:
    """Write a predictions table for random records; returns the number of rows."""
    rng = np.random.default_rng(seed)
    per_base = [[c for c in CLASS_NAMES if BY_NAME[c].base == b] for b in "ACGT"]
    rna = "ACGU"
    total = int(megabases * 1_000_000)
    rows = 0
    with open(path, "w") as fh:
        fh.write("record\tposition\tbase\tmodification\tprobability\tp_value\tq_value\tedge\n")
        start, i = 0, 0
        while start < total:
            n = min(record_length, total - start)
            bases = rng.integers(0, 4, n)
            reps = np.array([len(c) for c in per_base])[bases]
            pos = np.repeat(np.arange(1, n + 1), reps)
            base = np.repeat(bases, reps)
            cls = np.concatenate([per_base[b] for b in bases])
            m = len(pos)
            prob = rng.random(m)
            p = rng.uniform(0.06, 1, m)
            sig = rng.random(m) < sig_rate
            p[sig] = rng.uniform(1e-6, 0.04, sig.sum())
            q = np.where(sig, p * 1.2, np.minimum(1, p * 2))
            edge = ((pos <= 25) | (pos > n - 25)).astype(int)
            name = f"bench{i}"
            # one formatted block per record: several times faster than DataFrame.to_csv
            lines = [f"{name}\t{a}\t{rna[b]}\t{c}\t{pr:.6g}\t{pv:.6g}\t{qv:.6g}\t{e}\n"
                     for a, b, c, pr, pv, qv, e in zip(pos.tolist(), base.tolist(), cls, prob.tolist(),
                                                       p.tolist(), q.tolist(), edge.tolist())]
            fh.write("".join(lines))
            rows += m
            start += n
            i += 1
    return rows


def open_in_chromium(html: Path) -> tuple[float, float, int, int, list[str]]:
    """Seconds until the first screen is drawn and until every chart is (the page draws the others
    in the background), charts declared, charts drawn, outside requests and errors."""
    from playwright.sync_api import sync_playwright
    url = html.resolve().as_uri()
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})

        def route(r):
            if r.request.url == url or r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            else:
                problems.append(f"request: {r.request.url}")
                r.abort()

        page.route("**/*", route)
        page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        start = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_function("document.body && document.body.dataset.firstScreen !== undefined",
                               timeout=120_000, polling=50)
        first = time.perf_counter() - start
        page.wait_for_function("document.body.dataset.rendered !== undefined", timeout=600_000, polling=100)
        seconds = time.perf_counter() - start
        declared = int(page.get_attribute("body", "data-charts"))
        drawn = int(page.get_attribute("body", "data-rendered"))
        browser.close()
    return first, seconds, declared, drawn, problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--megabases", type=float, default=10.0)
    ap.add_argument("--record-length", type=int, default=100_000)
    ap.add_argument("--sig-rate", type=float, default=0.001, help="share of rows that are significant")
    ap.add_argument("--keep", metavar="DIR", default=None,
                    help="write inputs and report here and keep them (an existing DIR/predict is reused)")
    ap.add_argument("--open-runs", type=int, default=3, help="times the report is opened in Chromium")
    args = ap.parse_args()

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_report_"))
    pred = work / "predict"
    pred.mkdir(parents=True, exist_ok=True)
    try:
        t = time.perf_counter()
        if (pred / "predictions.tsv").exists() and args.keep:
            with open(pred / "predictions.tsv") as fh:
                rows = sum(1 for _ in fh) - 1
            print(f"reusing {pred / 'predictions.tsv'}: {rows:,} rows")
        else:
            rows = make_predictions(pred / "predictions.tsv", args.megabases, args.record_length, args.sig_rate)
            gb = (pred / "predictions.tsv").stat().st_size / 1e9
            print(f"generated {args.megabases:g} Mb: {rows:,} rows, {gb:.2f} GB in {time.perf_counter() - t:.0f} s",
                  flush=True)
        (pred / "run.json").write_text(json.dumps({"tool": "multirm-predict", "version": "bench",
                                                   "thresholds": {"alpha": 0.05, "fdr": 0.05}}))
        out = work / "report.html"
        t = time.perf_counter()
        rc = report_main([str(pred), "-o", str(out), "--quiet"])
        build = time.perf_counter() - t
        if rc:
            return rc
        size = out.stat().st_size / 1e6
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"report: {size:.2f} MB (bound {SIZE_BOUND_MB} MB), built in {build:.1f} s "
              f"({rows / build:,.0f} rows/s), peak RSS {rss:.0f} MB; load average {os.getloadavg()[0]:.1f}")
        if not Path(CHROMIUM).exists():
            print(f"{CHROMIUM} absent: open time not measured")
            return 0
        firsts, alls = [], []
        for _ in range(args.open_runs):
            first, seconds, declared, drawn, problems = open_in_chromium(out)
            firsts.append(first)
            alls.append(seconds)
            if problems or drawn != declared:
                print(f"PROBLEM: drew {drawn} of {declared} charts; {problems[:5]}")
                return 1
        print(f"open in headless Chromium ({args.open_runs} runs): first screen drawn in "
              f"{', '.join(f'{s:.2f}' for s in firsts)} s (target < 5 s); all {declared} charts drawn in "
              f"{', '.join(f'{s:.1f}' for s in alls)} s; no request left the file, no console error; "
              f"load average {os.getloadavg()[0]:.1f}")
        return 0 if size < SIZE_BOUND_MB and max(firsts) < 5 else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
