"""Empirical p-values and histogram BH q-values."""

from __future__ import annotations

import numpy as np
import pytest

from multirm_tools.stats import (NullHistogram, bh_from_histogram, bh_qvalues, empirical_p,
                                 null_exceedances)


def reference_bh(p: np.ndarray) -> np.ndarray:
    """Textbook step-up BH, written independently of the package: q_i = min_{j: p_j >= p_i} m p_j / rank_j."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    q = np.empty(m)
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return q


def test_p_bounds_and_extremes():
    rng = np.random.default_rng(0)
    null = np.sort(rng.uniform(size=99).astype(np.float32))
    s = np.concatenate([rng.uniform(-1, 2, size=1000), [2.0, -1.0]]).astype(np.float32)
    p = empirical_p(null, s)
    assert np.all(p > 0) and np.all(p <= 1)
    assert p[-2] == pytest.approx(1 / 100)  # above every null score
    assert p[-1] == 1.0  # below every null score


def test_ties_count_as_exceeding():
    null = np.array([0.1, 0.2, 0.2, 0.3], dtype=np.float32)
    k = null_exceedances(null, np.array([0.2, 0.25, 0.3, 0.31], dtype=np.float32))
    assert k.tolist() == [3, 1, 1, 0]


@pytest.mark.parametrize("seed", range(5))
def test_histogram_bh_equals_direct_bh(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    null = np.sort(rng.uniform(size=n))
    # a mixture: mostly null-like scores, some high ones, many ties in p
    scores = np.concatenate([rng.uniform(size=2000), rng.uniform(0.9, 1.2, size=int(rng.integers(0, 300)))])
    k = null_exceedances(null, scores)
    p = empirical_p(null, scores)
    hist = NullHistogram({"m6A": n})
    for part in np.array_split(k, 7):  # accumulated chunk by chunk, as in a run
        hist.add("m6A", part)
    q = hist.q_tables()["m6A"][k]
    expected = reference_bh(p)
    np.testing.assert_allclose(q, expected, rtol=1e-12, atol=0)
    np.testing.assert_allclose(bh_qvalues(p), expected, rtol=1e-12)
    assert np.all(q <= 1) and np.all(q >= p - 1e-15)


def test_histogram_q_monotone_and_capped():
    counts = np.array([3, 0, 10, 0, 0, 50, 1])
    q = bh_from_histogram(counts)
    assert np.all(np.diff(q) >= 0) and q.max() <= 1.0
    assert np.all(bh_from_histogram(np.zeros(5, dtype=int)) == 1.0)
