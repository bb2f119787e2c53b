"""Per-class evaluation of scores on a labelled sites table (no files here).

For each class present in the table:

- AUCb: ROC AUC of the class's sites (label 1) against its own background (label 0);
- AUCm: ROC AUC of the class's sites against every other row of the table (other
  classes' sites and all backgrounds), using the class's score;
- AP: average precision on AUCb's problem;
- threshold: given (the bundle's) or the maximal G-mean ``sqrt(Sn * Sp)`` on these data;
- Sn, Sp, Acc, MCC at that threshold on AUCb's problem (predicted positive: score >= threshold);
- optionally, bootstrap confidence intervals of AUCb and AUCm (``AUCb_low`` ... ``AUCm_high``),
  and a paired bootstrap comparison of two models' AUCs on the same resamples (``compare_scores``).
"""

from __future__ import annotations

import sys
import warnings
from typing import Collection, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (average_precision_score, matthews_corrcoef, precision_recall_curve,
                             roc_auc_score, roc_curve)

from .errors import InputError
from .tables import TABLES

# What the functions compute: the registry's tables without the leading column naming the model,
# which multirm-evaluate adds.
METRIC_COLUMNS = TABLES["metrics"].names[1:]
CURVE_COLUMNS = TABLES["curves"].names[1:]
CI_COLUMNS = [c for c, _ in TABLES["metrics"].optional]
COMPARE_COLUMNS = TABLES["comparison"].names[1:]


def gmean_threshold(y: np.ndarray, s: np.ndarray) -> float:
    """The score cut-off (predict positive when ``s >= threshold``) maximising sqrt(Sn * Sp).

    Parameters
    ----------
    y: np.ndarray, shape=(n,), 0/1 labels; both must occur.
    s: np.ndarray, shape=(n,), scores.

    Returns
    -------
    float, one of the scores in ``s`` (the smallest of the best cut-offs' scores).
    """
    y = np.asarray(y)
    s = np.asarray(s, dtype=np.float64)
    if y.min() == y.max():
        raise ValueError("gmean_threshold needs both labels")
    # drop_intermediate=False: a G-mean maximum may lie inside a straight ROC segment
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    gmean = np.sqrt(tpr * (1.0 - fpr))
    gmean[~np.isfinite(thr)] = -1.0  # the (0, 0) point has threshold +inf
    return float(thr[int(np.argmax(gmean))])


def _at_threshold(y: np.ndarray, s: np.ndarray, threshold: float) -> tuple[float, float, float, float]:
    pred = s >= threshold
    pos, neg = y == 1, y == 0
    sn = float(pred[pos].mean()) if pos.any() else np.nan
    sp = float((~pred[neg]).mean()) if neg.any() else np.nan
    acc = float((pred == pos).mean())
    mcc = float(matthews_corrcoef(y, pred.astype(int))) if pos.any() and neg.any() else np.nan
    return sn, sp, acc, mcc


def _auc_b_m(mods: np.ndarray, labels: np.ndarray, s: np.ndarray, cls: str) -> tuple[float, float]:
    """(AUCb, AUCm) of class ``cls`` from its score ``s`` of every row; NaN where one label is missing."""
    own = mods == cls
    y, ym = labels[own], own & (labels == 1)
    aucb = roc_auc_score(y, s[own]) if 0 < y.sum() < len(y) else np.nan
    aucm = roc_auc_score(ym, s) if 0 < ym.sum() < len(ym) else np.nan
    return aucb, aucm


def _resampled_aucs(df: pd.DataFrame, score_sets: Sequence[np.ndarray], classes: Sequence[str],
                    cols: Sequence[int], n_boot: int, seed: int, progress: bool) -> np.ndarray:
    """AUCb and AUCm of classes ``cols`` on ``n_boot`` resamples of ``df``, for every score set.

    Each resample draws rows with replacement within every (class, label) group, so it keeps the
    table's counts. The resamples depend on the table and ``seed`` only, so every score set (and
    every call with that seed) is measured on the same draws.

    Returns np.ndarray, shape=(len(score_sets), 2 (AUCb, AUCm), n_boot, len(cols)); NaN where an
    AUC cannot be computed.
    """
    from tqdm import tqdm

    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    mods = df["modification"].to_numpy()
    labels = df["label"].to_numpy().astype(int)
    score_sets = [np.asarray(s, dtype=np.float64) for s in score_sets]
    groups = list(pd.DataFrame({"m": mods, "y": labels}).groupby(["m", "y"], sort=True).indices.values())
    rng = np.random.default_rng(seed)
    auc = np.full((len(score_sets), 2, n_boot, len(cols)), np.nan)
    for b in tqdm(range(n_boot), desc="bootstrap", unit="resample", disable=not progress, file=sys.stderr):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        m, y = mods[idx], labels[idx]
        for k, j in enumerate(cols):
            for i, scores in enumerate(score_sets):
                auc[i, :, b, k] = _auc_b_m(m, y, scores[idx, j], classes[j])
    return auc


