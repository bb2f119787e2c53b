"""multirm-evaluate on a tiny bundle: exact headers, agreement with the library, clean failures."""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from multirm_tools.baseline import fit_baseline, predict_baseline, table_windows
from multirm_tools.bundle import Bundle, load_bundle, save_bundle
from multirm_tools import evaluate_run
from multirm_tools.cli import evaluate
from multirm_tools.inference import score_windows, zero_wrong_base
from multirm_tools.metrics import evaluate_scores
from multirm_tools.model import ModelConfig, MultiRMNet
from multirm_tools.sites import write_sites
from multirm_tools.tables import BASELINE_MODEL
from synthetic import make_sites

METRICS_HEADER = "model\tmodification\tn_pos\tn_neg\tAUCb\tAUCm\tAP\tthreshold\tSn\tSp\tAcc\tMCC"
CURVES_HEADER = "model\tmodification\tcurve\tx\ty\tthreshold"
CLASSES = ("m6A", "Psi", "m5C")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("evaluate")
    torch.manual_seed(0)
    cfg = ModelConfig(window=21, hidden=8, embedding="onehot", embedding_dim=64, attention_dim=8,
                      head_hidden=8, classes=CLASSES)
    rng = np.random.default_rng(0)
    bundle = Bundle(model=MultiRMNet(cfg).eval(),
                    null_scores={c: rng.random(50).astype(np.float32) for c in CLASSES},
                    thresholds={"m6A": 0.5})
    save_bundle(d / "tiny.safetensors", bundle)
    write_sites(make_sites(CLASSES, 8, length=31, seed=1, id_prefix="v"), d / "valid.tsv.gz")
    write_sites(make_sites(CLASSES, 15, length=41, seed=2, id_prefix="t"), d / "train.tsv")
    return d


def _read(path):
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=["NA"])


def test_evaluate_writes_metrics_and_curves(files, tmp_path):
    out = tmp_path / "out"
    rc = evaluate.main(["--model", str(files / "tiny.safetensors"), "--sites",
                        str(files / "valid.tsv.gz"), "--outdir", str(out), "--threads", "1"])
    assert rc == 0
    assert (out / "metrics.tsv").read_text().splitlines()[0] == METRICS_HEADER
    assert (out / "curves.tsv").read_text().splitlines()[0] == CURVES_HEADER
    got = _read(out / "metrics.tsv")
    assert got["modification"].tolist() == [*CLASSES, "mean"]
    assert set(got["model"]) == set(_read(out / "curves.tsv")["model"]) == {"tiny.safetensors"}
    # same numbers as the library on the same scores
    bundle = load_bundle(files / "tiny.safetensors")
    df = pd.read_csv(files / "valid.tsv.gz", sep="\t")
    windows = table_windows(df, 21)
    scores = zero_wrong_base(windows, score_windows(bundle.model, windows), bundle.config.classes)
    want, _ = evaluate_scores(df, scores, CLASSES, bundle.thresholds)
    np.testing.assert_allclose(got[["AUCb", "AUCm", "AP", "Sn", "Sp"]].to_numpy(float),
                               want[["AUCb", "AUCm", "AP", "Sn", "Sp"]].to_numpy(float), rtol=1e-5)
    assert got["threshold"].iloc[0] == 0.5  # the bundle's threshold
    assert got["n_pos"].iloc[:3].tolist() == [8, 8, 8]
    assert not list(out.glob(".*part*"))


def test_baseline_is_evaluated_by_the_same_code(files, tmp_path):
    out = tmp_path / "out"
    rc = evaluate.main(["--model", str(files / "tiny.safetensors"), "--sites",
                        str(files / "valid.tsv.gz"), "--outdir", str(out), "--threads", "1",
                        "--baseline-train", str(files / "train.tsv")])
    assert rc == 0
    assert (out / "metrics_baseline.tsv").read_text().splitlines()[0] == METRICS_HEADER
    assert (out / "curves_baseline.tsv").read_text().splitlines()[0] == CURVES_HEADER
    base = _read(out / "metrics_baseline.tsv").set_index("modification")
    assert base.loc["m6A", "AUCb"] > 0.9  # planted motifs are easy
    assert set(base["model"]) == set(_read(out / "curves_baseline.tsv")["model"]) == {BASELINE_MODEL}


