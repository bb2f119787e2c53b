"""metrics.evaluate_scores agrees with scikit-learn; the G-mean cut-off is the best one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import auc, average_precision_score, matthews_corrcoef, roc_auc_score

from multirm_tools.errors import InputError
from multirm_tools.metrics import (CI_COLUMNS, COMPARE_COLUMNS, CURVE_COLUMNS, METRIC_COLUMNS, bootstrap_ci,
                                   compare_scores, evaluate_scores,
                                   gmean_threshold)

CLASSES = ["m6A", "Psi", "m5C"]


@pytest.fixture
def table():
    rng = np.random.default_rng(1)
    mods = np.repeat(["m6A", "Psi"], [30, 20])
    labels = np.r_[np.repeat([1, 0], [12, 18]), np.repeat([1, 0], [11, 9])]
    df = pd.DataFrame({"modification": mods, "label": labels})
    scores = rng.random((len(df), len(CLASSES))).round(2)  # rounding makes ties
    scores[labels == 1] += 0.3
    return df, scores


def test_aucs_agree_with_sklearn(table):
    df, scores = table
    metrics, curves = evaluate_scores(df, scores, CLASSES)
    assert list(metrics.columns) == METRIC_COLUMNS and list(curves.columns) == CURVE_COLUMNS
    assert metrics["modification"].tolist() == ["m6A", "Psi", "mean"]  # m5C absent from the table
    for j, cls in enumerate(CLASSES[:2]):
        row = metrics.set_index("modification").loc[cls]
        own = (df["modification"] == cls).to_numpy()
        y, s = df["label"].to_numpy()[own], scores[own, j]
        assert row["n_pos"] == y.sum() and row["n_neg"] == (1 - y).sum()
        assert row["AUCb"] == pytest.approx(roc_auc_score(y, s))
        assert row["AP"] == pytest.approx(average_precision_score(y, s))
        # AUCm: the class's sites against every other row, other classes' sites included
        ym = own & (df["label"].to_numpy() == 1)
        assert row["AUCm"] == pytest.approx(roc_auc_score(ym, scores[:, j]))
        assert row["AUCm"] != pytest.approx(roc_auc_score(ym[own | (df["label"] == 0)],
                                                          scores[own | (df["label"] == 0), j]))
        pred = (s >= row["threshold"]).astype(int)
        assert row["Sn"] == pytest.approx(pred[y == 1].mean())
        assert row["Sp"] == pytest.approx(1 - pred[y == 0].mean())
        assert row["Acc"] == pytest.approx((pred == y).mean())
        assert row["MCC"] == pytest.approx(matthews_corrcoef(y, pred))
    mean = metrics.iloc[-1]
    for c in ("AUCb", "AUCm", "AP"):
        assert mean[c] == pytest.approx(metrics[c].iloc[:2].mean())
    roc = curves[(curves.modification == "m6A") & (curves.curve == "ROC")]
    assert roc[["x", "y"]].iloc[-1].tolist() == [1.0, 1.0]
    assert auc(roc["x"], roc["y"]) == pytest.approx(metrics["AUCb"].iloc[0])
    assert set(curves["curve"]) == {"ROC", "PR"}


def test_given_thresholds_are_used(table):
    df, scores = table
    metrics, _ = evaluate_scores(df, scores, CLASSES, thresholds={"m6A": 0.5})
    assert metrics["threshold"].iloc[0] == 0.5
    assert metrics["threshold"].iloc[1] == gmean_threshold(
        df["label"][df.modification == "Psi"].to_numpy(), scores[df.modification == "Psi", 1])


def test_class_missing_from_model_is_named(table):
    df, scores = table
    with pytest.raises(InputError, match="Psi"):
        evaluate_scores(df, scores[:, :1], ["m6A"])


def test_one_label_only_gives_nan():
    df = pd.DataFrame({"modification": ["m6A"] * 3 + ["Psi"] * 2, "label": [1, 1, 1, 0, 1]})
    metrics, _ = evaluate_scores(df, np.arange(10.0).reshape(5, 2) / 10, ["m6A", "Psi"])
    assert np.isnan(metrics["AUCb"].iloc[0]) and np.isfinite(metrics["AUCm"].iloc[0])
    assert np.isfinite(metrics["AUCb"].iloc[1])


@pytest.mark.parametrize("seed", range(5))
def test_gmean_threshold_is_brute_force_best(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 40)
    y[:2] = [0, 1]
    s = (rng.random(40) + 0.4 * y).round(1)  # many ties

    def gmean(t):
        pred = s >= t
        return np.sqrt(pred[y == 1].mean() * (~pred[y == 0]).mean())

    best = max(gmean(t) for t in np.unique(s))
    t = gmean_threshold(y, s)
    assert t in s
    assert gmean(t) == pytest.approx(best)


def test_unscored_classes_are_na_and_out_of_the_mean(table):
    df, scores = table
    full, _ = evaluate_scores(df, scores, CLASSES)
    metrics, curves = evaluate_scores(df, scores, CLASSES, unscored={"Psi"})
    psi = metrics.set_index("modification").loc["Psi"]
    assert psi["n_pos"] == 11 and psi[["AUCb", "AUCm", "AP", "threshold", "MCC"]].isna().all()
    assert metrics["AUCb"].iloc[-1] == pytest.approx(full["AUCb"].iloc[0])
    assert set(curves["modification"]) == {"m6A"}


def _shifted(n: int, shift: dict[str, float], seed: int):
    """n sites and n background rows per class; each class's sites score ``shift`` higher on its column."""
    rng = np.random.default_rng(seed)
    classes = list(shift)
    df = pd.DataFrame({"modification": np.repeat(classes, 2 * n), "label": np.tile(np.repeat([1, 0], n), len(classes))})
    scores = rng.normal(size=(len(df), len(classes)))
    for j, c in enumerate(classes):
        scores[(df["modification"] == c).to_numpy() & (df["label"] == 1).to_numpy(), j] += shift[c]
    return df, scores


