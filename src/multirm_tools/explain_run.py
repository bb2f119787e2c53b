"""multirm-explain's run: chosen (site, class) pairs explained, and the tables of what was found.

``explain_sites`` runs integrated gradients, attention and optionally in-silico mutagenesis on the
``Pairs`` that ``explain_sites.choose_pairs`` resolved, and writes explain.tsv, sites.tsv, the
attention / attribution bedGraphs, top_windows.bed, mutagenesis.tsv and run.json (each under a
temporary name, renamed when all are written). The table builders (``explain_table``,
``bedgraph_frames``, ``top_windows_bed``, ``mutagenesis_table``) turn arrays into frames; positions
are 1-based in the TSVs and 0-based in BED / bedGraph (genome coordinates when record ids give them).
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from .bed import write_bedgraph, write_bedgraph_header
from .explain import RNA_LETTERS, ExplainWarning, explain_pairs, mutagenesis, relative_delta, top_windows
from .explain_sites import Pairs, Record
from .kmers import N_CODE
from .paths import atomic_path
from .seqio import genome_positions
from .tables import append_rows, frame, write_run_record, write_tsv


def _genome(rec: Record, pos: np.ndarray) -> tuple[str, np.ndarray, str]:
    """chrom, 0-based coordinates and strand of record positions (record id itself if no locus)."""
    if rec.locus is None:
        return rec.id, np.asarray(pos, dtype=np.int64), "+"
    return rec.locus.chrom, genome_positions(rec.locus, pos), rec.locus.strand


def explain_table(pairs: Pairs, classes, ex) -> pd.DataFrame:
    n, W = pairs.windows.shape
    half = W // 2
    offset = np.tile(np.arange(-half, half + 1), n)
    site = np.repeat(pairs.pos, W)
    at = site + offset
    length = np.repeat([len(r.codes) for r in pairs.record], W)
    inside = (at >= 0) & (at < length)
    return frame("explain", {
        "record": np.repeat(np.array([r.id for r in pairs.record], dtype=object), W),
        "site": site + 1,
        "modification": np.repeat(np.asarray(classes, dtype=object)[pairs.cls], W),
        "probability": np.repeat(ex.probability, W),
        "window_position": offset,
        "position": pd.Series(at + 1).where(inside).astype("Int64"),
        "nucleotide": RNA_LETTERS[pairs.windows.reshape(-1)],
        "attention": ex.attention.reshape(-1),
        "attribution": ex.attribution.reshape(-1),
    })


def bedgraph_frames(pairs: Pairs, ex) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-nucleotide sums over explained pairs, in genome (or record) coordinates, sorted."""
    W = pairs.windows.shape[1]
    half = W // 2
    parts = []
    for i, rec in enumerate(pairs.record):
        at = pairs.pos[i] + np.arange(-half, half + 1)
        inside = (at >= 0) & (at < len(rec.codes))
        chrom, g, _ = _genome(rec, at[inside])
        parts.append(pd.DataFrame({"chrom": chrom, "start": g, "attention": ex.attention[i, inside],
                                   "attribution": ex.attribution[i, inside]}))
    df = pd.concat(parts).groupby(["chrom", "start"], sort=True, as_index=False).sum()
    return df[["chrom", "start", "attention"]], df[["chrom", "start", "attribution"]]


def top_windows_bed(pairs: Pairs, classes, ex, width: int, top: int, by: str) -> pd.DataFrame:
    n, W = pairs.windows.shape
    half = W // 2
    at = pairs.pos[:, None] + np.arange(-half, half + 1)[None, :]
    length = np.array([len(r.codes) for r in pairs.record])[:, None]
    valid = (at >= 0) & (at < length)
    starts, _ = top_windows(ex.attribution if by == "attribution" else ex.attention, valid, width, top)
    rows = []
    for i, rec in enumerate(pairs.record):
        for s in starts[i][starts[i] >= 0]:
            a = int(pairs.pos[i] - half + s)  # record positions a .. a + width - 1
            chrom, g, strand = _genome(rec, np.array([a, a + width - 1]))
            rows.append((chrom, int(g.min()), int(g.max()) + 1, classes[pairs.cls[i]],
                         int(round(1000 * ex.probability[i])), strand))
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "score", "strand"])


