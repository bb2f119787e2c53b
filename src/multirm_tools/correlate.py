"""Associations among modifications: correlation of the classes' attention, site distances.

Two measures of how alike two classes' attention is:

- ``attention`` (any model, every class): the classes' attention distributions over one common
  set of windows. Each class's distribution is taken relative to its own mean profile (the mean
  over the windows, position by position), so what is compared is where each window makes a class
  look *differently from usual*: two classes correlate when the same sequence draws both their
  attention to the same positions, not merely because every class looks near the centre. r is
  Pearson's over all windows and positions; its p-value comes from permuting the windows of one
  class against the other's (``(1 + #|r_perm| >= |r|) / (permutations + 1)``, two-sided), since
  positions of one window are not independent draws. An ensemble's attention is its members'
  mean, so a class with a network of its own is compared too.
- ``query`` (MultiRM's Fig. 3): the classes' attention query vectors, one network's parameters.

The network has one attention query vector per class (``MultiRMNet.att_query``,
shape=(n_classes, attention_dim)): the direction in the BiLSTM-state space that
class attends to. MultiRM's Fig. 3 correlates these between classes (m5C~Cm,
I~m1A, Psi~m5U). ``pearson_matrix`` gives Pearson's r between every two rows and
its two-sided p-value from the t distribution with ``attention_dim - 2`` degrees
of freedom (the same test as ``scipy.stats.pearsonr``). For an ensemble each
class's queries of all members are joined into one vector (members x
attention_dim): a member's query space is its own, so only the joined vectors
compare like with like across classes. Specialist members (networks of one class)
are left out, since their one query has nothing in its own network to compare
with; a class predicted by specialists alone is not in the matrix.

``distance_test`` asks whether sites of class B lie closer to sites of class A
than chance (MultiRM's Supplementary Fig. 4): for each A site, the distance to the
nearest B site on the same chromosome (or record) and strand; the median of these
is compared with the medians after B's positions are drawn uniformly at random in
the span of all sites of that chromosome and strand. The p-value is one-sided
(closer than chance), ``(1 + #shuffled medians <= observed) / (shuffles + 1)``.

No file is read or written here; ``cli.correlate`` does that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd
from scipy.special import stdtr

import torch

from .bed import read_bed
from .constants import CLASS_NAMES, canonical_name
from .errors import InputError, UsageError
from .tables import TABLES, frame
from .kmers import N_CODE, centre_windows, tokenize
from .model import EnsembleNet, Network

#: The measures ``multirm-correlate --measure`` offers.
MEASURES = ("attention", "query")


def attention_queries(model: Network) -> tuple[list[str], np.ndarray]:
    """The classes compared and their attention query vectors, shape=(n_classes, members * attention_dim), float64.

    Raises ValueError for an ensemble in which no network predicts two classes.
    """
    if not isinstance(model, EnsembleNet):
        return list(model.config.classes), model.att_query.detach().double().cpu().numpy()
    nets = [m for m in model.members if len(m.config.classes) > 1]
    classes = [c for c in model.config.classes if all(c in m.config.classes for m in nets)]
    if not nets or len(classes) < 2:
        raise ValueError("no two classes are predicted by the same networks of this ensemble: "
                         "their attention queries cannot be compared")
    return classes, np.concatenate([m.att_query.detach().double().cpu().numpy()[[m.config.classes.index(c)
                                                                                for c in classes]]
                                    for m in nets], axis=1)


def common_windows(records: Sequence[np.ndarray] | None, n: int, window: int, seed: int = 0) -> np.ndarray:
    """``n`` windows for the attention measure: centred on random non-N positions of ``records``
    (encoded sequences; N-padded at their ends), or uniformly random sequence if ``records`` is None.

    Returns
    -------
    np.ndarray, shape=(n, window), uint8 codes; fewer rows if the records have fewer positions.
    """
    rng = np.random.default_rng([seed, 17])
    if records is None:
        return rng.integers(0, 4, size=(n, window)).astype(np.uint8)
    starts = np.cumsum([0] + [len(r) for r in records])
    valid = np.flatnonzero(np.concatenate(list(records) or [np.zeros(0, np.uint8)]) != N_CODE)
    chosen = np.sort(rng.choice(valid, min(n, len(valid)), replace=False))
    rec = np.searchsorted(starts, chosen, side="right") - 1
    return centre_windows([records[i] for i in rec], chosen - starts[rec], window)


@torch.no_grad()
def attention_deviations(model: Network, windows: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Each class's attention over ``windows`` less its mean profile, shape=(n_classes, n, n_tokens), float64."""
    model.eval()
    device = model.embedding.weight.device
    tokens = tokenize(windows, model.config.k)
    parts = []
    for lo in range(0, len(tokens), batch_size):
        _, attn = model(torch.as_tensor(tokens[lo:lo + batch_size], device=device), return_attention=True)
        parts.append(attn.double().cpu().numpy())
    attn = np.concatenate(parts).transpose(1, 0, 2)  # (C, n, T)
    return attn - attn.mean(axis=1, keepdims=True)


