"""Curating labelled training tables from modification sites: the library of ``multirm-curate-sites``.

What it holds, in the order the tool uses it:

- ``read_site_bed`` / ``read_exclusion_bed``: BED6 sites (0-based, half-open, 1 nt each) and
  known-site intervals (``Exclusion``, strand-aware; strand ``.`` covers both strands);
- ``Genome`` / ``open_genome``: indexed random access to a FASTA (pyfaidx; the ``.fai`` is
  built beside the FASTA, or in a temporary folder when that is read-only), a gzipped FASTA
  read into memory; strand-aware, N-padded windows;
- transcripts from GTF, GFF3 or BED12 and which one a site is on: ``annotation.read_annotation`` /
  ``annotation.TranscriptIndex``;
- ``Region`` and ``candidate_indices``: the sequence that positives and their negatives share
  (mature transcript, pre-mRNA span, or a neighbourhood of the site) and the positions in it that
  may serve as negatives (same base, motif held, not a known site);
- ``Motif`` / ``class_motifs``: per-class motif restrictions (DRACH for m6A and BCA for m6Am by default),
  checked on the genome around the site read on its strand (the pre-mRNA context, where the
  methyltransferases act; for m6Am at a transcription start the promoter bases upstream), in
  either sequence space;
- ``curate_sites``: BED sites -> labelled rows with windows and coordinates;
- ``read_labelled``: import of labelled TSV/FASTA sets that carry no coordinates;
- ``deduplicate`` / ``assign_splits``: leak-free train/valid/test splits, grouped by central k-mer.

Every function that draws takes a ``numpy.random.Generator`` and visits its input in a
sorted order, so one seed gives one output. Counts of everything dropped go to a ``Report``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np
import pandas as pd

from .annotation import Transcript, TranscriptIndex
from .bed import bed_lines, parse_interval, tab_lines
from .constants import BY_NAME, CLASS_NAMES, IUPAC_DNA, canonical_name
from .errors import InputError, UsageError
from .seqio import is_gzip, open_input, read_fasta
from .sites import read_sites
from .tables import TABLES

#: Columns of the curated table: the shared sites format, then split and coordinates.
OUTPUT_COLUMNS = TABLES["curated"].names
SPLITS = ("train", "valid", "test")
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
# Genome letters: upper case DNA; ambiguity codes read as N (as seqio does).
_GENOME_LETTERS = str.maketrans({**{c: "N" for c in "RYSWKMBDHV"}, "U": "T"})
_NOT_NUCLEOTIDE = re.compile(r"[^ACGTN]")


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


class Report:
    """Counts for ``report.tsv``: one row per (category, modification, label, split, detail)."""

    COLUMNS = TABLES["curate_report"].names

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, str, str, str], int] = {}

    def add(self, category: str, modification: str = "NA", count: int = 1, label: str = "NA",
            split: str = "NA", detail: str = "") -> None:
        key = (category, modification, str(label), split, detail)
        self.counts[key] = self.counts.get(key, 0) + count

    def get(self, category: str, modification: str | None = None) -> int:
        return sum(n for k, n in self.counts.items()
                   if k[0] == category and (modification is None or k[1] == modification))

    ORDER = ("input sites", "input rows", "dropped", "negatives drawn", "negatives short",
             "split sizes reduced", "split short", "rows")

    def table(self) -> pd.DataFrame:
        """Rows ordered by category (as in ``ORDER``), class (registry order), label, split, detail."""
        def rank(key: tuple[str, str, str, str, str]) -> tuple:
            cat, mod, label, split, detail = key
            return (self.ORDER.index(cat), CLASS_NAMES.index(mod) if mod in CLASS_NAMES else -1,
                    label, SPLITS.index(split) if split in SPLITS else -1, detail)
        rows = [(*k[:4], self.counts[k], k[4]) for k in sorted(self.counts, key=rank)]
        return pd.DataFrame(rows, columns=self.COLUMNS)


# ---------------------------------------------------------------------------------------------
# text inputs

class BedSite(NamedTuple):
    """One site of a sites BED: ``start`` is the 0-based position of the modified base."""

    chrom: str
    start: int
    strand: str
    modification: str
    source: str  # file name
    line: int


def read_site_bed(path: str | os.PathLike, modification: str | None = None) -> list[BedSite]:
    """Read a BED6 file of 1-nt sites.

    Parameters
    ----------
    path: BED (plain or gzipped); ``track``, ``browser`` and ``#`` lines are skipped.
    modification: the class of every site; None (default) reads it from the name column
        (registry names and aliases).

    Raises
    ------
    InputError
        No sites; fewer than 6 columns; a bad interval or one longer than 1 nt; a strand
        other than ``+``/``-``; an unknown modification name.
    """
    path = Path(path)
    sites = []
    for lineno, fields in tab_lines(path):
        where = f"{path.name}: line {lineno}"
        if len(fields) < 6:
            raise InputError(f"{where}: a sites BED needs 6 tab-separated columns (chrom start end "
                             f"name score strand), found {len(fields)}")
        start, end = parse_interval(path.name, lineno, fields)
        if end != start + 1:
            raise InputError(f"{where}: site {fields[0]}:{start}-{end} is {end - start} nt; a site "
                             f"is 1 nt (BED start = 0-based position, end = start + 1)")
        strand = fields[5]
        if strand not in ("+", "-"):
            raise InputError(f"{where}: strand {strand!r} must be '+' or '-' (sites are strand-specific)")
        try:
            mod = canonical_name(modification or fields[3])
        except UsageError as exc:
            raise InputError(f"{where}: {exc}") from None
        sites.append(BedSite(fields[0], start, strand, mod, path.name, lineno))
    if not sites:
        raise InputError(f"{path.name}: no sites (empty BED file)")
    return sites


class Exclusion:
    """Genome positions that are never negatives: merged intervals per (chrom, strand)."""

    def __init__(self, intervals: Iterable[tuple[str, str, int, int]]):
        by_key: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
        for chrom, strand, start, end in intervals:
            for s in ("+", "-") if strand not in ("+", "-") else (strand,):
                by_key[(chrom, s)].append((start, end))
        self._arrays: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        for key, ivs in by_key.items():
            ivs.sort()
            starts, ends = [ivs[0][0]], [ivs[0][1]]
            for s, e in ivs[1:]:
                if s <= ends[-1]:
                    ends[-1] = max(ends[-1], e)
                else:
                    starts.append(s)
                    ends.append(e)
            self._arrays[key] = (np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64))

    def mask(self, chrom: str, strand: str, coords: np.ndarray) -> np.ndarray:
        """Which of ``coords`` (0-based, shape=(n,)) are excluded on ``chrom``/``strand``."""
        if (chrom, strand) not in self._arrays:
            return np.zeros(len(coords), dtype=bool)
        starts, ends = self._arrays[(chrom, strand)]
        idx = np.searchsorted(starts, coords, side="right") - 1
        return (idx >= 0) & (coords < ends[np.maximum(idx, 0)])


def read_exclusion_bed(path: str | os.PathLike) -> list[tuple[str, str, int, int]]:
    """(chrom, strand, start, end) of a BED3+ file; strand from column 6, ``.``/absent = both."""
    return [(b.chrom, b.fields[5] if len(b.fields) >= 6 else ".", b.start, b.end) for b in bed_lines(path)]


# ---------------------------------------------------------------------------------------------
# genome

class Genome:
    """Random access to the records of a FASTA: upper case DNA letters, 0-based half-open slices.

    Built by ``open_genome``; ``records`` is a pyfaidx ``Fasta`` (as_raw) or a dict of strings.
    """

    def __init__(self, name: str, records, lengths: dict[str, int]):
        self.name = name
        self._records = records
        self.lengths = lengths

    def fetch(self, chrom: str, start: int, end: int) -> str:
        """The plus-strand sequence ``[start, end)`` of ``chrom`` (inside its bounds)."""
        raw = self._records[chrom][start:end]
        seq = raw.upper().translate(_GENOME_LETTERS)
        bad = _NOT_NUCLEOTIDE.search(seq)
        if bad:
            raise InputError(f"{self.name}: record {chrom!r} position {start + bad.start() + 1}: "
                             f"{raw[bad.start()]!r} is not a nucleotide code")
        return seq

    def oriented(self, chrom: str, start: int, end: int, strand: str) -> str:
        """``fetch`` read 5'->3' on ``strand`` (reverse complement on ``-``)."""
        seq = self.fetch(chrom, start, end)
        return reverse_complement(seq) if strand == "-" else seq

    def window(self, chrom: str, centre: int, strand: str, width: int) -> tuple[str, bool]:
        """The ``width``-nt window centred on ``centre`` read on ``strand``, N-padded beyond the
        record's ends; and whether it was padded."""
        half = width // 2
        lo, hi = centre - half, centre + half + 1
        length = self.lengths[chrom]
        seq = "N" * max(0, -lo) + self.fetch(chrom, max(lo, 0), min(hi, length)) + "N" * max(0, hi - length)
        return (reverse_complement(seq) if strand == "-" else seq), (lo < 0 or hi > length)


