"""VCF input and output for ``multirm-variants``: records split into alleles, and the annotated copy.

- ``read_vcf``: a VCF or VCF.gz (gzip or bgzip) -> its header lines and one ``Allele`` per
  base-letter ALT of each record (multi-allelic records split); symbolic (``<DEL>``), breakend
  (``]chr1:5]A``), ``*`` and ``.`` alleles, and indels longer than a limit, are skipped and
  counted. Records must be grouped by contig and sorted by position within it.
- ``write_annotated_vcf``: the input again, record for record, with ``##INFO`` header lines and
  INFO entries added; bgzip (``Bio.bgzf``) when the input was gzipped.

Coordinates: ``Allele.pos`` is the VCF's 1-based POS; ``start``/``end`` the 0-based half-open genome
interval the allele replaces after trimming the bases REF and ALT share (a SNV ``A>G`` at POS 10
is ``start 9, end 10, inserted "G"``; an insertion ``A>AT`` at 10 is ``start 10, end 10,
inserted "T"``).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import IO, NamedTuple

from .errors import InputError
from .seqio import is_gzip, text_lines

_BASES = re.compile(r"^[ACGTN]+$")


class Allele(NamedTuple):
    """One ALT allele of one VCF record.

    record: 0-based index of its record among the data lines; line: its 1-based line number;
    chrom, pos, id, ref, alt: as in the VCF (REF and ALT upper case); start, end, inserted: the
    trimmed change (module docstring).
    """

    record: int
    line: int
    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    start: int
    end: int
    inserted: str

    @property
    def label(self) -> str:
        """How the allele is named in BED rows: its VCF ID, else ``chrom:pos:REF>ALT``."""
        return self.id if self.id not in (".", "") else f"{self.chrom}:{self.pos}:{self.ref}>{self.alt}"


class VcfInput(NamedTuple):
    """meta: the ``##`` lines; columns: the ``#CHROM`` line; alleles: base-letter alleles in file
    order; skipped: Counter of skipped alleles by reason; records: data lines; gzipped: input was gzip."""

    meta: list[str]
    columns: str
    alleles: list[Allele]
    skipped: Counter
    records: int
    gzipped: bool


def trim(pos0: int, ref: str, alt: str) -> tuple[int, int, str]:
    """The change ``ref -> alt`` at 0-based ``pos0`` without the bases both share at their start
    and end: (start, end, inserted)."""
    i = 0
    while i < len(ref) and i < len(alt) and ref[i] == alt[i]:
        i += 1
    j = 0
    while j < len(ref) - i and j < len(alt) - i and ref[-1 - j] == alt[-1 - j]:
        j += 1
    return pos0 + i, pos0 + len(ref) - j, alt[i:len(alt) - j]


def read_vcf(path: str | os.PathLike, max_indel: int = 50) -> VcfInput:
    """Read a VCF's alleles (module docstring).

    Parameters
    ----------
    path: VCF, plain, gzip or bgzip.
    max_indel: int, alleles whose REF or ALT is longer than this (and are not substitutions of
        equal length) are skipped as structural ("long_indel"). Default is 50.

    Raises
    ------
    InputError
        No ``#CHROM`` line before the first record; a record with fewer than 8 columns, a POS that
        is not a positive integer, a REF that is not A/C/G/T/N letters, an ALT that is neither
        letters nor a symbolic or breakend allele; records not grouped by contig or not sorted by
        position within one; no records.
    """
    path = Path(path)
    name = path.name
    meta: list[str] = []
    columns = None
    alleles: list[Allele] = []
    skipped: Counter = Counter()
    seen: set[str] = set()
    chrom_now, pos_now, records = None, 0, 0
    for lineno, line in text_lines(path):
        if line.startswith("##"):
            if columns is None:
                meta.append(line)
                continue
            raise InputError(f"{name}: line {lineno}: a '##' header line after the #CHROM line")
        if line.startswith("#"):
            if not line.startswith("#CHROM"):
                raise InputError(f"{name}: line {lineno}: a header line that is neither '##...' nor '#CHROM...'")
            columns = line
            continue
        if not line.strip():
            continue
        if columns is None:
            raise InputError(f"{name}: line {lineno}: a record before the #CHROM header line (not a VCF?)")
        fields = line.split("\t")
        if len(fields) < 8:
            raise InputError(f"{name}: line {lineno}: {len(fields)} tab-separated columns; a VCF record "
                             f"has at least 8 (CHROM POS ID REF ALT QUAL FILTER INFO)")
        chrom, pos_text, vid, ref, alts = fields[0], fields[1], fields[2], fields[3].upper(), fields[4]
        try:
            pos = int(pos_text)
        except ValueError:
            pos = 0
        if pos < 1:
            raise InputError(f"{name}: line {lineno}: POS {pos_text!r} is not a positive integer")
        if not _BASES.match(ref):
            raise InputError(f"{name}: line {lineno}: REF {fields[3]!r} is not A, C, G, T or N letters")
        if chrom != chrom_now:
            if chrom in seen:
                raise InputError(f"{name}: line {lineno}: unsorted: contig {chrom!r} again after "
                                 f"{chrom_now!r} (sort it, e.g. bcftools sort)")
            seen.add(chrom)
            chrom_now, pos_now = chrom, 0
        if pos < pos_now:
            raise InputError(f"{name}: line {lineno}: unsorted: {chrom}:{pos} after {chrom}:{pos_now} "
                             f"(sort it, e.g. bcftools sort)")
        pos_now = pos
        for alt in alts.split(","):
            alt_up = alt.upper()
            if alt in (".", "*"):
                skipped["no_alt" if alt == "." else "star"] += 1
            elif alt.startswith("<") or "[" in alt or "]" in alt:
                skipped["symbolic"] += 1
            elif not _BASES.match(alt_up):
                raise InputError(f"{name}: line {lineno}: ALT {alt!r} is neither bases nor a symbolic allele")
            elif alt_up == ref:
                skipped["no_change"] += 1
            elif len(ref) != len(alt_up) and max(len(ref), len(alt_up)) > max_indel:
                skipped["long_indel"] += 1
            else:
                start, end, inserted = trim(pos - 1, ref, alt_up)
                alleles.append(Allele(records, lineno, chrom, pos, vid, ref, alt_up, start, end, inserted))
        records += 1
    if columns is None or records == 0:
        raise InputError(f"{name}: no VCF records" + ("" if columns else " (no #CHROM header line)"))
    return VcfInput(meta, columns, alleles, skipped, records, is_gzip(path))


def info_header(field: str, description: str) -> str:
    """A ``##INFO`` line of a free-text, any-count field (``Number=.,Type=String``)."""
    return f'##INFO=<ID={field},Number=.,Type=String,Description="{description}">'