def test_bootstrap_intervals_cover_the_truth_with_the_analytic_width():
    from scipy.stats import norm

    shift = {"m6A": 1.0, "Psi": 0.4}
    df, scores = _shifted(300, shift, seed=3)
    metrics = evaluate_scores(df, scores, list(shift), bootstrap=400, seed=1)[0].set_index("modification")
    assert list(metrics.columns[-4:]) == CI_COLUMNS
    for c, d in shift.items():
        row = metrics.loc[c]
        true_auc = norm.cdf(d / np.sqrt(2))  # two unit normals d apart
        assert row["AUCb_low"] < true_auc < row["AUCb_high"]
        assert row["AUCb_low"] < row["AUCb"] < row["AUCb_high"]
        assert row["AUCm_low"] < row["AUCm"] < row["AUCm_high"]
        # Hanley & McNeil's standard error of an AUC from 300 + 300 rows
        a, n = row["AUCb"], 300
        q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
        se = np.sqrt((a * (1 - a) + (n - 1) * (q1 - a * a) + (n - 1) * (q2 - a * a)) / (n * n))
        assert 0.8 < (row["AUCb_high"] - row["AUCb_low"]) / (2 * 1.96 * se) < 1.25
    mean = metrics.loc["mean"]
    assert mean["AUCb_low"] < mean["AUCb"] < mean["AUCb_high"]
    # The mean over two classes is known better than either class.
    assert mean["AUCb_high"] - mean["AUCb_low"] < min(metrics.loc[c, "AUCb_high"] - metrics.loc[c, "AUCb_low"]
                                                      for c in shift)


