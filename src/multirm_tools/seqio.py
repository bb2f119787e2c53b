"""Sequence input: streaming FASTA / FASTA.gz records and bedtools-style genome headers; the one
gzip detection (``is_gzip``, ``open_input``, ``text_lines``) every reader of the package uses.

Records are read one at a time, so memory is that of the longest record, not of
the file. Sequences come back upper case in the DNA alphabet (U -> T). ``N`` is
kept; the other IUPAC ambiguity codes (R Y S W K M B D H V) become ``N``, which
the scanner predicts nothing for. Any other character (protein letters, digits,
gaps ``-``, ``*``, ...) is an ``InputError`` naming the file, the record, the
1-based position and the character.

A record whose id is ``chrom:start-end(strand)`` (``bedtools getfasta -s``;
0-based start, half-open end; ``name::chrom:start-end(strand)`` from ``-name``
too) carries genome coordinates: see ``GenomeLocus``.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from pathlib import Path
from typing import IO, Iterator, NamedTuple

import numpy as np

from .errors import InputError

#: IUPAC ambiguity codes (besides N) that are read as N.
AMBIGUOUS = "RYSWKMBDHV"

# Byte translation: nucleotides to upper-case DNA, ambiguity codes to N, everything else to 0.
_TRANS = bytearray(256)
for _c in "ACGTN":
    _TRANS[ord(_c)] = _TRANS[ord(_c.lower())] = ord(_c)
_TRANS[ord("U")] = _TRANS[ord("u")] = ord("T")
for _c in AMBIGUOUS:
    _TRANS[ord(_c)] = _TRANS[ord(_c.lower())] = ord("N")
_TRANS = bytes(_TRANS)

_LOCUS = re.compile(r"^(?:.*::)?(?P<chrom>[^\s:]+):(?P<start>\d+)-(?P<end>\d+)(?:\((?P<strand>[+-])\))?$")


class FastaRecord(NamedTuple):
    """One FASTA record.

    id: first word of the header; description: the whole header line after ``>``;
    sequence: upper case DNA letters A C G T N.
    """

    id: str
    description: str
    sequence: str


class GenomeLocus(NamedTuple):
    """Genome interval of a record from a ``chrom:start-end(strand)`` header (0-based, half-open).

    Record position ``i`` (0-based) is genome coordinate ``start + i`` on ``+``
    (and when no strand is given, ``strand == "."``), ``end - 1 - i`` on ``-``.
    """

    chrom: str
    start: int
    end: int
    strand: str


def parse_locus(record_id: str) -> GenomeLocus | None:
    """The genome interval named by a record id, or None if the id is no such interval."""
    m = _LOCUS.match(record_id)
    if m is None:
        return None
    start, end = int(m["start"]), int(m["end"])
    if end <= start:
        return None
    return GenomeLocus(m["chrom"], start, end, m["strand"] or ".")


def record_locus(record: FastaRecord, source: str = "") -> GenomeLocus | None:
    """``parse_locus`` of a record, checked against the sequence length.

    Raises
    ------
    InputError
        If the header's interval length differs from the sequence length.
    """
    locus = parse_locus(record.id)
    if locus is not None and locus.end - locus.start != len(record.sequence):
        raise InputError(f"{source}: record {record.id!r}: header interval is "
                         f"{locus.end - locus.start} nt but the sequence has {len(record.sequence)} nt")
    return locus


def genome_positions(locus: GenomeLocus | None, positions: np.ndarray) -> np.ndarray:
    """0-based genome coordinates of 0-based record positions (the positions themselves if no locus).

    Parameters
    ----------
    locus: GenomeLocus or None.
    positions: np.ndarray, shape=(n,), integer.

    Returns
    -------
    np.ndarray, shape=(n,), int64
    """
    positions = np.asarray(positions, dtype=np.int64)
    if locus is None:
        return positions
    if locus.strand == "-":
        return locus.end - 1 - positions
    return locus.start + positions


GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether a file holds gzip data (gzip or bgzip), from its first two bytes, not its name.

    The one place the package detects compression. A missing or unreadable file raises the
    ``OSError`` that ``open`` raises, so each reader words that error as it documents.
    """
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


