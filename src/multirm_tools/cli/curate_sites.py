"""multirm-curate-sites: modification sites (BED) and a genome -> a leak-free labelled sites table."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from ..constants import canonical_name
from ..curate import SPLITS, CurateOptions, Report, check_window, class_motifs, read_labelled
from ..curate_run import curate_from_genome, split_and_write
from ..errors import UsageError
from .common import (add_classes_option, add_outdir_option, base_parser, check_output_dir, nonneg_int, positive_int,
                     run_main)

DEFAULT_WINDOW = 1001
EPILOG = """\
example:
  multirm-curate-sites --sites m6A.bed psi.bed --genome hg38.fa --annotation gencode.gtf \\
                       --exclude known_sites.bed -o curated/
  multirm-train --train curated/train.tsv --valid curated/valid.tsv --embedding onehot -o m.safetensors

outputs (written only when the whole run succeeds):
  sites.tsv         id modification label site sequence source split chrom start strand edge
                    (site: 0-based centre index in sequence; start: 0-based genome position)
  train.tsv, valid.tsv, test.tsv   the same rows, one file per split
  sites.fa          the windows; headers '>ID modification=.. label=.. site=.. split=.. chrom=..
                    start=.. strand=.. edge=..' (readable again with --labelled)
  report.tsv        category modification label split count detail: input sites, dropped and
                    why, negatives drawn, rows per split
