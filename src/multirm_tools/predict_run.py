"""multirm-predict's run: a FASTA file scored at every position, then its tables with p- and q-values.

Two passes, so memory does not grow with the input: ``score_fasta`` scans every record, spools the
(position, class) rows with their null exceedances and counts them in a ``NullHistogram``;
``write_tables`` turns the histogram into Benjamini-Hochberg q-values over the whole run and writes
predictions.tsv, sites.bed (genome coordinates where record ids give them), the bedGraph tracks and
run.json. ``predict_fasta`` runs both.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import numpy as np

from .constants import BY_NAME, rna_base
from .kmers import encode
from .model import EnsembleNet
from .paths import atomic_path, nearest_existing
from .scan import scan_codes
from .seqio import read_fasta, record_locus
from .stats import NullHistogram, null_exceedances, p_from_exceedances
from .bed import write_bed6, write_bedgraph, write_bedgraph_header
from .tables import write_run_record
from .writers import SPOOL_DTYPE, Spool, format_floats, write_predictions, write_predictions_header


def _progress(disable: bool):
    from tqdm import tqdm

    return tqdm(total=None, unit="nt", unit_scale=True, desc="scanning", disable=disable,
                file=sys.stderr)


def predict_fasta(path: str, outdir: Path, bundle, model, classes: list[str], *, alpha: float, fdr: float,
                  motif_filter: bool, bedgraph: bool, batch_size: int, device, run_header: dict,
                  progress: bool) -> dict:
    """Score ``path`` with ``model`` (``bundle``'s networks for ``classes``) and write OUTDIR's files.

    ``outdir`` is made only once the whole input has been read, so a bad input leaves no empty
    folder. Returns the counts: records, positions, predictions, significant (sites.bed rows).
    """
    hist = NullHistogram({c: len(bundle.null_scores[c]) for c in classes})
    # The spool sits in the output folder, or in the folder that will hold it.
    spool_path = nearest_existing(outdir) / f".multirm-predict.spool{os.getpid()}"
    try:
        spool = Spool(spool_path)
        try:
            records, n_positions = score_fasta(path, bundle, model, classes, spool, hist, batch_size=batch_size,
                                               device=device, motif_filter=motif_filter, progress=progress)
        finally:
            spool.close()
        outdir.mkdir(parents=True, exist_ok=True)
        counts = write_tables(outdir, bundle, model, classes, spool, hist, records, n_positions, alpha=alpha,
                              fdr=fdr, motif_filter=motif_filter, bedgraph=bedgraph,
                              run_header={**run_header, "input": str(path)})
    finally:
        spool_path.unlink(missing_ok=True)
    return {"records": len(records), "positions": n_positions, "predictions": int(spool.rows),
            "significant": sum(c["significant"] for c in counts.values())}


def score_fasta(path: str, bundle, model, classes: list[str], spool: Spool, hist: NullHistogram, *,
                batch_size: int, device, motif_filter: bool, progress: bool) -> tuple[list, int]:
    """Pass 1: scan every record with ``model``, spool (position, class) rows, count null exceedances.

    Returns (record id, ``GenomeLocus`` or None) per record and the number of positions.
    """
    tables = model.scan_tables()
    nulls = [bundle.null_scores[c] for c in classes]
    records = []  # (id, locus) per record
    n_positions = 0
    with _progress(not progress) as bar:
        for rec in read_fasta(path):
            locus = record_locus(rec, Path(path).name)
            ri = len(records)
            records.append((rec.id, locus))
            codes = encode(rec.sequence)
            for chunk in scan_codes(model, codes, classes, batch_size=batch_size, device=device,
                                    tables=tables, motif_filter=motif_filter):
                rows, cols = np.nonzero(chunk.mask)  # position-major, classes in model order
                out = np.empty(len(rows), dtype=SPOOL_DTYPE)
                out["rec"] = ri
                out["pos"] = chunk.start + rows
                out["cls"] = cols
                out["edge"] = chunk.edge[rows]
                out["prob"] = chunk.probs[rows, cols]
                for j, null in enumerate(nulls):
                    sel = cols == j
                    if sel.any():
                        k = null_exceedances(null, out["prob"][sel])
                        out["k"][sel] = k
                        hist.add(classes[j], k)
                spool.append(out)
                bar.update(len(chunk.codes))
            n_positions += len(codes)
    return records, n_positions


def record_coordinates(records: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per record: chrom, strand, the genome coordinate of position 0 and the step (+1 / -1).

    Genome coordinate of record position ``i``: ``origin + sign * i``. A record without a locus is
    its own chrom, + strand, from 0.
    """
    chrom = np.array([loc.chrom if loc else rid for rid, loc in records], dtype=object)
    strand = np.array([loc.strand if loc else "+" for _, loc in records], dtype=object)
    origin = np.array([(loc.end - 1 if loc.strand == "-" else loc.start) if loc else 0
                       for _, loc in records], dtype=np.int64)
    sign = np.array([-1 if loc and loc.strand == "-" else 1 for _, loc in records], dtype=np.int64)
    return chrom, strand, origin, sign


def write_tables(outdir: Path, bundle, model, classes: list[str], spool: Spool, hist: NullHistogram,
                 records: list, n_positions: int, *, alpha: float, fdr: float, motif_filter: bool,
                 bedgraph: bool, run_header: dict) -> dict:
    """Pass 2: p- and q-values from the histograms; TSV, BED, bedGraph and run.json (``run_header`` first).

    Returns class -> {"predictions": tests, "significant": sites.bed rows}.
    """
    q_tables = hist.q_tables()
    offsets = np.cumsum([0] + [len(q_tables[c]) for c in classes])
    q_flat = np.concatenate([q_tables[c] for c in classes])
    n_null = np.array([len(bundle.null_scores[c]) for c in classes], dtype=np.int64)
    # p and q take n + 1 values per class: format each once, index per row
    p_text = np.concatenate([format_floats(p_from_exceedances(np.arange(n + 1), n)) for n in n_null])
    q_text = format_floats(q_flat)
    cls_names = np.array(classes, dtype=object)
    cls_bases = np.array([rna_base(BY_NAME[c].base) for c in classes], dtype=object)
    rec_ids = np.array([r[0] for r in records], dtype=object)
    chrom, strand, origin, sign = record_coordinates(records)
    significant = np.zeros(len(classes), dtype=np.int64)

    with contextlib.ExitStack() as stack:
        def open_atomic(name: str):
            return stack.enter_context(open(stack.enter_context(atomic_path(outdir / name)), "w"))

        tsv = open_atomic("predictions.tsv")
        bed = open_atomic("sites.bed")
        write_predictions_header(tsv)
        graphs = {}
        if bedgraph:
            for c in classes:
                graphs[c] = open_atomic(f"{c}.bedgraph")
                write_bedgraph_header(graphs[c], c, f"multirm-predict {c} probability")
        for block in spool.chunks():
            cls = block["cls"].astype(np.int64)
            rec = block["rec"]
            p = p_from_exceedances(block["k"], n_null[cls])
            at = offsets[cls] + block["k"]
            q = q_flat[at]
            prob = block["prob"]
            prob_text = format_floats(prob)
            write_predictions(tsv, rec_ids[rec], block["pos"] + 1, cls_bases[cls], cls_names[cls],
                              prob_text, p_text[at], q_text[at], block["edge"])
            gpos = origin[rec] + sign[rec] * block["pos"]
            sig = (p <= alpha) & (q <= fdr)
            significant += np.bincount(cls[sig], minlength=len(classes))
            write_bed6(bed, chrom[rec[sig]], gpos[sig], cls_names[cls[sig]], prob[sig], strand[rec[sig]])
            for j, c in enumerate(classes):
                if c in graphs:
                    sel = cls == j
                    write_bedgraph(graphs[c], chrom[rec[sel]], gpos[sel], prob_text[sel])
        tests = hist.n_tests()
        counts = {c: {"predictions": tests[c], "significant": int(significant[j])}
                  for j, c in enumerate(classes)}
        run_json = stack.enter_context(atomic_path(outdir / "run.json"))
        write_run_record(run_json, {
            **run_header,
            "model": {"path": bundle.path, "sha256": bundle.sha256, "members": bundle.n_members,
                      "members_run": len(model.members) if isinstance(model, EnsembleNet) else 1,
                      "config": bundle.config.to_dict()},
            "classes": classes,
            "motif_filter": motif_filter,
            "thresholds": {"alpha": alpha, "fdr": fdr},
            "null_sizes": {c: int(n) for c, n in zip(classes, n_null)},
            "counts": {"records": len(records), "positions": n_positions,
                       "predictions": int(spool.rows), "per_class": counts},
            "outputs": ["predictions.tsv", "sites.bed", "run.json"]
                       + [f"{c}.bedgraph" for c in graphs],
        })
    return counts