def test_baseline_without_a_class_reports_na(files, tmp_path, capsys):
    train = tmp_path / "train_m6a.tsv"
    write_sites(make_sites(("m6A",), 15, length=41, seed=5), train)
    out = tmp_path / "out"
    assert evaluate.main(["--model", str(files / "tiny.safetensors"), "--sites",
                          str(files / "valid.tsv.gz"), "--outdir", str(out), "--threads", "1",
                          "--baseline-train", str(train)]) == 0
    base = _read(out / "metrics_baseline.tsv").set_index("modification")
    assert np.isnan(base.loc["Psi", "AUCb"]) and base.loc["Psi", "n_pos"] == 8
    assert base.loc["mean", "AUCb"] == pytest.approx(base.loc["m6A", "AUCb"])
    # The summary compares like with like: the baseline's 1 class of 3, and the model on that class.
    model = _read(out / "metrics.tsv").set_index("modification")
    err = capsys.readouterr().err
    assert f"baseline: mean AUCb {base.loc['mean', 'AUCb']:.4f}" in err and "over 1 of 3 classes" in err
    assert (f"model: mean AUCb {model.loc['mean', 'AUCb']:.4f}" in err
            and f"over 3 class(es); over the baseline's 1 classes: mean AUCb {model.loc['m6A', 'AUCb']:.4f}, "
                f"mean AUCm {model.loc['m6A', 'AUCm']:.4f}" in err)


def test_baseline_deterministic_and_missing_classes():
    train = make_sites(("m6A", "Psi"), 15, length=41, seed=2)
    test = make_sites(("m6A", "Psi"), 5, length=41, seed=3)
    windows = table_windows(test, 21)
    a = predict_baseline(fit_baseline(train, 21, seed=1), windows)
    b = predict_baseline(fit_baseline(train, 21, seed=1), windows)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (len(test), 12)
    assert np.all(a[:, 0] == 0)  # Am: no model
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        models = fit_baseline(train[train.label == 1], 21)
    assert models == {} and len(w) == 2


@pytest.mark.parametrize("case", ["bad_table", "foreign_class", "bad_bundle"])
def test_failures_leave_no_output(files, tmp_path, capsys, case):
    model, sites = files / "tiny.safetensors", files / "valid.tsv.gz"
    if case == "bad_table":
        sites = tmp_path / "bad.tsv"
        sites.write_text("id\tlabel\nx\t1\n")
    elif case == "foreign_class":
        sites = tmp_path / "am.tsv"
        write_sites(make_sites(("Am", "m6A"), 3), sites)
    else:
        model = tmp_path / "model.safetensors"
        model.write_bytes(b"not a bundle")
    out = tmp_path / "out"
    rc = evaluate.main(["--model", str(model), "--sites", str(sites), "--outdir", str(out)])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("multirm-evaluate: error:")
    if case == "foreign_class":
        assert "Am" in err[0]
    assert not out.exists()


MY_SCRIPTS = ("multirm-embed", "multirm-evaluate", "multirm-train")


_HELP_SCRIPT = """
import contextlib, importlib, io, sys
for name, target in zip(sys.argv[1::2], sys.argv[2::2]):
    module, func = target.split(":")
    main = getattr(importlib.import_module(module), func)
    sys.argv[0] = name
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            rc = main(["--help"])
        except SystemExit as exc:
            rc = exc.code
    assert rc in (0, None), (name, rc)
    assert buf.getvalue().startswith("usage: " + name), (name, buf.getvalue()[:80])
print("ok")
"""