"""




def parse_arguments() -> argparse.ArgumentParser:
    parser = base_parser(
        "multirm-curate-sites",
        "Build a labelled sites table from site BEDs and a genome or transcriptome FASTA:\n"
        "positives are the sites, negatives are drawn from unmodified bases of the same kind,\n"
        "and the train/valid/test splits share no central k-mer. With --labelled, de-duplicate\n"
        "and split labelled tables or FASTA instead.")
    parser.epilog = EPILOG
    inputs = parser.add_argument_group("inputs")
    inputs.add_argument("--sites", nargs="+", metavar="BED",
                        help="BED6 files of modification sites (0-based, half-open, 1 nt each, strand "
                             "'+' or '-'); the class is read from the name column unless "
                             "--classes is given")
    add_classes_option(inputs, "class of the sites, comma-separated: one per --sites file, or one for all of "
                               "them (names or aliases: m6A, Psi, pseudouridine, ...)",
                       aliases=("--modification",), as_list=True)
    inputs.add_argument("--genome", metavar="FASTA",
                        help="genome or transcriptome FASTA; a plain FASTA is indexed (.fai beside it, "
                             "or in a temporary folder when that is read-only); a gzipped one is read "
                             "into memory, fine for transcriptomes and small genomes")
    inputs.add_argument("--annotation", metavar="GTF", default=None,
                        help="transcripts (GTF, GFF3 or BED12): positives must lie on one (the "
                             "longest holding the site is used), negatives come from the same transcript")
    inputs.add_argument("--exclude", nargs="+", metavar="BED", default=None,
                        help="known sites (BED3+, strand in column 6, '.' = both strands): never "
                             "drawn as negatives (the input sites never are either)")
    inputs.add_argument("--labelled", nargs="+", metavar="TABLE", default=None,
                        help="import mode, instead of --sites/--genome: labelled sites tables (TSV) or "
                             "FASTA with headers '>ID modification=CLASS label=0|1 [site=N]' (site "
                             "0-based, default the centre), de-duplicated and split the same way")
    inputs.add_argument("--drop-mismatched", action="store_true",
                        help="drop sites whose base (on their strand) is not their class's base "
                             "instead of stopping; they are counted in report.tsv")
    windows = parser.add_argument_group("windows and negatives")
    windows.add_argument("--window", type=positive_int, default=None,
                         help=f"window length in nt, odd, centred on the site, N-padded beyond the "
                              f"sequence ends (flagged edge=1) (default: {DEFAULT_WINDOW}; with "
                              f"--labelled the sequences are kept as they are)")
    windows.add_argument("--sequence-space", choices=("auto", "transcript", "genomic"), default="auto",
                         help="windows and negatives on the spliced mature transcript or on the "
                              "genome (pre-mRNA: introns included); auto: transcript with "
                              "--annotation, genomic without")
    windows.add_argument("--negative-ratio", type=positive_int, default=1,
                         help="negatives drawn per positive")
    windows.add_argument("--negative-distance", type=nonneg_int, default=1000,
                         help="without --annotation: negatives lie within this many nt of their "
                              "positive on its chromosome and strand; 0 = anywhere on the record "
                              "(for transcriptome FASTAs)")
    windows.add_argument("--motif", action="append", metavar="CLASS=MOTIF", default=None,
                         help="motif that positives and negatives of CLASS must hold, IUPAC with the "
                              "modified base in lower case (m6A=DRaCH); repeatable. Defaults: m6A "
                              "DRACH, m6Am BCA")
    windows.add_argument("--no-motif", action="append", metavar="CLASS", default=None,
                         help="lift the motif restriction of CLASS; repeatable")
    splits = parser.add_argument_group("splits")
    splits.add_argument("--valid-size", type=nonneg_int, default=150,
                        help="validation sites per class, plus as many negatives")
    splits.add_argument("--test-size", type=nonneg_int, default=50,
                        help="test sites per class, plus as many negatives")
    splits.add_argument("--group-k", type=positive_int, default=51,
                        help="rows whose central K nt are identical never land in two splits (odd)")
    splits.add_argument("--seed", type=int, default=0,
                        help="random seed: negatives and splits (same seed, same bytes)")
    add_outdir_option(parser, "output folder (created if missing; required)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _modifications(args: argparse.Namespace) -> list[str | None]:
    if args.classes is None:
        return [None] * len(args.sites)
    for name in args.classes:
        canonical_name(name)  # an unknown class is a usage error before any file is read
    if len(args.classes) == 1:
        return args.classes * len(args.sites)
    if len(args.classes) != len(args.sites):
        raise UsageError(f"--classes: give one class, or one per --sites file ({len(args.sites)}), "
                         f"not {len(args.classes)}")
    return list(args.classes)


def run(args: argparse.Namespace) -> int:
    if args.labelled and (args.sites or args.genome or args.annotation or args.exclude):
        raise UsageError("--labelled imports labelled sets; it cannot be combined with --sites, "
                         "--genome, --annotation or --exclude")
    if not args.labelled and not (args.sites and args.genome):
        raise UsageError("give --sites and --genome (or --labelled to import labelled sets)")
    if args.sequence_space == "transcript" and not args.annotation:
        raise UsageError("--sequence-space transcript needs --annotation")
    outdir = check_output_dir(args.outdir)
    motifs = class_motifs(args.motif, args.no_motif)
    window = args.window if args.window is not None or args.labelled else DEFAULT_WINDOW
    if window is not None:
        check_window(window, args.group_k, motifs)
    elif args.group_k % 2 != 1:
        raise UsageError(f"--group-k {args.group_k}: must be odd")
    rng = np.random.default_rng(args.seed)
    report = Report()
    if args.labelled:
        df = read_labelled(args.labelled, window, motifs, args.drop_mismatched, report)
    else:
        options = CurateOptions(window=window, spliced=args.sequence_space != "genomic",
                                negative_ratio=args.negative_ratio, negative_distance=args.negative_distance,
                                drop_mismatched=args.drop_mismatched)
        df = curate_from_genome(args.sites, _modifications(args), args.genome, args.annotation, args.exclude or [],
                                motifs, options, rng, report, progress=not args.quiet and sys.stderr.isatty())
    df = split_and_write(df, outdir, valid_size=args.valid_size, test_size=args.test_size, group_k=args.group_k,
                         rng=rng, report=report)
    counts = df.groupby("split").size()
    print(f"multirm-curate-sites: {len(df)} rows ({', '.join(f'{s} {int(counts.get(s, 0))}' for s in SPLITS)}), "
          f"{int((df['label'] == 1).sum())} sites, {int((df['label'] == 0).sum())} negatives, "
          f"{report.get('dropped')} dropped -> {outdir}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parse_arguments(), argv)


if __name__ == "__main__":
    sys.exit(main())
