"""Every tool takes a conv bundle: predict, explain, motifs and evaluate on a conv network trained on
planted motifs (correlate: tests/test_correlate.py), with the same checks as the BiLSTM's."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from multirm_tools.bundle import load_bundle
from multirm_tools.cli import evaluate, explain, motifs, predict
from multirm_tools.inference import score_windows
from multirm_tools.kmers import centre_windows, encode
from multirm_tools.meme import write_meme
from multirm_tools.sites import write_sites

from test_motifs import decoys
from planted import (CONV_CONFIG, MODEL_CONFIG, PLANTED, make_planted_sites, motif_positions, planted_bundle,
                     planted_pwm, write_fasta)

WINDOW = MODEL_CONFIG["window"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    d = tmp_path_factory.mktemp("conv_planted")
    bundle = planted_bundle(d / "conv.safetensors", seed=0, **CONV_CONFIG)
    sites = make_planted_sites(n_per_class=40, seed=11, id_prefix="t")
    write_sites(sites, d / "sites.tsv")
    write_fasta(d / "sites.fa", sites)
    return d, bundle, sites


def test_the_bundle_is_a_conv_network(planted):
    _, bundle, _ = planted
    b = load_bundle(bundle)
    assert b.config.architecture == "conv" and b.config.dilations == (1, 2, 4)


def test_predict_scores_every_position_as_its_window_alone(planted, tmp_path):
    d, bundle, sites = planted
    assert predict.main([str(d / "sites.fa"), "-o", str(tmp_path / "p"), "--model", str(bundle),
                         "--threads", "1", "--alpha", "1", "--fdr", "1"]) == 0
    pred = pd.read_csv(tmp_path / "p" / "predictions.tsv", sep="\t")
    model = load_bundle(bundle).model
    classes = list(model.config.classes)
    for rid, seq in zip(sites["id"][:10], sites["sequence"][:10]):
        codes = encode(seq)
        ref = score_windows(model, centre_windows([codes] * len(codes), np.arange(len(codes)), WINDOW))
        rows = pred[pred["record"] == rid]
        want = ref[rows["position"].to_numpy() - 1, [classes.index(c) for c in rows["modification"]]]
        np.testing.assert_allclose(rows["probability"], want, rtol=2e-5, atol=1e-6)
    # The planted sites outscore the rest of their records.
    centre = pred.merge(sites[["id", "site", "modification", "label"]], left_on=["record", "modification"],
                        right_on=["id", "modification"])
    at_site = centre[(centre["position"] == centre["site"] + 1)]
    for cls in PLANTED:
        c = at_site[at_site["modification"] == cls]
        assert c[c["label"] == 1]["probability"].mean() > c[c["label"] == 0]["probability"].mean() + 0.3


def test_evaluate_a_conv_bundle(planted, tmp_path):
    d, bundle, _ = planted
    assert evaluate.main(["--model", str(bundle), "--sites", str(d / "sites.tsv"), "--outdir", str(tmp_path / "e"),
                          "--threads", "1"]) == 0
    metrics = pd.read_csv(tmp_path / "e" / "metrics.tsv", sep="\t").set_index("modification")
    assert (metrics.loc[list(PLANTED), "AUCb"] > 0.95).all()


def test_explain_attributions_and_attention_fall_on_the_motif(planted, tmp_path):
    d, bundle, sites = planted
    pos = sites[sites["label"] == 1].groupby("modification").head(2)
    argv = [str(d / "sites.fa"), "-o", str(tmp_path / "x"), "--model", str(bundle), "--steps", "64",
            "--mutagenesis", "--quiet"]
    for rid, site, cls in zip(pos["id"], pos["site"], pos["modification"]):
        argv += ["--position", f"{rid}:{site + 1}:{cls}"]
    assert explain.main(argv) == 0
    res = pd.read_csv(tmp_path / "x" / "sites.tsv", sep="\t")
    assert np.all(np.abs(res["delta"]) < 0.01 * np.abs(res["logit"] - res["baseline_logit"]))  # completeness
    ex = pd.read_csv(tmp_path / "x" / "explain.tsv", sep="\t")
    for (rid, cls), g in ex.groupby(["record", "modification"]):
        assert g["attention"].sum() == pytest.approx(1.0, abs=1e-4)
        site = int(pos.set_index("id").loc[rid, "site"])
        on_motif = g["position"].isin(motif_positions(cls, site) + 1)
        assert g.loc[on_motif, "attribution"].abs().mean() > 2 * g.loc[~on_motif, "attribution"].abs().mean()
    mut = pd.read_csv(tmp_path / "x" / "mutagenesis.tsv", sep="\t")
    assert (mut[mut["window_position"] == 0]["delta_probability"] < -0.3).all()  # the site base matters


def test_motifs_recovers_the_planted_motifs(planted, tmp_path):
    d, bundle, _ = planted
    make_planted_sites(n_per_class=150, seed=7, id_prefix="t").to_csv(tmp_path / "sites.tsv", sep="\t", index=False)
    with open(tmp_path / "known.meme", "w") as fh:
        write_meme(fh, {"GGACT": planted_pwm("m6A", 0.01), "GTTCGA": planted_pwm("m5U", 0.01), **decoys()})
    out = tmp_path / "m"
    assert motifs.main(["--sites", str(tmp_path / "sites.tsv"), "--model", str(bundle), "-o", str(out),
                        "--known", str(tmp_path / "known.meme"), "--steps", "16", "--quiet", "--device", "cpu"]) == 0
    hits = pd.read_csv(out / "tomtom.tsv", sep="\t")
    for cls, target in (("m6A", "GGACT"), ("m5U", "GTTCGA")):
        mine = hits[hits["query_id"].str.startswith(cls + "_") & (hits["target_id"] == target)]
        assert (mine["q_value"] < 0.05).any(), (cls, target)
    assert json.loads((out / "run.json").read_text())["tool"] == "multirm-motifs"
