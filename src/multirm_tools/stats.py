"""Empirical p-values against a bundle's null scores and Benjamini-Hochberg q-values.

With ``n`` null scores, the p-value of a score ``s`` is
``p = (1 + k) / (n + 1)`` where ``k = #{null >= s}``: never 0, at most 1.
Because ``p`` takes only the ``n + 1`` values of ``k = 0 .. n``, the BH q-values
of a whole run follow exactly from a histogram of ``k`` (``NullHistogram``), so
memory does not grow with the input and the run can be written in a second pass.
"""

from __future__ import annotations

import numpy as np


def null_exceedances(null_sorted: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``k``: how many null scores are >= each score.

    Parameters
    ----------
    null_sorted: np.ndarray, shape=(n,), ascending.
    scores: np.ndarray, shape=(m,).

    Returns
    -------
    np.ndarray, shape=(m,), int64, values in 0 .. n.
    """
    null_sorted = np.asarray(null_sorted)
    scores = np.asarray(scores, dtype=null_sorted.dtype)
    return len(null_sorted) - np.searchsorted(null_sorted, scores, side="left")


def p_from_exceedances(k: np.ndarray, n: int) -> np.ndarray:
    """``(1 + k) / (n + 1)``, shape of ``k``, float64."""
    return (1.0 + np.asarray(k, dtype=np.float64)) / (n + 1.0)


def empirical_p(null_sorted: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Empirical p-values of ``scores`` against ascending ``null_sorted``; 0 < p <= 1."""
    return p_from_exceedances(null_exceedances(null_sorted, scores), len(null_sorted))


def bh_from_histogram(counts: np.ndarray) -> np.ndarray:
    """BH q-value of each possible ``k`` given how many tests had each ``k``.

    Parameters
    ----------
    counts: np.ndarray, shape=(n + 1,), ``counts[k]`` = tests with ``k`` null
        scores >= their score (``np.bincount(k, minlength=n + 1)``).

    Returns
    -------
    np.ndarray, shape=(n + 1,), float64: ``q[k]``, non-decreasing in ``k`` and
    at most 1; equal to the step-up BH q-value of every test with that ``k``.
    Entries of ``k`` no test had are set as if one had (still monotone).
    """
    counts = np.asarray(counts, dtype=np.int64)
    n = len(counts) - 1
    m = int(counts.sum())
    if m == 0:
        return np.ones(n + 1)
    p = p_from_exceedances(np.arange(n + 1), n)
    rank = np.cumsum(counts)  # largest rank among tests whose p-value is <= p[k]
    raw = np.full(n + 1, np.inf)
    present = counts > 0
    raw[present] = m * p[present] / rank[present]
    q = np.minimum.accumulate(raw[::-1])[::-1]  # min over k' >= k; inf past the last test -> 1
    return np.minimum(q, 1.0)


class NullHistogram:
    """Per-class counts of ``k`` accumulated over a run, then q-value tables.

    Parameters
    ----------
    null_sizes: dict class -> n (number of null scores).
    """

    def __init__(self, null_sizes: dict[str, int]):
        self.counts = {c: np.zeros(n + 1, dtype=np.int64) for c, n in null_sizes.items()}

    def add(self, cls: str, k: np.ndarray) -> None:
        """Count the exceedances ``k`` (values 0 .. n) of some tests of class ``cls``."""
        self.counts[cls] += np.bincount(np.asarray(k, dtype=np.int64), minlength=len(self.counts[cls]))

    def q_tables(self) -> dict[str, np.ndarray]:
        """class -> ``bh_from_histogram`` of its counts: ``q = table[k]``."""
        return {c: bh_from_histogram(n) for c, n in self.counts.items()}

    def n_tests(self) -> dict[str, int]:
        return {c: int(n.sum()) for c, n in self.counts.items()}


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Direct Benjamini-Hochberg q-values of a p-value array (sort based; reference).

    Returns
    -------
    np.ndarray, shape of ``p``, float64, capped at 1.
    """
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * m / np.arange(1, m + 1)
    q_sorted = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    q = np.empty(m)
    q[order] = q_sorted
    return q
