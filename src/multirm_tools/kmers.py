"""Nucleotide codes, windows and k-mer tokens, all vectorised with numpy.

Sequences are held as ``uint8`` code arrays: A=0, C=1, G=2, T=3, anything else
(N, ambiguity codes, padding) = 4. A window of ``W`` nt centred on a position
becomes ``W - k + 1`` overlapping k-mer tokens; token 0 is reserved for any
k-mer that touches an N, tokens ``1 .. 4**k`` are the k-mers in
``itertools.product("ACGT", repeat=k)`` order.
"""

from __future__ import annotations

import itertools

import numpy as np

N_CODE = 4
BASES = "ACGT"

_LUT = np.full(256, N_CODE, dtype=np.uint8)
for _i, _c in enumerate(BASES):
    _LUT[ord(_c)] = _i
    _LUT[ord(_c.lower())] = _i
_LUT[ord("U")] = _LUT[ord("u")] = 3


def encode(seq: str | bytes) -> np.ndarray:
    """Encode a sequence (RNA or DNA, any case) to codes 0-4.

    Returns
    -------
    np.ndarray, shape=(len(seq),), dtype=uint8
    """
    if isinstance(seq, str):
        seq = seq.encode("ascii")
    return _LUT[np.frombuffer(seq, dtype=np.uint8)]


def vocabulary(k: int = 3) -> list[str]:
    """Token strings in index order; index 0 is the N-containing k-mer, written ``"N" * k``."""
    return ["N" * k] + ["".join(p) for p in itertools.product(BASES, repeat=k)]


def tokenize(codes: np.ndarray, k: int = 3) -> np.ndarray:
    """k-mer token ids for every k-mer start of a code array (or of each row of a 2-D array).

    Parameters
    ----------
    codes: np.ndarray, shape=(..., L), dtype=uint8
    k: int, the k-mer length. Default is 3.

    Returns
    -------
    np.ndarray, shape=(..., L - k + 1), dtype=int64
        0 where the k-mer contains a code 4, else ``1 + base-4 value``.
    """
    codes = np.asarray(codes)
    n = codes.shape[-1] - k + 1
    if n <= 0:
        return np.zeros(codes.shape[:-1] + (0,), dtype=np.int64)
    value = np.zeros(codes.shape[:-1] + (n,), dtype=np.int64)
    bad = np.zeros(value.shape, dtype=bool)
    for j in range(k):
        part = codes[..., j:j + n]
        value = value * 4 + np.minimum(part, 3)
        bad |= part == N_CODE
    value += 1
    value[bad] = 0
    return value


def window_tokens(tokens_padded: np.ndarray, start: int, stop: int, n_tokens: int) -> np.ndarray:
    """Token windows of positions ``start .. stop-1`` from a padded record's token array.

    ``tokens_padded`` tokenizes the codes padded with ``half`` N codes on each side; the
    window of sequence position ``p`` is ``tokens_padded[p : p + n_tokens]``. Returns a
    read-only view, shape=(stop - start, n_tokens), without copying.
    """
    view = np.lib.stride_tricks.sliding_window_view(tokens_padded, n_tokens)
    return view[start:stop]


def centre_windows(codes_list: list[np.ndarray], sites: np.ndarray, window: int) -> np.ndarray:
    """Cut a ``window``-nt window centred on ``sites[i]`` out of each code array, N-padded.

    Parameters
    ----------
    codes_list: list of np.ndarray (uint8), the encoded sequences.
    sites: np.ndarray, shape=(n,), 0-based centre index in each sequence.
    window: int, odd window length.

    Returns
    -------
    np.ndarray, shape=(n, window), dtype=uint8
    """
    half = window // 2
    out = np.full((len(codes_list), window), N_CODE, dtype=np.uint8)
    for i, (codes, site) in enumerate(zip(codes_list, sites)):
        lo, hi = site - half, site + half + 1
        a, b = max(lo, 0), min(hi, len(codes))
        if b > a:
            out[i, a - lo:b - lo] = codes[a:b]
    return out
