"""multirm-curate-sites' run: sites (BED) and a genome, or labelled sets, to the curated tables.

``curate_from_genome`` reads the sites, transcripts and exclusions and curates windows with their
negatives (``curate.curate_sites``); ``curate_labelled`` imports labelled sets
(``curate.read_labelled``). ``split_and_write`` removes duplicates, assigns the leak-free splits and
writes sites.tsv, train/valid/test.tsv, sites.fa and report.tsv, each under a temporary name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .annotation import check_chromosomes, read_annotation
from .curate import (SPLITS, CurateOptions, Motif, Report, assign_splits, curate_sites, deduplicate, finish_table,
                     open_genome, read_exclusion_bed, read_site_bed)
from .errors import InputError
from .paths import atomic_path
from .tables import write_tsv


def curate_from_genome(site_beds: list[str], classes: list[str | None], genome_path: str, annotation: str | None,
                       exclude: list[str], motifs: dict[str, Motif], options: CurateOptions,
                       rng: np.random.Generator, report: Report, progress: bool) -> pd.DataFrame:
    """Sites of ``site_beds`` (each file's class, None: its BED names) curated on the genome."""
    sites = [s for path, mod in zip(site_beds, classes) for s in read_site_bed(path, mod)]
    transcripts = read_annotation(annotation) if annotation else None
    excluded = [iv for path in exclude for iv in read_exclusion_bed(path)]
    with open_genome(genome_path) as genome:
        check_chromosomes(transcripts, annotation, genome.name, genome.lengths)
        return curate_sites(sites, genome, transcripts, excluded, motifs, options, rng, report, progress)


def split_and_write(df: pd.DataFrame, outdir: Path, *, valid_size: int, test_size: int, group_k: int,
                    rng: np.random.Generator, report: Report) -> pd.DataFrame:
    """Deduplicate, split and write the curated rows; returns the final table."""
    if df.empty:
        dropped = report.table().query("category == 'dropped'")
        why = ", ".join(f"{r.modification} {r.detail}: {r.count}" for r in dropped.itertuples())
        raise InputError(f"no rows left after filtering ({why or 'nothing to keep'}); nothing written")
    df = deduplicate(df, report)
    split = assign_splits(df, valid_size, test_size, group_k, rng, report)
    df = finish_table(df, split, report)
    outdir.mkdir(parents=True, exist_ok=True)
    write_tsv(df, outdir / "sites.tsv", float_format=None)
    for name in SPLITS:
        write_tsv(df[df["split"] == name], outdir / f"{name}.tsv", float_format=None)
    write_sites_fasta(df, outdir / "sites.fa")
    write_tsv(report.table(), outdir / "report.tsv", float_format=None)
    return df


def write_sites_fasta(df: pd.DataFrame, path: Path) -> None:
    """sites.fa: each row's window, its fields in the header (``key=value``)."""
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        for row in df.itertuples(index=False):
            fh.write(f">{row.id} modification={row.modification} label={row.label} site={row.site} "
                     f"split={row.split} chrom={row.chrom} start={row.start} strand={row.strand} "
                     f"edge={row.edge}\n{row.sequence}\n")