@contextlib.contextmanager
def open_genome(path: str | os.PathLike) -> Iterator[Genome]:
    """Open a genome or transcriptome FASTA for random access.

    A plain FASTA is read through pyfaidx; its ``.fai`` index is built beside it when missing
    or stale, or, when that folder is not writable (a Galaxy dataset), in a temporary folder
    removed on exit. A gzipped FASTA (gzip or bgzip) is read whole into memory with
    ``seqio.read_fasta``: fine for transcriptomes and small genomes; decompress a large genome.

    Raises
    ------
    InputError
        A missing file, a FASTA pyfaidx cannot index (lines of unequal length inside a
        record, duplicate names), or the errors of ``seqio.read_fasta``.
    """
    import pyfaidx

    path = Path(path)
    open_input(path).close()  # a missing or unreadable file: InputError
    if is_gzip(path):
        records = {r.id: r.sequence for r in read_fasta(path)}
        yield Genome(path.name, records, {k: len(v) for k, v in records.items()})
        return
    tmpdir = None

    def index(indexname: str | None):
        return pyfaidx.Fasta(str(path), indexname=indexname, as_raw=True, rebuild=True)

    try:
        try:
            fasta = index(None)
        except pyfaidx.FastaNotFoundError:
            raise
        except OSError:  # the .fai cannot be written beside the FASTA (read-only folder)
            tmpdir = tempfile.mkdtemp(prefix="multirm-curate-")
            fasta = index(os.path.join(tmpdir, path.name + ".fai"))
    except pyfaidx.FastaNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (pyfaidx.FastaIndexingError, ValueError, OSError, ImportError) as exc:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)
        raise InputError(f"{path.name}: cannot index the FASTA ({str(exc).splitlines()[0]})") from None
    try:
        with fasta:
            if not fasta.keys():
                raise InputError(f"{path.name}: no FASTA records (empty file?)")
            yield Genome(path.name, fasta, {k: len(fasta[k]) for k in fasta.keys()})
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# regions, motifs, candidates

