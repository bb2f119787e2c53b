"""Which modification sites a variant creates or destroys: the library of ``multirm-variants``.

The data flow, one way: alleles (``vcf.read_vcf``) -> strands (annotation or both) -> for each
allele and strand a reference and an alternative segment of the genome, read 5'->3' ->
``scan.score_segments`` (one batched pass over both) -> per class, every position whose window
the allele changes, paired between the two sequences -> p-values against the bundle's null
scores, q-values (Benjamini-Hochberg per class) over every score of the run -> calls.

Positions: an allele replaces genome ``[start, end)`` by ``inserted`` (``vcf.Allele``). With
``half = window // 2``, the reference positions it changes are ``start - half .. end + half - 1``
and the alternative ones ``start - half .. start + len(inserted) + half - 1``; a position left of
the change is itself on both sides, one right of it is shifted by the length difference, one
inside it is paired base for base as far as both sides reach (a SNV's base), and the rest is
deleted (reference only) or inserted (alternative only). Each row is one such position and one
class that applies on either side.

Calls (``p <= alpha`` and ``q <= fdr`` is "significant"):
- ``site_destroyed``: significant on the reference, and the allele changes or deletes the base;
- ``loss``: significant on the reference, not on the alternative (the base kept);
- ``gain``: significant on the alternative, not on the reference;
- none otherwise. A class that does not apply on one side (wrong base) scores 0 there for the
  difference ``delta = alternative - reference``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import IO, NamedTuple

import numpy as np
import pandas as pd
import torch

from .annotation import Transcript, TranscriptIndex
from .constants import BY_NAME
from .curate import Genome, reverse_complement
from .errors import InputError
from .kmers import BASES, N_CODE, encode
from .model import Network
from .scan import score_segments
from .stats import NullHistogram, null_exceedances, p_from_exceedances
from .tables import TABLES, append_rows, frame, write_tsv
from .vcf import Allele

CALLS = ("none", "loss", "gain", "site_destroyed")
STRANDS = ("+", "-")
#: Alleles per network pass: a few hundred thousand nucleotides of segments.
BATCH_ALLELES = 256

#: One (allele, strand, class, position) kept between the two passes.
ROW_DTYPE = np.dtype([("allele", "<i4"), ("strand", "u1"), ("cls", "u1"), ("pos", "<i8"),
                      ("ref_base", "u1"), ("alt_base", "u1"), ("edge", "u1"), ("changed", "u1"),
                      ("ref_prob", "<f4"), ("alt_prob", "<f4"), ("ref_k", "<i4"), ("alt_k", "<i4")])


class Placement(NamedTuple):
    """An allele to score on one strand; ``transcript`` is the annotation's id or ``"."``."""

    allele: int
    strand: str
    transcript: str


def check_alleles(alleles: list[Allele], genome: Genome, vcf_name: str, skip_mismatched: bool
                  ) -> tuple[list[int], Counter]:
    """Indices of the alleles whose contig exists, that lie inside it and whose REF matches it.

    Raises
    ------
    InputError
        A contig missing from the genome, a REF reaching past its end, or (unless
        ``skip_mismatched``) a REF that differs from the genome, naming the VCF line.
    """
    keep, counts = [], Counter()
    for i, a in enumerate(alleles):
        if a.chrom not in genome.lengths:
            raise InputError(f"{vcf_name}: line {a.line}: contig {a.chrom!r} is not in {genome.name}")
        length = genome.lengths[a.chrom]
        if a.pos - 1 + len(a.ref) > length:
            raise InputError(f"{vcf_name}: line {a.line}: REF at {a.chrom}:{a.pos} reaches past the end of "
                             f"{a.chrom} (length {length}) in {genome.name}")
        seen = genome.fetch(a.chrom, a.pos - 1, a.pos - 1 + len(a.ref))
        if any(r != g and r != "N" for r, g in zip(a.ref, seen)):
            if not skip_mismatched:
                raise InputError(f"{vcf_name}: line {a.line}: REF {a.ref} does not match {genome.name} at "
                                 f"{a.chrom}:{a.pos} ({seen}); wrong genome build? (--skip-mismatched counts "
                                 f"and skips such alleles)")
            counts["ref_mismatch"] += 1
            continue
        keep.append(i)
    return keep, counts


