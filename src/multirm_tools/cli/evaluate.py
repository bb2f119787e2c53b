"""multirm-evaluate: per-class metrics of a model bundle (and of the baseline) on a labelled table."""

from __future__ import annotations

import argparse
import sys

from ..argtypes import odd_positive_int
from ..bundle import load_bundle
from ..errors import UsageError
from ..evaluate_run import evaluate_table, summary_lines
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


def run(args: argparse.Namespace) -> int:
    device = setup_compute(args.device, args.threads)
    out = check_output_dir(args.outdir, "--outdir")
    if args.compare and not args.bootstrap:
        raise UsageError("--compare needs --bootstrap N (1000 or more): the comparison is made on its resamples")
    bundle = load_bundle(args.model, device=device)
    other = load_bundle(args.compare, device=device) if args.compare else None
    results, comparisons = evaluate_table(args.sites, out, bundle, other=other, baseline_train=args.baseline_train,
                                          baseline_window=args.baseline_window, bootstrap=args.bootstrap,
                                          seed=args.seed, batch_size=args.batch_size, device=device,
                                          progress=sys.stderr.isatty())
    for line in summary_lines(results, args.bootstrap > 0):
        print(f"multirm-evaluate: {line}", file=sys.stderr)
    for name, table in comparisons.items():
        mean = table.set_index(["modification", "metric"]).loc[("mean", "AUCb")]
        print(f"multirm-evaluate: model - {'baseline' if name.endswith('baseline') else 'compared model'}: "
              f"mean AUCb {mean['difference']:+.4f} (95% interval {mean['low']:+.4f} to {mean['high']:+.4f}, "
              f"better in {100 * mean['better_share']:.1f}% of resamples)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parse_arguments(), argv)


if __name__ == "__main__":
    sys.exit(main())
