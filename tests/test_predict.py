"""multirm-predict end to end: base-aware, complete, edge-flagged, honest p-values, exact coordinates."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from multirm_tools.bundle import file_sha256
from multirm_tools.cli.predict import main
from multirm_tools.constants import BY_NAME, CLASS_NAMES, motif_regex
from multirm_tools.seqio import read_fasta

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "test-data" / "example.fa"
HALF = 10  # tiny bundle: window 21


def run(tmp_path, *extra, fasta=EXAMPLE, model=None, out="out"):
    outdir = tmp_path / out
    rc = main([str(fasta), "-o", str(outdir), "--model", str(model), "--device", "cpu",
               "--threads", "1", *map(str, extra)])
    return rc, outdir


def read_tsv(path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, dtype={"record": str})


def sequences() -> dict[str, str]:
    return {r.id: r.sequence for r in read_fasta(EXAMPLE)}


@pytest.fixture
def result(tmp_path, tiny_bundle):
    rc, outdir = run(tmp_path, "--alpha", 1, "--fdr", 1, "--bedgraph", model=tiny_bundle)
    assert rc == 0
    return outdir


def test_outputs_and_header(result):
    names = sorted(p.name for p in result.iterdir())
    assert names == sorted(["predictions.tsv", "sites.bed", "run.json"]
                           + [f"{c}.bedgraph" for c in CLASS_NAMES])  # no temporary left behind
    assert (result / "predictions.tsv").read_text().splitlines()[0] == \
        "record\tposition\tbase\tmodification\tprobability\tp_value\tq_value\tedge"


def test_every_position_exactly_its_base_classes(result):
    df = read_tsv(result / "predictions.tsv")
    seqs = sequences()
    assert list(df["record"].unique()) == list(seqs)  # file order
    by_base = {b: sorted(c for c in CLASS_NAMES if BY_NAME[c].base == b) for b in "ACGT"}
    for rid, seq in seqs.items():
        sub = df[df["record"] == rid]
        got = sub.groupby("position")["modification"].apply(sorted).to_dict()
        expected = {i + 1: by_base[b] for i, b in enumerate(seq) if b != "N"}
        assert got == expected, rid
        # the base column is the sequence's base, in RNA letters, and the class's own base
        letters = np.array(list(seq))[sub["position"].to_numpy() - 1]
        assert (sub["base"].to_numpy() == np.char.replace(letters.astype(str), "T", "U")).all()
        assert all(BY_NAME[m].base == b.replace("U", "T") for m, b in zip(sub["modification"], sub["base"]))


def test_edges_flagged_exactly(result):
    df = read_tsv(result / "predictions.tsv")
    for rid, seq in sequences().items():
        sub = df[df["record"] == rid]
        pos0 = sub["position"].to_numpy() - 1
        expected = (pos0 < HALF) | (pos0 >= len(seq) - HALF)
        assert (sub["edge"].to_numpy() == expected.astype(int)).all(), rid


def test_p_and_q_values_bounded(result):
    df = read_tsv(result / "predictions.tsv")
    assert ((df["p_value"] > 0) & (df["p_value"] <= 1)).all()
    assert ((df["q_value"] > 0) & (df["q_value"] <= 1)).all()
    assert (df["q_value"] >= df["p_value"] - 1e-6).all()
    assert ((df["probability"] > 0) & (df["probability"] < 1)).all()


def test_score_above_all_nulls_gets_smallest_p(tmp_path, tiny_bundle_factory):
    model = tiny_bundle_factory(null=np.zeros(49))
    rc, outdir = run(tmp_path, model=model)
    assert rc == 0
    df = read_tsv(outdir / "predictions.tsv")
    np.testing.assert_allclose(df["p_value"], 1 / 50, rtol=1e-5)
    bed = (outdir / "sites.bed").read_text().splitlines()
    assert len(bed) == len(df)  # all significant: p = q = 1/50 <= 0.05


def test_bed_coordinates_by_hand(result):
    df = read_tsv(result / "predictions.tsv")
    bed = pd.read_csv(result / "sites.bed", sep="\t", header=None,
                      names=["chrom", "start", "end", "name", "score", "strand"], dtype={"chrom": str})
    assert len(bed) == len(df)  # --alpha 1 --fdr 1: every prediction is a site, in the same order
    assert (bed["end"] - bed["start"] == 1).all()
    assert (bed["name"] == df["modification"]).all()
    assert (np.abs(bed["score"] - np.round(1000 * df["probability"])) <= 1).all()
    seqs = sequences()
    # plus strand header chr1:1000-1300(+): position 1 is chr1 1000 (0-based), position 300 is 1299
    rows = bed[df["record"] == "chr1:1000-1300(+)"]
    pos = df.loc[rows.index, "position"]
    assert (rows["chrom"] == "chr1").all() and (rows["strand"] == "+").all()
    assert (rows["start"] == 1000 + pos - 1).all()
    first = rows[pos == 1]
    assert set(first["start"]) == {1000}
    # minus strand chr2:5000-5400(-): position 1 is the interval's last base, 5399; position 400 is 5000
    rows = bed[df["record"] == "chr2:5000-5400(-)"]
    pos = df.loc[rows.index, "position"]
    assert (rows["chrom"] == "chr2").all() and (rows["strand"] == "-").all()
    assert (rows["start"] == 5400 - pos).all()
    assert set(rows[pos == 1]["start"]) == {5399} and set(rows[pos == 400]["start"]) == {5000}
    # the record's first base really is at its position-1 row (a C, G, U or A class)
    b = seqs["chr2:5000-5400(-)"][0].replace("T", "U")
    assert set(df.loc[rows[pos == 1].index, "base"]) == {b}
    # a record without a genome header: record id, 0-based record position, +
    rows = bed[df["record"] == "tx4"]
    pos = df.loc[rows.index, "position"]
    assert (rows["chrom"] == "tx4").all() and (rows["strand"] == "+").all()
    assert (rows["start"] == pos - 1).all()


def test_bedgraph_zero_based(result):
    df = read_tsv(result / "predictions.tsv")
    lines = (result / "m6A.bedgraph").read_text().splitlines()
    assert lines[0].startswith("track type=bedGraph")
    bg = pd.read_csv(result / "m6A.bedgraph", sep="\t", header=None, skiprows=1,
                     names=["chrom", "start", "end", "value"], dtype={"chrom": str})
    m6a = df[df["modification"] == "m6A"].reset_index(drop=True)
    assert len(bg) == len(m6a)
    plain = m6a["record"] == "tx5"
    assert (bg.loc[plain, "start"] == m6a.loc[plain, "position"] - 1).all()
    plus = m6a["record"] == "chr1:1000-1300(+)"
    assert (bg.loc[plus, "start"] == 999 + m6a.loc[plus, "position"]).all()
    assert (bg["end"] - bg["start"] == 1).all()
    np.testing.assert_allclose(bg["value"], m6a["probability"])


def test_same_output_for_any_batch_size(tmp_path, tiny_bundle):
    frames = []
    for bs in (1, 7, 256):
        rc, outdir = run(tmp_path, "--batch-size", bs, model=tiny_bundle, out=f"bs{bs}")
        assert rc == 0
        frames.append(read_tsv(outdir / "predictions.tsv"))
    a = frames[0]
    for b in frames[1:]:
        pd.testing.assert_frame_equal(a.drop(columns=["probability", "p_value", "q_value"]),
                                      b.drop(columns=["probability", "p_value", "q_value"]))
        np.testing.assert_allclose(a["probability"], b["probability"], atol=1e-5)
        # a float-level change may move a score across one null value at most
        np.testing.assert_allclose(a["p_value"], b["p_value"], atol=1.01 / 201)


def test_motif_filter_keeps_only_drach_m6a(tmp_path, tiny_bundle):
    rc, outdir = run(tmp_path, "--motif-filter", "--classes", "m6A,m6Am,AtoI", model=tiny_bundle)
    assert rc == 0
    df = read_tsv(outdir / "predictions.tsv")
    seqs = sequences()
    drach, bca = motif_regex(BY_NAME["m6A"]), motif_regex(BY_NAME["m6Am"])
    for cls, regex, lo, hi in (("m6A", drach, 2, 3), ("m6Am", bca, 2, 1)):
        expected = {(rid, i + 1) for rid, s in seqs.items() for i in range(len(s))
                    if i >= lo and regex.fullmatch(s[i - lo:i + hi])}
        sub = df[df["modification"] == cls]
        assert set(zip(sub["record"], sub["position"])) == expected
        assert 0 < len(expected)
    # AtoI has no motif: every A keeps it
    n_a = sum(s.count("A") for s in seqs.values())
    assert (df["modification"] == "AtoI").sum() == n_a
    assert (df["modification"] == "m6A").sum() < n_a


def test_classes_aliases_and_unknown(tmp_path, tiny_bundle, capsys):
    rc, outdir = run(tmp_path, "--classes", "pseudouridine,inosine", model=tiny_bundle)
    assert rc == 0
    assert set(read_tsv(outdir / "predictions.tsv")["modification"]) == {"Psi", "AtoI"}
    rc, _ = run(tmp_path, "--classes", "m9Q", model=tiny_bundle, out="bad")
    assert rc == 2 and "unknown modification 'm9Q'" in capsys.readouterr().err


def test_run_record(result, tiny_bundle):
    rec = json.loads((result / "run.json").read_text())
    assert rec["tool"] == "multirm-predict" and rec["schema_version"] == 1
    assert rec["model"]["sha256"] == file_sha256(tiny_bundle)
    assert rec["thresholds"] == {"alpha": 1.0, "fdr": 1.0}
    n_rows = len(read_tsv(result / "predictions.tsv"))
    assert rec["counts"]["predictions"] == n_rows
    assert rec["counts"]["positions"] == sum(map(len, sequences().values()))
    assert sum(c["significant"] for c in rec["counts"]["per_class"].values()) == n_rows
    assert "--bedgraph" in rec["command_line"]


def test_gzip_input_same_output(tmp_path, tiny_bundle, result):
    gz = tmp_path / "example.fa.gz"
    gz.write_bytes(gzip.compress(EXAMPLE.read_bytes()))
    rc, outdir = run(tmp_path, "--alpha", 1, "--fdr", 1, fasta=gz, model=tiny_bundle, out="gz")
    assert rc == 0
    assert (outdir / "predictions.tsv").read_text() == (result / "predictions.tsv").read_text()


def _bad_inputs(tmp_path: Path, tiny_bundle: Path) -> dict:
    good = EXAMPLE.read_text()
    gz = gzip.compress(good.encode() * 20)
    truncated_model = tmp_path / "cut.safetensors"
    truncated_model.write_bytes(tiny_bundle.read_bytes()[:-500])
    cases = {
        "empty": ("", None, "no FASTA records"),
        "non_nucleotide": (good + ">late\nACGT7ACGT\n", None, "record 'late' position 5: '7'"),
        "protein": (">sp|P1|X\nMKTAYIAKQRQISFVKSHFSRQ\n", None, "protein FASTA"),
        "duplicate_ids": (good + ">tx4\nACGT\n", None, "duplicate record id 'tx4'"),
        "truncated_gzip": (gz[: len(gz) * 2 // 3], None, "truncated or corrupt gzip"),
        "truncated_model": (good, truncated_model, "not a readable model bundle"),
        "length_mismatch": (">chr1:0-10(+)\nACGT\n", None, "header interval is 10 nt"),
        "missing_model": (good, tmp_path / "absent.safetensors", "model bundle not found"),
    }
    return cases


@pytest.mark.parametrize("case", ["empty", "non_nucleotide", "protein", "duplicate_ids",
                                  "truncated_gzip", "truncated_model", "length_mismatch",
                                  "missing_model"])
def test_bad_input_one_line_error_no_outputs(tmp_path, tiny_bundle, capsys, case):
    content, model, message = _bad_inputs(tmp_path, tiny_bundle)[case]
    fasta = tmp_path / ("in.fa.gz" if case == "truncated_gzip" else "in.fa")
    fasta.write_bytes(content if isinstance(content, bytes) else content.encode())
    rc, outdir = run(tmp_path, "--bedgraph", fasta=fasta, model=model or tiny_bundle)
    err = capsys.readouterr().err
    assert rc == 1
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("multirm-predict: error: ")
    assert message in err
    assert not outdir.exists() or list(outdir.iterdir()) == []


def test_missing_input_file(tmp_path, tiny_bundle, capsys):
    rc, outdir = run(tmp_path, fasta=tmp_path / "absent.fa", model=tiny_bundle)
    err = capsys.readouterr().err
    assert rc == 1 and "no such file" in err and "Traceback" not in err
    assert not outdir.exists() or list(outdir.iterdir()) == []


@pytest.mark.parametrize("launcher", ["console_script", "tools"])
def test_help_runs(launcher):
    if launcher == "console_script":
        exe = shutil.which("multirm-predict") or str(Path(sys.executable).with_name("multirm-predict"))
        cmd = [exe, "--help"]
    else:
        cmd = [sys.executable, str(ROOT / "tools" / "multirm-predict"), "--help"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    for option in ("--outdir", "--model", "--alpha", "--fdr", "--classes", "--motif-filter", "--bedgraph",
                   "--device", "--threads", "--batch-size", "--version", "--debug"):
        assert option in res.stdout
    assert re.search(r"R Y S W K M B D H V\s+are read as N", res.stdout)


def test_short_and_all_n_records(tmp_path, tiny_bundle):
    fasta = tmp_path / "short.fa"
    fasta.write_text(">one\nA\n>three\nCgU\n>nnn\nNNRY\n>long\n" + "ACGT" * 10 + "\n")
    rc, outdir = run(tmp_path, fasta=fasta, model=tiny_bundle)
    assert rc == 0
    df = read_tsv(outdir / "predictions.tsv")
    assert set(df["record"]) == {"one", "three", "long"}  # the all-N record has nothing to predict
    assert (df.loc[df["record"] != "long", "edge"] == 1).all()
    assert sorted(set(df.loc[df["record"] == "three", "base"])) == ["C", "G", "U"]
    long = df[df["record"] == "long"]
    assert set(long.loc[long["edge"] == 0, "position"]) == set(range(HALF + 1, 40 - HALF + 1))
    rec = json.loads((outdir / "run.json").read_text())
    assert rec["counts"]["records"] == 4 and rec["counts"]["positions"] == 1 + 3 + 4 + 40


def test_ensemble_scores_are_the_mean_of_its_networks(tmp_path, tiny_bundle_factory):
    from multirm_tools.bundle import Bundle, load_bundle, save_bundle

    ens_path = tiny_bundle_factory("ens.safetensors", members=2, seed=4)
    ens = load_bundle(ens_path)
    probs = []
    for i, net in enumerate(ens.model.members):
        path = tmp_path / f"member{i}.safetensors"
        save_bundle(path, Bundle(net, ens.null_scores, ens.thresholds))
        rc, outdir = run(tmp_path, "--alpha", 1, "--fdr", 1, model=path, out=f"m{i}")
        assert rc == 0
        probs.append(read_tsv(outdir / "predictions.tsv")["probability"].to_numpy())
    rc, outdir = run(tmp_path, "--alpha", 1, "--fdr", 1, model=ens_path, out="ens")
    assert rc == 0
    got = read_tsv(outdir / "predictions.tsv")["probability"].to_numpy()
    # predictions.tsv rounds probabilities; the mean of two rounded values is within one unit of it.
    np.testing.assert_allclose(got, np.mean(probs, axis=0), atol=1.5e-6)
    assert not np.allclose(probs[0], probs[1], atol=1e-3)  # the members do differ
    assert json.loads((outdir / "run.json").read_text())["model"]["members"] == 2


def test_a_specialist_network_scores_only_its_class(tmp_path, tiny_bundle_factory):
    from multirm_tools.bundle import Bundle, load_bundle, save_bundle

    ens_path = tiny_bundle_factory("spec.safetensors", members=2, seed=4, specialists=("m6A",))
    ens = load_bundle(ens_path)
    key = ["record", "position", "modification"]
    parts = []
    for i, net in enumerate(ens.model.members):
        path = tmp_path / f"member{i}.safetensors"
        save_bundle(path, Bundle(net, {c: ens.null_scores[c] for c in net.config.classes}, {}))
        rc, outdir = run(tmp_path, "--alpha", 1, "--fdr", 1, model=path, out=f"m{i}")
        assert rc == 0
        parts.append(read_tsv(outdir / "predictions.tsv")[[*key, "probability"]])
    assert set(parts[2]["modification"]) == {"m6A"}
    expected = pd.concat(parts).groupby(key)["probability"].agg(["mean", "size"])
    rc, outdir = run(tmp_path, "--alpha", 1, "--fdr", 1, model=ens_path, out="ens")
    assert rc == 0
    got = read_tsv(outdir / "predictions.tsv").set_index(key)["probability"]
    expected = expected.loc[got.index]
    assert set(expected.loc[expected.index.get_level_values("modification") == "m6A", "size"]) == {3}
    assert set(expected.loc[expected.index.get_level_values("modification") != "m6A", "size"]) == {2}
    np.testing.assert_allclose(got.to_numpy(), expected["mean"].to_numpy(), atol=1.5e-6)


def test_classes_run_only_the_networks_that_predict_them(tmp_path, tiny_bundle_factory):
    from multirm_tools.constants import CLASS_NAMES

    # The bundled model's layout: shared networks without m6A, and an m6A network.
    path = tiny_bundle_factory("spec.safetensors", members=2, seed=5, specialists=("m6A",),
                               classes=tuple(c for c in CLASS_NAMES if c != "m6A"))
    rc, full_dir = run(tmp_path, "--alpha", 1, "--fdr", 1, model=path, out="full")
    assert rc == 0
    full = read_tsv(full_dir / "predictions.tsv")
    assert json.loads((full_dir / "run.json").read_text())["model"]["members_run"] == 3
    for classes, members_run in [("m6A", 1), ("Psi,m5C", 2)]:
        rc, outdir = run(tmp_path, "--alpha", 1, "--fdr", 1, "--classes", classes, model=path, out=classes)
        assert rc == 0
        record = json.loads((outdir / "run.json").read_text())["model"]
        assert (record["members"], record["members_run"]) == (3, members_run)
        got = read_tsv(outdir / "predictions.tsv")
        expected = full[full["modification"].isin(classes.split(","))].reset_index(drop=True)
        assert len(got) > 0
        # Every column, p- and q-values included, exactly as in the full run.
        pd.testing.assert_frame_equal(got, expected)
