"""multirm-variants: which modification sites the alleles of a VCF create or destroy."""

from __future__ import annotations

import argparse
import sys

from ..bundle import load_bundle
from ..errors import UsageError
from ..tables import run_header
from ..variants_run import score_vcf
from .common import (add_classes_option, add_compute_options, add_model_option, add_outdir_option, base_parser,
                     check_output_dir, nonneg_int, probability, resolve_classes, run_main, setup_compute)

PROG = "multirm-variants"

DESCRIPTION = """\
Score every modification position whose window a variant changes, on the reference and on the
alternative sequence, and call the sites each allele destroys or creates.

For each allele (multi-allelic records are split) and strand, every position within half a window
of the change is scored on both sequences, in one batched pass. A position significant on the
reference (p <= --alpha and q <= --fdr) is 'site_destroyed' when the allele changes or deletes its
base and 'loss' when it keeps the base but the site is no longer significant; one significant
only on the alternative is 'gain'. P-values: p = (1 + #null >= s) / (n + 1) against the model's
null scores; q-values: Benjamini-Hochberg per class over every score of the run (reference and
alternative), as in multirm-predict.
"""

EPILOG = """\
inputs:
  VCF        VCF or VCF.gz, sorted (records of one contig together, by position); SNVs, MNVs and
             indels up to --max-indel nt; symbolic (<DEL>), breakend, '*' and '.' alleles are
             skipped and counted in run.json.
  FASTA      the genome (plain, indexed with a .fai built beside it when missing, or gzip /
             bgzip, read into memory); with --transcriptome, transcripts 5'->3' named as the VCF's
             CHROM column names them.
  Strands: with --annotation, those of the transcripts whose span holds the variant, both where
  none does; without it, both (each row says which); with --transcriptome, the transcript's own.

outputs (in OUTDIR):
  annotated.vcf[.gz]  the input with INFO fields MRM_LOSS, MRM_GAIN, MRM_SITE_DESTROYED
                      (Allele|Class|Strand|Position|RefProb|AltProb) and MRM_MAX_DELTA
                      (Allele|Class|Delta), header lines added, records otherwise as they were;
                      bgzip when the input was gzipped
  variants.tsv        one row per allele, strand, class and position with a call or a change
                      |delta| >= --min-delta: chrom pos id ref alt strand transcript modification
                      position (1-based) ref_base alt_base ref_probability alt_probability delta
                      ref_p_value alt_p_value ref_q_value alt_q_value call edge
                      (bases in RNA letters on the row's strand, '-' where deleted / inserted; an
                      inserted base's position is that of the base before the insertion)
  affected_sites.bed  BED6 of the called positions (0-based): name allele|class|call, score
                      round(1000 |delta|)
  run.json            provenance, cut-offs and counts (alleles, skipped, calls per class)
  Files appear only when the whole run succeeds.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(PROG, DESCRIPTION)
    parser.epilog = EPILOG
    parser.add_argument("vcf", metavar="VCF", help="variants, VCF or VCF.gz")
    parser.add_argument("fasta", metavar="FASTA", help="genome (or, with --transcriptome, transcript) FASTA")
    add_outdir_option(parser, help="output folder (created if missing; required)")
    parser.add_argument("--annotation", metavar="GTF", default=None,
                        help="GTF, GFF3 or BED12 transcripts: score each variant on its transcripts' strand")
    parser.add_argument("--transcriptome", action="store_true",
                        help="FASTA records are transcripts and the VCF's positions are in their coordinates: "
                             "score their own strand only")
    add_model_option(parser)
    add_classes_option(parser, help="comma-separated classes to score; aliases accepted (default: all of the model's)")
    parser.add_argument("--alpha", type=probability, default=0.05, help="p-value cut-off of a significant site")
    parser.add_argument("--fdr", type=probability, default=0.05,
                        help="q-value (Benjamini-Hochberg, per class, over the run) cut-off of a significant site")
    parser.add_argument("--min-delta", type=probability, default=0.05,
                        help="also list positions without a call whose probability changes by at least this "
                             "(0: every position the alleles change)")
    parser.add_argument("--motif-filter", action="store_true",
                        help="score m6A only in DRACH and m6Am only in BCA motifs")
    parser.add_argument("--skip-mismatched", action="store_true",
                        help="skip (and count) alleles whose REF differs from the FASTA instead of stopping")
    parser.add_argument("--max-indel", type=nonneg_int, default=50,
                        help="longest REF or ALT of an indel scored; longer ones are skipped as structural")
    add_compute_options(parser)
    return parser


def _body(args: argparse.Namespace, argv: list[str] | None) -> int:
    if args.transcriptome and args.annotation:
        raise UsageError("--transcriptome and --annotation exclude each other (a transcriptome has its own strand)")
    device = setup_compute(args.device, args.threads)
    outdir = check_output_dir(args.outdir)
    bundle = load_bundle(args.model, device)
    classes = resolve_classes(args.classes, bundle.config.classes)
    n = score_vcf(args.vcf, args.fasta, outdir, bundle, classes, annotation=args.annotation,
                  transcriptome=args.transcriptome, alpha=args.alpha, fdr=args.fdr, min_delta=args.min_delta,
                  motif_filter=args.motif_filter, skip_mismatched=args.skip_mismatched, max_indel=args.max_indel,
                  batch_size=args.batch_size, device=device, run_header=run_header(PROG, argv),
                  progress=sys.stderr.isatty())
    print(f"{PROG}: {n['records']} records, {n['alleles_scored']} alleles scored on {n['placements']} strands, "
          f"{n['calls']} calls -> {outdir}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run_main(lambda args: _body(args, argv), parser, argv)


if __name__ == "__main__":
    sys.exit(main())