# What Windows editors put before the first line of a UTF-8 text file; readers skip it.
UTF8_BOM = b"\xef\xbb\xbf"


def open_input(path: Path) -> IO[bytes]:
    """A binary stream of a plain or gzipped file; a missing or unreadable file is an ``InputError``."""
    try:
        gz = is_gzip(path)
        fh = open(path, "rb")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
    if gz:
        return gzip.GzipFile(fileobj=fh, mode="rb")  # closes with ``fh`` through the caller
    return fh


def text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without line end) of a plain or gzipped text file.

    Raises
    ------
    InputError
        A missing or unreadable file; a truncated or corrupt gzip stream.
    """
    path = Path(path)
    stream = open_input(path)
    lineno = 0
    try:
        with stream:
            for lineno, raw in enumerate(stream, 1):
                if lineno == 1:
                    raw = raw.removeprefix(UTF8_BOM)
                yield lineno, raw.decode("utf-8", errors="replace").rstrip("\r\n")
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{path.name}: truncated or corrupt gzip file after line {lineno} "
                         f"({exc or type(exc).__name__})") from None


def _clean(path: Path, rid: str, chunks: list[bytes]) -> str:
    """Join sequence lines, translate to DNA letters and reject non-nucleotide characters."""
    raw = b"".join(chunks)
    seq = raw.translate(_TRANS)
    bad = np.flatnonzero(np.frombuffer(seq, dtype=np.uint8) == 0)
    if bad.size:
        pos = int(bad[0])
        char = raw[pos:pos + 1].decode("latin-1")
        hint = " (protein FASTA?)" if char.isalpha() else ""
        raise InputError(f"{path.name}: record {rid!r} position {pos + 1}: {char!r} is not a "
                         f"nucleotide code{hint}")
    if not seq:
        raise InputError(f"{path.name}: record {rid!r} has an empty sequence")
    return seq.decode("ascii")


def read_fasta(path: str | os.PathLike) -> Iterator[FastaRecord]:
    """Stream the records of a FASTA or gzipped FASTA file (gzip detected from its content).

    Parameters
    ----------
    path: str or PathLike, the FASTA file.

    Yields
    ------
    FastaRecord, one per record, in file order.

    Raises
    ------
    InputError
        Missing file; empty file or no records; text before the first ``>``; a
        header without id; an empty sequence; a duplicate id; a character that is
        no nucleotide code; a truncated or corrupt gzip stream.
    """
    path = Path(path)
    fh = open_input(path)
    seen: set[str] = set()
    rid = desc = None
    chunks: list[bytes] = []
    lineno = 0
    try:
        with fh:
            for lineno, line in enumerate(fh, 1):
                line = line.strip()
                if lineno == 1:
                    line = line.removeprefix(UTF8_BOM)
                if not line:
                    continue
                if line.startswith(b">"):
                    if rid is not None:
                        yield FastaRecord(rid, desc, _clean(path, rid, chunks))
                    desc = line[1:].decode("utf-8", errors="replace").strip()
                    if not desc:
                        raise InputError(f"{path.name}: line {lineno}: header without a record id")
                    rid = desc.split()[0]
                    if rid in seen:
                        raise InputError(f"{path.name}: line {lineno}: duplicate record id {rid!r}")
                    seen.add(rid)
                    chunks = []
                elif rid is None:
                    raise InputError(f"{path.name}: line {lineno}: text before the first '>' header "
                                     f"(not a FASTA file?)")
                else:
                    chunks.append(line)
            if rid is None:
                raise InputError(f"{path.name}: no FASTA records (empty file?)")
            yield FastaRecord(rid, desc, _clean(path, rid, chunks))
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise InputError(f"{path.name}: truncated or corrupt gzip file after line {lineno} "
                         f"({exc or type(exc).__name__})") from None