def attention_correlation(deviations: np.ndarray, permutations: int = 1000, seed: int = 0
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Pearson's r between classes' attention deviations, and window-permutation p-values.

    Parameters
    ----------
    deviations: np.ndarray, shape=(C, n, T), from ``attention_deviations`` (n >= 2 windows).
    permutations: int, window permutations for the p-values (>= 1).
    seed: int, seed of the permutations.

    Returns
    -------
    r, p: np.ndarray, shape=(C, C), symmetric; r has ones and p zeros on the diagonal.
    """
    C, n, _ = deviations.shape
    if n < 2:
        raise ValueError("the attention measure needs at least 2 windows")
    r, _ = pearson_matrix(deviations.reshape(C, -1))
    unit = deviations / np.linalg.norm(deviations.reshape(C, -1), axis=1)[:, None, None]
    rng = np.random.default_rng([seed, 19])
    exceed = np.zeros((C, C))
    flat = unit.reshape(C, -1)
    for _ in range(permutations):
        shuffled = unit[:, rng.permutation(n)].reshape(C, -1)
        exceed += np.abs(flat @ shuffled.T) >= np.abs(r) - 1e-12
    exceed = (exceed + exceed.T) / 2  # class a shuffled against b, and b against a
    p = (1 + exceed) / (permutations + 1)
    np.fill_diagonal(p, 0.0)
    return r, p


def pearson_matrix(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson's r and two-sided p-values between every two rows.

    Parameters
    ----------
    vectors: np.ndarray, shape=(n, d), d >= 3.

    Returns
    -------
    r: np.ndarray, shape=(n, n), symmetric, ones on the diagonal.
    p: np.ndarray, shape=(n, n), symmetric, zeros on the diagonal (r = 1).
    """
    x = np.asarray(vectors, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 3:
        raise ValueError(f"vectors has shape {x.shape} but must have shape (n, d) with d >= 3")
    centred = x - x.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(centred, axis=1)
    if np.any(norm == 0):
        raise ValueError("a vector is constant: its correlation is undefined")
    unit = centred / norm[:, None]
    r = np.clip(unit @ unit.T, -1.0, 1.0)
    r = (r + r.T) / 2  # exact symmetry despite rounding
    np.fill_diagonal(r, 1.0)
    dof = x.shape[1] - 2
    with np.errstate(divide="ignore"):
        t = r * np.sqrt(dof / np.maximum(1.0 - r * r, 0.0))
    p = 2.0 * stdtr(dof, -np.abs(t))
    return r, p


def correlation_tables(classes: Sequence[str], r: np.ndarray, p: np.ndarray
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The matrix table (``modification`` then one column per class) and the long table
    (``class_a class_b pearson_r p_value``, each unordered pair once, in class order)."""
    classes = list(classes)
    matrix = pd.DataFrame(r, columns=classes)
    matrix.insert(0, "modification", classes)
    a, b = np.triu_indices(len(classes), k=1)
    long = frame("correlation_long", {"class_a": np.asarray(classes, dtype=object)[a],
                                      "class_b": np.asarray(classes, dtype=object)[b],
                                      "pearson_r": r[a, b], "p_value": p[a, b]})
    return matrix, long


class DistanceResult(NamedTuple):
    """Nearest-site distances from class A to class B against shuffled B positions."""

    n_pairs: int  # A sites with a B site on the same chromosome and strand
    observed_median: float
    expected_median: float  # median of the shuffled medians
    p_value: float  # one-sided: B at least as close as observed by chance


def read_site_beds(paths: Sequence[str]) -> pd.DataFrame:
    """Sites of all BED files: ``chrom start strand modification`` (canonical class names).

    Raises
    ------
    InputError
        An empty file, or a row whose name is no class in a file whose name is none either.
    """
    frames = []
    for path in paths:
        bed = read_bed(path)
        name = Path(path).name
        if bed.empty:
            raise InputError(f"{name}: no sites (empty BED file)")
        try:
            fallback = canonical_name(Path(path).name.split(".")[0])
        except UsageError:
            fallback = None
        classes = []
        for n, line in zip(bed["name"], bed["line"]):
            try:
                classes.append(canonical_name(n))
            except UsageError:
                if fallback is None:
                    raise InputError(f"{name}: line {line}: name {n!r} is no modification class, and "
                                     f"neither is the file name") from None
                classes.append(fallback)
        frames.append(pd.DataFrame({"chrom": bed["chrom"], "start": bed["start"],
                                    "strand": bed["strand"], "modification": classes}))
    return pd.concat(frames, ignore_index=True)


def nearest_distance(a: np.ndarray, b_sorted: np.ndarray) -> np.ndarray:
    """Distance from each position of ``a`` to the nearest of ``b_sorted`` (non-empty, ascending).

    ``a``: shape=(n,); ``b_sorted``: shape=(m,) or (s, m), one sorted row per shuffle.
    Returns shape=(n,) or (s, n).
    """
    a = np.asarray(a, dtype=np.int64)
    b2 = np.atleast_2d(np.asarray(b_sorted, dtype=np.int64))
    s, m = b2.shape
    # All rows in one sorted array: row i shifted by i * step, step wider than any distance, so a
    # single searchsorted serves every shuffle; neighbours are then clamped to the query's row.
    lo = min(int(a.min()), int(b2.min())) if a.size else 0
    step = max(int(a.max()) if a.size else 0, int(b2.max())) - lo + 1
    shift = np.arange(s, dtype=np.int64)[:, None] * step
    flat = (b2 - lo + shift).ravel()
    q = (a - lo)[None, :] + shift  # (s, n)
    idx = np.searchsorted(flat, q.ravel()).reshape(q.shape)
    first = np.arange(s)[:, None] * m
    right = flat[np.clip(idx, first, first + m - 1)]
    left = flat[np.clip(idx - 1, first, first + m - 1)]
    d = np.minimum(np.abs(right - q), np.abs(q - left))
    return d if np.ndim(b_sorted) == 2 else d[0]


def _groups(sites: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per chromosome and strand: positions (int64) and classes (object) of its sites."""
    return [(g["start"].to_numpy(np.int64), g["modification"].to_numpy(object))
            for _, g in sites.groupby(["chrom", "strand"], sort=True)]


def _placements(groups, class_b: str, shuffles: int, rng: np.random.Generator) -> list:
    """Per group: B's sorted positions and ``shuffles`` sorted random placements of as many sites."""
    out = []
    for pos, cls in groups:
        b = np.sort(pos[cls == class_b])
        draws = (np.sort(rng.integers(pos.min(), pos.max() + 1, size=(shuffles, len(b))), axis=1)
                 if len(b) else None)
        out.append((b, draws))
    return out


def _test(groups, class_a: str, placements, shuffles: int) -> DistanceResult:
    observed, shuffled = [], []
    for (pos, cls), (b, draws) in zip(groups, placements):
        a = np.sort(pos[cls == class_a])  # sorted queries: searchsorted runs several times faster
        if len(a) == 0 or len(b) == 0:
            continue
        observed.append(nearest_distance(a, b))
        shuffled.append(nearest_distance(a, draws))
    if not observed:
        return DistanceResult(0, float("nan"), float("nan"), float("nan"))
    obs_median = float(np.median(np.concatenate(observed)))
    sh_medians = np.median(np.concatenate(shuffled, axis=1), axis=1)
    p = (1 + int(np.sum(sh_medians <= obs_median))) / (shuffles + 1)
    return DistanceResult(sum(len(o) for o in observed), obs_median, float(np.median(sh_medians)), p)


def distance_test(sites: pd.DataFrame, class_a: str, class_b: str, shuffles: int = 1000,
                  rng: np.random.Generator | None = None) -> DistanceResult:
    """Are class-B sites closer to class-A sites than B sites placed at random?

    Parameters
    ----------
    sites: pd.DataFrame with columns ``chrom start strand modification`` (0-based starts),
        all classes' sites; the span of a chromosome and strand is that of all its sites.
    class_a, class_b: class names in ``sites["modification"]``.
    shuffles: int, random placements of B. Default is 1000.
    rng: np.random.Generator. Default is ``np.random.default_rng(0)``.

    Returns
    -------
    DistanceResult; NaN medians and p-value when no A site shares a chromosome and strand
    with a B site.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    groups = _groups(sites)
    return _test(groups, class_a, _placements(groups, class_b, shuffles, rng), shuffles)


def distance_table(sites: pd.DataFrame, classes: Sequence[str], shuffles: int = 1000,
                   seed: int = 0, progress: Callable[[int], None] | None = None) -> pd.DataFrame:
    """``distance_test`` for every ordered pair of distinct ``classes``; ``progress(1)`` after each pair.

    Returns
    -------
    pd.DataFrame with columns ``class_a class_b n_pairs observed_median expected_median p_value``,
    rows ordered by class A, then B. The random placements of B are drawn once and shared by every
    A, from a generator seeded by ``seed`` and B's registry index: a pair's result does not depend
    on which other classes are compared.
    """
    groups = _groups(sites)
    results = {}
    for b in classes:
        placements = _placements(groups, b, shuffles, np.random.default_rng([seed, CLASS_NAMES.index(b)]))
        for a in classes:
            if a != b:
                results[a, b] = _test(groups, a, placements, shuffles)
                if progress is not None:
                    progress(1)
    rows = [(a, b, *results[a, b]) for a in classes for b in classes if a != b]
    return pd.DataFrame(rows, columns=TABLES["distances"].names)