def _scored_columns(df: pd.DataFrame, classes: Sequence[str], unscored: Collection[str]) -> list[int]:
    present = set(df["modification"])
    return [j for j, c in enumerate(classes) if c not in unscored and c in present]


def _percentiles(values: np.ndarray, level: float, axis: int) -> np.ndarray:
    tail = 100 * (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices stay NaN
        return np.nanpercentile(values, [tail, 100 - tail], axis=axis)


def _class_means(auc: np.ndarray) -> np.ndarray:
    """Mean over the last axis (classes), NaN-aware, without all-NaN warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(auc, axis=-1)


def bootstrap_ci(df: pd.DataFrame, scores: np.ndarray, classes: Sequence[str], n_boot: int,
                 seed: int = 0, level: float = 0.95, unscored: Collection[str] = (),
                 progress: bool = False) -> pd.DataFrame:
    """Percentile bootstrap intervals of each class's AUCb and AUCm and of their means over classes.

    Resamples as in ``_resampled_aucs``: within every (class, label) group, the same draws for
    one table and ``seed`` whatever the scores (a model and its baseline are measured on the same).

    Parameters
    ----------
    df, scores, classes, unscored: as for ``evaluate_scores``.
    n_boot: int, resamples (at least 1; 1,000 or more for a 95% interval).
    seed: int, seed of the resamples. Default is 0.
    level: float, the interval's coverage. Default is 0.95.
    progress: bool, show a progress bar on stderr. Default is False.

    Returns
    -------
    pd.DataFrame, columns ``modification`` and ``CI_COLUMNS``: one row per scored class present
    in ``df`` (in ``classes`` order), then ``mean``. NaN where an AUC cannot be computed.
    """
    cols = _scored_columns(df, classes, unscored)
    auc = _resampled_aucs(df, [scores], classes, cols, n_boot, seed, progress)[0]  # (2, n_boot, k)
    per_class = _percentiles(auc, level, axis=1)  # (2 bounds, 2 AUCs, classes)
    means = _percentiles(_class_means(auc), level, axis=1)  # (2 bounds, 2 AUCs)
    out = pd.DataFrame({"modification": [classes[j] for j in cols] + ["mean"]})
    for a, name in enumerate(("AUCb", "AUCm")):
        out[f"{name}_low"] = np.append(per_class[0, a], means[0, a])
        out[f"{name}_high"] = np.append(per_class[1, a], means[1, a])
    return out


def compare_scores(df: pd.DataFrame, scores: np.ndarray, other: np.ndarray, classes: Sequence[str],
                   n_boot: int, seed: int = 0, level: float = 0.95, unscored: Collection[str] = (),
                   progress: bool = False) -> pd.DataFrame:
    """Paired bootstrap comparison of two sets of scores of one table (a model against another).

    Both are measured on the same resamples (as in ``bootstrap_ci``), so the interval of the
    difference leaves out the table's own luck, which both share.

    Parameters
    ----------
    df, classes: as for ``evaluate_scores``.
    scores, other: np.ndarray, shape=(n, len(classes)), the model's and the other's scores.
    n_boot, seed, level, progress: as for ``bootstrap_ci``.
    unscored: classes either lacks (compared nowhere, and in no mean). Default is ().

    Returns
    -------
    pd.DataFrame, columns ``COMPARE_COLUMNS``: for each compared class present in ``df`` (in
    ``classes`` order), then ``mean``, an AUCb row and an AUCm row: both AUCs on the whole table,
    ``difference`` (model - other), its interval ``low`` .. ``high``, and ``better_share``, the
    share of resamples where the model's AUC is higher (ties count half).
    """
    cols = _scored_columns(df, classes, unscored)
    auc = _resampled_aucs(df, [scores, other], classes, cols, n_boot, seed, progress)  # (2, 2, B, k)
    auc = np.concatenate([auc, _class_means(auc)[..., None]], axis=-1)  # the mean as one more column
    point = np.full((2, 2, len(cols) + 1), np.nan)  # (score set, metric, class or mean)
    mods = df["modification"].to_numpy()
    labels = df["label"].to_numpy().astype(int)
    for i, s in enumerate((np.asarray(scores, np.float64), np.asarray(other, np.float64))):
        for k, j in enumerate(cols):
            point[i, :, k] = _auc_b_m(mods, labels, s[:, j], classes[j])
    point[:, :, -1] = _class_means(point[:, :, :-1])
    diff = auc[0] - auc[1]  # (metric, B, class or mean)
    bounds = _percentiles(diff, level, axis=1)  # (2 bounds, metric, class or mean)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        better = np.where(np.isnan(diff).all(axis=1), np.nan,
                          np.nanmean(np.where(np.isnan(diff), np.nan, (diff > 0) + 0.5 * (diff == 0)), axis=1))
    names = [classes[j] for j in cols] + ["mean"]
    rows = [{"modification": name, "metric": metric, "model": point[0, a, k], "other": point[1, a, k],
             "difference": point[0, a, k] - point[1, a, k], "low": bounds[0, a, k], "high": bounds[1, a, k],
             "better_share": better[a, k]}
            for k, name in enumerate(names) for a, metric in enumerate(("AUCb", "AUCm"))]
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def evaluate_scores(df: pd.DataFrame, scores: np.ndarray, classes: Sequence[str],
                    thresholds: dict[str, float] | None = None,
                    unscored: Collection[str] = (), bootstrap: int = 0, seed: int = 0,
                    progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics and curves per class of a labelled table from per-class scores.

    Parameters
    ----------
    df: pd.DataFrame with columns ``modification`` and ``label`` (a sites table), n rows.
    scores: np.ndarray, shape=(n, len(classes)), the score of every row for every class.
    classes: class names in the column order of ``scores``.
    thresholds: dict class -> cut-off, optional. Classes without one get the maximal
        G-mean cut-off on these data. Default is None.
    unscored: classes without real scores (e.g. no baseline model): their rows keep
        ``n_pos``/``n_neg``, their metrics are NaN, and they count in no mean. Default is ().
    bootstrap: resamples for ``bootstrap_ci``'s 95% intervals (columns ``CI_COLUMNS`` after
        the others); 0 (default) adds no columns.
    seed, progress: ``bootstrap_ci``'s, when ``bootstrap`` > 0.

    Returns
    -------
    metrics: pd.DataFrame, columns ``METRIC_COLUMNS``; one row per class present in ``df``
        (in ``classes`` order), then a ``mean`` row holding the means of AUCb, AUCm and AP.
        Values that cannot be computed (a class without sites or without background) are NaN.
    curves: pd.DataFrame, columns ``CURVE_COLUMNS``: ``ROC`` points (x=fpr, y=tpr) and
        ``PR`` points (x=recall, y=precision) on AUCb's problem, with their cut-offs.

    Raises
    ------
    InputError
        If ``df`` holds a class that is not in ``classes``.
    """
    classes = list(classes)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(df), len(classes)):
        raise ValueError(f"scores has shape {scores.shape} but must have shape {(len(df), len(classes))}")
    thresholds = thresholds or {}
    mods = df["modification"].to_numpy()
    labels = df["label"].to_numpy().astype(int)
    foreign = sorted(set(mods) - set(classes))
    if foreign:
        raise InputError(f"the table holds class(es) {', '.join(foreign)} that the model does not "
                         f"predict (it predicts {', '.join(classes)})")
    rows, curves = [], []
    for j, cls in enumerate(classes):
        own = mods == cls
        if not own.any():
            continue
        y, s = labels[own], scores[own, j]
        n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
        if cls in unscored:
            rows.append({"modification": cls, "n_pos": n_pos, "n_neg": n_neg})
            continue
        both = n_pos > 0 and n_neg > 0
        aucb, aucm = _auc_b_m(mods, labels, scores[:, j], cls)
        row = {"modification": cls, "n_pos": n_pos, "n_neg": n_neg, "AUCb": aucb, "AUCm": aucm,
               "AP": average_precision_score(y, s) if both else np.nan}
        thr = thresholds.get(cls)
        if thr is None:
            thr = gmean_threshold(y, s) if both else np.nan
        row["threshold"] = float(thr)
        row["Sn"], row["Sp"], row["Acc"], row["MCC"] = (
            _at_threshold(y, s, thr) if np.isfinite(thr) else (np.nan,) * 4)
        rows.append(row)
        if both:
            fpr, tpr, t = roc_curve(y, s)
            curves.append(pd.DataFrame({"modification": cls, "curve": "ROC", "x": fpr, "y": tpr,
                                        "threshold": t}))
            prec, rec, t = precision_recall_curve(y, s)
            curves.append(pd.DataFrame({"modification": cls, "curve": "PR", "x": rec, "y": prec,
                                        "threshold": np.append(t, np.nan)}))
    metrics = pd.DataFrame(rows, columns=METRIC_COLUMNS)
    mean = {c: np.nan for c in METRIC_COLUMNS}
    mean["modification"] = "mean"
    for c in ("AUCb", "AUCm", "AP"):
        mean[c] = float(metrics[c].mean()) if metrics[c].notna().any() else np.nan
    metrics = pd.concat([metrics, pd.DataFrame([mean], columns=METRIC_COLUMNS)], ignore_index=True)
    metrics[["n_pos", "n_neg"]] = metrics[["n_pos", "n_neg"]].astype("Int64")
    if bootstrap:
        ci = bootstrap_ci(df, scores, classes, bootstrap, seed, unscored=unscored, progress=progress)
        metrics = metrics.merge(ci, on="modification", how="left")
    curves = (pd.concat(curves, ignore_index=True) if curves
              else pd.DataFrame(columns=CURVE_COLUMNS))
    return metrics, curves[CURVE_COLUMNS]
