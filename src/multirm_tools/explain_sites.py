"""Which sites multirm-explain explains: requests from its inputs, resolved to (site, class) pairs.

The flow: ``parse_position`` (``--position RECORD:POS[:CLASS]``), ``requests_from_predictions``
(significant rows of multirm-predict's predictions.tsv) and ``requests_from_bed`` (its sites.bed,
genome coordinates) give ``Request``s; ``load_records`` streams the FASTA once, keeps the records
asked for and maps genome requests to record positions; ``choose_pairs`` checks each request (record,
position, base, class) and resolves it to unique ``Pairs`` with their windows; ``most_probable``
keeps the most probable ``--max-sites``.

Exit codes follow what was wrong: a ``--position`` the user typed is a usage mistake (2), a row of
an input file that cannot be explained is bad data (1).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .bed import read_bed
from .constants import BY_NAME, canonical_name, rna_base
from .errors import InputError, UsageError
from .inference import score_windows
from .kmers import BASES, N_CODE, centre_windows, encode
from .seqio import GenomeLocus, read_fasta, record_locus


class Request(NamedTuple):
    """A site asked for: a record position (0-based) or a genome coordinate, maybe a class."""

    origin: str  # where it was asked for, for messages
    record: str | None
    pos: int  # 0-based record position, or genome coordinate when ``record`` is None
    cls: str | None
    chrom: str | None = None
    strand: str = "."


def _class_or_error(name: str, origin: str) -> str:
    try:
        return canonical_name(name)
    except UsageError:
        raise InputError(f"{origin}: {name!r} is no modification class") from None


def requests_from_predictions(path: str, alpha: float, fdr: float) -> list[Request]:
    """The rows of a predictions.tsv (or of the one in a folder) with p <= ``alpha`` and q <= ``fdr``."""
    p = Path(path)
    if p.is_dir():
        p = p / "predictions.tsv"
    need = ["record", "position", "modification", "p_value", "q_value"]
    try:
        head = pd.read_csv(p, sep="\t", nrows=0)
    except FileNotFoundError:
        raise InputError(f"{p}: no such file") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        raise InputError(f"{p}: not a predictions table (empty or not tab-separated)") from None
    missing = [c for c in need if c not in head.columns]
    if missing:
        raise InputError(f"{p}: missing column(s) {', '.join(missing)}; expected multirm-predict's "
                         f"predictions.tsv")
    out = []
    reader = pd.read_csv(p, sep="\t", usecols=need, dtype={"record": str, "modification": str},
                         keep_default_na=False, chunksize=1 << 20)
    first_line = 2
    for chunk in reader:
        try:
            pv = pd.to_numeric(chunk["p_value"])
            qv = pd.to_numeric(chunk["q_value"])
            pos = pd.to_numeric(chunk["position"]).astype(np.int64)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{p}: non-numeric position/p_value/q_value ({exc})") from None
        sel = np.flatnonzero(((pv <= alpha) & (qv <= fdr)).to_numpy())
        for i in sel:
            origin = f"{p.name}: line {first_line + i}"
            out.append(Request(origin, chunk["record"].iat[i], int(pos.iat[i]) - 1,
                               _class_or_error(chunk["modification"].iat[i], origin)))
        first_line += len(chunk)
    return out


def requests_from_bed(path: str) -> list[Request]:
    """Every 1-nt interval of a BED (genome coordinates), its name the class when it has one."""
    bed = read_bed(path)
    name = Path(path).name
    out = []
    for r in bed.itertuples(index=False):
        origin = f"{name}: line {r.line}"
        if r.end - r.start != 1:
            raise InputError(f"{origin}: interval {r.start}-{r.end} is {r.end - r.start} nt; a site is one "
                             f"nucleotide (end = start + 1), as in multirm-predict's sites.bed")
        cls = _class_or_error(r.name, origin) if r.name else None
        out.append(Request(origin, None, r.start, cls, r.chrom, r.strand))
    return out


def parse_position(text: str) -> Request:
    """``RECORD:POS[:CLASS]``; the record id may itself hold colons (chrom:start-end(strand))."""
    origin = f"--position {text}"
    parts = text.split(":")
    cls = None
    if len(parts) > 2 and not parts[-1].strip().isdigit():
        try:
            cls = canonical_name(parts[-1])
        except UsageError:
            raise UsageError(f"{origin}: {parts[-1]!r} is no modification class") from None
        parts = parts[:-1]
    if len(parts) < 2 or not parts[-1].strip().isdigit() or not parts[0]:
        raise UsageError(f"{origin}: expected RECORD:POS[:CLASS] with a 1-based integer POS")
    return Request(origin, ":".join(parts[:-1]), int(parts[-1]) - 1, cls)


class Record(NamedTuple):
    index: int
    id: str
    codes: np.ndarray
    locus: GenomeLocus | None


def load_records(fasta: str, requests: list[Request]) -> tuple[dict[str, Record], list[Request]]:
    """Stream the FASTA, keep records with requests; map genome requests to record positions."""
    wanted = {r.record for r in requests if r.record is not None}
    genome = [r for r in requests if r.record is None]
    # chrom -> (sorted coordinates, request indices): each record looks up its interval by bisection.
    by_chrom: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for chrom in {r.chrom for r in genome}:
        idx = np.array([i for i, r in enumerate(genome) if r.chrom == chrom], dtype=np.int64)
        coords = np.array([genome[i].pos for i in idx], dtype=np.int64)
        order = np.argsort(coords, kind="stable")
        by_chrom[chrom] = (coords[order], idx[order])
    mapped: list[Request | None] = [None] * len(genome)
    records: dict[str, Record] = {}
    for rec in read_fasta(fasta):
        locus = record_locus(rec, Path(fasta).name)
        chrom = locus.chrom if locus else rec.id
        hits = []
        if chrom in by_chrom:
            coords, idx = by_chrom[chrom]
            lo, hi = (locus.start, locus.end) if locus else (0, len(rec.sequence))
            for i in idx[np.searchsorted(coords, lo):np.searchsorted(coords, hi)]:
                r = genome[i]
                if mapped[i] is not None:
                    continue
                if locus is None:
                    hits.append((i, r.pos))
                elif locus.strand == r.strand or "." in (locus.strand, r.strand):
                    hits.append((i, r.pos - locus.start if locus.strand != "-" else locus.end - 1 - r.pos))
        for i, pos in hits:
            mapped[i] = genome[i]._replace(record=rec.id, pos=pos)
        if hits or rec.id in wanted:
            records[rec.id] = Record(len(records), rec.id, encode(rec.sequence), locus)
    for r, m in zip(genome, mapped):
        if m is None:
            raise InputError(f"{r.origin}: {r.chrom}:{r.pos + 1} ({r.strand}) lies in no record of "
                             f"{Path(fasta).name}")
    return records, [r for r in requests if r.record is not None] + mapped


# ---------------------------------------------------------------------------------------------
# (site, class) pairs

class Pairs(NamedTuple):
    record: list[Record]
    pos: np.ndarray  # 0-based
    cls: np.ndarray  # model column
    windows: np.ndarray  # (n, window) uint8


def choose_pairs(requests: list[Request], records: dict[str, Record], bundle, allowed: list[str],
                  fasta: str, batch_size: int, device) -> tuple[Pairs, list[str]]:
    """Validate requests and resolve them to unique (record, position, class) pairs."""
    cfg = bundle.config
    notes = []
    chosen: dict[tuple[int, int, int], Record] = {}
    open_requests = []  # (record, pos, candidate classes) for requests without a class
    excluded = 0
    for r in requests:
        rec = records.get(r.record)
        if rec is None:
            raise InputError(f"{r.origin}: no record {r.record!r} in {Path(fasta).name}")
        if not 0 <= r.pos < len(rec.codes):
            raise InputError(f"{r.origin}: position {r.pos + 1} is outside record {rec.id!r} "
                             f"(1..{len(rec.codes)})")
        code = int(rec.codes[r.pos])
        base = rna_base("ACGTN"[code])
        if r.cls is not None:
            if r.cls not in cfg.classes:
                # a class typed on the command line is a usage mistake; one read from a file, bad data
                error = UsageError if r.origin.startswith("--position") else InputError
                raise error(f"{r.origin}: the model does not predict {r.cls} (it predicts "
                                 f"{', '.join(cfg.classes)})")
            need = BY_NAME[r.cls].base
            if code != BASES.index(need):
                raise InputError(f"{r.origin}: {r.cls} at {rec.id}:{r.pos + 1} is on {base}, {r.cls} "
                                 f"needs {rna_base(need)}")
            if r.cls in allowed:
                chosen[(rec.index, r.pos, cfg.classes.index(r.cls))] = rec
            else:
                excluded += 1
            continue
        if code == N_CODE:
            raise InputError(f"{r.origin}: {rec.id}:{r.pos + 1} is N; nothing to explain")
        cands = [c for c in allowed if BY_NAME[c].base == BASES[code]]
        if not cands:
            notes.append(f"{r.origin}: no class of base {base} among --classes; skipped")
        else:
            open_requests.append((rec, r.pos, cands))
    if excluded:
        notes.append(f"{excluded} requested site(s) of classes outside --classes skipped")
    if open_requests:
        # Without a class: the classes of that base that the model predicts there.
        wins = centre_windows([rec.codes for rec, _, _ in open_requests],
                              np.array([p for _, p, _ in open_requests]), cfg.window)
        probs = score_windows(bundle.model, wins, batch_size, device)
        for (rec, pos, cands), pr in zip(open_requests, probs):
            hit = [c for c in cands
                   if pr[cfg.classes.index(c)] >= bundle.thresholds.get(c, 0.5)]
            if not hit:
                notes.append(f"{rec.id}:{pos + 1}: no class of base {rna_base(BASES[rec.codes[pos]])} "
                             f"reaches its threshold; name one as RECORD:POS:CLASS")
            for c in hit:
                chosen[(rec.index, pos, cfg.classes.index(c))] = rec
    keys = sorted(chosen)
    recs = [chosen[k] for k in keys]
    pos = np.array([k[1] for k in keys], dtype=np.int64)
    cls = np.array([k[2] for k in keys], dtype=np.int64)
    windows = (centre_windows([r.codes for r in recs], pos, cfg.window) if keys
               else np.zeros((0, cfg.window), np.uint8))
    return Pairs(recs, pos, cls, windows), notes


def most_probable(pairs: Pairs, bundle, max_sites: int, batch_size: int, device) -> tuple[Pairs, str | None]:
    """Keep the ``max_sites`` most probable pairs, in their original order, and say what was dropped."""
    n = len(pairs.pos)
    if n <= max_sites:
        return pairs, None
    probs = score_windows(bundle.model, pairs.windows, batch_size, device)[np.arange(n), pairs.cls]
    order = np.argsort(-probs, kind="stable")
    keep = np.sort(order[:max_sites])
    note = (f"--max-sites {max_sites}: explaining the {max_sites} most probable of {n} site-class pairs; "
            f"dropped {n - max_sites} with probability <= {probs[order[max_sites]]:.4g}")
    return Pairs([pairs.record[i] for i in keep], pairs.pos[keep], pairs.cls[keep], pairs.windows[keep]), note