class Region(NamedTuple):
    """A sequence read 5'->3' and the genome coordinate of each of its positions.

    sequence: str of length n; coords: np.ndarray, shape=(n,), int64.
    """

    chrom: str
    strand: str
    sequence: str
    coords: np.ndarray


def transcript_region(genome: Genome, tx: Transcript, spliced: bool) -> Region:
    """The mature transcript (``spliced``) or its pre-mRNA span, 5'->3'."""
    _check_interval(genome, tx.chrom, tx.span[1], f"transcript {tx.id!r}")
    parts = tx.exons if spliced else (tx.span,)
    seq = "".join(genome.fetch(tx.chrom, s, e) for s, e in parts)
    coords = np.concatenate([np.arange(s, e, dtype=np.int64) for s, e in parts])
    if tx.strand == "-":
        return Region(tx.chrom, "-", reverse_complement(seq), coords[::-1].copy())
    return Region(tx.chrom, "+", seq, coords)


def neighbourhood_region(genome: Genome, chrom: str, strand: str, pos: int, distance: int) -> Region:
    """``pos`` +- ``distance`` on ``chrom`` (the whole record when ``distance`` is 0), 5'->3'."""
    length = genome.lengths[chrom]
    lo, hi = (0, length) if distance == 0 else (max(0, pos - distance), min(length, pos + distance + 1))
    coords = np.arange(lo, hi, dtype=np.int64)
    seq = genome.fetch(chrom, lo, hi)
    if strand == "-":
        return Region(chrom, "-", reverse_complement(seq), coords[::-1].copy())
    return Region(chrom, "+", seq, coords)


def _check_interval(genome: Genome, chrom: str, end: int, what: str) -> None:
    if chrom not in genome.lengths:
        raise InputError(f"{what}: chromosome {chrom!r} is not in {genome.name}")
    if end > genome.lengths[chrom]:
        raise InputError(f"{what}: ends at {end}, beyond the end of {chrom} (length "
                         f"{genome.lengths[chrom]}) in {genome.name}")


