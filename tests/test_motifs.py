"""multirm-motifs: MEME files, TOMTOM, segment extraction, motif recovery, logos, CLI, end to end.

Recovery is tested on explain-like tables made here (planted motifs, attribution peaks
over them, noise elsewhere) and end to end on the tiny planted-motif model of
tests/planted.py, explained by the tool itself (``--sites``).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from planted import (
    PLANTED,
    make_planted_sites,
    planted_bundle,
    planted_pwm,
    write_fasta,
)

from multirm_tools import motifs as M
from multirm_tools.meme import read_meme, write_meme
from multirm_tools.cli import motifs as cli
from multirm_tools.errors import InputError

IUPAC = {"A": "A", "C": "C", "G": "G", "T": "T", "D": "AGT", "R": "AG", "H": "ACT"}
# class -> (IUPAC motif, index of the site inside it): DRACH around m6A, a T-loop around m5U
SYNTHETIC = {"m6A": ("DRACH", 2), "m5U": ("GTTCGA", 1)}


def iupac_pwm(motif: str) -> np.ndarray:
    pwm = np.zeros((len(motif), 4))
    for j, c in enumerate(motif):
        pwm[j, ["ACGT".index(b) for b in IUPAC[c]]] = 1.0 / len(IUPAC[c])
    return pwm


def decoys(n: int = 30, seed: int = 123) -> dict[str, np.ndarray]:
    """Random motifs (Dirichlet columns, 6-11 wide): TOMTOM needs a target set to calibrate on."""
    rng = np.random.default_rng(seed)
    return {f"decoy{i}": rng.dirichlet(np.full(4, 0.5), size=int(rng.integers(6, 12))) for i in range(n)}


def explain_table(n: int = 40, window: int = 21, seed: int = 0, motif_rate: float = 1.0,
                  noise: float = 0.3, jitter: int = 0, planted=SYNTHETIC) -> pd.DataFrame:
    """An explain.tsv-like table: a motif instance around each site, attribution +1 on it.

    ``jitter`` moves the attribution peak up to that many nt off the motif; ``motif_rate``
    is the share of sites holding the motif (the rest are random with a random peak).
    """
    rng = np.random.default_rng(seed)
    half = window // 2
    rows = []
    for cls, (motif, off) in planted.items():
        for i in range(n):
            seq = rng.choice(list("ACGT"), size=window)
            att = rng.normal(0.0, noise, size=window)
            lo = half - off
            if rng.random() < motif_rate:
                seq[lo:lo + len(motif)] = [rng.choice(list(IUPAC[c])) for c in motif]
                lo += int(rng.integers(-jitter, jitter + 1))
            else:
                lo = int(rng.integers(0, window - len(motif)))
            att[max(lo, 0):lo + len(motif)] += 1.0
            for j in range(window):
                rows.append((f"{cls}_site{i}", 500, cls, 0.9, j - half, 500 + j - half,
                             seq[j].replace("T", "U"), 1.0 / window, att[j]))
    return pd.DataFrame(rows, columns=["record", "site", "modification", "probability", "window_position",
                                       "position", "nucleotide", "attention", "attribution"])


def recovered(found: dict[str, np.ndarray], planted: dict[str, np.ndarray]) -> dict[str, bool]:
    """Planted motif id -> matched by some found motif at TOMTOM q < 0.05 (targets: planted + decoys)."""
    hits = M.compare_motifs(found, {**planted, **decoys()})
    return {name: bool(((hits["target_id"] == name) & (hits["q_value"] < 0.05)).any()) for name in planted}


def find(df: pd.DataFrame, **kwargs) -> list[M.Motif]:
    regions, _ = M.extract_regions(M.tracks_from_explain(df), 8, 3)
    return M.find_motifs(regions, min_sites=5, **kwargs)


# ---------------------------------------------------------------------------------------------
# MEME files

def test_meme_round_trip_and_memelite_reads_it(tmp_path):
    from memelite.io import read_meme as memelite_read

    motifs = {"m6A_1": iupac_pwm("DRACH"), "m5U_1": iupac_pwm("GTTCGA"), **decoys(3)}
    path = tmp_path / "m.meme"
    with open(path, "w") as fh:
        write_meme(fh, motifs, {k: 7 for k in motifs})
    back = read_meme(path)
    assert list(back) == list(motifs)
    for k, probs in motifs.items():
        np.testing.assert_allclose(back[k], probs, atol=1e-6)
    text = path.read_text()
    assert text.startswith("MEME version 4\n") and "ALPHABET= ACGT" in text and "nsites= 7" in text
    theirs = memelite_read(str(path))
    np.testing.assert_allclose(theirs["m6A_1"].T, motifs["m6A_1"], atol=1e-6)


def test_read_meme_accepts_rna_alphabet_and_unsized_matrices(tmp_path):
    path = tmp_path / "rna.meme"
    path.write_text("MEME version 5\n\nALPHABET= ACGU\n\nMOTIF tloop T-loop\n"
                    "letter-probability matrix: alength= 4 nsites= 3\n"
                    " 0 0 1 0\n 0 0 0 1\n0.5 0.5 0 0\n\nURL none\n")
    got = read_meme(path)
    assert list(got) == ["tloop"]
    np.testing.assert_allclose(got["tloop"], [[0, 0, 1, 0], [0, 0, 0, 1], [0.5, 0.5, 0, 0]])


@pytest.mark.parametrize("text, message", [
    ("MEME version 4\n\nALPHABET= ACGT\n", "no MOTIF lines; not a MEME motif file"),
    ("ALPHABET= ACDEFGHIKLMNPQRSTVWY\nMOTIF x\n", "line 1: alphabet 'ACDEFGHIKLMNPQRSTVWY' is not DNA"),
    ("MOTIF x\nletter-probability matrix: alength= 4 w= 2\n0.25 0.25 0.5\n0 0 0 1\n",
     "line 3: MOTIF x: matrix row has 3 values, expected 4"),
    ("MOTIF x\nletter-probability matrix: alength= 4 w= 1\n0.5 0.5 0.5 0.5\n",
     "line 3: MOTIF x: matrix row '0.5 0.5 0.5 0.5' is not letter probabilities"),
    ("MOTIF x\nletter-probability matrix: alength= 4 w= 1\n0.5 a 0.5 0\n", "is not 4 numbers"),
    ("MOTIF x\nletter-probability matrix: alength= 4 w= 3\n1 0 0 0\n0 1 0 0\nMOTIF y\n",
     "line 1: MOTIF x declares w= 3 but has 2 matrix rows"),
    ("MOTIF x\nletter-probability matrix: alength= 20 w= 1\n1 0 0 0\n", "has alength= 20"),
    ("MOTIF x\nURL none\n", "MOTIF x has no 'letter-probability matrix' line"),
    ("MOTIF x\nletter-probability matrix: w= 1\n1 0 0 0\nMOTIF x\n", "line 4: motif id x appears twice"),
])
def test_read_meme_errors_name_file_line_and_problem(tmp_path, text, message):
    path = tmp_path / "known.meme"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        read_meme(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_read_meme_missing_file(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_meme(tmp_path / "nope.meme")


# ---------------------------------------------------------------------------------------------
# TOMTOM

def test_tomtom_finds_planted_pwm_not_random():
    planted = {"DRACH": iupac_pwm("DRACH"), "TLOOP": iupac_pwm("GTTCGA")}
    targets = {**planted, **decoys()}
    noisy = 0.85 * iupac_pwm("GTTCGA") + 0.15 / 4  # a degraded copy
    rng = np.random.default_rng(5)
    queries = {"drach": iupac_pwm("DRACH"), "tloop_noisy": noisy,
               "random": rng.dirichlet(np.ones(4), size=6)}
    hits = M.compare_motifs(queries, targets)
    assert list(hits.columns) == M.TOMTOM_COLUMNS
    assert len(hits) == len(queries) * len(targets)
    best = hits.groupby("query_id", sort=False).first()
    assert best.loc["drach", "target_id"] == "DRACH" and best.loc["drach", "q_value"] < 0.05
    assert best.loc["tloop_noisy", "target_id"] == "TLOOP" and best.loc["tloop_noisy", "q_value"] < 0.05
    assert best.loc["drach", "offset"] == 0 and best.loc["drach", "overlap"] == 5
    rand = hits[hits["query_id"] == "random"]
    assert (rand["q_value"] >= 0.05).all()
    assert ((hits["p_value"] > 0) & (hits["p_value"] <= 1)).all()
    np.testing.assert_allclose(hits["e_value"], hits["p_value"] * len(targets))
    assert (hits["q_value"] >= hits["p_value"] - 1e-15).all()
    assert set(hits["orientation"]) == {"+"}  # one strand unless asked
    for _, group in hits.groupby("query_id"):
        assert group["p_value"].is_monotonic_increasing
    if "NUMBA_THREADING_LAYER" not in os.environ:  # not the spinning OpenMP layer (slows torch tenfold)
        import numba

        assert numba.threading_layer() == "workqueue"


def test_tomtom_reverse_complement_only_with_both_strands():
    rc = iupac_pwm("GTTCGA")[::-1, ::-1]  # TCGAAC
    targets = {"TLOOP": iupac_pwm("GTTCGA"), **decoys()}
    one = M.compare_motifs({"q": rc}, targets).set_index("target_id").loc["TLOOP"]
    both = M.compare_motifs({"q": rc}, targets, both_strands=True).set_index("target_id").loc["TLOOP"]
    assert both["orientation"] == "-" and both["q_value"] < 0.05
    assert one["orientation"] == "+" and one["p_value"] > both["p_value"]


# ---------------------------------------------------------------------------------------------
# explain table -> segments

def test_tracks_and_regions_follow_the_attribution_peak():
    df = explain_table(n=6, noise=0.01)
    tracks = M.tracks_from_explain(df)
    assert tracks.codes.shape == (12, 21) and tracks.first_offset == -10
    regions, dropped = M.extract_regions(tracks, width=5, max_shift=2)
    assert dropped == 0
    # the peak covers the motif: window positions -2..2 for DRACH (site at index 2), -1..4 for GTTCGA
    assert (regions.offset[regions.modification == "m6A"] == -2).all()
    assert set(regions.offset[regions.modification == "m5U"]) <= {-1, 0}
    assert regions.codes.shape == (12, 9)
    attention = M.tracks_from_explain(df, score="attention")
    assert np.allclose(attention.scores, 1 / 21)


def test_regions_skip_padding_and_drop_sites_without_a_clean_segment():
    df = explain_table(n=2, noise=0.01, planted={"m6A": ("DRACH", 2)})
    first = df["record"] == "m6A_site0"
    # site0: padding over the peak and left of it -> the segment moves right of the padding
    df.loc[first & (df["window_position"] <= 0), "nucleotide"] = "N"
    # site1: N every 4 nt -> no 5-nt segment without N
    second = df["record"] == "m6A_site1"
    df.loc[second & (df["window_position"] % 4 == 0), "nucleotide"] = "N"
    regions, dropped = M.extract_regions(M.tracks_from_explain(df), width=5, max_shift=0)
    assert dropped == 1 and list(regions.record) == ["m6A_site0"]
    assert regions.offset[0] >= 1 and (regions.codes != 4).all()


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.drop(columns="attribution"), "missing column(s) attribution"),
    (lambda d: d.assign(attribution=["x"] + list(d["attribution"][1:])), "attribution 'x' is not a finite number"),
    (lambda d: d.assign(nucleotide=["P"] + list(d["nucleotide"][1:])), "nucleotide 'P' is not one of A C G U T N"),
    (lambda d: d.iloc[1:], "has 20 window positions; every explained site needs the same 21"),
    (lambda d: d.iloc[:0], "no rows (no explained sites)"),
])
def test_explain_table_errors(edit, message):
    with pytest.raises(InputError) as err:
        M.tracks_from_explain(edit(explain_table(n=2)), source="x/explain.tsv")
    assert str(err.value).startswith("x/explain.tsv: ") and message in str(err.value)


# ---------------------------------------------------------------------------------------------
# motif recovery

PLANTED_PWMS = {"DRACH": iupac_pwm("DRACH"), "TLOOP": iupac_pwm("GTTCGA")}


@pytest.mark.parametrize("kwargs", [{}, {"noise": 0.6}, {"jitter": 2}, {"motif_rate": 0.7, "n": 60}],
                         ids=["clean", "noisy", "jittered-peaks", "30%-without-motif"])
def test_em_recovers_each_planted_motif(kwargs):
    motifs = find(explain_table(seed=3, **kwargs))
    assert {m.modification for m in motifs} == {"m6A", "m5U"}
    found = {m.motif_id: m.probs for m in motifs}
    assert recovered(found, PLANTED_PWMS) == {"DRACH": True, "TLOOP": True}
    hits = M.compare_motifs(found, {**PLANTED_PWMS, **decoys()})
    best = hits.groupby("query_id").first()["target_id"]
    assert best["m6A_1"] == "DRACH" and best["m5U_1"] == "TLOOP"  # each class's first motif is its own


def test_em_beats_stacking_when_peaks_are_wider_than_the_motif():
    # width 8 > motif: the highest-sum 8-nt segment lands anywhere over the motif, so the
    # stacked segments are misaligned; EM re-aligns them
    df = explain_table(seed=4, jitter=2)
    em = recovered({m.motif_id: m.probs for m in find(df)}, PLANTED_PWMS)
    stack = recovered({m.motif_id: m.probs for m in find(df, method="stack")}, PLANTED_PWMS)
    assert sum(em.values()) == 2 and sum(stack.values()) < 2


def test_no_motif_from_noise():
    df = explain_table(n=60, motif_rate=0.0, seed=11)
    assert find(df) == []


def test_two_motifs_in_one_class():
    a = explain_table(n=40, seed=1, planted={"m6A": ("DRACH", 2)})
    b = explain_table(n=40, seed=2, planted={"m6A": ("GTTCGA", 1)})
    b["record"] = b["record"] + "b"
    motifs = find(pd.concat([a, b], ignore_index=True))
    assert [m.motif_id for m in motifs][:2] == ["m6A_1", "m6A_2"]
    assert recovered({m.motif_id: m.probs for m in motifs}, PLANTED_PWMS) == {"DRACH": True, "TLOOP": True}
    members = [set(m.members) for m in motifs]
    assert not members[0] & members[1]


def test_same_seed_same_motifs_and_other_seeds_agree_on_clear_data():
    df = explain_table(seed=5)
    one, two, other = find(df, seed=1), find(df, seed=1), find(df, seed=2)
    for x, y in zip(one, two):
        assert x.motif_id == y.motif_id and np.array_equal(x.probs, y.probs)
    assert [m.motif_id for m in other] == [m.motif_id for m in one]


def test_consensus():
    assert M.consensus(iupac_pwm("DRACH")) == "DRACH"
    assert M.consensus(iupac_pwm("GTTCGA")) == "GUUCGA"
    assert M.consensus(iupac_pwm("GTTCGA"), rna=False) == "GTTCGA"
    assert M.consensus(np.full((1, 4), 0.25)) == "N"


# ---------------------------------------------------------------------------------------------
# logos and the command line

def test_logos_are_valid_png_and_svg(tmp_path):
    M.write_logo(iupac_pwm("DRACH"), tmp_path / "a.png", tmp_path / "a.svg", "m6A_1")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    root = ET.parse(tmp_path / "a.svg").getroot()
    assert root.tag.endswith("svg")
    M.write_logo(iupac_pwm("DRACH"), tmp_path / "b.png", tmp_path / "b.svg", "m6A_1")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()  # no dates, fixed ids


@pytest.fixture(scope="module")
def explain_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("explain")
    explain_table(seed=7).to_csv(d / "explain.tsv", sep="\t", index=False)
    with open(d / "known.meme", "w") as fh:
        write_meme(fh, {**PLANTED_PWMS, **decoys()})
    return d


def test_cli_outputs(explain_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["--explain", str(explain_dir), "-o", str(out), "--known", str(explain_dir / "known.meme"),
                     "--min-sites", "5", "--quiet"]) == 0
    table = pd.read_csv(out / "motifs.tsv", sep="\t")
    assert list(table.columns) == ["motif_id", "modification", "n_sites", "width", "consensus"]
    assert list(table["motif_id"]) == ["m6A_1", "m5U_1"]
    assert table.set_index("motif_id").loc["m5U_1", "consensus"] == "GUUCGA"
    meme = read_meme(out / "motifs.meme")
    assert list(meme) == list(table["motif_id"]) and [len(v) for v in meme.values()] == list(table["width"])
    for mid in table["motif_id"]:
        assert (out / "logos" / f"{mid}.png").stat().st_size > 0
        assert (out / "logos" / f"{mid}.svg").stat().st_size > 0
    hits = pd.read_csv(out / "tomtom.tsv", sep="\t")
    assert list(hits.columns) == M.TOMTOM_COLUMNS and (hits["q_value"] <= 0.5).all()
    best = hits.groupby("query_id").first()
    assert best.loc["m6A_1", "target_id"] == "DRACH" and best.loc["m6A_1", "q_value"] < 0.05
    assert best.loc["m5U_1", "target_id"] == "TLOOP" and best.loc["m5U_1", "q_value"] < 0.05
    sites = pd.read_csv(out / "motif_sites.tsv", sep="\t")
    assert list(sites.columns) == ["motif_id", "modification", "record", "site", "start", "end", "segment"]
    tl = sites[sites["motif_id"] == "m5U_1"]
    assert (tl["segment"] == "GUUCGA").all() and (tl["start"] - tl["site"] == -1).all()
    assert (sites["end"] - sites["start"] + 1 == sites["segment"].str.len()).all()
    run = json.loads((out / "run.json").read_text())
    assert run["counts"]["motifs"] == 2 and run["options"]["width"] == 8
    err = capsys.readouterr().err
    assert "80 sites (m6A 40, m5U 40), 2 motif(s)" in err
    assert "holds 32 motif(s); TOMTOM p-values depend on the targets" not in err  # 32 >= 25: no warning


def test_cli_is_deterministic_and_classes_filter(explain_dir, tmp_path):
    runs = []
    for name in ("a", "b"):
        assert cli.main(["--explain", str(explain_dir / "explain.tsv"), "-o", str(tmp_path / name),
                         "--classes", "5-methyluridine", "--min-sites", "5", "--quiet"]) == 0
        runs.append(tmp_path / name)
    for f in ("motifs.meme", "motifs.tsv", "motif_sites.tsv", "logos/m5U_1.svg", "logos/m5U_1.png"):
        assert (runs[0] / f).read_bytes() == (runs[1] / f).read_bytes(), f
    assert list(pd.read_csv(runs[0] / "motifs.tsv", sep="\t")["modification"]) == ["m5U"]


def test_cli_no_motif_is_not_an_error(tmp_path, capsys):
    explain_table(n=30, motif_rate=0.0, seed=2).to_csv(tmp_path / "explain.tsv", sep="\t", index=False)
    assert cli.main(["--explain", str(tmp_path), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    assert pd.read_csv(tmp_path / "out" / "motifs.tsv", sep="\t").empty
    assert "0 motif(s)" in capsys.readouterr().err


def _fails(argv, capsys, code=1) -> str:
    assert cli.main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("multirm-motifs: error: ")
    return err[0]


def test_cli_errors_leave_no_output(explain_dir, tmp_path, capsys):
    out = tmp_path / "out"
    bad = tmp_path / "bad.meme"
    bad.write_text("MOTIF x\nletter-probability matrix: alength= 4 w= 1\n1 0 0\n")
    msg = _fails(["--explain", str(explain_dir), "-o", str(out), "--known", str(bad)], capsys)
    assert f"{bad}: line 3: MOTIF x: matrix row has 3 values, expected 4" in msg
    msg = _fails(["--explain", str(tmp_path / "missing"), "-o", str(out)], capsys)
    assert f"{tmp_path / 'missing'}: file not found" in msg
    msg = _fails(["--explain", str(explain_dir), "-o", str(out), "--classes", "Psi"], capsys, code=2)
    assert "has no sites of Psi (it has m5U, m6A)" in msg
    msg = _fails(["--explain", str(explain_dir), "-o", str(out), "--classes", "nonsense"], capsys, code=2)
    assert "--classes" in msg
    msg = _fails(["--explain", str(explain_dir), "-o", str(out), "--model", "x.safetensors"], capsys, code=2)
    assert "--model is used with --sites only" in msg
    msg = _fails(["--explain", str(explain_dir), "-o", str(out), "--width", "40"], capsys)
    assert "--width 40 is longer than the explained windows (21 nt)" in msg
    (tmp_path / "other").mkdir()
    explain_table(n=2).assign(modification="m9Z").to_csv(tmp_path / "other" / "explain.tsv", sep="\t", index=False)
    msg = _fails(["--explain", str(tmp_path / "other"), "-o", str(out)], capsys)
    assert f"{tmp_path / 'other' / 'explain.tsv'}: " in msg and "m9Z" in msg
    predictions = tmp_path / "predictions.tsv"
    predictions.write_text("record\tposition\tbase\tmodification\tprobability\np\t1\tA\tm6A\t0.5\n")
    msg = _fails(["--explain", str(predictions), "-o", str(out)], capsys)
    assert "missing column(s) site, window_position, nucleotide, attention, attribution" in msg
    assert not out.exists()
    with pytest.raises(SystemExit):
        cli.main(["-o", str(out)])  # neither --explain nor --sites


# ---------------------------------------------------------------------------------------------
# end to end: planted-motif model -> explain (integrated gradients) -> motifs -> TOMTOM

@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    d = tmp_path_factory.mktemp("planted")
    bundle = planted_bundle(d / "planted.safetensors", seed=0)
    make_planted_sites(n_per_class=150, seed=7, id_prefix="t").to_csv(d / "sites.tsv", sep="\t", index=False)
    with open(d / "known.meme", "w") as fh:
        write_meme(fh, {"GGACT": planted_pwm("m6A", 0.01), "GTTCGA": planted_pwm("m5U", 0.01), **decoys()})
    return d, bundle


@pytest.mark.parametrize("score", ["attribution", "attention"])
def test_end_to_end_planted_model(planted, tmp_path, score):
    d, bundle = planted
    out = tmp_path / "out"
    assert cli.main(["--sites", str(d / "sites.tsv"), "--model", str(bundle), "-o", str(out), "--score", score,
                     "--known", str(d / "known.meme"), "--steps", "16", "--quiet",
                     "--device", "cpu"]) == 0
    run = json.loads((out / "run.json").read_text())
    for cls in PLANTED:  # 10% of 300 rows per class, all of them true positives on planted data
        assert run["inputs"]["per_class"][cls]["top"] == 30
        assert run["inputs"]["per_class"][cls]["true_positives"] >= 25
    hits = pd.read_csv(out / "tomtom.tsv", sep="\t")
    for cls, target in (("m6A", "GGACT"), ("m5U", "GTTCGA")):
        mine = hits[hits["query_id"].str.startswith(cls + "_") & (hits["target_id"] == target)]
        assert (mine["q_value"] < 0.05).any(), (cls, target)
    if score == "attribution":
        # each motif's occurrences lie on the planted motif around the (1-based) site
        sites = pd.read_csv(out / "motif_sites.tsv", sep="\t")
        for cls, (motif, off) in PLANTED.items():
            first = sites[sites["motif_id"] == f"{cls}_1"]
            assert len(first) >= 25
            assert ((first["start"] <= first["site"] - off)
                    & (first["end"] >= first["site"] - off + len(motif) - 1)).mean() >= 0.9


def test_end_to_end_through_multirm_explain(planted, tmp_path):
    """The pipeline as users run it: multirm-explain writes explain.tsv, multirm-motifs reads it."""
    from multirm_tools.cli import explain

    d, bundle = planted
    sites = make_planted_sites(n_per_class=15, seed=9, id_prefix="e")
    sites = sites[sites["label"] == 1]
    write_fasta(tmp_path / "planted.fa", sites)
    argv = [str(tmp_path / "planted.fa"), "-o", str(tmp_path / "explain"), "--model", str(bundle),
            "--steps", "16", "--quiet", "--device", "cpu"]
    for rid, site, cls in zip(sites["id"], sites["site"], sites["modification"]):
        argv += ["--position", f"{rid}:{site + 1}:{cls}"]
    assert explain.main(argv) == 0
    out = tmp_path / "motifs"
    assert cli.main(["--explain", str(tmp_path / "explain"), "-o", str(out), "--known", str(d / "known.meme"),
                     "--quiet"]) == 0
    hits = pd.read_csv(out / "tomtom.tsv", sep="\t")
    best = hits.groupby("query_id").first()
    assert best.loc["m6A_1", "target_id"] == "GGACT" and best.loc["m6A_1", "q_value"] < 0.05
    assert best.loc["m5U_1", "target_id"] == "GTTCGA" and best.loc["m5U_1", "q_value"] < 0.05
    occ = pd.read_csv(out / "motif_sites.tsv", sep="\t")
    assert set(occ["record"]) <= set(sites["id"]) and (occ["site"] == sites["site"].iloc[0] + 1).all()
    for cls, (motif, off) in PLANTED.items():  # occurrences cover the planted motif
        first = occ[occ["motif_id"] == f"{cls}_1"]
        assert len(first) >= 12
        assert ((first["start"] <= first["site"] - off)
                & (first["end"] >= first["site"] - off + len(motif) - 1)).all()


def test_sites_errors(planted, tmp_path, capsys):
    d, bundle = planted
    msg = _fails(["--sites", str(d / "sites.tsv"), "--model", str(bundle), "-o", str(tmp_path / "o"),
                  "--classes", "Psi"], capsys, code=2)
    assert "Psi" in msg and "not predicted by the model" in msg
    negatives = make_planted_sites(n_per_class=10, seed=3)
    negatives = negatives[negatives["label"] == 0]
    negatives.to_csv(tmp_path / "neg.tsv", sep="\t", index=False)
    msg = _fails(["--sites", str(tmp_path / "neg.tsv"), "--model", str(bundle), "-o", str(tmp_path / "o")], capsys)
    assert "no true positives (label 1) among the top 0.1 of scores" in msg
    assert not (tmp_path / "o").exists()