def place(alleles: list[Allele], indices: list[int], transcripts: list[Transcript] | None,
          own_strand_only: bool) -> list[Placement]:
    """Strands to score each allele on: those of the annotated transcripts whose span holds its
    change (both when none does or no annotation is given); the + strand alone for a
    transcriptome (``own_strand_only``)."""
    if own_strand_only:
        return [Placement(i, "+", alleles[i].chrom) for i in indices]
    index = TranscriptIndex(transcripts) if transcripts else None
    out = []
    for i in indices:
        a = alleles[i]
        found = []
        if index is not None:
            for strand in STRANDS:
                tx = index.find(a.chrom, strand, min(a.start, a.end - 1) if a.end > a.start else a.start,
                                exonic=False)
                if tx is not None:
                    found.append(Placement(i, strand, tx.id))
        out.extend(found or [Placement(i, s, ".") for s in STRANDS])
    return out


def _padded(genome: Genome, chrom: str, lo: int, hi: int) -> str:
    """Genome ``[lo, hi)`` of ``chrom``, N beyond its ends."""
    length = genome.lengths[chrom]
    return ("N" * max(0, -lo) + genome.fetch(chrom, max(lo, 0), min(hi, length))
            + "N" * max(0, hi - max(length, lo)))


def segments(genome: Genome, a: Allele, half: int) -> tuple[str, str]:
    """The + strand reference and alternative sequences whose central positions (all but ``half``
    at each end) are the positions the allele changes (module docstring)."""
    left = _padded(genome, a.chrom, a.start - 2 * half, a.start)
    right = _padded(genome, a.chrom, a.end, a.end + 2 * half)
    return left + genome.fetch(a.chrom, a.start, a.end) + right, left + a.inserted + right