def pad_window(seq: str, centre: int, width: int) -> tuple[str, bool]:
    """The ``width``-nt window of ``seq`` centred on index ``centre``, N-padded; and whether padded."""
    half = width // 2
    lo, hi = centre - half, centre + half + 1
    out = "N" * max(0, -lo) + seq[max(lo, 0):min(hi, len(seq))] + "N" * max(0, hi - len(seq))
    return out, (lo < 0 or hi > len(seq))


class Motif(NamedTuple):
    """A motif restriction: IUPAC ``text`` (DNA letters) with the modified base at ``offset``."""

    text: str
    offset: int

    def regex(self) -> re.Pattern[str]:
        return re.compile("".join(f"[{IUPAC_DNA[c]}]" for c in self.text))

    def holds(self, seq: str, site: int) -> bool:
        """Whether the motif surrounds index ``site`` of ``seq``."""
        lo = site - self.offset
        return lo >= 0 and self.regex().fullmatch(seq, lo, lo + len(self.text)) is not None

    def sites(self, seq: str) -> np.ndarray:
        """Indices of ``seq`` that the motif surrounds, sorted."""
        hits = re.finditer(f"(?=({self.regex().pattern}))", seq)
        return np.fromiter((m.start() + self.offset for m in hits), dtype=np.int64)

    def holds_in_genome(self, genome: Genome, chrom: str, pos: int, strand: str) -> bool:
        """Whether the motif surrounds genome position ``pos`` read on ``strand``."""
        half = max(self.offset, len(self.text) - 1 - self.offset)
        context, _ = genome.window(chrom, pos, strand, 2 * half + 1)
        return self.holds(context, half)

    def genome_sites(self, genome: Genome, chrom: str, strand: str, lo: int, hi: int) -> np.ndarray:
        """Genome positions in ``[lo, hi)`` that the motif surrounds on ``strand``, sorted."""
        a, b = max(0, lo - len(self.text)), min(genome.lengths[chrom], hi + len(self.text))
        idx = self.sites(genome.oriented(chrom, a, b, strand))
        coords = np.sort(a + idx if strand == "+" else b - 1 - idx)
        return coords[(coords >= lo) & (coords < hi)]


def parse_motif(spec: str) -> tuple[str, Motif]:
    """``CLASS=MOTIF`` -> (class, Motif): MOTIF in IUPAC letters with the modified base in lower
    case (``m6A=DRaCH``); an all upper-case motif of odd length has it at the centre.

    Raises
    ------
    UsageError
        No ``=``, an unknown class, letters that are no IUPAC code, not one lower-case letter
        (or an even-length upper-case motif), a marked letter that cannot be the class's base.
    """
    cls, sep, text = spec.partition("=")
    if not sep or not text:
        raise UsageError(f"--motif {spec!r}: expected CLASS=MOTIF, e.g. m6A=DRaCH")
    cls = canonical_name(cls)
    lower = [i for i, c in enumerate(text) if c.islower()]
    if len(lower) > 1 or (not lower and len(text) % 2 == 0):
        raise UsageError(f"--motif {spec!r}: mark the modified base with one lower-case letter "
                         f"(e.g. DRaCH)")
    offset = lower[0] if lower else len(text) // 2
    text = text.upper().replace("U", "T")
    bad = [c for c in text if c not in IUPAC_DNA]
    if bad:
        raise UsageError(f"--motif {spec!r}: {bad[0]!r} is not an IUPAC nucleotide code")
    if BY_NAME[cls].base not in IUPAC_DNA[text[offset]]:
        raise UsageError(f"--motif {spec!r}: position {offset + 1} ({text[offset]}) cannot be "
                         f"{cls}'s base {BY_NAME[cls].base}")
    return cls, Motif(text, offset)


def class_motifs(specs: list[str] | None = None, lifted: list[str] | None = None) -> dict[str, Motif]:
    """Per-class motifs: the registry's (DRACH for m6A, BCA for m6Am), changed by ``CLASS=MOTIF``
    ``specs`` and minus the ``lifted`` classes."""
    motifs = {m.name: Motif(m.motif, m.motif_offset) for m in BY_NAME.values() if m.motif}
    for spec in specs or ():
        cls, motif = parse_motif(spec)
        motifs[cls] = motif
    for name in lifted or ():
        motifs.pop(canonical_name(name), None)
    return motifs


