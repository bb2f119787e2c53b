"""multirm-explain: attention, integrated gradients, top windows and mutagenesis for chosen sites."""

from __future__ import annotations

import argparse
import sys

from ..bundle import load_bundle, require_attention
from ..errors import InputError, UsageError
from ..explain_run import explain_sites
from ..explain_sites import choose_pairs, load_records, most_probable, parse_position, requests_from_bed, \
    requests_from_predictions
from ..tables import run_header
from .common import (add_classes_option, add_compute_options, add_ig_options, add_model_option, add_outdir_option,
                     base_parser, check_output_dir, positive_int, probability, resolve_classes, run_main, setup_compute)

PROG = "multirm-explain"

DESCRIPTION = """\
Explain predictions: for each chosen site and class, the class's attention over the
window and integrated-gradients attributions per nucleotide, computed on the model
that predicts; the top-k sub-windows per site as BED; optionally in-silico mutagenesis.
"""

EPILOG = """\
choosing sites (at least one of):
  --predictions   multirm-predict's predictions.tsv (or its OUTDIR): rows with
                  p_value <= --alpha and q_value <= --fdr, each for its class
  --sites-bed     multirm-predict's sites.bed (genome coordinates are mapped back to
                  records named chrom:start-end(strand)); the BED name is the class
  --position      RECORD:POS[:CLASS], 1-based, repeatable; without CLASS, every class
                  of that base whose probability reaches the model's threshold
  --classes limits all of them; --max-sites keeps the most probable site-class pairs.

integrated gradients:
  attributions of each class's logit to the embedding input, summed per token and
  spread over the token's 3 nt; completeness: sum(attribution) = logit - baseline
  logit, the difference is the convergence delta (sites.tsv). Baseline N: the all-N
  window, the model's "no sequence" input (padding then gets zero attribution).

outputs (in OUTDIR):
  explain.tsv        record site modification probability window_position position
                     nucleotide attention attribution (site, position 1-based; NA/N past
                     record ends; RNA letters)
  sites.tsv          record site modification probability logit baseline_logit
                     attribution_sum delta
  attention.bedgraph, attribution.bedgraph
                     per nucleotide, summed over explained sites and classes
  top_windows.bed    BED6: the --top best --att-window nt sub-windows of each site (by
                     --top-by), name = class, score = round(1000 * probability)
  mutagenesis.tsv    with --mutagenesis: record site modification window_position
                     position reference alternative probability delta_probability
  run.json           provenance
  Files appear only when the whole run succeeds.
"""

def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(PROG, DESCRIPTION)
    parser.epilog = EPILOG
    parser.add_argument("input", metavar="INPUT.fa[.gz]", help="FASTA file the sites lie in")
    add_outdir_option(parser, help="output folder (created if missing; required)")
    add_model_option(parser)
    sites = parser.add_argument_group("sites")
    sites.add_argument("--predictions", default=None, metavar="TSV",
                       help="multirm-predict predictions.tsv (or its OUTDIR): its significant rows")
    sites.add_argument("--sites-bed", default=None, metavar="BED",
                       help="multirm-predict sites.bed (BED6, name = class)")
    sites.add_argument("--position", action="append", default=None, metavar="RECORD:POS[:CLASS]",
                       help="a site, 1-based; repeatable")
    sites.add_argument("--alpha", type=probability, default=0.05,
                       help="p-value cut-off for rows of --predictions")
    sites.add_argument("--fdr", type=probability, default=0.05,
                       help="q-value cut-off for rows of --predictions")
    add_classes_option(sites, help="comma-separated classes to explain; aliases accepted (default: all)")
    sites.add_argument("--max-sites", type=positive_int, default=500,
                       help="explain at most this many site-class pairs, the most probable first")
    ig = parser.add_argument_group("integrated gradients")
    add_ig_options(ig)
    top = parser.add_argument_group("top windows")
    top.add_argument("--top", type=positive_int, default=3,
                     help="sub-windows per site in top_windows.bed (MultiRM --top)")
    top.add_argument("--att-window", type=positive_int, default=3,
                     help="sub-window length in nt (MultiRM --att_window)")
    top.add_argument("--top-by", choices=("attribution", "attention"), default="attribution",
                     help="rank sub-windows by summed attribution or summed attention")
    parser.add_argument("--mutagenesis", action="store_true",
                        help="also write mutagenesis.tsv: every single substitution in each window")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_compute_options(parser, batch_size=64)
    return parser


def _body(args: argparse.Namespace, argv: list[str] | None) -> int:
    if not (args.predictions or args.sites_bed or args.position):
        raise UsageError("no site chosen: give --predictions, --sites-bed and/or --position")
    outdir = check_output_dir(args.outdir)
    requests = [parse_position(t) for t in args.position or []]
    device = setup_compute(args.device, args.threads)
    require_attention(args.model, PROG)
    bundle = load_bundle(args.model, device)
    allowed = resolve_classes(args.classes, bundle.config.classes)
    if args.predictions:
        requests += requests_from_predictions(args.predictions, args.alpha, args.fdr)
    if args.sites_bed:
        requests += requests_from_bed(args.sites_bed)
    if not requests:
        raise InputError("no site chosen: the given predictions/BED files name no (significant) site")
    records, requests = load_records(args.input, requests)
    pairs, notes = choose_pairs(requests, records, bundle, allowed, args.input, args.batch_size, device)
    if not len(pairs.pos):
        raise InputError("no site chosen: " + ("; ".join(notes) if notes else "no site-class pair left"))
    pairs, note = most_probable(pairs, bundle, args.max_sites, args.batch_size, device)
    for msg in notes + ([note] if note else []):
        print(f"{PROG}: {msg}", file=sys.stderr)
    n = explain_sites(pairs, bundle, outdir, steps=args.steps, ig_baseline=args.ig_baseline, top=args.top,
                      att_window=args.att_window, top_by=args.top_by, with_mutagenesis=args.mutagenesis,
                      batch_size=args.batch_size, device=device, run_header=run_header(PROG, argv),
                      record={"input": str(args.input)}, progress=not args.quiet and sys.stderr.isatty(),
                      warn=lambda msg: print(f"{PROG}: warning: {msg}", file=sys.stderr))
    print(f"{PROG}: {n['site_class_pairs']} site-class pair(s) explained, max |delta| "
          f"{100 * n['max_relative_delta']:.2g}% of |logit - baseline logit| -> {outdir}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run_main(lambda args: _body(args, argv), parser, argv)


if __name__ == "__main__":
    sys.exit(main())
