"""multirm-variants' run: a VCF's alleles placed, scored on both alleles, called and written.

``score_vcf`` reads the VCF (``vcf.read_vcf``) and the transcripts, checks each REF against the FASTA,
places the alleles on strands (``variants.place``), scores every position whose window they change
(``variants.score_alleles``), calls the rows with p- and q-values over the whole run
(``variants.call_rows``) and writes variants.tsv, affected_sites.bed, the annotated VCF and run.json,
each under a temporary name, renamed when all are written.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .annotation import check_chromosomes, read_annotation
from .curate import open_genome
from .model import EnsembleNet
from .paths import atomic_path
from .tables import write_run_record
from .variants import (CALLS, INFO_FIELDS, call_rows, check_alleles, info_entries, place, row_labels, score_alleles,
                       write_tables)
from .vcf import info_header, read_vcf, write_annotated_vcf


def score_vcf(vcf_path: str, fasta: str, outdir: Path, bundle, classes: list[str], *, annotation: str | None,
              transcriptome: bool, alpha: float, fdr: float, min_delta: float, motif_filter: bool,
              skip_mismatched: bool, max_indel: int, batch_size: int, device, run_header: dict,
              progress: bool) -> dict:
    """Score the alleles of ``vcf_path`` on ``fasta`` with ``bundle``'s networks for ``classes``.

    ``annotation`` (GTF/GFF3/BED12) gives strands; ``transcriptome``: each record is a transcript,
    scored on its own strand only; neither: both strands. Returns the counts of the summary line.
    """
    model = bundle.model.subset(classes)
    nulls = {c: bundle.null_scores[c] for c in classes}
    vcf = read_vcf(vcf_path, max_indel)
    transcripts = read_annotation(annotation) if annotation else None
    with open_genome(fasta) as genome:
        check_chromosomes(transcripts, annotation, genome.name, genome.lengths)
        keep, skipped = check_alleles(vcf.alleles, genome, vcf_name=Path(vcf_path).name,
                                      skip_mismatched=skip_mismatched)
        placements = place(vcf.alleles, keep, transcripts, own_strand_only=transcriptome)
        with tqdm(total=len(placements), unit="allele-strand", desc="scoring", file=sys.stderr,
                  disable=not progress) as bar:
            scores = score_alleles(model, genome, vcf.alleles, placements, classes, nulls, alpha,
                                   min_delta, motif_filter=motif_filter, batch_size=batch_size,
                                   device=device, progress=bar.update)
    q_tables = scores.hist.q_tables()
    called = call_rows(scores.rows, classes, nulls, q_tables, alpha, fdr)
    labels = row_labels(scores.rows, vcf.alleles, placements)
    vcf_name = "annotated.vcf.gz" if vcf.gzipped else "annotated.vcf"
    outdir.mkdir(parents=True, exist_ok=True)
    per_class = {c: {k: int(((called.call == CALLS.index(k)) & (scores.rows["cls"] == j)).sum())
                     for k in CALLS[1:]} for j, c in enumerate(classes)}
    tool = run_header["tool"]
    with contextlib.ExitStack() as stack:
        def atomic(name: str):
            return stack.enter_context(atomic_path(outdir / name))

        with open(atomic("variants.tsv"), "w") as tsv, open(atomic("affected_sites.bed"), "w") as bed:
            written = write_tables(tsv, bed, scores.rows, called, labels, classes, vcf.alleles, min_delta)
        headers = [info_header(f, d) for f, (_, d) in INFO_FIELDS.items()]
        headers.append(f"##{tool}Command={run_header['command_line']}")
        write_annotated_vcf(vcf_path, atomic(vcf_name), vcf, headers,
                            info_entries(scores.rows, called, classes, vcf.alleles, scores.max_delta, min_delta))
        write_run_record(atomic("run.json"), {
            **run_header,
            "inputs": {"vcf": str(vcf_path), "fasta": str(fasta), "annotation": annotation,
                       "transcriptome": transcriptome},
            "model": {"path": bundle.path, "sha256": bundle.sha256, "members": bundle.n_members,
                      "members_run": len(model.members) if isinstance(model, EnsembleNet) else 1,
                      "config": bundle.config.to_dict()},
            "classes": classes,
            "motif_filter": motif_filter,
            "thresholds": {"alpha": alpha, "fdr": fdr, "min_delta": min_delta},
            "null_sizes": {c: len(nulls[c]) for c in classes},
            "counts": {"records": vcf.records, "alleles": len(vcf.alleles), "alleles_scored": len(keep),
                       "placements": len(placements),
                       "skipped": dict(sorted((vcf.skipped + skipped).items())),
                       "scores": scores.tests, "rows": int(np.count_nonzero(written)), "per_class": per_class},
            "outputs": [vcf_name, "variants.tsv", "affected_sites.bed", "run.json"],
        })
    return {"records": vcf.records, "alleles_scored": len(keep), "placements": len(placements),
            "calls": int(np.count_nonzero(called.call))}