def candidate_indices(region: Region, base: str, motif_coords: np.ndarray | None,
                      exclusion: Exclusion) -> np.ndarray:
    """Indices of ``region`` that may be negatives: ``base`` there, the genome position in
    ``motif_coords`` (sorted; None: no motif restriction), not excluded.

    Returns
    -------
    np.ndarray, shape=(n,), int64, sorted.
    """
    codes = np.frombuffer(region.sequence.encode("ascii"), dtype=np.uint8)
    idx = np.flatnonzero(codes == ord(base))
    if motif_coords is not None:
        idx = idx[np.isin(region.coords[idx], motif_coords)]
    return idx[~exclusion.mask(region.chrom, region.strand, region.coords[idx])]


# ---------------------------------------------------------------------------------------------
# BED sites -> labelled rows

class CurateOptions(NamedTuple):
    """What ``curate_sites`` does; see ``multirm-curate-sites --help`` for each."""

    window: int = 1001
    spliced: bool = True  # transcript space (with annotation); False: genomic
    negative_ratio: int = 1
    negative_distance: int = 1000
    drop_mismatched: bool = False


def _locate(sites: list[BedSite], genome: Genome, drop_mismatched: bool,
            report: Report) -> list[BedSite]:
    """Check every site against the genome; drop (or refuse) sites whose base is not their class's."""
    kept = []
    mismatched: dict[tuple[str, str], list[tuple[BedSite, str]]] = defaultdict(list)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for s in sites:
        where = f"{s.source}: line {s.line}"
        if s.chrom not in genome.lengths:
            other = s.chrom[3:] if s.chrom.startswith("chr") else f"chr{s.chrom}"
            hint = f" (it has {other!r}: the files name chromosomes differently)" if other in genome.lengths else ""
            raise InputError(f"{where}: chromosome {s.chrom!r} is not in {genome.name}{hint}")
        if s.start >= genome.lengths[s.chrom]:
            raise InputError(f"{where}: site {s.chrom}:{s.start}-{s.start + 1} is outside {s.chrom} "
                             f"(length {genome.lengths[s.chrom]}) in {genome.name}")
        totals[(s.source, s.modification)] += 1
        base = genome.oriented(s.chrom, s.start, s.start + 1, s.strand)
        if base != BY_NAME[s.modification].base:
            mismatched[(s.source, s.modification)].append((s, base))
            continue
        kept.append(s)
    if mismatched and not drop_mismatched:
        parts = [f"{src} {cls}: {len(v)} of {totals[(src, cls)]} (expected "
                 f"{BY_NAME[cls].base})" for (src, cls), v in sorted(mismatched.items())]
        first, base = min((x for v in mismatched.values() for x in v), key=lambda x: (x[0].source, x[0].line))
        raise InputError(f"{sum(len(v) for v in mismatched.values())} site(s) whose base on their "
                         f"strand is not their modification's base ({'; '.join(parts)}); first: "
                         f"{first.source}: line {first.line}: {first.chrom}:{first.start}-"
                         f"{first.start + 1}({first.strand}) is {base}, not {BY_NAME[first.modification].base} "
                         f"for {first.modification} (BED start is 0-based); --drop-mismatched drops them")
    for (src, cls), v in sorted(mismatched.items()):
        report.add("dropped", cls, len(v), label="1", detail=f"base mismatch ({src})")
    return kept


