"""multirm-motifs: consensus motifs per modification from attributions, as MEME motifs and logos."""

from __future__ import annotations

import argparse
import sys

from ..bundle import load_bundle
from ..constants import canonical_name
from ..errors import MultiRMError, UsageError
from ..motifs import tracks_from_explain
from ..motifs_run import explain_table_sites, filter_classes, find_and_write, known_motifs, read_explain
from ..tables import run_header
from .common import (add_classes_option, add_compute_options, add_ig_options, add_model_option, add_outdir_option,
                     base_parser, check_output_dir, nonneg_int, positive_fraction, positive_int, probability, run_main,
                     setup_compute)

PROG = "multirm-motifs"

DESCRIPTION = """\
Find the sequence motifs behind a model's predictions: per explained site, the
--width nt segment with the largest summed attribution (or attention); per class,
motifs found in these segments by iterative PWM refinement (4-mer seeds, ZOOPS
expectation-maximisation with re-alignment by up to --max-shift nt, a motif kept
only if it beats the same search on shuffled segments); written as MEME motifs
(DNA alphabet) with information-content logos, and compared with known motifs by
TOMTOM (memelite) when --known is given.
"""

EPILOG = """\
inputs (one of):
  --explain DIR|explain.tsv  the output of multirm-explain (explain.tsv is read)
  --sites TABLE ...          labelled sites tables: the centre window of every row is
                             scored with --model; per class, the label-1 rows among the
                             top --top-fraction scores (true positives, as MultiRM did)
                             are explained with integrated gradients and attention

outputs (in OUTDIR):
  motifs.meme        MEME minimal motif format 4, ALPHABET= ACGT, ids <class>_<k>
  motifs.tsv         motif_id modification n_sites width consensus (IUPAC, RNA letters)
  motif_sites.tsv    motif_id modification record site start end segment: the occurrence
                     supporting each motif (site, start, end 1-based in the record)
  logos/<id>.png, logos/<id>.svg   information-content sequence logos
  tomtom.tsv         with --known: query_id target_id offset p_value e_value q_value
                     overlap orientation (pairs with q_value <= --max-q)
  run.json           provenance: version, command line, inputs, options, counts
  Files appear only when the whole run succeeds.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(PROG, DESCRIPTION)
    parser.epilog = EPILOG
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--explain", metavar="DIR|TSV",
                     help="multirm-explain output folder or its explain.tsv")
    src.add_argument("--sites", nargs="+", metavar="TABLE",
                     help="labelled sites table(s), TSV or TSV.gz (explained here with --model)")
    add_outdir_option(parser, help="output folder (created if missing; required)")
    parser.add_argument("--score", choices=("attribution", "attention"), default="attribution",
                        help="per-nucleotide score that picks each site's segment")
    add_classes_option(parser, help="comma-separated classes; aliases accepted (default: every class of the input)")
    find = parser.add_argument_group("motif finding")
    find.add_argument("--width", type=positive_int, default=8,
                      help="segment and motif width in nt before trimming")
    find.add_argument("--max-shift", type=nonneg_int, default=3,
                      help="nt a segment may move to align with a motif")
    find.add_argument("--method", choices=("em", "stack"), default="em",
                      help="em: iterative PWM refinement, several motifs per class; stack: the "
                           "segments stacked as extracted, one motif per class")
    find.add_argument("--min-sites", type=positive_int, default=10,
                      help="fewest sites a motif must hold")
    find.add_argument("--max-motifs", type=positive_int, default=3, help="most motifs per class")
    find.add_argument("--min-bits", type=float, default=0.3,
                      help="end columns with less information content (bits) are trimmed")
    find.add_argument("--seed", type=int, default=0, help="seed of the shuffled-segment null")
    known = parser.add_argument_group("comparison with known motifs (TOMTOM)")
    known.add_argument("--known", default=None, metavar="MEME",
                       help="MEME file of known motifs (DNA or RNA alphabet) to compare with")
    known.add_argument("--max-q", type=probability, default=0.5,
                       help="report TOMTOM matches with q-value at most this")
    known.add_argument("--both-strands", action="store_true",
                       help="also match the reverse complement of known motifs (RNA is single-stranded: "
                            "off by default)")
    model = parser.add_argument_group("explaining a sites table (--sites)")
    add_model_option(model)
    model.add_argument("--top-fraction", type=positive_fraction, default=0.1,
                       help="per class, explain the label-1 rows among this top fraction of scores")
    add_ig_options(model)
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_compute_options(parser, batch_size=64)
    return parser


def _wanted_classes(text: str | None) -> list[str] | None:
    if text is None:
        return None
    try:
        wanted = list(dict.fromkeys(canonical_name(t.strip()) for t in text.split(",") if t.strip()))
    except MultiRMError as exc:
        raise UsageError(f"--classes: {exc}") from None
    if not wanted:
        raise UsageError("--classes names no class")
    return wanted


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    out = check_output_dir(args.outdir)
    if args.min_bits < 0 or args.min_bits > 2:
        raise UsageError(f"--min-bits {args.min_bits} must be between 0 and 2")
    if args.sites is None and args.model is not None:
        raise UsageError("--model is used with --sites only; multirm-explain already chose the model")
    progress = not args.quiet and sys.stderr.isatty()
    wanted = _wanted_classes(args.classes)
    known = known_motifs(args.known, _warn)  # a bad known-motif file fails before any work
    if args.explain is not None:
        table, source = read_explain(args.explain)
        tracks = filter_classes(tracks_from_explain(table, args.score, str(source)), wanted, str(source))
        inputs = {"explain": str(source)}
    else:
        device = setup_compute(args.device, args.threads)
        tracks, inputs = explain_table_sites(
            args.sites, load_bundle(args.model, device=device), wanted, top_fraction=args.top_fraction,
            score=args.score, steps=args.steps, ig_baseline=args.ig_baseline, batch_size=args.batch_size,
            device=device, progress=progress, warn=_warn)
        inputs["sites"] = list(args.sites)
    n = find_and_write(tracks, out, vars(args), known, run_header=run_header(PROG, argv), inputs=inputs,
                       progress=progress)
    summary = ", ".join(f"{c} {k}" for c, k in n["sites"].items())
    matched = "" if known is None else f", {n['matched']} matched a known motif at q <= {args.max_q:g}"
    print(f"{PROG}: {sum(n['sites'].values())} sites ({summary}), {n['motifs']} motif(s){matched} -> {out}",
          file=sys.stderr)
    return 0


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    return run_main(lambda args: run(args, argv), build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
