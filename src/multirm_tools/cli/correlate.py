"""multirm-correlate: correlation of the classes' attention (distributions or queries); distances between predicted sites."""

from __future__ import annotations

import argparse
import sys

from ..bundle import load_bundle, require_attention
from ..correlate import MEASURES
from ..correlate_run import correlate_classes
from ..errors import UsageError
from ..tables import run_header
from .common import add_model_option, add_outdir_option, base_parser, check_output_dir, positive_int, run_main

PROG = "multirm-correlate"

DESCRIPTION = """\
Associations among modifications. From a model bundle, how alike the classes' attention
is (Pearson's r with p-values), by one of two measures:
  attention (default; any model, all its classes): the classes' attention distributions
    over one common set of windows (--fasta, or random sequence), each relative to the
    class's mean profile. Two classes correlate when the same sequence draws both their
    attention to the same positions: they read the same sequence features. p-values
    permute the windows of one class against the other's.
  query (MultiRM Fig. 3): the classes' attention query vectors, the direction of encoder
    states each class attends to; only classes predicted by the same networks compare
    (a network of a single class has no other query in its state space).
From predicted sites (BED): for each ordered pair of classes A, B, the median distance
from each A site to the nearest B site on the same chromosome and strand, against B
placed at random.
"""

EPILOG = """\
sites:
  BED files with at least 6 columns (multirm-predict's sites.bed): the name column is
  the class (aliases accepted); where it is no class, the file name (m6A.bed) is.
  Shuffles draw B's positions uniformly within the span of all given sites on that
  chromosome and strand. p = (1 + #shuffled medians <= observed) / (shuffles + 1),
  one-sided: B closer to A than chance.

outputs (in OUTDIR):
  correlation.tsv       header: modification and the class names; one row per class:
                        its name and its r with every class (symmetric, ones on the
                        diagonal)
  correlation_long.tsv  class_a class_b pearson_r p_value (each unordered pair once)
  distances.tsv         with --sites: class_a class_b n_pairs observed_median
                        expected_median p_value
  run.json              provenance
"""



def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(PROG, DESCRIPTION)
    parser.epilog = EPILOG
    add_outdir_option(parser, help="output folder (created if missing; required)")
    add_model_option(parser)
    parser.add_argument("--measure", choices=MEASURES, default="attention",
                        help="what is correlated: attention distributions over common windows (every class "
                             "of any model), or attention query vectors (classes sharing a network)")
    parser.add_argument("--fasta", default=None, metavar="FASTA",
                        help="attention measure: draw the common windows from these sequences (default: "
                             "uniformly random sequence)")
    parser.add_argument("--windows", type=positive_int, default=1000,
                        help="attention measure: common windows drawn (default: 1000)")
    parser.add_argument("--permutations", type=positive_int, default=1000,
                        help="attention measure: window permutations for the p-values (default: 1000)")
    parser.add_argument("--sites", nargs="+", default=None, metavar="BED",
                        help="predicted sites (BED6, name = class), one or more files")
    parser.add_argument("--shuffles", type=positive_int, default=1000,
                        help="random placements of the sites of each class B")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed of the windows, permutations and shuffles (default: 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _body(args: argparse.Namespace, argv: list[str] | None) -> int:
    outdir = check_output_dir(args.outdir)
    if args.fasta and args.measure != "attention":
        raise UsageError(f"--fasta draws the windows of --measure attention; --measure {args.measure} reads none")
    require_attention(args.model, PROG)
    bundle = load_bundle(args.model)
    n = correlate_classes(bundle, outdir, measure=args.measure, fasta=args.fasta, windows=args.windows,
                          permutations=args.permutations, site_beds=args.sites, shuffles=args.shuffles,
                          seed=args.seed, run_header=run_header(PROG, argv),
                          progress=not args.quiet and sys.stderr.isatty())
    long = n["long"]
    top = long.reindex(long["pearson_r"].abs().sort_values(ascending=False).index).head(3)
    alone = [c for c in bundle.config.classes if c not in n["compared"]]
    print(f"{PROG}: {len(n['compared'])} classes by {args.measure}"
          + (f" ({', '.join(alone)}: a network of its own, not compared)" if alone else "")
          + "; strongest correlations: "
          + ", ".join(f"{a}~{b} r={v:.2f}" for a, b, v in zip(top["class_a"], top["class_b"], top["pearson_r"]))
          + (f"; {n['distances']} class pairs of site distances" if n["distances"] is not None else "")
          + f" -> {outdir}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run_main(lambda args: _body(args, argv), parser, argv)


if __name__ == "__main__":
    sys.exit(main())