def curate_sites(sites: list[BedSite], genome: Genome, transcripts: list[Transcript] | None,
                 exclusion_intervals: list[tuple[str, str, int, int]], motifs: dict[str, Motif],
                 options: CurateOptions, rng: np.random.Generator, report: Report,
                 progress: bool = False) -> pd.DataFrame:
    """Labelled rows (``OUTPUT_COLUMNS`` but ``split``) from BED sites: positives and drawn negatives.

    Positives are the sites that pass the base check, lie on a transcript (when
    ``transcripts`` is given) and hold their class's motif (on the genome, read on their strand);
    a site given twice for one class is kept once. Negatives of a class are positions of the same
    base that hold the class's motif and are no input site (of any class) and not in
    ``exclusion_intervals``: from the same
    transcript as the positives (mature transcript or pre-mRNA span, per
    ``options.spliced``), else within ``options.negative_distance`` nt of each positive on its
    chromosome and strand. ``options.negative_ratio`` negatives per positive, fewer where the
    region has fewer candidates (reported).
    """
    from tqdm.auto import tqdm

    for s in sites:
        report.add("input sites", s.modification, label="1", detail=s.source)
    known = Exclusion([(s.chrom, s.strand, s.start, s.start + 1) for s in sites] + exclusion_intervals)
    sites = _locate(sites, genome, options.drop_mismatched, report)
    index = TranscriptIndex(transcripts) if transcripts is not None else None
    spliced = options.spliced and index is not None

    # one group per region: a transcript, or each site's neighbourhood (the whole record if distance 0)
    groups: dict[tuple, list[BedSite]] = defaultdict(list)
    tx_of: dict[tuple, Transcript] = {}
    seen: set[tuple[str, int, str, str]] = set()
    for s in sorted(sites, key=lambda s: (s.chrom, s.start, s.strand, CLASS_NAMES.index(s.modification),
                                          s.source, s.line)):
        key4 = (s.chrom, s.start, s.strand, s.modification)
        if key4 in seen:
            report.add("dropped", s.modification, label="1", detail="duplicate site")
            continue
        seen.add(key4)
        if index is not None:
            tx = index.find(s.chrom, s.strand, s.start, exonic=spliced)
            if tx is None:
                report.add("dropped", s.modification, label="1",
                           detail="not on an annotated transcript" + (" exon" if spliced else ""))
                continue
            key = ("tx", tx.id)
            tx_of[key] = tx
        elif options.negative_distance == 0:
            key = ("record", s.chrom, s.strand)
        else:
            key = ("site", s.chrom, s.strand, s.start)
        groups[key].append(s)

    rows: list[tuple] = []
    used: dict[tuple[str, str, str], set[int]] = defaultdict(set)  # (chrom, strand, class) -> coords
    for key in tqdm(sorted(groups), desc="regions", unit="region", disable=not progress):
        group = groups[key]
        if key[0] == "tx":
            region = transcript_region(genome, tx_of[key], spliced)
        else:
            region = neighbourhood_region(genome, group[0].chrom, group[0].strand, group[0].start,
                                          options.negative_distance)
        position_of = {int(c): i for i, c in enumerate(region.coords)} if spliced else None
        need: dict[str, int] = defaultdict(int)
        for s in group:
            if spliced:
                seq, edge = pad_window(region.sequence, position_of[s.start], options.window)
            else:
                seq, edge = genome.window(s.chrom, s.start, s.strand, options.window)
            motif = motifs.get(s.modification)
            if motif is not None and not motif.holds_in_genome(genome, s.chrom, s.start, s.strand):
                report.add("dropped", s.modification, label="1", detail=f"outside motif {motif.text}")
                continue
            rows.append((s.modification, 1, seq, s.source, s.chrom, s.start, s.strand, edge))
            used[(s.chrom, s.strand, s.modification)].add(s.start)
            need[s.modification] += options.negative_ratio
        for cls in sorted(need, key=CLASS_NAMES.index):
            taken = used[(region.chrom, region.strand, cls)]
            motif = motifs.get(cls)
            in_motif = None if motif is None else motif.genome_sites(
                genome, region.chrom, region.strand, int(region.coords.min()), int(region.coords.max()) + 1)
            cands = candidate_indices(region, BY_NAME[cls].base, in_motif, known)
            cands = cands[np.fromiter((c not in taken for c in region.coords[cands].tolist()), dtype=bool,
                                      count=len(cands))]
            n = min(need[cls], len(cands))
            if n < need[cls]:
                report.add("negatives short", cls, need[cls] - n, label="0",
                           detail="too few unmodified bases in the region")
            for i in np.sort(rng.choice(cands, size=n, replace=False)) if n else ():
                coord = int(region.coords[i])
                taken.add(coord)
                seq, edge = (pad_window(region.sequence, int(i), options.window) if spliced else
                             genome.window(region.chrom, coord, region.strand, options.window))
                rows.append((cls, 0, seq, f"background:{genome.name}", region.chrom, coord,
                             region.strand, edge))
            report.add("negatives drawn", cls, n, label="0")
    df = pd.DataFrame(rows, columns=["modification", "label", "sequence", "source", "chrom", "start",
                                     "strand", "edge"])
    df["edge"] = df["edge"].astype(np.int8)
    df["site"] = options.window // 2
    df["id"] = [f"{m}:{'site' if lab else 'bg'}:{c}:{st}:{sd}" for m, lab, c, st, sd in
                zip(df["modification"], df["label"], df["chrom"], df["start"], df["strand"])]
    return df


# ---------------------------------------------------------------------------------------------
# import of labelled sets without coordinates