def test_console_scripts_help():
    """This tool set's [project.scripts] entries exist and their targets run with --help.

    One subprocess for all (torch is imported once); installed launchers are checked to exist.
    """
    text = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    section = text.split("[project.scripts]", 1)[1].split("\n[", 1)[0]
    scripts = dict(re.findall(r'^([\w-]+)\s*=\s*"([^"]+)"', section, re.M))
    argv = [x for name in MY_SCRIPTS for x in (name, scripts[name])]
    res = subprocess.run([sys.executable, "-c", _HELP_SCRIPT, *argv], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]
    bindir = Path(sys.executable).parent
    installed = [name for name in MY_SCRIPTS if (bindir / name).is_file()]
    assert installed in ([], list(MY_SCRIPTS))  # installed: all of them
    for name in MY_SCRIPTS:  # the repository launchers import the same entry point
        launcher = (Path(__file__).parents[1] / "tools" / name).read_text()
        assert f"from {scripts[name].split(':')[0]} import main" in launcher


def test_a_class_scores_zero_on_rows_of_another_base(files):
    """AUCm counts other bases' rows as negatives that the predictor would never report."""
    bundle = load_bundle(files / "tiny.safetensors")
    df = pd.read_csv(files / "valid.tsv.gz", sep="\t")
    windows = table_windows(df, 21)
    raw = score_windows(bundle.model, windows)
    scores = zero_wrong_base(windows, raw, bundle.config.classes)
    classes = list(bundle.config.classes)
    on_c = (df["modification"] == "m5C").to_numpy()  # C-centred rows
    assert np.all(scores[on_c, classes.index("m6A")] == 0)
    assert np.all(scores[on_c, classes.index("m5C")] == raw[on_c, classes.index("m5C")])


