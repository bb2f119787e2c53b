"""multirm-explain: attention and integrated gradients on a model trained on planted motifs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from multirm_tools.bundle import load_bundle, require_attention
from multirm_tools.cli import explain as cli
from multirm_tools.explain import (ExplainWarning, attention_nt, explain_pairs, explain_windows,
                                   integrated_gradients, mutagenesis, top_windows)
from multirm_tools.kmers import centre_windows, encode, tokenize

from planted import CLASSES, PLANTED, make_planted_sites, motif_positions, planted_bundle, write_fasta

WINDOW = 31
HALF = WINDOW // 2


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory):
    return planted_bundle(tmp_path_factory.mktemp("planted") / "planted.safetensors")


@pytest.fixture(scope="module")
def bundle(bundle_path):
    return load_bundle(bundle_path)


@pytest.fixture(scope="module")
def held_out():
    """Fresh planted rows (another seed than training): windows, class columns, labels."""
    df = make_planted_sites(n_per_class=25, seed=11, id_prefix="h")
    windows = centre_windows([encode(s) for s in df["sequence"]], df["site"].to_numpy(), WINDOW)
    cls = np.array([CLASSES.index(c) for c in df["modification"]])
    return df, windows, cls


def test_attention_rows_sum_to_one_per_class(bundle, held_out):
    _, windows, _ = held_out
    att = attention_nt(bundle.model, torch.as_tensor(tokenize(windows[:20], 3)))
    assert att.shape == (20, len(CLASSES), WINDOW)
    assert np.all(att >= 0)
    np.testing.assert_allclose(att.sum(axis=2), 1.0, atol=1e-5)


def test_integrated_gradients_completeness(bundle, held_out):
    _, windows, cls = held_out
    model = bundle.model
    tokens = torch.as_tensor(tokenize(windows, 3))
    attr, delta = integrated_gradients(model, tokens, torch.as_tensor(cls), steps=64)
    with torch.no_grad():
        logit = model(tokens)[np.arange(len(cls)), cls].double().numpy()
        base = model(torch.zeros_like(tokens))[np.arange(len(cls)), cls].double().numpy()  # all-N
    gap = logit - base
    pos = (held_out[0]["label"] == 1).to_numpy()
    assert np.all(np.abs(gap[pos]) > 5.0), "planted sites should move the logit far from the baseline"
    # Within 1% where the gap is large (the sites); within 0.01 logit everywhere.
    np.testing.assert_array_less(np.abs(attr.sum(axis=1) - gap)[pos], 0.01 * np.abs(gap[pos]))
    np.testing.assert_array_less(np.abs(attr.sum(axis=1) - gap), 0.01)
    np.testing.assert_allclose(delta, attr.sum(axis=1) - gap, atol=1e-4)


def test_zero_and_n_baselines_agree_when_the_n_vector_is_zero(bundle, held_out):
    _, windows, cls = held_out
    tokens = torch.as_tensor(tokenize(windows[:6], 3))
    a_n, _ = integrated_gradients(bundle.model, tokens, torch.as_tensor(cls[:6]), 20, "N")
    a_zero, _ = integrated_gradients(bundle.model, tokens, torch.as_tensor(cls[:6]), 20, "zero")
    np.testing.assert_allclose(a_n, a_zero, atol=1e-6)
    with pytest.raises(ValueError, match="baseline"):
        integrated_gradients(bundle.model, tokens, 0, 5, "shuffled")


def test_largest_attributions_fall_on_the_planted_motifs(bundle, held_out):
    df, windows, cls = held_out
    pos = (df["label"] == 1).to_numpy()
    ex = explain_pairs(bundle.model, windows[pos], cls[pos], steps=32)
    for c in CLASSES:
        rows = (df["modification"][pos] == c).to_numpy()
        motif = motif_positions(c, HALF)
        k = len(motif)
        top = np.argsort(-ex.attribution[rows], axis=1)[:, :k]
        hit = np.isin(top, motif).mean()
        chance = k / WINDOW
        # Most of the top-k nucleotides are motif nucleotides, far above chance.
        assert hit > max(0.6, 3 * chance), (c, hit, chance)
        # On average the motif holds most of the positive attribution mass.
        share = ex.attribution[rows][:, motif].sum(1) / np.clip(ex.attribution[rows], 0, None).sum(1)
        assert np.median(share) > 0.7, (c, np.median(share))


def test_too_few_steps_warn_with_the_delta(bundle, held_out):
    _, windows, cls = held_out
    with pytest.warns(ExplainWarning, match="use more steps"):
        explain_pairs(bundle.model, windows[:4], cls[:4], steps=1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_gives_the_cpu_numbers(bundle_path, held_out):
    _, windows, cls = held_out
    cpu = explain_pairs(load_bundle(bundle_path).model, windows[:8], cls[:8], steps=16)
    gpu = explain_pairs(load_bundle(bundle_path, "cuda").model, windows[:8], cls[:8], steps=16, device="cuda")
    np.testing.assert_allclose(gpu.attribution, cpu.attribution, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(gpu.attention, cpu.attention, rtol=1e-4, atol=1e-6)


def test_explain_windows_long_table_and_batch_invariance(bundle, held_out):
    _, windows, _ = held_out
    table = explain_windows(bundle, windows[:3], list(CLASSES), steps=16, batch_size=64)
    assert len(table) == 3 * len(CLASSES) * WINDOW
    assert table["window_position"].min() == -HALF and table["window_position"].max() == HALF
    assert list(table["modification"].unique()) == list(CLASSES)
    np.testing.assert_allclose(table.groupby(["window", "modification"])["attention"].sum(), 1.0, atol=1e-5)
    one = explain_windows(bundle, windows[:3], list(CLASSES), steps=16, batch_size=1)
    np.testing.assert_allclose(one["attribution"], table["attribution"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(one["attention"], table["attention"], rtol=1e-5, atol=1e-7)
    centre = table[table["window_position"] == 0]
    assert set(centre["nucleotide"]) <= {"A", "U"}


def test_mutagenesis_site_base_matters_and_far_bases_do_not(bundle, held_out):
    df, windows, cls = held_out
    pos = np.flatnonzero((df["label"] == 1).to_numpy())[:10]
    ref, mut = mutagenesis(bundle.model, windows[pos], cls[pos])
    assert mut.shape == (10, WINDOW, 4)
    assert np.all(ref > 0.5)
    site_base = windows[pos, HALF]
    alt = np.array([[b for b in range(4) if b != s] for s in site_base])
    site_delta = mut[np.arange(10)[:, None], HALF, alt] - ref[:, None]
    assert np.all(site_delta < -0.5), site_delta
    np.testing.assert_allclose(mut[np.arange(10), HALF, site_base], ref)
    far = np.abs(mut[:, :3] - ref[:, None, None]).max()  # the outermost nucleotides
    assert far < 0.1


def test_top_windows_greedy_non_overlapping():
    scores = np.array([[0, 5, 5, 0, 0, 1, 1, 1, 0, 9.0]])
    valid = np.ones_like(scores, dtype=bool)
    valid[0, 9] = False  # past the record end
    starts, sums = top_windows(scores, valid, width=2, top=3)
    assert starts[0, 0] == 1 and sums[0, 0] == 10
    assert starts[0, 1] in (5, 6) and sums[0, 1] == 2
    assert starts[0, 2] >= 0 and not (starts[0, 1] - 1 <= starts[0, 2] <= starts[0, 1] + 1)
    starts, _ = top_windows(scores[:, :3], valid[:, :3], width=2, top=3)
    assert starts[0, 0] == 1 and np.all(starts[0, 1:] == -1)


# -- command line ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    df = make_planted_sites(n_per_class=3, length=61, seed=21, id_prefix="r")
    path = write_fasta(tmp_path_factory.mktemp("fa") / "planted.fa", df)
    return path, df


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_cli_outputs_agree_with_each_other(tmp_path, bundle_path, fasta, capsys):
    fa, df = fasta
    out = tmp_path / "out"
    code, err = run([fa, "-o", out, "--model", bundle_path, "--position", "rm6A_1_0:31:m6A",
                     "--position", "rm5U_1_2:31", "--steps", "64", "--mutagenesis", "--quiet"], capsys)
    assert code == 0, err
    sites = pd.read_csv(out / "sites.tsv", sep="\t")
    assert list(sites.columns) == ["record", "site", "modification", "probability", "logit",
                                   "baseline_logit", "attribution_sum", "delta"]
    # Without a class, m5U (the only U class of the model, above its threshold) is chosen.
    assert sites[["record", "modification"]].values.tolist() == [["rm6A_1_0", "m6A"], ["rm5U_1_2", "m5U"]]
    np.testing.assert_allclose(sites["attribution_sum"] - (sites["logit"] - sites["baseline_logit"]),
                               sites["delta"], atol=1e-3)
    assert np.all(np.abs(sites["delta"]) < 0.01 * np.abs(sites["logit"] - sites["baseline_logit"]))
    ex = pd.read_csv(out / "explain.tsv", sep="\t")
    assert list(ex.columns) == ["record", "site", "modification", "probability", "window_position",
                                "position", "nucleotide", "attention", "attribution"]
    assert len(ex) == 2 * WINDOW
    for rid, g in ex.groupby("record"):
        seq = df.set_index("id").loc[rid, "sequence"].replace("T", "U")
        assert "".join(g["nucleotide"]) == seq[30 - HALF:30 + HALF + 1]
        assert (g["position"] == 31 + g["window_position"]).all()
        assert g["attention"].sum() == pytest.approx(1.0, abs=1e-4)
        assert g["attribution"].sum() == pytest.approx(sites.set_index("record").loc[rid, "attribution_sum"],
                                                       rel=1e-4)
    mut = pd.read_csv(out / "mutagenesis.tsv", sep="\t")
    assert len(mut) == 2 * WINDOW * 3
    site_rows = mut[mut["window_position"] == 0]
    assert (site_rows["delta_probability"] < -0.5).all()
    top = pd.read_csv(out / "top_windows.bed", sep="\t", header=None)
    assert len(top) == 2 * 3 and (top[2] - top[1] == 3).all()
    assert set(top[5]) == {"+"}
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["integrated_gradients"]["baseline"] == "N"


def test_same_input_same_output(tmp_path, bundle_path, fasta, capsys):
    fa, _ = fasta
    outs = []
    for name in ("a", "b"):
        code, err = run([fa, "-o", tmp_path / name, "--model", bundle_path, "--position", "rm6A_1_1:31",
                         "--steps", "16"], capsys)
        assert code == 0, err
        outs.append((tmp_path / name / "explain.tsv").read_bytes())
    assert outs[0] == outs[1]


def test_minus_strand_locus_coordinates(tmp_path, bundle_path, fasta, capsys):
    _, df = fasta
    seq = df.set_index("id").loc["rm6A_1_0", "sequence"]
    rid = f"chr2:1000-{1000 + len(seq)}(-)"
    fa = tmp_path / "locus.fa"
    fa.write_text(f">{rid}\n{seq}\n")
    genome_site = 1000 + len(seq) - 1 - 30  # record position 30 (0-based) on the minus strand
    bed = tmp_path / "sites.bed"
    bed.write_text(f"chr2\t{genome_site}\t{genome_site + 1}\tm6A\t990\t-\n")
    out = tmp_path / "out"
    code, err = run([fa, "-o", out, "--model", bundle_path, "--sites-bed", bed, "--steps", "16",
                     "--top", "2", "--att-window", "5"], capsys)
    assert code == 0, err
    sites = pd.read_csv(out / "sites.tsv", sep="\t")
    assert sites["site"].tolist() == [31] and sites["record"].tolist() == [rid]
    ex = pd.read_csv(out / "explain.tsv", sep="\t")
    graph = pd.read_csv(out / "attribution.bedgraph", sep="\t", skiprows=1, header=None,
                        names=["chrom", "start", "end", "value"])
    assert (graph["chrom"] == "chr2").all() and (graph["end"] - graph["start"] == 1).all()
    assert graph["start"].is_monotonic_increasing
    by_start = graph.set_index("start")["value"]
    for pos, value in zip(ex["position"], ex["attribution"]):
        # record position p (1-based) is genome base end - p on the minus strand
        assert by_start[1000 + len(seq) - pos] == pytest.approx(value, rel=1e-5, abs=1e-9)
    top = pd.read_csv(out / "top_windows.bed", sep="\t", header=None)
    attr = ex.set_index("position")["attribution"]
    for start, end, strand in zip(top[1], top[2], top[5]):
        assert strand == "-" and end - start == 5
        rec_positions = 1000 + len(seq) - np.arange(start, end)  # 1-based record positions
        assert attr.loc[rec_positions].sum() > 0  # the chosen windows carry the evidence


def test_bed_on_plain_records_uses_record_coordinates(tmp_path, bundle_path, fasta, capsys):
    fa, _ = fasta
    bed = tmp_path / "sites.bed"
    bed.write_text("track name=x\nrm5U_1_1\t30\t31\tm5U\t999\t+\nrm6A_1_2\t30\t31\tm6A\t999\t+\n")
    code, err = run([fa, "-o", tmp_path / "out", "--model", bundle_path, "--sites-bed", bed, "--steps", "8"],
                    capsys)
    assert code == 0, err
    sites = pd.read_csv(tmp_path / "out" / "sites.tsv", sep="\t")
    # Output follows FASTA order (rm6A records come first), not BED order.
    assert sites[["record", "site", "modification"]].values.tolist() == [["rm6A_1_2", 31, "m6A"],
                                                                        ["rm5U_1_1", 31, "m5U"]]


def test_predictions_input_and_max_sites(tmp_path, bundle_path, fasta, capsys):
    from multirm_tools.cli import predict

    fa, df = fasta
    assert predict.main([str(fa), "-o", str(tmp_path / "pred"), "--model", str(bundle_path)]) == 0
    capsys.readouterr()
    code, err = run([fa, "-o", tmp_path / "out", "--model", bundle_path, "--predictions",
                     tmp_path / "pred", "--steps", "8", "--max-sites", "2", "--alpha", "0.01", "--fdr", "1"],
                    capsys)
    assert code == 0, err
    pred = pd.read_csv(tmp_path / "pred" / "predictions.tsv", sep="\t")
    sig = pred[pred["p_value"] <= 0.01]
    assert len(sig) > 2
    assert f"most probable of {len(sig)} site-class pairs" in err
    sites = pd.read_csv(tmp_path / "out" / "sites.tsv", sep="\t")
    assert len(sites) == 2
    best = sig.sort_values("probability", ascending=False).head(2)
    assert set(zip(sites["record"], sites["site"])) == set(zip(best["record"], best["position"]))


@pytest.mark.parametrize("args, message, exit_code", [
    ([], "no site chosen", 2),
    (["--position", "rm6A_1_0:99:m6A"], "position 99 is outside record 'rm6A_1_0' (1..61)", 1),
    (["--position", "nope:3"], "no record 'nope'", 1),
    (["--position", "rm6A_1_0:31:m5U"], "m5U at rm6A_1_0:31 is on A, m5U needs U", 1),
    (["--position", "rm6A_1_0:x"], "expected RECORD:POS[:CLASS]", 2),
    # a class the model lacks: a usage mistake when typed, bad data when read from a file
    (["--position", "rm6A_1_0:31:m1A"], "the model does not predict m1A", 2),
    (["--sites-bed", "M1A"], "M1A: line 1: the model does not predict m1A", 1),
    (["--predictions", "missing.tsv"], "missing.tsv: no such file", 1),
    (["--sites-bed", "BED"], "lies in no record of planted.fa", 1),
    (["--sites-bed", "LONG"], "LONG: line 1: interval 5-9 is 4 nt; a site is one nucleotide", 1),
])
def test_bad_requests_fail_clearly_without_output(tmp_path, bundle_path, fasta, capsys, args, message, exit_code):
    fa, _ = fasta
    out = tmp_path / "out"
    (tmp_path / "BED").write_text("chr9\t5\t6\tm6A\t0\t+\n")
    (tmp_path / "LONG").write_text("rm6A_1_0\t5\t9\tm6A\t0\t+\n")
    (tmp_path / "M1A").write_text("rm6A_1_0\t30\t31\tm1A\t0\t+\n")
    args = [str(tmp_path / a) if a in ("BED", "LONG", "M1A", "missing.tsv") else a for a in args]
    code, err = run([fa, "-o", out, "--model", bundle_path, *args], capsys)
    assert code == exit_code, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())


def test_bundle_without_attention_is_refused(tmp_path, bundle_path, fasta, capsys):
    fa, _ = fasta
    with safe_open(str(bundle_path), framework="pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys() if k != "model.att_query"}
    broken = tmp_path / "no_attention.safetensors"
    save_file(tensors, str(broken), metadata=meta)
    code, err = run([fa, "-o", tmp_path / "out", "--model", broken, "--position", "rm6A_1_0:31"], capsys)
    assert code == 1
    assert "no attention weights (model.att_query missing)" in err


def test_ensemble_explanations_are_complete_and_attention_is_the_members_mean(bundle, held_out):
    from multirm_tools.model import EnsembleNet, MultiRMNet

    _, windows, cls = held_out
    torch.manual_seed(5)
    other = MultiRMNet(bundle.config, bundle.model.embedding.weight).eval()  # untrained second member
    ens = EnsembleNet([bundle.model, other]).eval()
    ex = explain_pairs(ens, windows[:8], cls[:8], steps=64)
    # Completeness on the ensemble's own logit: attributions sum to logit - baseline logit.
    np.testing.assert_allclose(ex.attribution.sum(1), ex.logit - ex.baseline_logit, atol=2e-2)
    tok = torch.as_tensor(tokenize(windows[:8], bundle.config.k))
    np.testing.assert_allclose(attention_nt(ens, tok), (attention_nt(bundle.model, tok) + attention_nt(other, tok)) / 2,
                               atol=1e-6)


def test_ensemble_bundle_has_attention(tmp_path, tiny_bundle_factory, capsys):
    path = tiny_bundle_factory("ens.safetensors", members=2, window=31)
    require_attention(path, "multirm-explain")
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys() if k != "model.members.0.att_query"}
    broken = tmp_path / "no_attention.safetensors"
    save_file(tensors, str(broken), metadata=meta)
    with pytest.raises(Exception, match=r"model\.members\.0\.att_query missing"):
        require_attention(broken, "multirm-explain")


def test_planted_motifs_are_what_the_helper_says():
    df = make_planted_sites(n_per_class=5, seed=3)
    for c, (motif, off) in PLANTED.items():
        pos = df[(df["modification"] == c) & (df["label"] == 1)]
        for seq, site in zip(pos["sequence"], pos["site"]):
            assert seq[motif_positions(c, site)[0]:motif_positions(c, site)[-1] + 1] == motif
        neg = df[(df["modification"] == c) & (df["label"] == 0)]
        assert not any(s[site - off:site - off + len(motif)] == motif
                       for s, site in zip(neg["sequence"], neg["site"]))


def test_ensemble_pairs_run_only_the_members_of_their_class(bundle, held_out):
    """Specialist layout: each pair runs on the members that predict its class, with the full
    ensemble's numbers, and a specialist is left out of the other classes' pairs."""
    from dataclasses import replace

    from multirm_tools.inference import score_tokens
    from multirm_tools.model import EnsembleNet, MultiRMNet

    _, windows, cls = held_out
    torch.manual_seed(6)
    other = MultiRMNet(bundle.config, bundle.model.embedding.weight).eval()
    special = MultiRMNet(replace(bundle.config, classes=(CLASSES[0],)), bundle.model.embedding.weight).eval()
    ens = EnsembleNet([bundle.model, other, special], classes=bundle.config.classes).eval()
    pick = np.concatenate([np.flatnonzero(cls == 0)[:3], np.flatnonzero(cls == 1)[:5]])
    win, c = windows[pick], cls[pick]
    calls = []
    hook = special.att_proj.register_forward_hook(lambda *_: calls.append(1))  # every path runs it
    try:
        ex = explain_pairs(ens, win[3:], c[3:], steps=32)
        ref, mutant = mutagenesis(ens, win[3:], c[3:])
        assert calls == []  # no pair of the specialist's class: it never ran
        ex_all = explain_pairs(ens, win, c, steps=32)
        assert calls  # it runs for its own class
    finally:
        hook.remove()
    tok = torch.as_tensor(tokenize(win, bundle.config.k))
    rows = np.arange(len(c))
    with torch.no_grad():
        logits = ens(tok)[rows, c].double().numpy()
    attr, _ = integrated_gradients(ens, tok, torch.as_tensor(c), steps=32)
    for got, lo in ((ex, 3), (ex_all, 0)):
        np.testing.assert_allclose(got.logit, logits[lo:], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got.attention, attention_nt(ens, tok)[rows, c][lo:], atol=1e-7)
        np.testing.assert_allclose(got.attribution, attr[lo:], atol=1e-6)
    probs = score_tokens(ens, tokenize(win[3:], bundle.config.k))
    np.testing.assert_allclose(ref, probs[np.arange(5), c[3:]], atol=1e-7)
    variant = win[3].copy()
    variant[HALF + 2] = (variant[HALF + 2] + 1) % 4
    p = score_tokens(ens, tokenize(variant[None], bundle.config.k))[0, c[3]]
    np.testing.assert_allclose(mutant[0, HALF + 2, variant[HALF + 2]], p, atol=1e-7)