def _read_labelled_fasta(path: Path) -> pd.DataFrame:
    """FASTA whose headers are ``>ID modification=CLASS label=0|1 [site=N]`` (site 0-based,
    default the centre); other ``key=value`` words are ignored."""
    rows = []
    for rec in read_fasta(path):
        kv = dict(w.split("=", 1) for w in rec.description.split()[1:] if "=" in w)
        where = f"{path.name}: record {rec.id!r}"
        if "modification" not in kv or kv.get("label") not in ("0", "1"):
            raise InputError(f"{where}: the header needs modification=CLASS and label=0 or 1 "
                             f"(e.g. '>{rec.id} modification=m6A label=1 site=50')")
        try:
            mod = canonical_name(kv["modification"])
            site = int(kv.get("site", (len(rec.sequence) - 1) // 2))
        except UsageError as exc:
            raise InputError(f"{where}: {exc}") from None
        except ValueError:
            raise InputError(f"{where}: site={kv['site']!r} is not an integer") from None
        if not 0 <= site < len(rec.sequence):
            raise InputError(f"{where}: site {site} outside the {len(rec.sequence)}-nt sequence")
        if rec.sequence[site] != BY_NAME[mod].base:
            raise InputError(f"{where}: base {rec.sequence[site]} at site {site} is not {mod}'s base "
                             f"{BY_NAME[mod].base}")
        rows.append((rec.id, mod, int(kv["label"]), site, rec.sequence, path.name))
    return pd.DataFrame(rows, columns=["id", "modification", "label", "site", "sequence", "source"])


def read_labelled(paths: list[str | os.PathLike], window: int | None, motifs: dict[str, Motif],
                  drop_mismatched: bool, report: Report) -> pd.DataFrame:
    """Labelled rows from sites tables (TSV) or labelled FASTA, re-centred to ``window`` nt
    (N-padded, ``edge`` 1) when given; rows outside their class's motif are dropped.

    A FASTA is recognised by its first byte ``>``; ids must be unique over all files.
    """
    frames = []
    for p in paths:
        p = Path(p)
        try:
            with open_input(p) as fh:
                is_fasta = fh.read(1) == b">"
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(f"{p}: cannot read ({exc})") from None
        df = _read_labelled_fasta(p) if is_fasta else \
            read_sites(p, base_mismatch="drop" if drop_mismatched else "error")
        for (cls, lab), n in df.groupby(["modification", "label"]).size().items():
            report.add("input rows", cls, int(n), label=str(lab), detail=p.name)
        frames.append(df)
    df = pd.concat(frames, ignore_index=True)
    dup = df["id"].duplicated()
    if dup.any():
        raise InputError(f"id {df['id'][dup].iat[0]!r} appears more than once in "
                         f"{', '.join(str(p) for p in paths)}")
    edge = np.zeros(len(df), dtype=np.int8)
    if window is not None:
        cut = [pad_window(s, i, window) for s, i in zip(df["sequence"], df["site"])]
        df["sequence"] = [c[0] for c in cut]
        edge = np.array([c[1] for c in cut], dtype=np.int8)
        df["site"] = window // 2
    df["edge"] = edge
    keep = np.ones(len(df), dtype=bool)
    for i, (cls, seq, site, lab) in enumerate(zip(df["modification"], df["sequence"], df["site"],
                                                  df["label"])):
        motif = motifs.get(cls)
        if motif is not None and not motif.holds(seq, int(site)):
            keep[i] = False
            report.add("dropped", cls, label=str(lab), detail=f"outside motif {motif.text}")
    df = df[keep].reset_index(drop=True)
    df["chrom"], df["start"], df["strand"] = "NA", "NA", "NA"
    return df


# ---------------------------------------------------------------------------------------------
# de-duplication and splits

def deduplicate(df: pd.DataFrame, report: Report) -> pd.DataFrame:
    """Keep one row per (sequence, modification, label); drop negatives whose window equals a
    positive window of their class. Rows are kept in their given order."""
    dup = df.duplicated(["sequence", "modification", "label"])
    for (cls, lab), n in df[dup].groupby(["modification", "label"]).size().items():
        report.add("dropped", cls, int(n), label=str(lab), detail="duplicate window")
    df = df[~dup]
    positives = set(zip(df["sequence"][df["label"] == 1], df["modification"][df["label"] == 1]))
    clash = (df["label"] == 0).to_numpy() & np.array([(s, m) in positives for s, m in
                                                       zip(df["sequence"], df["modification"])], dtype=bool)
    for cls, n in df[clash].groupby("modification").size().items():
        report.add("dropped", cls, int(n), label="0", detail="negative window identical to a site's")
    return df[~clash].reset_index(drop=True)


def central_kmers(df: pd.DataFrame, k: int) -> list[str]:
    """The ``k`` nt centred on each row's site (N-padded where the sequence is shorter)."""
    return [pad_window(s, int(i), k)[0] for s, i in zip(df["sequence"], df["site"])]


def assign_splits(df: pd.DataFrame, valid_size: int, test_size: int, k: int,
                  rng: np.random.Generator, report: Report) -> np.ndarray:
    """The split (``train``, ``valid``, ``test``) of each row of a labelled table.

    Rows whose central ``k`` nt are identical form one group and always share a split. Per
    class, ``test_size`` positives and as many negatives go to test and ``valid_size`` of
    each to valid (scaled down, and reported, when a class has fewer than twice
    ``valid_size + test_size`` positives, so that train keeps at least half), the rest to
    train. Groups are visited in a seeded random order; a group joins test or valid only if all
    of its rows fit the remaining quota.

    Returns
    -------
    np.ndarray, shape=(len(df),), of split names.
    """
    kmers = central_kmers(df, k)
    group_of: dict[str, list[int]] = defaultdict(list)
    for i, km in enumerate(kmers):
        group_of[km].append(i)
    keys = sorted(group_of)
    quota: dict[str, dict[tuple[str, int], int]] = {"valid": {}, "test": {}}
    n_pos = df[df["label"] == 1].groupby("modification").size()
    for cls in sorted(set(df["modification"]), key=CLASS_NAMES.index):
        n = int(n_pos.get(cls, 0))
        v, t = valid_size, test_size
        if n < 2 * (valid_size + test_size):
            v, t = (valid_size * n) // (2 * (valid_size + test_size)), (test_size * n) // (2 * (valid_size + test_size))
            report.add("split sizes reduced", cls, count=n, detail=f"{n} sites: valid {v}, test {t} "
                       f"per label (asked {valid_size}, {test_size})")
        for lab in (0, 1):
            quota["valid"][(cls, lab)], quota["test"][(cls, lab)] = v, t
    split = np.full(len(df), "train", dtype=object)
    mods, labels = df["modification"].to_numpy(), df["label"].to_numpy()
    for g in rng.permutation(len(keys)):
        members = group_of[keys[g]]
        cells: dict[tuple[str, int], int] = defaultdict(int)
        for i in members:
            cells[(mods[i], int(labels[i]))] += 1
        for name in ("test", "valid"):
            if all(quota[name][c] >= n for c, n in cells.items()):
                for c, n in cells.items():
                    quota[name][c] -= n
                split[members] = name
                break
    for name in ("test", "valid"):
        for (cls, lab), left in sorted(quota[name].items()):
            if left:
                report.add("split short", cls, left, label=str(lab), split=name,
                           detail="rows missing from the balanced quota")
    return split.astype(str)


def finish_table(df: pd.DataFrame, split: np.ndarray, report: Report) -> pd.DataFrame:
    """Add ``split``, order rows (split, class, label 1 first, coordinates, id) and count them."""
    df = df.assign(split=split)
    df["_s"] = [SPLITS.index(s) for s in df["split"]]
    df["_c"] = [CLASS_NAMES.index(m) for m in df["modification"]]
    df = df.sort_values(["_s", "_c", "label", "chrom", "start", "strand", "id"],
                        ascending=[True, True, False, True, True, True, True], kind="mergesort")
    df = df[OUTPUT_COLUMNS].reset_index(drop=True)
    for (s, cls, lab), n in df.groupby(["split", "modification", "label"]).size().items():
        report.add("rows", cls, int(n), label=str(lab), split=s)
    return df


def check_window(window: int, k: int, motifs: dict[str, Motif]) -> None:
    """Refuse an even or too-small window, or a group k longer than the window."""
    if window % 2 != 1 or window < 5:
        raise UsageError(f"--window {window}: must be an odd number >= 5")
    if k % 2 != 1 or k > window:
        raise UsageError(f"--group-k {k}: must be odd and at most the window ({window})")
    for cls, m in motifs.items():
        if max(m.offset, len(m.text) - 1 - m.offset) > window // 2:
            raise UsageError(f"motif {m.text} of {cls} does not fit a {window}-nt window")

