"""multirm-predict: per-position modification probabilities, p- and q-values for a FASTA file."""

from __future__ import annotations

import argparse
import sys

from ..bundle import load_bundle
from ..predict_run import predict_fasta
from ..seqio import AMBIGUOUS
from ..tables import run_header
from .common import (add_classes_option, add_compute_options, add_model_option, add_outdir_option, base_parser,
                     check_output_dir, probability, resolve_classes, run_main, setup_compute)

PROG = "multirm-predict"

DESCRIPTION = """\
Predict twelve RNA modifications at every position of every record of a FASTA file.

Each position is scored with a window of the model's length centred on it; windows
reaching past a record end are padded with N and the position is flagged (edge=1).
A class is reported only where the base is that class's original base (m6A on A,
Psi on U, ...); N positions get no prediction. P-values: p = (1 + #null >= s) / (n + 1)
against the model's null scores; q-values: Benjamini-Hochberg per class over the run.
"""

EPILOG = f"""\
input:
  FASTA or gzipped FASTA, RNA or DNA letters, any case. N is allowed; the IUPAC
  ambiguity codes {' '.join(AMBIGUOUS)} are read as N (not predicted). Any other
  character (protein letters, digits, '-', '*') is an error. A record id of the
  form chrom:start-end(strand) (bedtools getfasta -s; 0-based start) gives
  genome coordinates to sites.bed and the bedGraph tracks.

outputs (in OUTDIR):
  predictions.tsv   record position base modification probability p_value q_value edge
                    (position 1-based, base in RNA letters)
  sites.bed         BED6 of sites with p_value <= --alpha and q_value <= --fdr:
                    chrom start end modification round(1000*probability) strand
  <class>.bedgraph  with --bedgraph: probability per position (0-based), one per class
  run.json          provenance: version, command line, model sha256, cut-offs, counts
  Files appear only when the whole run succeeds.
"""



def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(PROG, DESCRIPTION)
    parser.epilog = EPILOG
    parser.add_argument("input", metavar="INPUT.fa[.gz]", help="FASTA file, plain or gzipped")
    add_outdir_option(parser, help="output folder (created if missing; required)")
    add_model_option(parser)
    parser.add_argument("--alpha", type=probability, default=0.05,
                        help="p-value cut-off for sites.bed")
    parser.add_argument("--fdr", type=probability, default=0.05,
                        help="q-value (Benjamini-Hochberg, per class) cut-off for sites.bed")
    add_classes_option(parser, help="comma-separated classes to predict; aliases accepted (Psi, pseudouridine, "
                             "AtoI, inosine, ...); only the networks of the model that predict them run, so the "
                             "bundled model scans m6A alone over 10 times faster (default: all classes of the "
                             "model)")
    parser.add_argument("--motif-filter", action="store_true",
                        help="report m6A only in DRACH and m6Am only in BCA motifs (modified base at "
                             "the A)")
    parser.add_argument("--bedgraph", action="store_true",
                        help="also write OUTDIR/<class>.bedgraph tracks of probabilities")
    add_compute_options(parser)
    return parser


def _body(args: argparse.Namespace, argv: list[str] | None) -> int:
    device = setup_compute(args.device, args.threads)
    bundle = load_bundle(args.model, device)
    classes = resolve_classes(args.classes, bundle.config.classes)
    # Only the networks that predict the requested classes run: the same scores, less work.
    model = bundle.model.subset(classes)
    outdir = check_output_dir(args.outdir)
    header = run_header(PROG, argv)
    n = predict_fasta(args.input, outdir, bundle, model, classes, alpha=args.alpha, fdr=args.fdr,
                      motif_filter=args.motif_filter, bedgraph=args.bedgraph, batch_size=args.batch_size,
                      device=device, run_header=header, progress=sys.stderr.isatty())
    print(f"{PROG}: {n['records']} records, {n['positions']} positions, {n['predictions']} predictions, "
          f"{n['significant']} significant sites -> {outdir}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run_main(lambda args: _body(args, argv), parser, argv)


if __name__ == "__main__":
    sys.exit(main())
