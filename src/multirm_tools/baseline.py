"""A gradient-boosting baseline: one LightGBM classifier per class on one-hot centre windows.

The paper compared MultiRM with XGBoost and CatBoost; this baseline is trained
and evaluated by the same tools (``multirm-evaluate --baseline-train``) so every
claim about the network stands beside it.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from .constants import CLASS_NAMES
from .kmers import centre_windows, encode

DEFAULT_PARAMS = dict(n_estimators=300, learning_rate=0.05, num_leaves=31, min_child_samples=10,
                      subsample=1.0, colsample_bytree=0.5)


def onehot_windows(windows: np.ndarray) -> np.ndarray:
    """One-hot features of nucleotide-code windows; N (code 4) is all zeros.

    Parameters
    ----------
    windows: np.ndarray, shape=(n, window), dtype=uint8, codes 0-4.

    Returns
    -------
    np.ndarray, shape=(n, 4 * window), dtype=float32
    """
    eye = np.vstack([np.eye(4, dtype=np.float32), np.zeros((1, 4), np.float32)])
    return eye[windows].reshape(len(windows), -1)


def table_windows(df: pd.DataFrame, window: int) -> np.ndarray:
    """Centre windows (codes) of a sites table, shape=(len(df), window)."""
    return centre_windows([encode(s) for s in df["sequence"]], df["site"].to_numpy(), window)


def fit_baseline(train_df: pd.DataFrame, window: int, classes: Sequence[str] | None = None,
                 seed: int = 0, threads: int = 1, **params) -> dict:
    """Fit one binary LightGBM classifier per class on that class's rows.

    Parameters
    ----------
    train_df: a sites table (``modification label site sequence``).
    window: int, odd window length centred on each row's site.
    classes: classes to fit. Default: every class in ``train_df``.
    seed: int, LightGBM's random state (deterministic mode). Default is 0.
    threads: int, LightGBM threads. Default is 1.
    params: override ``DEFAULT_PARAMS``.

    Returns
    -------
    dict class -> fitted ``lightgbm.LGBMClassifier``; classes whose rows lack one of
    the two labels are skipped with a warning.
    """
    from lightgbm import LGBMClassifier

    if classes is None:
        classes = [c for c in CLASS_NAMES if c in set(train_df["modification"])]
    models = {}
    for cls in classes:
        rows = train_df[train_df["modification"] == cls]
        y = rows["label"].to_numpy().astype(int)
        if len(np.unique(y)) < 2:
            warnings.warn(f"baseline: class {cls} has {len(rows)} training row(s) without both labels; "
                          f"skipped", stacklevel=2)
            continue
        x = onehot_windows(table_windows(rows, window))
        clf = LGBMClassifier(**{**DEFAULT_PARAMS, **params}, random_state=seed, n_jobs=threads,
                             deterministic=True, force_row_wise=True, verbose=-1)
        clf.fit(x, y)
        models[cls] = clf
    return models


def predict_baseline(models: dict, windows: np.ndarray,
                     classes: Sequence[str] = CLASS_NAMES) -> np.ndarray:
    """Probabilities of every class for code windows; 0 for classes without a model.

    Parameters
    ----------
    models: dict class -> fitted classifier (from ``fit_baseline``).
    windows: np.ndarray, shape=(n, window), dtype=uint8.
    classes: output column order. Default is all twelve registry classes.

    Returns
    -------
    np.ndarray, shape=(n, len(classes)), dtype=float32
    """
    out = np.zeros((len(windows), len(classes)), dtype=np.float32)
    if len(windows) == 0:
        return out
    x = onehot_windows(windows)
    for j, cls in enumerate(classes):
        if cls in models:
            out[:, j] = models[cls].predict_proba(x)[:, 1]
    return out
