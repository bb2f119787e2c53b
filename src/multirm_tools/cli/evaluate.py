"""multirm-evaluate: per-class metrics of a model bundle (and of the baseline) on a labelled table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..argtypes import odd_positive_int
from ..baseline import fit_baseline, predict_baseline, table_windows
from ..bundle import load_bundle
from ..errors import InputError, UsageError
from ..inference import score_windows, zero_wrong_base
from ..metrics import compare_scores, evaluate_scores
from ..sites import read_many
from ..tables import BASELINE_MODEL, naming_model, write_tsv
from .common import (add_compute_options, add_model_option, add_outdir_option, base_parser, check_output_dir,
                     nonneg_int, run_main, setup_compute)


def parse_arguments() -> argparse.ArgumentParser:
    parser = base_parser("multirm-evaluate", "Score each row's centre window of a labelled sites table "
                         "and write per-class metrics (AUCb, AUCm, AP, G-mean threshold, Sn, Sp, Acc, "
                         "MCC) and ROC/PR curve points.")
    add_model_option(parser)
    parser.add_argument("--sites", required=True, nargs="+", metavar="TABLE",
                        help="labelled sites table(s), TSV or TSV.gz")
    add_outdir_option(parser, aliases=("--out",),
                      help="output folder: metrics.tsv, curves.tsv (and metrics_baseline.tsv, "
                             "curves_baseline.tsv with --baseline-train; comparison.tsv with --compare; "
                             "comparison_baseline.tsv with --baseline-train and --bootstrap)")
    parser.add_argument("--bootstrap", type=nonneg_int, default=0, metavar="N",
                        help="add 95%% bootstrap intervals of AUCb and AUCm (columns AUCb_low AUCb_high "
                             "AUCm_low AUCm_high) from N resamples of the table within each class and "
                             "label; the model and the baseline get the same resamples; 0: none "
                             "(default: 0)")
    parser.add_argument("--compare", default=None, metavar="BUNDLE",
                        help="another model bundle to compare with on the same bootstrap resamples "
                             "(needs --bootstrap): comparison.tsv, per class and for the means, the two "
                             "AUCb and AUCm, their difference (this model - the other) and its 95%% "
                             "interval, and the share of resamples where this model is better")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed of the baseline and of the bootstrap resamples (default: 0)")
    group = parser.add_argument_group("baseline")
    group.add_argument("--baseline-train", nargs="+", metavar="TABLE", default=None,
                       help="train the LightGBM one-hot baseline on these tables and evaluate it too")
    # An even or non-positive window is a usage mistake (exit 2), refused by argparse before any work.
    group.add_argument("--baseline-window", type=odd_positive_int, default=None,
                       help="baseline window in nt (odd; default: the model's window)")
    add_compute_options(parser)
    return parser


def _table_scores(bundle, df: pd.DataFrame, classes: list[str], batch_size: int, device) -> np.ndarray:
    """Each row's scores for ``classes`` (0 on another base); only the networks that predict them run."""
    model = bundle.model.subset(classes)
    windows = table_windows(df, bundle.config.window)
    scores = score_windows(model, windows, batch_size, device)
    return zero_wrong_base(windows, scores[:, [model.config.classes.index(c) for c in classes]], classes)


def run(args: argparse.Namespace) -> int:
    device = setup_compute(args.device, args.threads)
    out = check_output_dir(args.outdir, "--outdir")
    if args.compare and not args.bootstrap:
        raise UsageError("--compare needs --bootstrap N (1000 or more): the comparison is made on its resamples")
    bundle = load_bundle(args.model, device=device)
    other = load_bundle(args.compare, device=device) if args.compare else None
    cfg = bundle.config
    df = read_many(args.sites, base_mismatch="drop")
    present = set(df["modification"])
    foreign = sorted(present - set(cfg.classes))
    if foreign:
        raise InputError(f"{', '.join(args.sites)}: class(es) {', '.join(foreign)} are not predicted by "
                         f"the model {bundle.path} (it predicts {', '.join(cfg.classes)})")
    classes = [c for c in cfg.classes if c in present]
    scores = _table_scores(bundle, df, classes, args.batch_size, device)
    boot = {"seed": args.seed, "progress": sys.stderr.isatty()}
    results = {"": evaluate_scores(df, scores, classes, bundle.thresholds, bootstrap=args.bootstrap, **boot)}
    comparisons = {}
    if other is not None:
        missing = [c for c in classes if c not in other.config.classes]
        if missing:
            raise InputError(f"--compare {args.compare}: the model does not predict class(es) "
                             f"{', '.join(missing)} of the table")
        comparisons["comparison"] = compare_scores(
            df, scores, _table_scores(other, df, classes, args.batch_size, device), classes,
            args.bootstrap, **boot)
    if args.baseline_train:
        window = cfg.window if args.baseline_window is None else args.baseline_window
        train = read_many(args.baseline_train, base_mismatch="drop")
        models = fit_baseline(train, window, seed=args.seed, threads=torch_threads())
        base_windows = table_windows(df, window)
        base_scores = zero_wrong_base(base_windows, predict_baseline(models, base_windows, classes), classes)
        unscored = set(classes) - set(models)
        results["_baseline"] = evaluate_scores(df, base_scores, classes, unscored=unscored,
                                               bootstrap=args.bootstrap, **boot)
        if args.bootstrap:
            comparisons["comparison_baseline"] = compare_scores(df, scores, base_scores, classes, args.bootstrap,
                                                                unscored=unscored, **boot)
    out.mkdir(parents=True, exist_ok=True)
    # Each table names the model it describes, so the report never goes by file names.
    names = {"": Path(bundle.path).name, "_baseline": BASELINE_MODEL}
    for suffix, (metrics, curves) in results.items():
        write_tsv(naming_model(metrics, names[suffix]), out / f"metrics{suffix}.tsv")
        write_tsv(naming_model(curves, names[suffix]), out / f"curves{suffix}.tsv")
    others = {"comparison": Path(other.path).name if other is not None else None, "comparison_baseline": BASELINE_MODEL}
    for name, table in comparisons.items():
        write_tsv(naming_model(table, others[name], "other_model"), out / f"{name}.tsv")
    for line in summary_lines(results, args.bootstrap > 0):
        print(f"multirm-evaluate: {line}", file=sys.stderr)
    for name, table in comparisons.items():
        mean = table.set_index(["modification", "metric"]).loc[("mean", "AUCb")]
        print(f"multirm-evaluate: model - {'baseline' if name.endswith('baseline') else 'compared model'}: "
              f"mean AUCb {mean['difference']:+.4f} (95% interval {mean['low']:+.4f} to {mean['high']:+.4f}, "
              f"better in {100 * mean['better_share']:.1f}% of resamples)", file=sys.stderr)
    return 0


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


def torch_threads() -> int:
    import torch
    return max(1, torch.get_num_threads())


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parse_arguments(), argv)


if __name__ == "__main__":
    sys.exit(main())
