"""multirm-correlate: correlation of the classes' attention (distributions or queries); distances between predicted sites."""

from __future__ import annotations

import argparse
import sys


from ..bundle import load_bundle, require_attention
from ..correlate import (MEASURES, read_site_beds, attention_correlation, attention_deviations, attention_queries, common_windows,
                         correlation_tables, distance_table, pearson_matrix)
from ..kmers import encode
from ..seqio import read_fasta
from ..errors import InputError, UsageError
from ..tables import run_header, write_run_record, write_tsv
from .common import (add_model_option, add_outdir_option, atomic_path, base_parser, check_output_dir, positive_int,
                     run_main)

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
    classes = list(bundle.config.classes)
    if args.measure == "attention":
        records = None
        if args.fasta:
            records = [encode(rec.sequence) for rec in read_fasta(args.fasta)]
        windows = common_windows(records, args.windows, bundle.config.window, args.seed)
        if len(windows) < 2:
            raise InputError(f"{args.fasta}: fewer than 2 positions other than N to centre windows on")
        compared = classes
        r, p = attention_correlation(attention_deviations(bundle.model, windows), args.permutations, args.seed)
    else:
        try:
            compared, queries = attention_queries(bundle.model)
        except ValueError as exc:
            raise InputError(f"{bundle.path}: {exc}") from None
        r, p = pearson_matrix(queries)
    matrix, long = correlation_tables(compared, r, p)
    distances = None
    if args.sites:
        sites = read_site_beds(args.sites)
        present = [c for c in classes if c in set(sites["modification"])]
        present += sorted(set(sites["modification"]) - set(classes))
        if len(present) < 2:
            raise InputError(f"{', '.join(args.sites)}: sites of fewer than two classes "
                             f"({', '.join(present)}); distances need two")
        from tqdm import tqdm

        n_pairs = len(present) * (len(present) - 1)
        with tqdm(total=n_pairs, unit="pair", desc="distances", file=sys.stderr,
                  disable=args.quiet or not sys.stderr.isatty()) as bar:
            distances = distance_table(sites, present, args.shuffles, args.seed, progress=bar.update)
    outdir.mkdir(parents=True, exist_ok=True)
    write_tsv(matrix, outdir / "correlation.tsv")
    write_tsv(long, outdir / "correlation_long.tsv")
    outputs = ["correlation.tsv", "correlation_long.tsv"]
    if distances is not None:
        write_tsv(distances, outdir / "distances.tsv")
        outputs.append("distances.tsv")
    with atomic_path(outdir / "run.json") as tmp:
        write_run_record(tmp, {
            **run_header(PROG, argv),
            "model": {"path": bundle.path, "sha256": bundle.sha256},
            "measure": args.measure,
            **({"fasta": args.fasta, "windows": int(len(windows)), "permutations": args.permutations}
               if args.measure == "attention" else {}),
            "sites": args.sites or [],
            "shuffles": args.shuffles,
            "seed": args.seed,
            "outputs": outputs + ["run.json"],
        })
    top = long.reindex(long["pearson_r"].abs().sort_values(ascending=False).index).head(3)
    alone = [c for c in classes if c not in compared]
    print(f"{PROG}: {len(compared)} classes by {args.measure}"
          + (f" ({', '.join(alone)}: a network of its own, not compared)" if alone else "")
          + "; strongest attention correlations: "
          + ", ".join(f"{a}~{b} r={v:.2f}" for a, b, v in zip(top["class_a"], top["class_b"],
                                                              top["pearson_r"]))
          + (f"; {len(distances)} class pairs of site distances" if distances is not None else "")
          + f" -> {outdir}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run_main(lambda args: _body(args, argv), parser, argv)


if __name__ == "__main__":
    sys.exit(main())