def mutagenesis_table(pairs: Pairs, classes, reference: np.ndarray, mutant: np.ndarray) -> pd.DataFrame:
    n, W = pairs.windows.shape
    half = W // 2
    j, i, b = np.nonzero(np.ones((n, W, 4), dtype=bool))  # pair, window index, base
    at = pairs.pos[j] + i - half
    length = np.array([len(r.codes) for r in pairs.record])[j]
    ref = pairs.windows[j, i]
    keep = (at >= 0) & (at < length) & (ref < N_CODE) & (ref != b)
    j, i, b, at, ref = j[keep], i[keep], b[keep], at[keep], ref[keep]
    prob = mutant[j, i, b]
    return frame("mutagenesis", {
        "record": np.array([r.id for r in pairs.record], dtype=object)[j],
        "site": pairs.pos[j] + 1,
        "modification": np.asarray(classes, dtype=object)[pairs.cls[j]],
        "window_position": i - half,
        "position": at + 1,
        "reference": RNA_LETTERS[ref],
        "alternative": RNA_LETTERS[b],
        "probability": prob,
        "delta_probability": prob - reference[j],
    })


def explain_sites(pairs: Pairs, bundle, outdir: Path, *, steps: int, ig_baseline: str, top: int, att_window: int,
                  top_by: str, with_mutagenesis: bool, batch_size: int, device, run_header: dict,
                  record: dict, progress: bool, warn: Callable[[str], None]) -> dict:
    """Explain ``pairs`` with ``bundle``'s model and write the outputs into ``outdir``.

    ``run_header`` and ``record`` (inputs) open run.json; ``warn`` receives integrated gradients'
    convergence warnings. Returns the counts and the largest relative convergence delta.
    """
    from tqdm import tqdm

    cfg = bundle.config
    with tqdm(total=len(pairs.pos), unit="site", desc="explaining", disable=not progress, file=sys.stderr) as bar, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExplainWarning)
        ex = explain_pairs(bundle.model, pairs.windows, pairs.cls, steps, ig_baseline, batch_size, device,
                           progress=bar.update)
    for w in caught:
        if issubclass(w.category, ExplainWarning):
            warn(str(w.message))
    mut = mutagenesis(bundle.model, pairs.windows, pairs.cls, max(batch_size, 256), device) if with_mutagenesis \
        else None

    classes = cfg.classes
    outdir.mkdir(parents=True, exist_ok=True)
    sites = frame("explain_sites", {
        "record": [r.id for r in pairs.record], "site": pairs.pos + 1,
        "modification": np.asarray(classes, dtype=object)[pairs.cls], "probability": ex.probability,
        "logit": ex.logit, "baseline_logit": ex.baseline_logit,
        "attribution_sum": ex.attribution.sum(axis=1), "delta": ex.delta})
    att_graph, attr_graph = bedgraph_frames(pairs, ex)
    outputs = ["explain.tsv", "sites.tsv", "attention.bedgraph", "attribution.bedgraph",
               "top_windows.bed"] + (["mutagenesis.tsv"] if mut is not None else []) + ["run.json"]
    rel = relative_delta(ex)
    counts = {"site_class_pairs": int(len(pairs.pos)),
              "sites": int(len({(r.id, p) for r, p in zip(pairs.record, pairs.pos)}))}
    with contextlib.ExitStack() as stack:
        tmp = {name: stack.enter_context(atomic_path(outdir / name)) for name in outputs}
        write_tsv(explain_table(pairs, classes, ex), tmp["explain.tsv"], atomic=False)
        write_tsv(sites, tmp["sites.tsv"], atomic=False)
        for name, graph, what in (("attention.bedgraph", att_graph, "attention"),
                                  ("attribution.bedgraph", attr_graph, "attribution")):
            with open(tmp[name], "w") as fh:
                write_bedgraph_header(fh, what, f"multirm-explain {what}, summed over explained classes")
                write_bedgraph(fh, graph["chrom"].to_numpy(), graph["start"].to_numpy(), graph[what].to_numpy())
        with open(tmp["top_windows.bed"], "w") as fh:
            append_rows(fh, top_windows_bed(pairs, classes, ex, att_window, top, top_by))
        if mut is not None:
            write_tsv(mutagenesis_table(pairs, classes, *mut), tmp["mutagenesis.tsv"], atomic=False)
        write_run_record(tmp["run.json"], {
            **run_header,
            **record,
            "model": {"path": bundle.path, "sha256": bundle.sha256, "members": bundle.n_members,
                      "config": cfg.to_dict()},
            "integrated_gradients": {"target": "logit", "steps": steps, "baseline": ig_baseline,
                                     "max_relative_delta": float(rel.max())},
            "top_windows": {"top": top, "width": att_window, "by": top_by},
            "counts": counts,
            "outputs": outputs,
        })
    return {**counts, "max_relative_delta": float(rel.max())}
