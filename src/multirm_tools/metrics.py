"""Per-class evaluation of scores on a labelled sites table (no files here).

For each class present in the table:

- AUCb: ROC AUC of the class's sites (label 1) against its own background (label 0);
- AUCm: ROC AUC of the class's sites against every other row of the table (other
  classes' sites and all backgrounds), using the class's score;
- AP: average precision on AUCb's problem;
- threshold: given (the bundle's) or the maximal G-mean ``sqrt(Sn * Sp)`` on these data;
- Sn, Sp, Acc, MCC at that threshold on AUCb's problem (predicted positive: score >= threshold).
"""

from __future__ import annotations

from typing import Collection, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import (average_precision_score, matthews_corrcoef, precision_recall_curve,
                             roc_auc_score, roc_curve)

from .errors import InputError

METRIC_COLUMNS = ["modification", "n_pos", "n_neg", "AUCb", "AUCm", "AP", "threshold",
                  "Sn", "Sp", "Acc", "MCC"]
CURVE_COLUMNS = ["modification", "curve", "x", "y", "threshold"]


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


def evaluate_scores(df: pd.DataFrame, scores: np.ndarray, classes: Sequence[str],
                    thresholds: dict[str, float] | None = None,
                    unscored: Collection[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    curves = (pd.concat(curves, ignore_index=True) if curves
              else pd.DataFrame(columns=CURVE_COLUMNS))
    return metrics, curves[CURVE_COLUMNS]
