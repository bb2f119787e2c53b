"""multirm-evaluate's run: a model (and the LightGBM baseline, another model) scored on a labelled table.

``evaluate_table`` scores each row's centre window, computes the metrics and curves per class
(``metrics.evaluate_scores``), optionally the baseline's and paired comparisons on the same bootstrap
resamples (``metrics.compare_scores``), and writes metrics.tsv, curves.tsv, their ``_baseline``
twins and comparison(_baseline).tsv; every table names the model it describes in its first column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .baseline import fit_baseline, predict_baseline, table_windows
from .errors import InputError
from .inference import score_windows, zero_wrong_base
from .metrics import compare_scores, evaluate_scores
from .sites import read_many
from .tables import BASELINE_MODEL, naming_model, write_tsv


def table_scores(bundle, df: pd.DataFrame, classes: list[str], batch_size: int, device) -> np.ndarray:
    """Each row's scores for ``classes`` (0 on another base); only the networks that predict them run."""
    model = bundle.model.subset(classes)
    windows = table_windows(df, bundle.config.window)
    scores = score_windows(model, windows, batch_size, device)
    return zero_wrong_base(windows, scores[:, [model.config.classes.index(c) for c in classes]], classes)


def evaluate_table(sites: list[str], out: Path, bundle, *, other=None, baseline_train: list[str] | None = None,
                   baseline_window: int | None = None, bootstrap: int = 0, seed: int = 0, batch_size: int = 512,
                   device="cpu", progress: bool = False) -> tuple[dict, dict]:
    """Evaluate ``bundle`` (and ``other``, the baseline fitted on ``baseline_train``) on ``sites``.

    Returns ``results`` (``""`` / ``"_baseline"`` -> (metrics, curves)) and ``comparisons``
    (``"comparison"`` / ``"comparison_baseline"`` -> table), as written into ``out``.
    """
    cfg = bundle.config
    df = read_many(sites, base_mismatch="drop")
    present = set(df["modification"])
    foreign = sorted(present - set(cfg.classes))
    if foreign:
        raise InputError(f"{', '.join(sites)}: class(es) {', '.join(foreign)} are not predicted by "
                         f"the model {bundle.path} (it predicts {', '.join(cfg.classes)})")
    classes = [c for c in cfg.classes if c in present]
    scores = table_scores(bundle, df, classes, batch_size, device)
    boot = {"seed": seed, "progress": progress}
    results = {"": evaluate_scores(df, scores, classes, bundle.thresholds, bootstrap=bootstrap, **boot)}
    comparisons = {}
    if other is not None:
        missing = [c for c in classes if c not in other.config.classes]
        if missing:
            raise InputError(f"--compare {other.path}: the model does not predict class(es) "
                             f"{', '.join(missing)} of the table")
        comparisons["comparison"] = compare_scores(
            df, scores, table_scores(other, df, classes, batch_size, device), classes, bootstrap, **boot)
    if baseline_train:
        window = cfg.window if baseline_window is None else baseline_window
        train = read_many(baseline_train, base_mismatch="drop")
        models = fit_baseline(train, window, seed=seed, threads=max(1, torch.get_num_threads()))
        base_windows = table_windows(df, window)
        base_scores = zero_wrong_base(base_windows, predict_baseline(models, base_windows, classes), classes)
        unscored = set(classes) - set(models)
        results["_baseline"] = evaluate_scores(df, base_scores, classes, unscored=unscored,
                                               bootstrap=bootstrap, **boot)
        if bootstrap:
            comparisons["comparison_baseline"] = compare_scores(df, scores, base_scores, classes, bootstrap,
                                                                unscored=unscored, **boot)
    out.mkdir(parents=True, exist_ok=True)
    # Each table names the model it describes, so the report never goes by file names.
    names = {"": Path(bundle.path).name, "_baseline": BASELINE_MODEL}
    for suffix, (metrics, curves) in results.items():
        write_tsv(naming_model(metrics, names[suffix]), out / f"metrics{suffix}.tsv")
        write_tsv(naming_model(curves, names[suffix]), out / f"curves{suffix}.tsv")
    others = {"comparison": Path(other.path).name if other is not None else None,
              "comparison_baseline": BASELINE_MODEL}
    for name, table in comparisons.items():
        write_tsv(naming_model(table, others[name], "other_model"), out / f"{name}.tsv")
    return results, comparisons


def summary_lines(results: dict[str, tuple[pd.DataFrame, pd.DataFrame]], intervals: bool) -> list[str]:
    """One line per metrics table: its means, over like classes.

    The baseline may score fewer classes than the model (LightGBM needs both labels to fit):
    its line then says over how many, and the model's line adds its mean over those same classes,
    so the two means compare like with like.
    """
    model = results[""][0]
    baseline = results.get("_baseline", (None,))[0]
    counted = lambda m: m[m["modification"] != "mean"].dropna(subset=["AUCb"])  # noqa: E731
    lines = []
    for suffix, (metrics, _) in results.items():
        mean = metrics.iloc[-1]
        ci = f" (95% interval {mean['AUCb_low']:.4f}-{mean['AUCb_high']:.4f})" if intervals else ""
        n, total = len(counted(metrics)), len(model) - 1
        over = f"over {n} of {total} classes" if n < total else f"over {n} class(es)"
        line = (f"{'baseline' if suffix else 'model'}: mean AUCb {mean['AUCb']:.4f}{ci}, mean AUCm "
                f"{mean['AUCm']:.4f}, mean AP {mean['AP']:.4f} {over}")
        if not suffix and baseline is not None:
            same = set(counted(baseline)["modification"])
            if len(same) < len(counted(metrics)):
                rows = counted(metrics)[counted(metrics)["modification"].isin(same)]
                line += (f"; over the baseline's {len(same)} classes: mean AUCb {rows['AUCb'].mean():.4f}, "
                         f"mean AUCm {rows['AUCm'].mean():.4f}")
        lines.append(line)
    return lines
