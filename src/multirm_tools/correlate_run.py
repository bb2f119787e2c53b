"""multirm-correlate's run: how alike a model's classes attend, and how near their predicted sites lie.

``correlate_classes`` computes the classes' attention correlations by one of ``correlate.MEASURES``
(over common windows drawn from a FASTA or random sequence, or the attention query vectors) and,
given site BEDs, the nearest-site distance tests of every ordered class pair; it writes
correlation.tsv, correlation_long.tsv, distances.tsv and run.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm import tqdm

from .correlate import (attention_correlation, attention_deviations, attention_queries, common_windows,
                        correlation_tables, distance_table, pearson_matrix, read_site_beds)
from .errors import InputError
from .kmers import encode
from .paths import atomic_path
from .seqio import read_fasta
from .tables import write_run_record, write_tsv


def correlate_classes(bundle, outdir: Path, *, measure: str, fasta: str | None, windows: int, permutations: int,
                      site_beds: list[str] | None, shuffles: int, seed: int, run_header: dict,
                      progress: bool) -> dict:
    """Correlate ``bundle``'s classes and test their sites' distances; write the tables into ``outdir``.

    Returns the classes compared, the long correlation table and the number of distance rows
    (None without ``site_beds``), for the summary line.
    """
    classes = list(bundle.config.classes)
    if measure == "attention":
        records = [encode(rec.sequence) for rec in read_fasta(fasta)] if fasta else None
        drawn = common_windows(records, windows, bundle.config.window, seed)
        if len(drawn) < 2:
            raise InputError(f"{fasta}: fewer than 2 positions other than N to centre windows on")
        compared = classes
        r, p = attention_correlation(attention_deviations(bundle.model, drawn), permutations, seed)
    else:
        try:
            compared, queries = attention_queries(bundle.model)
        except ValueError as exc:
            raise InputError(f"{bundle.path}: {exc}") from None
        r, p = pearson_matrix(queries)
    matrix, long = correlation_tables(compared, r, p)
    distances = None
    if site_beds:
        sites = read_site_beds(site_beds)
        present = [c for c in classes if c in set(sites["modification"])]
        present += sorted(set(sites["modification"]) - set(classes))
        if len(present) < 2:
            raise InputError(f"{', '.join(site_beds)}: sites of fewer than two classes "
                             f"({', '.join(present)}); distances need two")
        n_pairs = len(present) * (len(present) - 1)
        with tqdm(total=n_pairs, unit="pair", desc="distances", file=sys.stderr, disable=not progress) as bar:
            distances = distance_table(sites, present, shuffles, seed, progress=bar.update)
    outdir.mkdir(parents=True, exist_ok=True)
    write_tsv(matrix, outdir / "correlation.tsv")
    write_tsv(long, outdir / "correlation_long.tsv")
    outputs = ["correlation.tsv", "correlation_long.tsv"]
    if distances is not None:
        write_tsv(distances, outdir / "distances.tsv")
        outputs.append("distances.tsv")
    with atomic_path(outdir / "run.json") as tmp:
        write_run_record(tmp, {
            **run_header,
            "model": {"path": bundle.path, "sha256": bundle.sha256},
            "measure": measure,
            **({"fasta": fasta, "windows": int(len(drawn)), "permutations": permutations}
               if measure == "attention" else {}),
            "sites": site_beds or [],
            "shuffles": shuffles,
            "seed": seed,
            "outputs": outputs + ["run.json"],
        })
    return {"compared": compared, "long": long, "distances": None if distances is None else len(distances)}