def test_bootstrap_adds_intervals_to_model_and_baseline(files, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["--model", str(files / "tiny.safetensors"), "--sites", str(files / "valid.tsv.gz"),
            "--outdir", str(out), "--threads", "1", "--bootstrap", "40", "--seed", "3"]
    assert evaluate.main([*args, "--baseline-train", str(files / "train.tsv")]) == 0
    for name in ("metrics.tsv", "metrics_baseline.tsv"):
        assert (out / name).read_text().splitlines()[0] == (
            METRICS_HEADER + "\tAUCb_low\tAUCb_high\tAUCm_low\tAUCm_high")
        got = _read(out / name)
        assert (got["AUCb_low"] <= got["AUCb"]).all() and (got["AUCb"] <= got["AUCb_high"]).all()
        assert (got["AUCm_low"] <= got["AUCm"]).all() and (got["AUCm"] <= got["AUCm_high"]).all()
    assert "95% interval" in capsys.readouterr().err
    # The same seed, the same intervals.
    first = (out / "metrics.tsv").read_text()
    assert evaluate.main([*args[:5], str(tmp_path / "again"), *args[6:]]) == 0
    assert (tmp_path / "again" / "metrics.tsv").read_text() == first
    with pytest.raises(SystemExit) as exc:
        evaluate.main([*args[:-4], "--bootstrap", "-1"])
    assert exc.value.code == 2 and "--bootstrap: '-1' must be >= 0" in capsys.readouterr().err


def test_only_the_networks_of_the_tables_classes_run(tmp_path, tiny_bundle_factory, monkeypatch):
    from multirm_tools.constants import CLASS_NAMES

    path = tiny_bundle_factory("spec.safetensors", members=2, seed=3, specialists=("m6A",), window=21,
                               classes=tuple(c for c in CLASS_NAMES if c != "m6A"))
    sites = tmp_path / "m6a.tsv"
    write_sites(make_sites(("m6A",), 12, length=31, seed=5), sites)
    ran = []
    real = evaluate_run.score_windows
    monkeypatch.setattr(evaluate_run, "score_windows", lambda model, *a: ran.append(model) or real(model, *a))
    assert evaluate.main(["--model", str(path), "--sites", str(sites), "--outdir", str(tmp_path / "out"),
                          "--threads", "1"]) == 0
    assert [len(m.members) for m in ran] == [1]  # the m6A network alone
    got = _read(tmp_path / "out" / "metrics.tsv").set_index("modification")
    # The same numbers as the library on the whole ensemble's scores.
    bundle = load_bundle(path)
    df = pd.read_csv(sites, sep="\t")
    windows = table_windows(df, 21)
    scores = zero_wrong_base(windows, real(bundle.model, windows), bundle.config.classes)
    want, _ = evaluate_scores(df, scores, bundle.config.classes, bundle.thresholds)
    want = want.set_index("modification")
    np.testing.assert_allclose(got.loc[["m6A", "mean"], ["AUCb", "AUCm", "AP"]].to_numpy(float),
                               want.loc[["m6A", "mean"], ["AUCb", "AUCm", "AP"]].to_numpy(float),
                               rtol=5e-6)  # metrics.tsv keeps 6 significant digits


def test_compare_two_models_and_the_baseline_on_the_same_resamples(files, tmp_path, tiny_bundle_factory, capsys):
    other = str(tiny_bundle_factory("other.safetensors", seed=9, window=21, classes=("m6A", "Psi", "m5C", "m1A")))
    sites, model = str(files / "valid.tsv.gz"), str(files / "tiny.safetensors")
    common = ["--sites", sites, "--threads", "1", "--bootstrap", "60", "--seed", "4"]
    assert evaluate.main(["--model", model, "--outdir", str(tmp_path / "a"), *common, "--compare", other,
                          "--baseline-train", str(files / "train.tsv")]) == 0
    assert "model - compared model: mean AUCb" in capsys.readouterr().err
    assert evaluate.main(["--model", other, "--outdir", str(tmp_path / "b"), *common]) == 0
    capsys.readouterr()
    a = _read(tmp_path / "a" / "metrics.tsv").set_index("modification")
    b = _read(tmp_path / "b" / "metrics.tsv").set_index("modification")
    for name, reference in (("comparison.tsv", b), ("comparison_baseline.tsv",
                                                    _read(tmp_path / "a" / "metrics_baseline.tsv").set_index("modification"))):
        got = _read(tmp_path / "a" / name)
        assert list(got.columns) == ["other_model", "modification", "metric", "model", "other", "difference",
                                     "low", "high", "better_share"]
        assert set(got["other_model"]) == {"other.safetensors" if name == "comparison.tsv" else BASELINE_MODEL}
        assert got["modification"].tolist() == [c for c in (*CLASSES, "mean") for _ in range(2)]
        got = got.set_index(["modification", "metric"])
        for c in (*CLASSES, "mean"):
            for metric in ("AUCb", "AUCm"):
                row = got.loc[(c, metric)]
                assert row["model"] == pytest.approx(a.loc[c, metric], abs=1e-6)
                assert row["other"] == pytest.approx(reference.loc[c, metric], abs=1e-6)
                assert row["low"] <= row["high"] and 0 <= row["better_share"] <= 1
    # --compare needs resamples; a bundle without the table's classes cannot be compared.
    assert evaluate.main(["--model", model, "--sites", sites, "--outdir", str(tmp_path / "c"), "--compare", other]) == 2
    assert capsys.readouterr().err.strip() == (
        "multirm-evaluate: error: --compare needs --bootstrap N (1000 or more): the comparison is made on its resamples")
    narrow = tiny_bundle_factory("narrow.safetensors", seed=9, window=21, classes=("m6A", "Psi"))
    assert evaluate.main(["--model", model, "--outdir", str(tmp_path / "d"), *common, "--compare", str(narrow)]) == 1
    assert "the model does not predict class(es) m5C of the table" in capsys.readouterr().err
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()
