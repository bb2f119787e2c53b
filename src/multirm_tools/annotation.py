"""Transcript annotations: GTF, GFF3 and BED12 -> ``Transcript`` s, and which transcript holds a position.

- ``read_annotation``: exons of a GTF (``exon`` features by ``transcript_id``), GFF3 (``exon``
  features by ``Parent``) or BED12 file, plain or gzipped, grouped into transcripts;
- ``TranscriptIndex``: the transcript a genome position is on (multirm-curate-sites,
  multirm-variants);
- ``check_chromosomes``: an annotation and a genome that share no chromosome name (``1`` / ``chr1``).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

from .bed import parse_interval, tab_lines
from .errors import InputError


class Transcript(NamedTuple):
    """A transcript: exons as sorted, 0-based half-open genome intervals on ``chrom``/``strand``."""

    id: str
    chrom: str
    strand: str
    exons: tuple[tuple[int, int], ...]

    @property
    def span(self) -> tuple[int, int]:
        return self.exons[0][0], self.exons[-1][1]

    @property
    def exonic_length(self) -> int:
        return sum(e - s for s, e in self.exons)


def check_chromosomes(transcripts: list[Transcript] | None, annotation: str | os.PathLike | None,
                      genome_name: str, genome_chroms) -> None:
    """Refuse an annotation none of whose chromosomes the genome has: every position would silently
    fall outside the transcripts. No annotation (None): nothing to check."""
    if transcripts and not {t.chrom for t in transcripts} & set(genome_chroms):
        names = sorted({t.chrom for t in transcripts})[:3]
        raise InputError(f"{Path(annotation).name}: none of its chromosomes ({', '.join(names)}, "
                         f"...) is in {genome_name}; the files name chromosomes differently")


_GTF_ID = re.compile(r'transcript_id\s+"?([^";]+)"?')


def read_annotation(path: str | os.PathLike) -> list[Transcript]:
    """Transcripts of a GTF, GFF3 or BED12 file (plain or gzipped), sorted by id.

    GTF and GFF3 are told apart per line: ``transcript_id "x"`` (GTF) or ``Parent=x`` (GFF3,
    one exon may have several parents). Only ``exon`` features are read.

    Raises
    ------
    InputError
        A line that is neither a 9-column GTF/GFF3 line nor BED12; an exon whose start is below 1
        or past its end; an exon without transcript id; a transcript with exons on two chromosomes
        or strands; no transcripts at all.
    """
    path = Path(path)
    exons: dict[str, list[tuple[int, int]]] = defaultdict(list)
    where: dict[str, tuple[str, str]] = {}

    def add(tid: str, chrom: str, strand: str, start: int, end: int, lineno: int) -> None:
        if strand not in ("+", "-"):
            raise InputError(f"{path.name}: line {lineno}: transcript {tid!r} has strand {strand!r} "
                             f"(needs '+' or '-')")
        if where.setdefault(tid, (chrom, strand)) != (chrom, strand):
            raise InputError(f"{path.name}: line {lineno}: transcript {tid!r} has exons on "
                             f"{where[tid]} and {(chrom, strand)}")
        exons[tid].append((start, end))

    for lineno, fields in tab_lines(path):
        if len(fields) == 9:
            if fields[2] != "exon":
                continue
            try:
                start, end = int(fields[3]) - 1, int(fields[4])  # 1-based closed -> 0-based half-open
            except ValueError:
                raise InputError(f"{path.name}: line {lineno}: start/end are not integers") from None
            if start < 0 or end <= start:
                raise InputError(f"{path.name}: line {lineno}: bad exon {fields[3]}-{fields[4]} (1-based, "
                                 f"inclusive: 1 <= start <= end)")
            attrs = fields[8]
            m = _GTF_ID.search(attrs)
            if m:
                parents = [m.group(1)]
            else:
                kv = dict(p.split("=", 1) for p in attrs.strip().strip(";").split(";") if "=" in p)
                parents = [p for p in kv.get("Parent", "").split(",") if p]
            if not parents:
                raise InputError(f"{path.name}: line {lineno}: exon without transcript_id (GTF) or "
                                 f"Parent (GFF3)")
            for tid in parents:
                add(tid, fields[0], fields[6], start, end, lineno)
        elif len(fields) >= 12:
            start, _ = parse_interval(path.name, lineno, fields)
            try:
                sizes = [int(x) for x in fields[10].strip(",").split(",")]
                offsets = [int(x) for x in fields[11].strip(",").split(",")]
            except ValueError:
                raise InputError(f"{path.name}: line {lineno}: BED12 blockSizes/blockStarts are not "
                                 f"integer lists") from None
            for size, offset in zip(sizes, offsets):
                add(fields[3], fields[0], fields[5], start + offset, start + offset + size, lineno)
        else:
            raise InputError(f"{path.name}: line {lineno}: {len(fields)} columns; expected a GTF/GFF3 "
                             f"line (9 columns) or BED12 (12 columns)")
    if not exons:
        raise InputError(f"{path.name}: no transcripts (no exon features or BED12 lines)")
    return [Transcript(tid, *where[tid], tuple(sorted(exons[tid]))) for tid in sorted(exons)]


class TranscriptIndex:
    """Which transcript a genome position is on: the longest (exonic length, then id) of those
    on the same chrom and strand whose exons (``exonic=True``) or span hold the position."""

    BIN = 65536

    def __init__(self, transcripts: list[Transcript]):
        order = sorted(transcripts, key=lambda t: (-t.exonic_length, t.id))
        self._bins: dict[tuple[str, str, int], list[Transcript]] = defaultdict(list)
        for tx in order:
            lo, hi = tx.span
            for b in range(lo // self.BIN, (hi - 1) // self.BIN + 1):
                self._bins[(tx.chrom, tx.strand, b)].append(tx)

    def find(self, chrom: str, strand: str, pos: int, exonic: bool) -> Transcript | None:
        for tx in self._bins.get((chrom, strand, pos // self.BIN), ()):
            if exonic and any(s <= pos < e for s, e in tx.exons):
                return tx
            if not exonic and tx.span[0] <= pos < tx.span[1]:
                return tx
        return None