def pairing(a: Allele, half: int, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Rows of one allele: reference index, alternative index (-1 where absent), genome position
    (0-based; an inserted base gets the position of the reference base left of the insertion) and
    whether the allele changes the base there.

    Indices are into the central positions of ``segments`` (0 = genome ``start - half``).
    Positions outside the contig (``length``) are left out.
    """
    n_del, n_ins = a.end - a.start, len(a.inserted)
    n_ref, n_alt = n_del + 2 * half, n_ins + 2 * half
    ref_i = np.arange(n_ref)
    gpos = a.start - half + ref_i
    # alternative index of each reference index: same left of the change and inside it as far
    # as the inserted bases reach, shifted right of it, none for deleted bases
    alt_i = np.where(gpos < a.start, ref_i, np.where(gpos >= a.end, ref_i + n_ins - n_del,
                                                     np.where(gpos - a.start < n_ins, ref_i, -1)))
    changed = (gpos >= a.start) & (gpos < a.end)
    inside = (gpos >= 0) & (gpos < length)
    ref_i, alt_i, gpos, changed = ref_i[inside], alt_i[inside], gpos[inside], changed[inside]
    extra = np.arange(half + n_del, half + n_ins) if n_ins > n_del else np.zeros(0, np.int64)
    if extra.size:  # inserted bases beyond those paired with deleted ones
        at = np.searchsorted(gpos, a.start)
        ref_i = np.insert(ref_i, at, -1 * np.ones(extra.size, np.int64))
        alt_i = np.insert(alt_i, at, extra)
        gpos = np.insert(gpos, at, np.full(extra.size, max(a.start - 1, 0)))
        changed = np.insert(changed, at, np.ones(extra.size, bool))
    assert alt_i.max(initial=-1) < n_alt
    return ref_i, alt_i, gpos, changed


class Scores(NamedTuple):
    """Pass 1 of a run: the rows kept for pass 2, the null-exceedance histogram of every score, and
    per allele and class the largest absolute ``delta`` (0 where nothing applied) and its sign."""

    rows: np.ndarray
    hist: NullHistogram
    max_delta: np.ndarray
    tests: int


def _oriented(seq: str, strand: str) -> np.ndarray:
    return encode(reverse_complement(seq) if strand == "-" else seq)


def _base_codes(seq_codes: np.ndarray, idx: np.ndarray) -> np.ndarray:
    out = np.full(len(idx), N_CODE + 1, dtype=np.uint8)  # N_CODE + 1: no base (deleted / inserted)
    ok = idx >= 0
    out[ok] = seq_codes[idx[ok]]
    return out


def score_alleles(model: Network, genome: Genome, alleles: list[Allele], placements: list[Placement],
                  classes: Sequence[str], nulls: dict[str, np.ndarray], alpha: float, min_delta: float,
                  motif_filter: bool = False, batch_size: int = 512, device: torch.device | str = "cpu",
                  progress: Callable[[int], None] | None = None) -> Scores:
    """Pass 1: score every placement's reference and alternative positions, keep the rows that may
    be called or moved by ``min_delta`` or more, and count every score's null exceedances.

    Parameters
    ----------
    nulls: class -> ascending null scores of the bundle.
    alpha: p-value cut-off; a row neither side of which reaches it can be called only if its
        ``|delta| >= min_delta`` (only those are kept).
    progress: called with the number of placements done after each batch.
    """
    half = model.config.window // 2
    C = len(classes)
    hist = NullHistogram({c: len(nulls[c]) for c in classes})
    max_delta = np.zeros((len(alleles), C), dtype=np.float32)
    kept: list[np.ndarray] = []
    tests = 0
    tables = model.scan_tables()
    for lo in range(0, len(placements), BATCH_ALLELES):
        batch = placements[lo:lo + BATCH_ALLELES]
        segs, meta = [], []
        for pl in batch:
            a = alleles[pl.allele]
            ref_seq, alt_seq = segments(genome, a, half)
            segs += [_oriented(ref_seq, pl.strand), _oriented(alt_seq, pl.strand)]
            meta.append((pl, a))
        probs = score_segments(model, segs, classes, batch_size=batch_size, device=device,
                               motif_filter=motif_filter, tables=tables)
        for j, (pl, a) in enumerate(meta):
            ref_p, alt_p = probs[2 * j], probs[2 * j + 1]
            ref_c, alt_c = segs[2 * j][half:len(segs[2 * j]) - half], segs[2 * j + 1][half:len(segs[2 * j + 1]) - half]
            if pl.strand == "-":  # back to + strand order, bases as read on the - strand
                ref_p, alt_p, ref_c, alt_c = ref_p[::-1], alt_p[::-1], ref_c[::-1], alt_c[::-1]
            length = genome.lengths[a.chrom]
            ref_i, alt_i, gpos, changed = pairing(a, half, length)
            alt_len = length - (a.end - a.start) + len(a.inserted)
            alt_gpos = a.start - half + alt_i  # alternative-sequence coordinate of each row
            alt_i = np.where((alt_i >= 0) & (alt_gpos >= 0) & (alt_gpos < alt_len), alt_i, -1)
            rp = np.where(ref_i[:, None] >= 0, ref_p[np.maximum(ref_i, 0)], np.nan)
            ap = np.where(alt_i[:, None] >= 0, alt_p[np.maximum(alt_i, 0)], np.nan)
            applies = ~(np.isnan(rp) & np.isnan(ap))
            if not applies.any():
                continue
            rk = np.full(rp.shape, -1, dtype=np.int64)
            ak = np.full(ap.shape, -1, dtype=np.int64)
            for c, cls in enumerate(classes):
                for probs_, ks in ((rp, rk), (ap, ak)):
                    ok = ~np.isnan(probs_[:, c])
                    if ok.any():
                        k = null_exceedances(nulls[cls], probs_[ok, c])
                        ks[ok, c] = k
                        hist.add(cls, k)
                        tests += int(ok.sum())
            delta = np.nan_to_num(ap) - np.nan_to_num(rp)
            delta[~applies] = 0.0
            best = np.abs(delta).max(axis=0)
            at = np.abs(delta).argmax(axis=0)
            upd = best > np.abs(max_delta[pl.allele])
            max_delta[pl.allele, upd] = delta[at, np.arange(C)][upd]
            n_null = np.array([len(nulls[c]) for c in classes])
            near = ((rk >= 0) & (p_from_exceedances(rk, n_null) <= alpha)) | \
                   ((ak >= 0) & (p_from_exceedances(ak, n_null) <= alpha)) | \
                   (np.abs(delta) >= max(min_delta, 1e-12))
            near &= applies
            r, c = np.nonzero(near)
            if not len(r):
                continue
            out = np.empty(len(r), dtype=ROW_DTYPE)
            out["allele"] = pl.allele
            out["strand"] = STRANDS.index(pl.strand)
            out["cls"] = c
            out["pos"] = gpos[r]
            out["ref_base"] = _base_codes(ref_c, ref_i)[r]
            out["alt_base"] = _base_codes(alt_c, alt_i)[r]
            out["edge"] = (gpos[r] < half) | (gpos[r] >= length - half)
            out["changed"] = changed[r]
            out["ref_prob"], out["alt_prob"] = rp[r, c], ap[r, c]
            out["ref_k"], out["alt_k"] = rk[r, c], ak[r, c]
            kept.append(out)
        if progress is not None:
            progress(len(batch))
    rows = np.concatenate(kept) if kept else np.empty(0, dtype=ROW_DTYPE)
    return Scores(rows, hist, max_delta, tests)


class Called(NamedTuple):
    """Pass 2 columns of the kept rows: p- and q-values (NaN where the class does not apply on that
    side), ``delta`` and the call (index into ``CALLS``)."""

    ref_p: np.ndarray
    alt_p: np.ndarray
    ref_q: np.ndarray
    alt_q: np.ndarray
    delta: np.ndarray
    call: np.ndarray


def call_rows(rows: np.ndarray, classes: Sequence[str], nulls: dict[str, np.ndarray],
              q_tables: dict[str, np.ndarray], alpha: float, fdr: float) -> Called:
    """p, q, ``delta`` and the call of each kept row (module docstring)."""
    cls = rows["cls"].astype(np.int64)
    n_null = np.array([len(nulls[c]) for c in classes], dtype=np.int64)[cls]
    offsets = np.cumsum([0] + [len(q_tables[c]) for c in classes])
    q_flat = np.concatenate([q_tables[c] for c in classes])

    def pq(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ok = k >= 0
        p = np.where(ok, p_from_exceedances(np.maximum(k, 0), n_null), np.nan)
        q = np.where(ok, q_flat[offsets[cls] + np.maximum(k, 0)], np.nan)
        return p, q

    ref_p, ref_q = pq(rows["ref_k"])
    alt_p, alt_q = pq(rows["alt_k"])
    sig_ref = (ref_p <= alpha) & (ref_q <= fdr)
    sig_alt = (alt_p <= alpha) & (alt_q <= fdr)
    changed = rows["changed"].astype(bool) & (rows["ref_base"] != rows["alt_base"])
    call = np.zeros(len(rows), dtype=np.int8)
    call[sig_alt & ~sig_ref] = CALLS.index("gain")
    call[sig_ref & ~sig_alt] = CALLS.index("loss")
    call[sig_ref & changed] = CALLS.index("site_destroyed")
    delta = np.nan_to_num(rows["alt_prob"].astype(np.float64)) - np.nan_to_num(rows["ref_prob"].astype(np.float64))
    return Called(ref_p, alt_p, ref_q, alt_q, delta, call)


TSV_COLUMNS = TABLES["variants"].names

#: INFO fields of the annotated VCF: field -> (call, description).
INFO_FIELDS = {
    "MRM_LOSS": ("loss", "multirm-variants: modification sites significant on the reference, not on this allele. "
                         "Format: Allele|Class|Strand|Position|RefProb|AltProb"),
    "MRM_GAIN": ("gain", "multirm-variants: modification sites significant on this allele, not on the reference. "
                         "Format: Allele|Class|Strand|Position|RefProb|AltProb"),
    "MRM_SITE_DESTROYED": ("site_destroyed", "multirm-variants: significant modification sites whose base this "
                                             "allele changes or deletes. Format: Allele|Class|Strand|Position|"
                                             "RefProb|AltProb"),
    "MRM_MAX_DELTA": (None, "multirm-variants: per allele and class, the largest change of probability "
                            "(alternative minus reference) at any position whose window the allele changes, where "
                            "at least --min-delta. Format: Allele|Class|Delta"),
}


def base_letters(codes: np.ndarray) -> np.ndarray:
    """RNA letters of base codes; ``-`` for no base (deleted or inserted side)."""
    return np.array(list("ACGUN-"), dtype=object)[codes]


def class_bases(classes: Sequence[str]) -> list[int]:
    """Code of each class's base (which base a row's class sits on)."""
    return [BASES.index(BY_NAME[c].base) for c in classes]


def iter_batches(n: int, size: int) -> Iterator[slice]:
    for lo in range(0, n, size):
        yield slice(lo, min(lo + size, n))


class Labels(NamedTuple):
    """Per kept row, the text columns that come from its allele and placement."""

    chrom: np.ndarray
    pos: np.ndarray
    id: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    transcript: np.ndarray


def row_labels(rows: np.ndarray, alleles: list[Allele], placements: list[Placement]) -> Labels:
    where = {(pl.allele, STRANDS.index(pl.strand)): pl.transcript for pl in placements}
    al = rows["allele"]
    pick = lambda f: np.array([getattr(alleles[i], f) for i in al.tolist()], dtype=object)
    tx = np.array([where[(i, s)] for i, s in zip(al.tolist(), rows["strand"].tolist())], dtype=object)
    return Labels(pick("chrom"), np.array([alleles[i].pos for i in al.tolist()], dtype=np.int64),
                  pick("id"), pick("ref"), pick("alt"), tx)


def write_tables(tsv: IO[str], bed: IO[str], rows: np.ndarray, called: Called, labels: Labels,
                 classes: Sequence[str], alleles: list[Allele], min_delta: float) -> np.ndarray:
    """Write ``variants.tsv`` (rows with a call or ``|delta| >= min_delta``; position 1-based) and
    ``affected_sites.bed`` (rows with a call; 0-based); returns the mask of rows written to the TSV."""
    cls_names = np.array(classes, dtype=object)
    strands = np.array(STRANDS, dtype=object)
    write = (called.call > 0) | (np.abs(called.delta) >= min_delta)
    w = np.flatnonzero(write)
    table = frame("variants", {
        "chrom": labels.chrom[w], "pos": labels.pos[w], "id": labels.id[w], "ref": labels.ref[w],
        "alt": labels.alt[w], "strand": strands[rows["strand"][w]], "transcript": labels.transcript[w],
        "modification": cls_names[rows["cls"][w]], "position": rows["pos"][w] + 1,
        "ref_base": base_letters(rows["ref_base"][w]), "alt_base": base_letters(rows["alt_base"][w]),
        "ref_probability": rows["ref_prob"][w], "alt_probability": rows["alt_prob"][w],
        "delta": called.delta[w], "ref_p_value": called.ref_p[w], "alt_p_value": called.alt_p[w],
        "ref_q_value": called.ref_q[w], "alt_q_value": called.alt_q[w],
        "call": np.array(CALLS, dtype=object)[called.call[w]], "edge": rows["edge"][w].astype(np.int8)})
    write_tsv(table, tsv)
    c = np.flatnonzero(called.call > 0)
    names = np.array([f"{alleles[i].label}|{classes[k]}|{CALLS[v]}" for i, k, v in
                      zip(rows["allele"][c].tolist(), rows["cls"][c].tolist(), called.call[c].tolist())],
                     dtype=object)
    start = rows["pos"][c]
    append_rows(bed, pd.DataFrame({
        "chrom": labels.chrom[c], "start": start, "end": start + 1, "name": names,
        "score": np.minimum(np.rint(1000 * np.abs(called.delta[c])), 1000).astype(np.int64),
        "strand": strands[rows["strand"][c]]}))
    return write


def info_entries(rows: np.ndarray, called: Called, classes: Sequence[str], alleles: list[Allele],
                 max_delta: np.ndarray, min_delta: float) -> dict[int, dict[str, list[str]]]:
    """VCF record index -> INFO field -> entries (``INFO_FIELDS``)."""
    out: dict[int, dict[str, list[str]]] = {}

    def add(record: int, field: str, entry: str) -> None:
        out.setdefault(record, {f: [] for f in INFO_FIELDS})[field].append(entry)

    by_call = {call: field for field, (call, _) in INFO_FIELDS.items() if call}
    for r in np.flatnonzero(called.call > 0).tolist():
        row = rows[r]
        a = alleles[int(row["allele"])]
        add(a.record, by_call[CALLS[called.call[r]]],
            f"{a.alt}|{classes[int(row['cls'])]}|{STRANDS[int(row['strand'])]}|{int(row['pos']) + 1}|"
            f"{_num(row['ref_prob'])}|{_num(row['alt_prob'])}")
    for i, j in zip(*np.nonzero((np.abs(max_delta) >= min_delta) & (max_delta != 0))):
        a = alleles[int(i)]
        add(a.record, "MRM_MAX_DELTA", f"{a.alt}|{classes[int(j)]}|{_num(max_delta[i, j])}")
    return out


def _num(x) -> str:
    return "." if np.isnan(x) else f"{float(x):.4g}"
