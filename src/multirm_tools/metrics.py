"""Per-class evaluation of scores on a labelled sites table (no files here).

For each class present in the table:

- AUCb: ROC AUC of the class's sites (label 1) against its own background (label 0);
- AUCm: ROC AUC of the class's sites against every other row of the table (other
  classes' sites and all backgrounds), using the class's score;
- AP: average precision on AUCb's problem;
- threshold: given (the bundle's) or the maximal G-mean ``sqrt(Sn * Sp)`` on these data;
- Sn, Sp, Acc, MCC at that threshold on AUCb's problem (predicted positive: score >= threshold);
- optionally, bootstrap confidence intervals of AUCb and AUCm (``AUCb_low`` ... ``AUCm_high``).
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

METRIC_COLUMNS = ["modification", "n_pos", "n_neg", "AUCb", "AUCm", "AP", "threshold",
                  "Sn", "Sp", "Acc", "MCC"]
CURVE_COLUMNS = ["modification", "curve", "x", "y", "threshold"]
CI_COLUMNS = ["AUCb_low", "AUCb_high", "AUCm_low", "AUCm_high"]


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


def bootstrap_ci(df: pd.DataFrame, scores: np.ndarray, classes: Sequence[str], n_boot: int,
                 seed: int = 0, level: float = 0.95, unscored: Collection[str] = (),
                 progress: bool = False) -> pd.DataFrame:
    """Percentile bootstrap intervals of each class's AUCb and AUCm and of their means over classes.

    Each of the ``n_boot`` resamples draws rows with replacement within every (class, label)
    group, so it keeps the table's counts; all classes are computed on the same resamples, and
    one ``seed`` gives the same resamples for any scores of the same table (model and baseline
    are then compared on the same draws).

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
    from tqdm import tqdm

    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    mods = df["modification"].to_numpy()
    labels = df["label"].to_numpy().astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    cols = [j for j, c in enumerate(classes) if c not in unscored and (mods == c).any()]
    groups = list(pd.DataFrame({"m": mods, "y": labels}).groupby(["m", "y"], sort=True).indices.values())
    rng = np.random.default_rng(seed)
    auc = np.full((2, n_boot, len(cols)), np.nan)  # AUCb, AUCm
    for b in tqdm(range(n_boot), desc="bootstrap", unit="resample", disable=not progress, file=sys.stderr):
        idx = np.concatenate([g[rng.integers(0, len(g), len(g))] for g in groups])
        m, y = mods[idx], labels[idx]
        for k, j in enumerate(cols):
            own = m == classes[j]
            if 0 < y[own].sum() < own.sum():
                auc[0, b, k] = roc_auc_score(y[own], scores[idx[own], j])
            ym = own & (y == 1)
            if 0 < ym.sum() < len(ym):
                auc[1, b, k] = roc_auc_score(ym, scores[idx, j])
    tail = 100 * (1 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        per_class = np.nanpercentile(auc, [tail, 100 - tail], axis=1)  # (2 bounds, 2 AUCs, classes)
        means = np.nanpercentile(np.nanmean(auc, axis=2), [tail, 100 - tail], axis=1)  # (2, 2)
    out = pd.DataFrame({"modification": [classes[j] for j in cols] + ["mean"]})
    for a, name in enumerate(("AUCb", "AUCm")):
        out[f"{name}_low"] = np.append(per_class[0, a], means[0, a])
        out[f"{name}_high"] = np.append(per_class[1, a], means[1, a])
    return out


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
        ym = (own & (labels == 1)).astype(int)
        row = {"modification": cls, "n_pos": n_pos, "n_neg": n_neg,
               "AUCb": roc_auc_score(y, s) if both else np.nan,
               "AUCm": roc_auc_score(ym, scores[:, j]) if 0 < ym.sum() < len(ym) else np.nan,
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
