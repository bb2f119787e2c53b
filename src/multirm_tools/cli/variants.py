"""multirm-variants: which modification sites the alleles of a VCF create or destroy."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

import numpy as np

from ..annotation import read_annotation
from ..bundle import load_bundle
from ..curate import open_genome
from ..errors import UsageError
from ..model import EnsembleNet
from ..variants import (CALLS, INFO_FIELDS, call_rows, check_alleles, info_entries, place, row_labels,
                        score_alleles, write_tables)
from ..vcf import info_header, read_vcf, write_annotated_vcf
from ..tables import run_header, write_run_record
from .common import (add_classes_option, add_compute_options, add_model_option, add_outdir_option,
                     atomic_path, base_parser, check_output_dir, nonneg_int, probability, resolve_classes,
                     run_main, setup_compute)

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
    model = bundle.model.subset(classes)
    nulls = {c: bundle.null_scores[c] for c in classes}
    vcf = read_vcf(args.vcf, args.max_indel)
    transcripts = read_annotation(args.annotation) if args.annotation else None
    from tqdm import tqdm

    with open_genome(args.fasta) as genome:
        keep, skipped = check_alleles(vcf.alleles, genome, vcf_name=Path(args.vcf).name,
                                      skip_mismatched=args.skip_mismatched)
        placements = place(vcf.alleles, keep, transcripts, own_strand_only=args.transcriptome)
        with tqdm(total=len(placements), unit="allele-strand", desc="scoring", file=sys.stderr,
                  disable=not sys.stderr.isatty()) as bar:
            scores = score_alleles(model, genome, vcf.alleles, placements, classes, nulls, args.alpha,
                                   args.min_delta, motif_filter=args.motif_filter, batch_size=args.batch_size,
                                   device=device, progress=bar.update)
    q_tables = scores.hist.q_tables()
    called = call_rows(scores.rows, classes, nulls, q_tables, args.alpha, args.fdr)
    labels = row_labels(scores.rows, vcf.alleles, placements)
    vcf_name = "annotated.vcf.gz" if vcf.gzipped else "annotated.vcf"
    outdir.mkdir(parents=True, exist_ok=True)
    per_class = {c: {k: int(((called.call == CALLS.index(k)) & (scores.rows["cls"] == j)).sum())
                     for k in CALLS[1:]} for j, c in enumerate(classes)}
    with contextlib.ExitStack() as stack:
        def atomic(name: str):
            return stack.enter_context(atomic_path(outdir / name))

        with open(atomic("variants.tsv"), "w") as tsv, open(atomic("affected_sites.bed"), "w") as bed:
            written = write_tables(tsv, bed, scores.rows, called, labels, classes, vcf.alleles, args.min_delta)
        headers = [info_header(f, d) for f, (_, d) in INFO_FIELDS.items()]
        header = run_header(PROG, argv)
        headers.append(f"##{PROG}Command={header['command_line']}")
        write_annotated_vcf(args.vcf, atomic(vcf_name), vcf, headers,
                            info_entries(scores.rows, called, classes, vcf.alleles, scores.max_delta,
                                         args.min_delta))
        write_run_record(atomic("run.json"), {
            **header,
            "inputs": {"vcf": str(args.vcf), "fasta": str(args.fasta), "annotation": args.annotation,
                       "transcriptome": args.transcriptome},
            "model": {"path": bundle.path, "sha256": bundle.sha256, "members": bundle.n_members,
                      "members_run": len(model.members) if isinstance(model, EnsembleNet) else 1,
                      "config": bundle.config.to_dict()},
            "classes": classes,
            "motif_filter": args.motif_filter,
            "thresholds": {"alpha": args.alpha, "fdr": args.fdr, "min_delta": args.min_delta},
            "null_sizes": {c: len(nulls[c]) for c in classes},
            "counts": {"records": vcf.records, "alleles": len(vcf.alleles), "alleles_scored": len(keep),
                       "placements": len(placements),
                       "skipped": dict(sorted((vcf.skipped + skipped).items())),
                       "scores": scores.tests, "rows": int(np.count_nonzero(written)), "per_class": per_class},
            "outputs": [vcf_name, "variants.tsv", "affected_sites.bed", "run.json"],
        })
    n_calls = int(np.count_nonzero(called.call))
    print(f"{PROG}: {vcf.records} records, {len(keep)} alleles scored on {len(placements)} strands, "
          f"{n_calls} calls -> {outdir}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run_main(lambda args: _body(args, argv), parser, argv)


if __name__ == "__main__":
    sys.exit(main())
