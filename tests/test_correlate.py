"""multirm-correlate: attention-query correlations (checked against scipy) and site distances."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from safetensors import safe_open
from safetensors.torch import save_file
from scipy.stats import pearsonr

from multirm_tools.cli import correlate as cli
from multirm_tools.constants import CLASS_NAMES
from multirm_tools.correlate import distance_test, nearest_distance, pearson_matrix

CLASS_NAMES_INDEX = {c: i for i, c in enumerate(CLASS_NAMES)}


def run(argv, capsys):
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_pearson_matrix_matches_scipy():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 20))
    x[1] = 0.8 * x[0] + 0.2 * x[1]  # one strongly correlated pair
    x[2] = -x[3] + 0.05 * x[2]  # one strongly anti-correlated pair
    r, p = pearson_matrix(x)
    for i in range(6):
        for j in range(6):
            if i == j:
                continue
            ref = pearsonr(x[i], x[j])
            assert r[i, j] == pytest.approx(ref.statistic, abs=1e-12)
            assert p[i, j] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-15)
    assert np.array_equal(r, r.T) and np.all(np.diag(r) == 1)
    assert np.all((p >= 0) & (p <= 1))
    with pytest.raises(ValueError, match="constant"):
        pearson_matrix(np.vstack([x[:2], np.ones(20)]))


def test_cli_matrix_agrees_with_scipy_on_the_bundle_vectors(tmp_path, tiny_bundle, capsys):
    code, err = run(["--model", tiny_bundle, "-o", tmp_path / "out", "--measure", "query"], capsys)
    assert code == 0, err
    with safe_open(str(tiny_bundle), framework="np") as fh:  # read independently of the library
        queries = fh.get_tensor("model.att_query").astype(np.float64)
    matrix = pd.read_csv(tmp_path / "out" / "correlation.tsv", sep="\t")
    classes = list(matrix.columns[1:])
    assert matrix.columns[0] == "modification" and list(matrix["modification"]) == classes
    assert len(classes) == 12 == len(queries)
    values = matrix[classes].to_numpy()
    np.testing.assert_allclose(values, values.T, atol=1e-6)
    np.testing.assert_allclose(np.diag(values), 1.0)
    long = pd.read_csv(tmp_path / "out" / "correlation_long.tsv", sep="\t")
    assert list(long.columns) == ["class_a", "class_b", "pearson_r", "p_value"]
    assert len(long) == 12 * 11 // 2
    assert len({frozenset(ab) for ab in zip(long["class_a"], long["class_b"])}) == len(long)
    for a, b, r, p in long.itertuples(index=False):
        ref = pearsonr(queries[classes.index(a)], queries[classes.index(b)])
        assert r == pytest.approx(ref.statistic, abs=1e-5)
        assert p == pytest.approx(ref.pvalue, rel=1e-4, abs=1e-12)
        assert values[classes.index(a), classes.index(b)] == pytest.approx(r, abs=1e-5)


def test_ensemble_joins_each_class_queries_across_members(tmp_path, tiny_bundle_factory, capsys):
    path = tiny_bundle_factory("ens.safetensors", members=2)
    code, err = run(["--model", path, "-o", tmp_path / "out", "--measure", "query"], capsys)
    assert code == 0, err
    with safe_open(str(path), framework="np") as fh:
        queries = np.concatenate([fh.get_tensor(f"model.members.{i}.att_query") for i in (0, 1)], axis=1)
    long = pd.read_csv(tmp_path / "out" / "correlation_long.tsv", sep="\t")
    classes = list(pd.read_csv(tmp_path / "out" / "correlation.tsv", sep="\t")["modification"])
    for a, b, r, p in long.itertuples(index=False):
        ref = pearsonr(queries[classes.index(a)].astype(np.float64), queries[classes.index(b)].astype(np.float64))
        assert r == pytest.approx(ref.statistic, abs=1e-5)
        assert p == pytest.approx(ref.pvalue, rel=1e-4, abs=1e-12)


def test_a_specialist_network_is_left_out_of_the_correlations(tmp_path, tiny_bundle_factory, capsys):
    from multirm_tools.constants import CLASS_NAMES
    path = tiny_bundle_factory("spec.safetensors", members=2, specialists=("m6A",),
                               classes=tuple(c for c in CLASS_NAMES if c != "m6A"))
    code, err = run(["--model", path, "-o", tmp_path / "out", "--measure", "query"], capsys)
    assert code == 0, err
    assert "11 classes by query (m6A: a network of its own, not compared)" in err
    with safe_open(str(path), framework="np") as fh:
        queries = np.concatenate([fh.get_tensor(f"model.members.{i}.att_query") for i in (0, 1)], axis=1)
    all_classes = list(pd.read_csv(tmp_path / "out" / "correlation.tsv", sep="\t").columns[1:])
    assert "m6A" not in all_classes and len(all_classes) == 11
    long = pd.read_csv(tmp_path / "out" / "correlation_long.tsv", sep="\t")
    assert len(long) == 11 * 10 // 2
    for a, b, r, _ in long.itertuples(index=False):
        ref = pearsonr(*(queries[all_classes.index(c)].astype(np.float64) for c in (a, b)))
        assert r == pytest.approx(ref.statistic, abs=1e-5)


def _deviations_by_hand(path, windows):
    """Each class's attention over ``windows`` less its mean, from the bundle's own forward pass."""
    import torch
    from multirm_tools.bundle import load_bundle
    from multirm_tools.kmers import tokenize
    model = load_bundle(path).model
    with torch.no_grad():
        _, attn = model(torch.as_tensor(tokenize(windows, 3)), return_attention=True)
    a = attn.double().numpy().transpose(1, 0, 2)
    return a - a.mean(axis=1, keepdims=True)


@pytest.mark.parametrize("kind", ["bilstm", "conv"])
def test_attention_measure_covers_every_class_of_an_ensemble(tmp_path, tiny_bundle_factory, capsys, kind):
    """A network of m6A alone is compared too: the measure reads attention, not parameters."""
    import json
    from conftest import TINY_CONV
    from multirm_tools.constants import CLASS_NAMES
    from multirm_tools.correlate import common_windows
    path = tiny_bundle_factory("spec.safetensors", members=2, specialists=("m6A",),
                               classes=tuple(c for c in CLASS_NAMES if c != "m6A"),
                               **(TINY_CONV if kind == "conv" else {}))
    code, err = run(["--model", path, "-o", tmp_path / "out", "--windows", 300, "--permutations", 50], capsys)
    assert code == 0, err
    assert "12 classes by attention" in err
    matrix = pd.read_csv(tmp_path / "out" / "correlation.tsv", sep="\t")
    assert list(matrix["modification"]) == list(CLASS_NAMES)
    dev = _deviations_by_hand(path, common_windows(None, 300, 21, seed=0))
    long = pd.read_csv(tmp_path / "out" / "correlation_long.tsv", sep="\t")
    assert len(long) == 66
    for a, b, r, p in long.itertuples(index=False):
        ref = pearsonr(dev[CLASS_NAMES.index(a)].ravel(), dev[CLASS_NAMES.index(b)].ravel())
        assert r == pytest.approx(ref.statistic, abs=1e-6)
        assert 1 / 51 - 1e-6 <= p <= 1
    record = json.loads((tmp_path / "out" / "run.json").read_text())
    assert (record["measure"], record["windows"], record["permutations"]) == ("attention", 300, 50)


def test_attention_of_two_classes_with_one_query_correlates_fully(tmp_path, tiny_bundle_factory, capsys):
    """Same query, same attention in every window: r = 1 and the smallest p the permutations allow."""
    from safetensors.torch import load_file
    path = tiny_bundle_factory("t.safetensors")
    with safe_open(str(path), framework="pt") as fh:
        meta = fh.metadata()
    tensors = load_file(str(path))
    q = tensors["model.att_query"].clone()
    q[CLASS_NAMES_INDEX["Psi"]] = q[CLASS_NAMES_INDEX["m6A"]]
    tensors["model.att_query"] = q
    save_file(tensors, str(tmp_path / "same.safetensors"), metadata=meta)
    code, err = run(["--model", tmp_path / "same.safetensors", "-o", tmp_path / "out", "--windows", 200,
                     "--permutations", 99], capsys)
    assert code == 0, err
    long = pd.read_csv(tmp_path / "out" / "correlation_long.tsv", sep="\t")
    pair = long[(long["class_a"] == "m6A") & (long["class_b"] == "Psi")].iloc[0]
    assert pair["pearson_r"] == pytest.approx(1.0, abs=1e-9) and pair["p_value"] == pytest.approx(0.01)
    others = long[~((long["class_a"] == "m6A") & (long["class_b"] == "Psi"))]
    assert others["pearson_r"].abs().max() < 0.999


def test_attention_windows_from_a_fasta(tmp_path, tiny_bundle, capsys):
    import json
    fa = tmp_path / "x.fa"
    fa.write_text(">a\nACGUACGUNNNNACGUAC\n>b\nGGGAAACCC\n")
    code, err = run(["--model", tiny_bundle, "-o", tmp_path / "out", "--fasta", fa, "--windows", 1000,
                     "--permutations", 10], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "out" / "run.json").read_text())["windows"] == 14 + 9  # every non-N position
    (tmp_path / "n.fa").write_text(">n\nNNNNNN\n")
    code, err = run(["--model", tiny_bundle, "-o", tmp_path / "out2", "--fasta", tmp_path / "n.fa"], capsys)
    assert code == 1 and "fewer than 2 positions other than N" in err
    assert not (tmp_path / "out2").exists()


def test_nearest_distance():
    b = np.array([10, 20, 50])
    np.testing.assert_array_equal(nearest_distance(np.array([0, 14, 16, 35, 100]), b), [10, 4, 4, 15, 50])
    both = nearest_distance(np.array([12]), np.array([[10, 30], [0, 13]]))
    np.testing.assert_array_equal(both, [[2], [1]])


def _bed(path, rows):
    path.write_text("".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def test_distances_b_ten_nt_from_each_a(tmp_path, tiny_bundle, capsys):
    a_sites = [1000 * i + 137 for i in range(20)]
    a = _bed(tmp_path / "a.bed", [("chr1", s, s + 1, "m6A", 900, "+") for s in a_sites])
    b = _bed(tmp_path / "b.bed", [("chr1", s + 10, s + 11, "Psi", 800, "+") for s in a_sites]
             + [("chr1", a_sites[0] + 10, a_sites[0] + 11, "Psi", 800, "-")])  # other strand: ignored
    code, err = run(["--model", tiny_bundle, "-o", tmp_path / "out", "--sites", a, b,
                     "--shuffles", "200", "--seed", "3"], capsys)
    assert code == 0, err
    d = pd.read_csv(tmp_path / "out" / "distances.tsv", sep="\t")
    assert list(d.columns) == ["class_a", "class_b", "n_pairs", "observed_median", "expected_median",
                               "p_value"]
    row = d.set_index(["class_a", "class_b"]).loc[("m6A", "Psi")]
    assert row["n_pairs"] == 20
    assert row["observed_median"] == 10
    assert row["expected_median"] > 100
    assert row["p_value"] == pytest.approx(1 / 201)
    back = d.set_index(["class_a", "class_b"]).loc[("Psi", "m6A")]
    assert back["observed_median"] == 10 and back["n_pairs"] == 20
    # Same seed, same numbers; the shuffles really are random (another seed, other expectation).
    code, _ = run(["--model", tiny_bundle, "-o", tmp_path / "again", "--sites", a, b,
                   "--shuffles", "200", "--seed", "3"], capsys)
    assert (tmp_path / "again" / "distances.tsv").read_bytes() == (tmp_path / "out" / "distances.tsv").read_bytes()
    code, _ = run(["--model", tiny_bundle, "-o", tmp_path / "other", "--sites", a, b,
                   "--shuffles", "200", "--seed", "4"], capsys)
    other = pd.read_csv(tmp_path / "other" / "distances.tsv", sep="\t")
    assert not np.array_equal(other["expected_median"], d["expected_median"])


def test_random_placement_is_not_significant():
    rng = np.random.default_rng(0)
    sites = pd.DataFrame({"chrom": "chr1", "start": rng.integers(0, 100000, 300), "strand": "+",
                          "modification": ["m6A"] * 150 + ["m1A"] * 150})
    ps = [distance_test(sites, "m6A", "m1A", 99, np.random.default_rng(s)).p_value for s in range(5)]
    assert min(ps) > 0.02


def test_class_from_file_name_when_the_name_column_is_not_one(tmp_path, tiny_bundle, capsys):
    a = _bed(tmp_path / "m6A.bed", [("chr1", 100, 101, "site1", 0, "+"), ("chr1", 500, 501, "site2", 0, "+")])
    b = _bed(tmp_path / "b.bed", [("chr1", 110, 111, "Y", 0, "+")])  # Y: pseudouridine alias
    code, err = run(["--model", tiny_bundle, "-o", tmp_path / "out", "--sites", a, b, "--shuffles", "9"],
                    capsys)
    assert code == 0, err
    d = pd.read_csv(tmp_path / "out" / "distances.tsv", sep="\t")
    assert set(zip(d["class_a"], d["class_b"])) == {("m6A", "Psi"), ("Psi", "m6A")}


@pytest.mark.parametrize("case, message", [
    ("empty", "empty.bed: no sites"),
    ("unknown", "x.bed: line 1: name 'foo' is no modification class"),
    ("one_class", "fewer than two classes"),
    ("not_bundle", "not a readable model bundle"),
    ("no_attention", "no attention weights"),
])
def test_bad_input_fails_clearly_without_output(tmp_path, tiny_bundle, capsys, case, message):
    model = tiny_bundle
    sites = []
    if case == "empty":
        sites = [_bed(tmp_path / "empty.bed", [])]
    elif case == "unknown":
        sites = [_bed(tmp_path / "x.bed", [("chr1", 5, 6, "foo", 0, "+")])]
    elif case == "one_class":
        sites = [_bed(tmp_path / "a.bed", [("chr1", 5, 6, "m6A", 0, "+"), ("chr1", 9, 10, "m6A", 0, "+")])]
    elif case == "not_bundle":
        model = tmp_path / "model.safetensors"
        model.write_text("this is no model\n")
    elif case == "no_attention":
        with safe_open(str(tiny_bundle), framework="pt") as fh:
            meta = fh.metadata()
            tensors = {k: fh.get_tensor(k) for k in fh.keys() if not k.startswith("model.att_")}
        model = tmp_path / "plain.safetensors"
        save_file(tensors, str(model), metadata=meta)
    argv = ["--model", model, "-o", tmp_path / "out"] + (["--sites", *sites] if sites else [])
    code, err = run(argv, capsys)
    assert code == 1
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
