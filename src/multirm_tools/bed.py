"""BED files: the one reader every tool and the report use, and the BED6 / bedGraph writers.

- ``tab_lines`` / ``parse_interval``: data lines split into fields, and a line's checked interval
  (also what ``annotation`` reads GTF/GFF3/BED12 with);
- ``bed_lines``: the data lines of a BED file (plain or gzipped; ``track``, ``browser``, ``#``
  and blank lines skipped) as ``BedLine`` (line number, fields, checked 0-based half-open interval);
- ``read_bed``: the same as a DataFrame ``chrom start end name score strand line``;
- ``is_sites_bed``: whether a file looks like a sites BED (1-nt intervals named by a class), as
  ``multirm-predict`` writes it;
- ``write_bed6`` / ``write_bedgraph_header`` / ``write_bedgraph``: single-base rows, written
  column-wise a chunk at a time (callers open the files under temporary names).

Errors name the file and the line: ``sites.bed: line 3: ...``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np
import pandas as pd

from .constants import CLASS_NAMES
from .errors import InputError
from .seqio import text_lines
from .tables import append_rows

#: Columns of ``read_bed``'s DataFrame; name and score are "" and strand "." where a line has none.
BED_COLUMNS = ["chrom", "start", "end", "name", "score", "strand", "line"]
_SKIP = ("#", "track", "browser")


class BedLine(NamedTuple):
    """One data line of a BED file: ``start``/``end`` 0-based, half-open, ``0 <= start < end``."""

    line: int  # 1-based line number in the file
    fields: list[str]  # all tab-separated fields, the coordinates as written
    chrom: str
    start: int
    end: int


def tab_lines(path: str | os.PathLike) -> Iterator[tuple[int, list[str]]]:
    """(1-based line number, tab-separated fields) of the data lines of a BED-like file (BED,
    GTF, GFF3; plain or gzipped): blank, ``#``, ``track`` and ``browser`` lines skipped."""
    for lineno, line in text_lines(path):
        if line.strip() and not line.startswith(_SKIP):
            yield lineno, line.split("\t")


def parse_interval(source: str, lineno: int, fields: list[str]) -> tuple[int, int]:
    """The checked 0-based half-open (start, end) of a BED line's fields; ``source``: the file name.

    Raises
    ------
    InputError
        Fewer than 3 fields or non-integer start/end; an interval not ``0 <= start < end``.
    """
    try:
        start, end = int(fields[1]), int(fields[2])
    except (IndexError, ValueError):
        raise InputError(f"{source}: line {lineno}: not a BED line (chrom, start, end must be "
                         f"tab-separated, start and end integers)") from None
    if start < 0 or end <= start:
        raise InputError(f"{source}: line {lineno}: bad interval {start}-{end} (0-based, "
                         f"half-open: 0 <= start < end)")
    return start, end


def bed_lines(path: str | os.PathLike) -> Iterator[BedLine]:
    """The data lines of a BED3+ file (plain or gzipped), in file order.

    Raises
    ------
    InputError
        A missing or unreadable file or corrupt gzip stream; the errors of ``parse_interval``.
    """
    name = Path(path).name
    for lineno, fields in tab_lines(path):
        start, end = parse_interval(name, lineno, fields)
        yield BedLine(lineno, fields, fields[0], start, end)


def read_bed(path: str | os.PathLike) -> pd.DataFrame:
    """A BED3+ file as a DataFrame with ``BED_COLUMNS`` (start, end, line int64; others str).

    An empty file (or one of comments only) gives an empty frame; errors as ``bed_lines``.
    """
    rows = [(b.chrom, b.start, b.end, b.fields[3] if len(b.fields) > 3 else "",
             b.fields[4] if len(b.fields) > 4 else "", b.fields[5] if len(b.fields) > 5 else ".", b.line)
            for b in bed_lines(path)]
    df = pd.DataFrame(rows, columns=BED_COLUMNS)
    return df.astype({"chrom": str, "start": np.int64, "end": np.int64, "name": str, "score": str,
                      "strand": str, "line": np.int64})


def is_sites_bed(path: str | os.PathLike, lines: int = 50) -> bool:
    """Whether the first ``lines`` data lines are BED6 1-nt intervals named by a class
    (``multirm-predict``'s ``sites.bed``); a file without data lines is one when named ``.bed``.
    Never raises: an unreadable or binary file is no sites BED."""
    path = Path(path)
    seen = 0
    try:
        for _, line in text_lines(path):
            if not line or line.startswith(_SKIP):
                continue
            f = line.split("\t")
            if len(f) < 6 or not (f[1].isdigit() and f[2].isdigit()) or int(f[2]) - int(f[1]) != 1 \
                    or f[3] not in CLASS_NAMES:
                return False
            seen += 1
            if seen == lines:
                break
    except InputError:
        return False
    return seen > 0 or path.suffix == ".bed"


def write_bed6(fh: IO[str], chrom: np.ndarray, start: np.ndarray, name: np.ndarray,
               probability: np.ndarray, strand: np.ndarray) -> None:
    """Append single-base BED6 rows: ``chrom start start+1 name round(1000 * p) strand``."""
    start = np.asarray(start, dtype=np.int64)
    score = np.rint(1000.0 * np.asarray(probability, dtype=np.float64)).astype(np.int64)
    append_rows(fh, pd.DataFrame({"chrom": chrom, "start": start, "end": start + 1, "name": name,
                          "score": score, "strand": strand}))


def write_bedgraph_header(fh: IO[str], name: str, description: str) -> None:
    fh.write(f'track type=bedGraph name="{name}" description="{description}"\n')


def write_bedgraph(fh: IO[str], chrom: np.ndarray, start: np.ndarray, value: np.ndarray) -> None:
    """Append single-base bedGraph rows ``chrom start start+1 value`` (0-based start)."""
    start = np.asarray(start, dtype=np.int64)
    append_rows(fh, pd.DataFrame({"chrom": chrom, "start": start, "end": start + 1, "value": value}))