def test_bootstrap_resamples_depend_on_the_table_and_seed_only():
    df, scores = _shifted(40, {"m6A": 1.0, "Psi": 0.5}, seed=4)
    one = evaluate_scores(df, scores, ["m6A", "Psi"], bootstrap=50, seed=7)[0]
    # Same ranks, other scores (a model and a monotone copy of it): the same resamples, the same intervals.
    again = evaluate_scores(df, np.exp(scores), ["m6A", "Psi"], bootstrap=50, seed=7)[0]
    pd.testing.assert_frame_equal(one[CI_COLUMNS], again[CI_COLUMNS])
    other = evaluate_scores(df, scores, ["m6A", "Psi"], bootstrap=50, seed=8)[0]
    assert not np.allclose(one[CI_COLUMNS].to_numpy(float), other[CI_COLUMNS].to_numpy(float))
    # Perfectly separated: every resample is too.
    perfect = scores.copy()
    perfect[:, 0] = np.where((df["modification"] == "m6A") & (df["label"] == 1), 10.0, 0.0)
    got = evaluate_scores(df, perfect, ["m6A", "Psi"], bootstrap=20, seed=7)[0].set_index("modification")
    assert (got.loc["m6A", "AUCb_low"], got.loc["m6A", "AUCb_high"]) == (1.0, 1.0)
    # An unscored class has no interval and stays out of the mean's.
    part = evaluate_scores(df, scores, ["m6A", "Psi"], unscored={"Psi"}, bootstrap=50, seed=7)[0]
    part = part.set_index("modification")
    assert part.loc["Psi", CI_COLUMNS].isna().all()
    assert part.loc["mean", "AUCb_low"] == one.set_index("modification").loc["m6A", "AUCb_low"]
    with pytest.raises(ValueError, match="at least 1"):
        bootstrap_ci(df, scores, ["m6A", "Psi"], 0)


def test_paired_comparison_sees_small_differences_that_intervals_of_each_cannot():
    df, scores = _shifted(150, {"m6A": 0.8, "Psi": 0.8}, seed=5)
    # "other": the same scores, but m6A's sites score 0.15 lower: slightly worse there, and
    # strongly correlated with the model, as two versions of one model are.
    other = scores.copy()
    other[((df["modification"] == "m6A") & (df["label"] == 1)).to_numpy(), 0] -= 0.15
    got = compare_scores(df, scores, other, ["m6A", "Psi"], n_boot=300, seed=2)
    assert list(got.columns) == COMPARE_COLUMNS
    assert got[["modification", "metric"]].values.tolist() == [
        ["m6A", "AUCb"], ["m6A", "AUCm"], ["Psi", "AUCb"], ["Psi", "AUCm"], ["mean", "AUCb"], ["mean", "AUCm"]]
    got = got.set_index(["modification", "metric"])
    m6a = got.loc[("m6A", "AUCb")]
    want_model = evaluate_scores(df, scores, ["m6A", "Psi"])[0].set_index("modification").loc["m6A", "AUCb"]
    want_other = evaluate_scores(df, other, ["m6A", "Psi"])[0].set_index("modification").loc["m6A", "AUCb"]
    assert (m6a["model"], m6a["other"]) == (want_model, want_other)
    assert m6a["difference"] == pytest.approx(want_model - want_other)
    assert 0 < m6a["low"] < m6a["difference"] < m6a["high"] and m6a["better_share"] > 0.975
    # Paired: the difference's interval is far narrower than either AUC's own interval.
    ci = bootstrap_ci(df, scores, ["m6A", "Psi"], n_boot=300, seed=2).set_index("modification")
    assert m6a["high"] - m6a["low"] < 0.5 * (ci.loc["m6A", "AUCb_high"] - ci.loc["m6A", "AUCb_low"])
    # Psi's scores are the same: no difference on any resample.
    psi = got.loc[("Psi", "AUCb")]
    assert (psi["difference"], psi["low"], psi["high"], psi["better_share"]) == (0, 0, 0, 0.5)
    mean = got.loc[("mean", "AUCb")]
    assert mean["difference"] == pytest.approx(m6a["difference"] / 2)
    # A class the other does not score is compared nowhere.
    part = compare_scores(df, scores, other, ["m6A", "Psi"], n_boot=20, seed=2, unscored={"Psi"})
    assert set(part["modification"]) == {"m6A", "mean"}
    assert part.set_index(["modification", "metric"]).loc[("mean", "AUCb"), "difference"] == pytest.approx(
        m6a["difference"])