def _add_info(info: str, entries: dict[str, list[str]], owned: set[str]) -> str:
    """``info`` with ``entries`` appended and any earlier value of an ``owned`` field removed (a VCF this
    tool annotated before: its old values would be stale, and a key twice is invalid VCF)."""
    old = [] if info in (".", "") else info.split(";")
    kept = [e for e in old if e.split("=", 1)[0] not in owned]
    added = [f"{k}={','.join(v)}" for k, v in entries.items() if v]
    if not added and len(kept) == len(old):
        return info
    return ";".join(kept + added) or "."


_INFO_ID = re.compile(r"##INFO=<ID=([^,>]+)")


def write_annotated_vcf(source: str | os.PathLike, out: str | os.PathLike, vcf: VcfInput,
                        headers: list[str], info: dict[int, dict[str, list[str]]]) -> None:
    """Copy ``source`` to ``out`` with ``headers`` (``##INFO`` lines) before ``#CHROM`` and, for data
    record ``i``, the INFO entries ``info[i]`` (field -> values) appended; every other byte of a
    record as it was, except the ``##INFO`` lines and values of the fields ``headers`` declares
    (an earlier run's), which are replaced. bgzip-compressed when the input was gzipped."""
    owned = {m.group(1) for h in headers if (m := _INFO_ID.match(h))}
    if vcf.gzipped:
        from Bio import bgzf

        fh: IO = bgzf.BgzfWriter(str(out), "wb")
        write = lambda text: fh.write(text.encode())
    else:
        fh = open(out, "w")
        write = fh.write
    with fh:
        record = 0
        for _, line in text_lines(Path(source)):
            if line.startswith("#CHROM"):
                for h in headers:
                    write(h + "\n")
            elif line.startswith("##INFO="):
                m = _INFO_ID.match(line)
                if m and m.group(1) in owned:
                    continue
            elif not line.startswith("#") and line.strip():
                fields = line.split("\t")
                info_field = _add_info(fields[7], info.get(record, {}), owned)
                if info_field != fields[7]:
                    fields[7] = info_field
                    line = "\t".join(fields)
                record += 1
            write(line + "\n")
