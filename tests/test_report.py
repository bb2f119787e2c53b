"""multirm-report: inputs recognised by content, sections only for the inputs given, bounded size,
the streaming summary against a brute-force one, self-contained HTML, clean failures, packaging.

The explain, motifs and correlate tables are generated here with the columns of the shared output
contract (README), so these sections are tested without running those tools.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from multirm_tools.cli import report as report_cli
from multirm_tools.constants import BY_NAME, CLASS_NAMES
from multirm_tools.errors import InputError, UsageError
from multirm_tools.metrics import evaluate_scores
from multirm_tools.tables import BASELINE_MODEL, TABLES, naming_model
from multirm_tools.report import (
    SIZE_BOUND_MB,
    TEMPLATES,
    Limits,
    classify_file,
    recognise,
    summarise_predictions,
    vega_javascript,
)

ROOT = Path(__file__).resolve().parents[1]
RNA_CLASSES = {b: [c for c in CLASS_NAMES if BY_NAME[c].base == ("T" if b == "U" else b)] for b in "ACGU"}


# ---------------------------------------------------------------------------------------------
# generated inputs

def predictions_table(lengths: dict[str, int], seed: int = 0, sig_rate: float = 0.002) -> pd.DataFrame:
    """A predictions table as multirm-predict writes it: every position, each class of its base."""
    rng = np.random.default_rng(seed)
    frames = []
    for record, length in lengths.items():
        bases = rng.choice(list("ACGU"), size=length)
        pos = np.arange(1, length + 1)
        rows = [(p, b, c) for p, b in zip(pos, bases) for c in RNA_CLASSES[b]]
        df = pd.DataFrame(rows, columns=["position", "base", "modification"])
        n = len(df)
        df.insert(0, "record", record)
        df["probability"] = rng.random(n).round(6)
        p = rng.uniform(0.06, 1, n)
        sig = rng.random(n) < sig_rate
        p[sig] = rng.uniform(1e-5, 0.04, sig.sum())
        df["p_value"] = p.round(6)
        df["q_value"] = np.where(sig, (p * 1.2).round(6), np.minimum(1, p * 2).round(6))
        df["edge"] = ((pos[np.searchsorted(pos, df["position"])] <= 25)
                      | (df["position"] > length - 25)).astype(int)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def write_predict_dir(d: Path, table: pd.DataFrame, alpha: float = 0.05, fdr: float = 0.05) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    table.to_csv(d / "predictions.tsv", sep="\t", index=False)
    sig = table[(table["p_value"] <= alpha) & (table["q_value"] <= fdr)]
    pd.DataFrame({"chrom": sig["record"], "start": sig["position"] - 1, "end": sig["position"],
                  "name": sig["modification"], "score": 500, "strand": "+"}).to_csv(
        d / "sites.bed", sep="\t", index=False, header=False)
    run = {"tag": "multirm-tools run", "schema_version": 1, "tool": "multirm-predict", "version": "0.1.0",
           "command_line": "multirm-predict in.fa -o out", "input": "in.fa",
           "model": {"path": "default.safetensors", "sha256": "ab" * 32},
           "thresholds": {"alpha": alpha, "fdr": fdr},
           "counts": {"records": int(table["record"].nunique()), "positions": 0, "predictions": len(table)}}
    (d / "run.json").write_text(json.dumps(run))
    (d / "m6A.bedgraph").write_text("chr1\t0\t1\t0.5\n")  # present in a predict folder, not read
    return d


def write_evaluate_dir(d: Path, seed: int = 0) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    classes = ["m6A", "Psi"]
    df = pd.DataFrame({"modification": np.repeat(classes, 40), "label": np.tile(np.repeat([1, 0], 20), 2)})
    scores = np.zeros((len(df), len(classes)))
    for j, c in enumerate(classes):
        rows = df["modification"] == c
        scores[rows, j] = rng.random(rows.sum()) + 0.5 * df.loc[rows, "label"]
    metrics, curves = evaluate_scores(df, scores, classes, {c: 0.5 for c in classes})
    # as multirm-evaluate writes them: a first column naming the model
    naming_model(metrics, "model.safetensors").to_csv(d / "metrics.tsv", sep="\t", index=False, na_rep="NA")
    naming_model(curves, "model.safetensors").to_csv(d / "curves.tsv", sep="\t", index=False, na_rep="NA")
    return d


def write_explain_dir(d: Path, n_sites: int = 3, window: int = 11) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rows, sites = [], []
    for k in range(n_sites):
        cls = ["m6A", "Psi"][k % 2]
        site = 30 + 7 * k
        prob = round(0.5 + 0.4 * rng.random(), 4)
        for w in range(-(window // 2), window // 2 + 1):
            rows.append(("tx1", site, cls, prob, w, site + w, "ACGU"[(site + w) % 4],
                         round(rng.random() / window, 5), round(rng.normal(0, 0.1), 5)))
        sites.append(("tx1", site, cls, prob, 1.2, -0.3, 1.5, 0.001))
    pd.DataFrame(rows, columns=TABLES["explain"].names).to_csv(d / "explain.tsv", sep="\t", index=False)
    pd.DataFrame(sites, columns=TABLES["explain_sites"].names).to_csv(d / "sites.tsv", sep="\t", index=False)
    (d / "attention.bedgraph").write_text("tx1\t0\t1\t0.1\n")
    return d


def _png(path: Path, size=(40, 12)) -> None:
    from PIL import Image
    Image.new("RGB", size, (200, 30, 30)).save(path)


def write_motifs_dir(d: Path) -> Path:
    (d / "logos").mkdir(parents=True, exist_ok=True)
    ids = ["m6A_1", "Psi_1"]
    meme = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: +", "",
            "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for mid in ids:
        meme += [f"MOTIF {mid}", "letter-probability matrix: alength= 4 w= 3 nsites= 10 E= 0",
                 "0.7 0.1 0.1 0.1", "0.1 0.1 0.7 0.1", "0.1 0.7 0.1 0.1", ""]
        _png(d / "logos" / f"{mid}.png")
        (d / "logos" / f"{mid}.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (d / "motifs.meme").write_text("\n".join(meme))
    pd.DataFrame([(m, m.split("_")[0], 10, 3, "AGC") for m in ids],
                 columns=TABLES["motifs_table"].names).to_csv(d / "motifs.tsv", sep="\t", index=False)
    pd.DataFrame([("m6A_1", "MA0001.1_DRACH", 0, 1e-4, 0.01, 0.02, 3, "+"),
                  ("m6A_1", "MA0002.1_OTHER", 1, 0.2, 9.0, 0.5, 2, "-")],
                 columns=TABLES["tomtom"].names).to_csv(d / "tomtom.tsv", sep="\t", index=False)
    return d


def write_correlate_dir(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    m = rng.uniform(-1, 1, (12, 12))
    m = (m + m.T) / 2
    np.fill_diagonal(m, 1)
    mat = pd.DataFrame(m.round(4), columns=CLASS_NAMES)
    mat.insert(0, "modification", CLASS_NAMES)
    mat.to_csv(d / "correlation.tsv", sep="\t", index=False)
    # each pair once, as multirm-correlate writes it; the report mirrors it
    long = [(a, b, m[i, j].round(4), 0.01) for i, a in enumerate(CLASS_NAMES) for j, b in enumerate(CLASS_NAMES)
            if i < j]
    pd.DataFrame(long, columns=TABLES["correlation_long"].names).to_csv(d / "correlation_long.tsv", sep="\t",
                                                                    index=False)
    pd.DataFrame([("m6A", "Psi", 12, 40.0, 55.0, 0.03)], columns=TABLES["distances"].names).to_csv(
        d / "distances.tsv", sep="\t", index=False)
    return d


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("outputs")
    table = predictions_table({"tx1": 300, "tx2": 120, "tx3": 80}, sig_rate=0.02)
    return {"predict": write_predict_dir(d / "predict", table), "evaluate": write_evaluate_dir(d / "evaluate"),
            "explain": write_explain_dir(d / "explain"), "motifs": write_motifs_dir(d / "motifs"),
            "correlate": write_correlate_dir(d / "correlate")}


def build(tmp_path: Path, *inputs, extra=()) -> str:
    out = tmp_path / "report.html"
    assert report_cli.main([*map(str, inputs), "-o", str(out), "--quiet", *extra]) == 0
    return out.read_text()


def chart_specs(html: str) -> list[dict]:
    m = re.search(r'<script type="application/json" id="chart-specs">(.*?)</script>', html, re.DOTALL)
    return json.loads(m.group(1))


def dataset(spec: dict, name: str) -> pd.DataFrame:
    return pd.DataFrame(spec["spec"]["datasets"][name]["columns"])


# ---------------------------------------------------------------------------------------------
# recognition

def test_files_are_recognised_by_content_not_name(outputs, tmp_path):
    pairs = [(outputs["predict"] / "predictions.tsv", "predictions"), (outputs["predict"] / "run.json", "run"),
             (outputs["predict"] / "sites.bed", "sites_bed"), (outputs["evaluate"] / "metrics.tsv", "metrics"),
             (outputs["evaluate"] / "curves.tsv", "curves"), (outputs["explain"] / "explain.tsv", "explain"),
             (outputs["explain"] / "sites.tsv", "explain_sites"),
             (outputs["motifs"] / "motifs.meme", "motifs_meme"), (outputs["motifs"] / "motifs.tsv", "motifs_table"),
             (outputs["motifs"] / "tomtom.tsv", "tomtom"), (outputs["correlate"] / "correlation.tsv", "correlation"),
             (outputs["correlate"] / "correlation_long.tsv", "correlation_long"),
             (outputs["correlate"] / "distances.tsv", "distances")]
    for i, (path, kind) in enumerate(pairs):
        renamed = tmp_path / f"input_{i}.txt"
        renamed.write_bytes(path.read_bytes())
        assert classify_file(renamed) == kind, path.name
    assert classify_file(outputs["predict"] / "m6A.bedgraph") is None
    found = recognise([str(v) for v in outputs.values()])
    assert "sites_bed" not in found  # the predictions carry the significant sites
    assert set(found["logos"]) == {"m6A_1", "Psi_1"}
    assert {"predictions", "run", "metrics", "curves", "explain", "explain_sites", "motifs_meme",
            "motifs_table", "tomtom", "correlation", "correlation_long", "distances"} <= set(found)


def test_unrecognised_input_is_one_line_error(outputs, tmp_path, capsys):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\tworld\n")
    out = tmp_path / "r.html"
    assert report_cli.main([str(outputs["predict"]), str(junk), "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    expected = (f"multirm-report: error: {junk}: not recognised as an output of multirm-predict, -evaluate, "
                "-explain, -motifs or -correlate (first line: 'hello\\tworld')")
    assert err == [expected]
    assert not out.exists() and not list(tmp_path.glob(".r.html*"))
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(InputError, match="empty_dir: no output of multirm-predict"):
        recognise([str(empty)])
    with pytest.raises(UsageError, match="both multirm-evaluate metrics"):
        recognise([str(outputs["evaluate"]), str(outputs["evaluate"] / "metrics.tsv")])


def test_bad_prediction_rows_name_the_line(outputs, tmp_path):
    lines = (outputs["predict"] / "predictions.tsv").read_text().splitlines()
    bad = lines[:5] + [lines[5].replace("\t", "\tx", 1).split("\t", 1)[0] + "\tnot_a_number\t" +
                       "\t".join(lines[5].split("\t")[2:])] + lines[6:]
    (tmp_path / "a.tsv").write_text("\n".join(bad) + "\n")
    with pytest.raises(InputError, match=r"a\.tsv: line 6: position, probability"):
        summarise_predictions(tmp_path / "a.tsv", 0.05, 0.05, Limits())
    prob = lines[:3] + [re.sub(r"^((?:[^\t]*\t){4})[^\t]*", r"\g<1>1.5", lines[3])] + lines[4:]
    (tmp_path / "b.tsv").write_text("\n".join(prob) + "\n")
    with pytest.raises(InputError, match=r"b\.tsv: line 4: probability must be in \[0, 1\]"):
        summarise_predictions(tmp_path / "b.tsv", 0.05, 0.05, Limits())
    tx1 = [x for x in lines[1:] if x.startswith("tx1\t")]
    tx2 = [x for x in lines[1:] if x.startswith("tx2\t")]
    (tmp_path / "c.tsv").write_text("\n".join([lines[0], *tx1[:10], *tx2, *tx1[10:]]) + "\n")
    with pytest.raises(InputError, match=rf"c\.tsv: line {12 + len(tx2)}: record tx1 appears again"):
        summarise_predictions(tmp_path / "c.tsv", 0.05, 0.05, Limits())


def test_a_run_that_predicted_nothing_gives_a_report(tmp_path):
    # --classes m6A on a record without A, or an all-N record: predictions.tsv is its header alone.
    empty = predictions_table({"tx1": 30}).iloc[:0]
    d = write_predict_dir(tmp_path / "p", empty)
    summary = summarise_predictions(d / "predictions.tsv", 0.05, 0.05, Limits())
    assert summary.n_records == 0 and summary.n_significant == 0 and summary.per_class.empty
    assert report_cli.main([str(d), "-o", str(tmp_path / "r.html"), "--quiet"]) == 0
    assert "0 significant site(s) in 0 record(s)" in (tmp_path / "r.html").read_text()


# ---------------------------------------------------------------------------------------------
# the streaming summary

def _brute_force_track(table: pd.DataFrame, record: str, width: int) -> pd.DataFrame:
    sub = table[table["record"] == record].copy()
    sub["bin"] = sub["position"] // width
    best = sub.sort_values("probability", ascending=False, kind="stable").groupby(
        ["modification", "bin"]).head(1)
    return best.sort_values(["modification", "position"])[["position", "modification", "probability"]]


def test_summary_bounds_and_matches_brute_force(tmp_path):
    lengths = {f"r{i}": 150 for i in range(12)} | {"long": 6000}
    table = predictions_table(lengths, seed=3, sig_rate=0.01)
    path = tmp_path / "predictions.tsv"
    table.to_csv(path, sep="\t", index=False)
    limits = Limits(max_sequences=4, max_points=300, max_site_marks=300, max_table_rows=25)
    s = summarise_predictions(path, 0.05, 0.05, limits, chunk_rows=997)
    sig = table[(table["p_value"] <= 0.05) & (table["q_value"] <= 0.05)]
    # the records with the most significant sites, ties in input order
    n_sig = sig.groupby("record").size().reindex(list(lengths), fill_value=0)
    expected = sorted(lengths, key=lambda r: (-n_sig[r], list(lengths).index(r)))[:4]
    assert [t.record for t in s.tracks] == expected
    assert [t.n_significant for t in s.tracks] == [n_sig[r] for r in expected]
    assert s.n_records == 13 and s.n_significant == len(sig)
    counts = table.groupby("modification").size()
    assert dict(zip(s.per_class["modification"], s.per_class["predictions"])) == counts.to_dict()
    # the table: the lowest q-values, bounded
    assert len(s.sites) == 25
    assert s.sites["q_value"].tolist() == sorted(sig["q_value"])[:25]
    # the long record is downsampled to max per bin, every significant site kept
    long = next(t for t in s.tracks if t.record == "long")
    assert long.bin_width > 1 and len(long.rows) <= limits.max_points
    brute = _brute_force_track(table, "long", long.bin_width)
    got = (long.rows[["position", "modification", "probability"]].astype({"modification": str})
           .sort_values(["modification", "position"]))
    assert got.reset_index(drop=True).equals(brute.reset_index(drop=True))
    assert set(long.sites["position"]) == set(sig.loc[sig["record"] == "long", "position"])
    # chunking does not change anything
    s2 = summarise_predictions(path, 0.05, 0.05, limits, chunk_rows=1_000_000)
    assert [t.record for t in s2.tracks] == [t.record for t in s.tracks]
    for a, b in zip(s.tracks, s2.tracks):
        assert a.bin_width == b.bin_width
        assert a.rows.reset_index(drop=True).astype({"base": str}).equals(
            b.rows.reset_index(drop=True).astype({"base": str}))
    assert s.sites.reset_index(drop=True).astype(str).equals(s2.sites.reset_index(drop=True).astype(str))
    # gzipped, under any name: the same summary
    gz = tmp_path / "predictions.data"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    s3 = summarise_predictions(gz, 0.05, 0.05, limits)
    assert [t.record for t in s3.tracks] == [t.record for t in s.tracks] and s3.n_significant == s.n_significant


# ---------------------------------------------------------------------------------------------
# the page

def test_full_report_sections_and_self_containment(outputs, tmp_path):
    html = build(tmp_path, *outputs.values())
    for section in ("summary", "tracks", "explain", "motifs", "correlation", "evaluation"):
        assert f'<section id="{section}">' in html
    specs = chart_specs(html)
    # 3 tracks, 2 explained classes, 1 heatmap, ROC and PR
    assert [c["id"] for c in specs] == ["track-0", "track-1", "track-2", "explain-m6A", "explain-Psi",
                                         "chart-correlation", "curve-ROC", "curve-PR"]
    assert f'data-charts="{len(specs)}"' in html
    for c in specs:
        assert re.search(rf'<div class="chart" id="{c["id"]}" style="min-height: \d+px"></div>', html)
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "a chart drawn into the wrong element"
    # nothing to fetch: no external src/href, no <link>, the Vega JavaScript inlined once
    assert not re.search(r'(src|href)\s*=\s*["\']?\s*(https?:|//)', html, re.IGNORECASE)
    assert "<link" not in html and "<iframe" not in html
    assert len(re.findall(r"<script\b", html)) == 3
    assert len(re.findall(r"<script\b[^>]*\bsrc=", html)) == 0
    assert html.count(vega_javascript()[:300]) == 1
    assert "$schema" not in json.dumps(specs)
    # logos inline, TOMTOM matches best first
    assert html.count('src="data:image/png;base64,') == 2
    assert html.index("MA0001.1_DRACH") < html.index("MA0002.1_OTHER")
    # the sites table: every significant site of the run (fewer than the bound), with a TSV button
    table = pd.read_csv(outputs["predict"] / "predictions.tsv", sep="\t")
    n_sig = int(((table["p_value"] <= 0.05) & (table["q_value"] <= 0.05)).sum())
    body = html.split('id="sites-table"')[1].split("</table>")[0]
    assert body.count("<tr>") == n_sig + 1
    assert 'data-table="sites-table" data-filename="significant_sites.tsv"' in html
    # a track carries position, base, probability, p and q and marks the significant sites
    track = dataset(specs[0], "track")
    assert {"position", "base", "modification", "probability", "p", "q", "sig"} <= set(track)
    top = table[table["record"] == "tx1"]
    assert track["sig"].sum() == int(((top["p_value"] <= 0.05) & (top["q_value"] <= 0.05)).sum())
    assert len(track) == len(top)  # short records are drawn at full resolution
    # correlation: the full matrix from pairs given once
    corr = dataset(specs[5], "corr")
    assert len(corr) == 144
    r = corr.set_index(["class_a", "class_b"])["pearson_r"]
    assert all(r[(a, b)] == r[(b, a)] for a in CLASS_NAMES for b in CLASS_NAMES)
    assert all(r[(a, a)] == 1 for a in CLASS_NAMES)


def test_sections_only_for_inputs_given(outputs, tmp_path):
    html = build(tmp_path, outputs["evaluate"] / "metrics.tsv", outputs["evaluate"] / "curves.tsv")
    assert '<section id="evaluation">' in html
    for absent in ("tracks", "explain", "motifs", "correlation"):
        assert f'<section id="{absent}">' not in html
    assert [c["id"] for c in chart_specs(html)] == ["curve-ROC", "curve-PR"]
    html = build(tmp_path, outputs["predict"] / "sites.bed")
    assert 'id="bed-table"' in html and chart_specs(html) == []
    assert "<script" in html
    # multirm-motifs may find no motif: a MEME header and an empty table are a result, not an error
    empty = tmp_path / "no_motifs"
    empty.mkdir()
    (empty / "motifs.meme").write_text("MEME version 4\n\nALPHABET= ACGT\n\nstrands: +\n")
    (empty / "motifs.tsv").write_text("\t".join(TABLES["motifs_table"].names) + "\n")
    html = build(tmp_path, empty)
    assert '<section id="motifs">' in html and "multirm-motifs found no motif." in html


def test_same_inputs_same_bytes(outputs, tmp_path):
    a = build(tmp_path / "a", *outputs.values())
    b = build(tmp_path / "b", *outputs.values())
    assert a == b


def test_user_strings_are_escaped(tmp_path):
    table = predictions_table({"<img src=x onerror=alert(1)>": 60}, sig_rate=0.1)
    html = build(tmp_path, write_predict_dir(tmp_path / "p", table))
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_size_bound_on_large_input(tmp_path):
    """Every bound at work at once (more records, longer records, more significant sites than the
    page takes): the report stays under the stated size, and says what it left out."""
    lengths = {f"r{i}": 1500 for i in range(70)}
    table = predictions_table(lengths, seed=5, sig_rate=0.25)
    d = write_predict_dir(tmp_path / "big", table)
    limits = ["--max-sequences", "50", "--max-points", "800", "--max-table-rows", "2000"]
    html = build(tmp_path, d, extra=limits)
    size = len(html.encode())
    specs = chart_specs(html)
    assert len(specs) == 50
    for c in specs:
        track = dataset(c, "track")
        assert len(track[track["sig"] == 0]) <= 800 and track["sig"].sum() <= 500
    assert html.split('id="sites-table"')[1].split("</table>")[0].count("<tr>") == 2001
    assert "Tracks are drawn for 50 of 70 records" in html
    assert "downsampled to at most 800 points per track" in html
    assert "lists 2000 of" in html
    # per-chart bytes scale with the bounds: at the defaults (2000 points) the report stays under the bound
    per_point = (size - 1_000_000) / sum(len(dataset(c, "track")) for c in specs)
    default = Limits()
    worst = 1_000_000 + per_point * default.max_sequences * (default.max_points + default.max_site_marks)
    assert size < SIZE_BOUND_MB * 1e6 and worst < SIZE_BOUND_MB * 1e6, (size, worst)


def test_help_states_the_size_bound(capsys):
    with pytest.raises(SystemExit):
        report_cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"under {SIZE_BOUND_MB} MB for any input" in text
    assert "--max-sequences" in text and "--max-points" in text


# ---------------------------------------------------------------------------------------------
# packaging: the templates ship inside the package; the top-level templates/ is the same folder

def test_templates_are_package_data(tmp_path):
    assert (ROOT / "templates").resolve() == (ROOT / "src" / "multirm_tools" / "templates").resolve()
    assert (TEMPLATES / "report.html.j2").is_file()
    # build isolation fetches setuptools where the environment lacks it (a fresh venv)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {proc.stderr.strip().splitlines()[-1:]}")
    wheel = next(tmp_path.glob("multirm_tools-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for t in (ROOT / "templates").glob("*.j2"):
        assert f"multirm_tools/templates/{t.name}" in names


def test_output_is_a_new_file_not_an_input(outputs, tmp_path, capsys):
    assert report_cli.main([str(outputs["evaluate"]), "-o", str(tmp_path), "--quiet"]) == 2
    metrics = outputs["evaluate"] / "metrics.tsv"
    before = metrics.read_bytes()
    assert report_cli.main([str(metrics), "-o", str(metrics), "--quiet"]) == 2
    assert report_cli.main([str(outputs["evaluate"]), "-o", str(metrics), "--quiet"]) == 2  # inside a folder
    assert metrics.read_bytes() == before
    err = capsys.readouterr().err.splitlines()
    assert err[0].endswith(": is a folder; give a file name")
    assert err[1].endswith("the report would overwrite an input") and err[2] == err[1]


def test_the_baseline_is_told_by_the_model_column_not_the_file_name(outputs, tmp_path):
    """Galaxy renames datasets: a baseline's table is the baseline's whatever its name."""
    metrics = pd.read_csv(outputs["evaluate"] / "metrics.tsv", sep="\t", keep_default_na=False)
    curves = pd.read_csv(outputs["evaluate"] / "curves.tsv", sep="\t", keep_default_na=False)
    d = tmp_path / "renamed"
    d.mkdir()
    # the baseline's tables under plain names, the model's under names that say "baseline"
    metrics.assign(model=BASELINE_MODEL).to_csv(d / "dataset_1.dat", sep="\t", index=False)
    curves.assign(model=BASELINE_MODEL).to_csv(d / "dataset_2.dat", sep="\t", index=False)
    metrics.to_csv(d / "metrics_baseline.tsv", sep="\t", index=False)
    curves.to_csv(d / "curves_baseline.tsv", sep="\t", index=False)
    assert classify_file(d / "dataset_1.dat") == "metrics_baseline"
    assert classify_file(d / "dataset_2.dat") == "curves_baseline"
    assert classify_file(d / "metrics_baseline.tsv") == "metrics"
    assert classify_file(d / "curves_baseline.tsv") == "curves"
    # tables of older runs, without the column, are still told by their names
    legacy = d / "legacy"
    legacy.mkdir()
    metrics.drop(columns="model").to_csv(legacy / "metrics_baseline.tsv", sep="\t", index=False)
    metrics.drop(columns="model").to_csv(legacy / "metrics.tsv", sep="\t", index=False)
    assert classify_file(legacy / "metrics_baseline.tsv") == "metrics_baseline"
    assert classify_file(legacy / "metrics.tsv") == "metrics"
    html = build(tmp_path, d / "dataset_1.dat", d / "metrics_baseline.tsv")
    assert "<h3>Metrics: LightGBM baseline</h3>" in html and "<h3>Metrics: model</h3>" in html


def test_metrics_with_bootstrap_intervals_are_read_and_shown(tmp_path, capsys):
    from multirm_tools.metrics import CI_COLUMNS
    assert [c for c, _ in TABLES["metrics"].optional] == CI_COLUMNS  # what multirm-evaluate --bootstrap writes
    d = tmp_path / "evaluate"
    d.mkdir()
    df = pd.DataFrame({"modification": np.repeat(["m6A", "Psi"], 40), "label": np.tile(np.repeat([1, 0], 20), 2)})
    scores = np.random.default_rng(2).random((80, 2)) + 0.4 * df["label"].to_numpy()[:, None]
    metrics, _ = evaluate_scores(df, scores, ["m6A", "Psi"], bootstrap=30)
    metrics.to_csv(d / "metrics.tsv", sep="\t", index=False, na_rep="NA")
    assert classify_file(d / "metrics.tsv") == "metrics"
    html = build(tmp_path, d / "metrics.tsv")
    assert '<section id="evaluation">' in html and "AUCb_low" in html and "AUCm_high" in html
    bad = d / "bad.tsv"
    bad.write_text((d / "metrics.tsv").read_text().rsplit("\t", 1)[0] + "\tnot-a-number\n")
    assert report_cli.main([str(bad), "-o", str(tmp_path / "bad.html"), "--quiet"]) == 1
    assert "line 4: column AUCm_high is 'not-a-number', not a number" in capsys.readouterr().err
    assert not (tmp_path / "bad.html").exists()


def test_comparisons_are_recognised_and_shown(tmp_path, capsys):
    from multirm_tools.metrics import COMPARE_COLUMNS, compare_scores

    assert TABLES["comparison"].names[1:] == COMPARE_COLUMNS  # what multirm-evaluate --compare writes
    d = tmp_path / "evaluate"
    d.mkdir()
    df = pd.DataFrame({"modification": np.repeat(["m6A", "Psi"], 40), "label": np.tile(np.repeat([1, 0], 20), 2)})
    rng = np.random.default_rng(3)
    scores = rng.random((80, 2)) + 0.4 * df["label"].to_numpy()[:, None]
    table = compare_scores(df, scores, scores + rng.normal(scale=0.2, size=scores.shape), ["m6A", "Psi"], 30)
    table.to_csv(d / "comparison.tsv", sep="\t", index=False, na_rep="NA")
    table.to_csv(d / "comparison_baseline.tsv", sep="\t", index=False, na_rep="NA")
    assert classify_file(d / "comparison.tsv") == "comparison"
    assert classify_file(d / "comparison_baseline.tsv") == "comparison_baseline"
    html = build(tmp_path, d)
    assert '<section id="evaluation">' in html
    assert "this model against the compared model" in html and "this model against the LightGBM baseline" in html
    assert html.count('id="comparison-table-') == 2
    bad = tmp_path / "bad_comparison.tsv"
    bad.write_text((d / "comparison.tsv").read_text().replace("\tAUCb\t", "\tAUCb\tx", 1))
    assert report_cli.main([str(bad), "-o", str(tmp_path / "bad.html"), "--quiet"]) == 1
    assert "line 2: column model is" in capsys.readouterr().err
