"""multirm-predict: per-position modification probabilities, p- and q-values for a FASTA file."""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from pathlib import Path

import numpy as np

from .. import __version__
from ..bundle import load_bundle
from ..constants import BY_NAME, rna_base
from ..kmers import encode
from ..model import EnsembleNet
from ..scan import scan_codes
from ..seqio import AMBIGUOUS, read_fasta, record_locus
from ..stats import NullHistogram, null_exceedances, p_from_exceedances
from ..writers import (SPOOL_DTYPE, Spool, format_floats, write_bed6, write_bedgraph,
                       write_bedgraph_header, write_predictions, write_predictions_header,
                       write_run_record)
from .common import (add_classes_option, add_compute_options, add_model_option, add_outdir_option, atomic_path,
                     base_parser, check_output_dir, nearest_existing, probability, resolve_classes, run_main,
                     setup_compute)

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
                             "bundled model scans m6A alone about 4 times faster (default: all classes of the "
                             "model)")
    parser.add_argument("--motif-filter", action="store_true",
                        help="report m6A only in DRACH and m6Am only in BCA motifs (modified base at "
                             "the A)")
    parser.add_argument("--bedgraph", action="store_true",
                        help="also write OUTDIR/<class>.bedgraph tracks of probabilities")
    add_compute_options(parser)
    return parser


def _progress(disable: bool):
    from tqdm import tqdm

    return tqdm(total=None, unit="nt", unit_scale=True, desc="scanning", disable=disable,
                file=sys.stderr)


def _score_pass(args, bundle, model, classes, device, spool: Spool, hist: NullHistogram):
    """Pass 1: scan every record with ``model``, spool (position, class) rows, count null exceedances."""
    tables = model.scan_tables()
    nulls = [bundle.null_scores[c] for c in classes]
    records = []  # (id, locus) per record
    n_positions = 0
    with _progress(not sys.stderr.isatty()) as bar:
        for rec in read_fasta(args.input):
            locus = record_locus(rec, Path(args.input).name)
            ri = len(records)
            records.append((rec.id, locus))
            codes = encode(rec.sequence)
            for chunk in scan_codes(model, codes, classes, batch_size=args.batch_size, device=device,
                                    tables=tables, motif_filter=args.motif_filter):
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


def _body(args: argparse.Namespace, argv: list[str] | None) -> int:
    device = setup_compute(args.device, args.threads)
    bundle = load_bundle(args.model, device)
    classes = resolve_classes(args.classes, bundle.config.classes)
    # Only the networks that predict the requested classes run: the same scores, less work.
    model = bundle.model.subset(classes)
    outdir = check_output_dir(args.outdir)

    null_n = {c: len(bundle.null_scores[c]) for c in classes}
    hist = NullHistogram(null_n)
    # The spool sits in the output folder, or in the folder that will hold it: the folder itself
    # is made only once the whole input has been read, so a bad input leaves no empty folder.
    spool_path = nearest_existing(outdir) / f".{PROG}.spool{os.getpid()}"
    try:
        spool = Spool(spool_path)
        try:
            records, n_positions = _score_pass(args, bundle, model, classes, device, spool, hist)
        finally:
            spool.close()
        outdir.mkdir(parents=True, exist_ok=True)
        counts = _write_pass(args, argv, outdir, bundle, model, classes, spool, hist, records, n_positions)
    finally:
        spool_path.unlink(missing_ok=True)
    print(f"{PROG}: {len(records)} records, {n_positions} positions, {spool.rows} predictions, "
          f"{sum(c['significant'] for c in counts.values())} significant sites -> {outdir}",
          file=sys.stderr)
    return 0


def _write_pass(args, argv, outdir: Path, bundle, model, classes, spool: Spool, hist: NullHistogram,
                records, n_positions) -> dict:
    """Pass 2: p- and q-values from the histograms; TSV, BED, bedGraph and run.json."""
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
    chrom = np.array([loc.chrom if loc else rid for rid, loc in records], dtype=object)
    strand = np.array([loc.strand if loc else "+" for _, loc in records], dtype=object)
    origin = np.array([(loc.end - 1 if loc.strand == "-" else loc.start) if loc else 0
                       for _, loc in records], dtype=np.int64)
    sign = np.array([-1 if loc and loc.strand == "-" else 1 for _, loc in records], dtype=np.int64)
    significant = np.zeros(len(classes), dtype=np.int64)

    with contextlib.ExitStack() as stack:
        def open_atomic(name: str):
            return stack.enter_context(open(stack.enter_context(atomic_path(outdir / name)), "w"))

        tsv = open_atomic("predictions.tsv")
        bed = open_atomic("sites.bed")
        write_predictions_header(tsv)
        graphs = {}
        if args.bedgraph:
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
            sig = (p <= args.alpha) & (q <= args.fdr)
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
            "tool": PROG,
            "version": __version__,
            "command_line": shlex.join([PROG, *(sys.argv[1:] if argv is None else argv)]),
            "input": str(args.input),
            "model": {"path": bundle.path, "sha256": bundle.sha256, "members": bundle.n_members,
                      "members_run": len(model.members) if isinstance(model, EnsembleNet) else 1,
                      "config": bundle.config.to_dict()},
            "classes": classes,
            "motif_filter": args.motif_filter,
            "thresholds": {"alpha": args.alpha, "fdr": args.fdr},
            "null_sizes": {c: int(n) for c, n in zip(classes, n_null)},
            "counts": {"records": len(records), "positions": n_positions,
                       "predictions": int(spool.rows), "per_class": counts},
            "outputs": ["predictions.tsv", "sites.bed", "run.json"]
                       + [f"{c}.bedgraph" for c in graphs],
        })
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run_main(lambda args: _body(args, argv), parser, argv)


if __name__ == "__main__":
    sys.exit(main())
