"""Scanning a record: every position's window scored in batches, with base and motif masks.

The window of position ``p`` is centred on it and padded with N past the record
ends; positions closer than ``half = window // 2`` to either end are flagged as
edges. A class is scored only at positions whose base is the class's original
base (``constants.BY_NAME[c].base``), and optionally only where the registry motif
matches (DRACH for m6A, BCA for m6Am). N positions get no class. Work is done in
chunks of positions, so memory is that of the record's codes plus one chunk. A
network whose windows share work (``shares_windows``, the conv architecture) runs
once over each chunk's tokens; the others run once per window.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple, Sequence

import numpy as np
import torch

from .constants import BY_NAME, IUPAC_DNA
from .inference import score_tokens
from .kmers import BASES, N_CODE, tokenize, window_tokens
from .model import Network

#: Positions per chunk: a few MB of tokens and probabilities.
CHUNK_SIZE = 16384


class ScanChunk(NamedTuple):
    """Scores of positions ``start .. start + n - 1`` (0-based) of one record.

    codes: np.ndarray, shape=(n,), uint8 (A=0 C=1 G=2 T=3 N=4).
    edge: np.ndarray, shape=(n,), bool, the window reaches past a record end.
    mask: np.ndarray, shape=(n, n_classes), bool, the class applies at the position.
    probs: np.ndarray, shape=(n, n_classes), float32, NaN where ``mask`` is False.
    """

    start: int
    codes: np.ndarray
    edge: np.ndarray
    mask: np.ndarray
    probs: np.ndarray


def _motif_table(motif: str) -> np.ndarray:
    """shape=(len(motif), 5) bool: which codes each motif letter allows (N never)."""
    table = np.zeros((len(motif), N_CODE + 1), dtype=bool)
    for j, letter in enumerate(motif):
        for b in IUPAC_DNA[letter]:
            table[j, BASES.index(b)] = True
    return table


def motif_margin(classes: Sequence[str]) -> int:
    """How far (nt) the motifs of ``classes`` reach from the modified base."""
    reach = 0
    for c in classes:
        mod = BY_NAME[c]
        if mod.motif:
            reach = max(reach, mod.motif_offset, len(mod.motif) - 1 - mod.motif_offset)
    return reach


def class_mask(padded: np.ndarray, pad: int, start: int, stop: int, classes: Sequence[str],
               motif_filter: bool = False) -> np.ndarray:
    """Which classes apply at positions ``start .. stop-1``.

    Parameters
    ----------
    padded: np.ndarray, shape=(L + 2 * pad,), uint8, the record's codes padded with N.
    pad: int, N codes on each side of ``padded``; at least ``motif_margin(classes)``
        when ``motif_filter``.
    start, stop: int, 0-based record positions.
    classes: sequence of registry class names, the columns.
    motif_filter: bool, also require the class's registry motif. Default is False.

    Returns
    -------
    np.ndarray, shape=(stop - start, len(classes)), bool
    """
    codes = padded[pad + start:pad + stop]
    mask = np.zeros((stop - start, len(classes)), dtype=bool)
    for j, c in enumerate(classes):
        mod = BY_NAME[c]
        m = codes == BASES.index(mod.base)
        if motif_filter and mod.motif:
            for i, allowed in enumerate(_motif_table(mod.motif)):
                shift = i - mod.motif_offset
                m &= allowed[padded[pad + start + shift:pad + stop + shift]]
        mask[:, j] = m
    return mask


@torch.no_grad()
def scan_codes(model: Network, codes: np.ndarray, classes: Sequence[str] | None = None,
               batch_size: int = 256, device: torch.device | str = "cpu",
               tables: torch.Tensor | None = None, motif_filter: bool = False,
               chunk_size: int = CHUNK_SIZE, only: np.ndarray | None = None) -> Iterator[ScanChunk]:
    """Score every position of one encoded record, chunk by chunk.

    Parameters
    ----------
    model: any network (``model.Network``), in eval mode on ``device``.
    codes: np.ndarray, shape=(L,), uint8, from ``kmers.encode``.
    classes: sequence of class names (a subset of ``model.config.classes``), the
        columns of each chunk. Default is all of the model's classes.
    batch_size: int, windows per network call. Default is 256.
    device: where the network runs. Default is "cpu".
    tables: torch.Tensor, optional, ``model.scan_tables()`` on ``device``;
        pass it when scanning many records so it is computed once.
    motif_filter: bool, score m6A / m6Am only inside their motifs. Default is False.
    chunk_size: int, positions per chunk. Default is 16384.
    only: np.ndarray, shape=(L,), bool, optional: score these positions alone (the others
        are masked as if no class applied). Default is every position.

    Yields
    ------
    ScanChunk, covering positions 0 .. L-1 in order; nothing for an empty record.
    Only positions where some class applies go through the network.
    """
    cfg = model.config
    classes = list(cfg.classes if classes is None else classes)
    unknown = [c for c in classes if c not in cfg.classes]
    if unknown:
        raise ValueError(f"classes {unknown} are not predicted by this model ({list(cfg.classes)})")
    cols = np.array([cfg.classes.index(c) for c in classes], dtype=np.int64)
    half, n_tokens = cfg.window // 2, cfg.n_tokens
    if tables is None:
        tables = model.scan_tables()
    codes = np.asarray(codes, dtype=np.uint8)
    L = len(codes)
    pad = max(half, motif_margin(classes) if motif_filter else 0)
    padded = np.concatenate([np.full(pad, N_CODE, np.uint8), codes, np.full(pad, N_CODE, np.uint8)])
    for start in range(0, L, chunk_size):
        stop = min(start + chunk_size, L)
        n = stop - start
        # Tokens of this chunk's windows only: the padded codes from start-half to stop-1+half.
        tokens = tokenize(padded[pad + start - half:pad + stop + half], cfg.k)
        windows = window_tokens(tokens, 0, n, n_tokens)
        mask = class_mask(padded, pad, start, stop, classes, motif_filter)
        if only is not None:
            mask &= only[start:stop, None]
        probs = np.full((n, len(classes)), np.nan, dtype=np.float32)
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size and model.shares_windows:
            # One encoder pass over the chunk's tokens serves every window in it.
            need = np.zeros((n, len(cfg.classes)), dtype=bool)
            need[:, cols] = mask
            logits = model.span_logits(torch.as_tensor(tokens, device=device), torch.as_tensor(need, device=device))
            probs[rows] = torch.sigmoid(logits[torch.as_tensor(rows, device=device)]).float().cpu().numpy()[:, cols]
            probs[~mask] = np.nan
        elif rows.size:
            sel = windows[rows]  # a writable copy (torch warns about read-only views)
            scores = score_tokens(model, sel, batch_size=batch_size, device=device, tables=tables)
            probs[rows] = scores[:, cols]
            probs[~mask] = np.nan
        pos = np.arange(start, stop)
        edge = (pos < half) | (pos >= L - half)
        yield ScanChunk(start, codes[start:stop], edge, mask, probs)


def score_segments(model: Network, segments: list[np.ndarray], classes: Sequence[str],
                   batch_size: int = 256, device: torch.device | str = "cpu", motif_filter: bool = False,
                   tables: torch.Tensor | None = None) -> list[np.ndarray]:
    """Scores of the central positions of many short sequences, in one scan of them laid end to end.

    Segment ``s`` (codes, length ``n_s >= window``) gives its positions ``half .. n_s - half - 1``,
    whose windows lie inside it: what a scan of each segment alone gives there, without one
    scan call per segment. ``multirm-variants`` scores a reference and an alternative segment per
    allele this way.

    Returns
    -------
    list of np.ndarray, shape=(n_s - 2 * half, len(classes)), float32, NaN where a class does not
    apply (its base, its motif with ``motif_filter``).
    """
    half = model.config.window // 2
    if not segments:
        return []
    codes = np.concatenate(segments)
    only = np.zeros(len(codes), dtype=bool)
    bounds = np.cumsum([0] + [len(s) for s in segments])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        only[lo + half:hi - half] = True
    probs = np.full((len(codes), len(classes)), np.nan, dtype=np.float32)
    for chunk in scan_codes(model, codes, classes, batch_size=batch_size, device=device, tables=tables,
                            motif_filter=motif_filter, only=only):
        probs[chunk.start:chunk.start + len(chunk.codes)] = chunk.probs
    return [probs[lo + half:hi - half] for lo, hi in zip(bounds[:-1], bounds[1:])]
