"""Motifs from attributions: segment extraction, motif finding, PWMs, MEME files, logos, TOMTOM.

The pipeline of ``multirm-motifs``:

1. ``tracks_from_explain``: the long table of ``multirm-explain`` (one row per site,
   class and window position) -> one row of nucleotide codes and one of scores per
   explained site.
2. ``extract_regions``: per site, the ``width``-nt segment with the largest summed
   score (attribution or attention), widened by ``max_shift`` nt on each side so that
   the motif finder may re-align it.
3. ``find_motifs``: per class, motifs by iterative PWM refinement: seeds from the most
   frequent 4-mers of the segments, expectation-maximisation of a zero-or-one
   occurrence per site model (MEME's ZOOPS), the seed with the largest likelihood
   ratio kept, its sites removed, repeated; a motif is kept only when its likelihood
   ratio beats the same search on per-site shuffled segments (the null, seeded).
   ``method="stack"`` instead stacks the highest-attribution segments as they are
   (one motif per class), the reference the EM search is measured against.
4. ``write_meme`` / ``read_meme`` (MEME minimal motif format, module ``meme``),
   ``write_logo`` (information-content logos, PNG and SVG), ``compare_motifs``
   (TOMTOM via memelite, with E- and Benjamini-Hochberg q-values).

Only the MEME and logo functions touch files.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from .errors import InputError
from .kmers import N_CODE, encode
from .stats import bh_qvalues
from .tables import TABLES

DNA = "ACGT"
RNA = "ACGU"
EXPLAIN_COLUMNS = ["record", "site", "modification", "window_position", "nucleotide", "attention",
                   "attribution"]
TOMTOM_COLUMNS = TABLES["tomtom"].names
# IUPAC code of each set of bases (DNA letters; U replaces T on output)
_IUPAC = {frozenset(v): k for k, v in {"A": "A", "C": "C", "G": "G", "T": "T", "R": "AG", "Y": "CT",
                                         "S": "CG", "W": "AT", "K": "GT", "M": "AC", "B": "CGT",
                                         "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT"}.items()}


class Tracks(NamedTuple):
    """Explained sites: one row per (record, site, class).

    codes: np.ndarray, shape=(n, W), uint8 nucleotide codes 0-3 (ACGT), 4 for N or padding.
    scores: np.ndarray, shape=(n, W), float64 per-nucleotide scores (0 at padding).
    first_offset: int, window position (offset from the site) of column 0.
    """

    modification: np.ndarray
    record: np.ndarray
    site: np.ndarray
    codes: np.ndarray
    scores: np.ndarray
    first_offset: int


class Regions(NamedTuple):
    """Per site, the best segment widened by ``max_shift`` on each side.

    codes: np.ndarray, shape=(n, width + 2 * max_shift), uint8 codes, 4 outside the window.
    offset: np.ndarray, shape=(n,), window position of the best segment's first nucleotide.
    """

    modification: np.ndarray
    record: np.ndarray
    site: np.ndarray
    codes: np.ndarray
    offset: np.ndarray
    width: int
    max_shift: int


class Motif(NamedTuple):
    """A found motif.

    probs: np.ndarray, shape=(w, 4), letter frequencies (DNA order ACGT), rows sum to 1.
    members: np.ndarray, indices into the ``Regions`` rows whose site supports the motif.
    starts: np.ndarray, per member, window position of the motif's first column.
    llr: float, log likelihood ratio of the motif model against the background (nats).
    """

    motif_id: str
    modification: str
    probs: np.ndarray
    members: np.ndarray
    starts: np.ndarray
    llr: float


# ---------------------------------------------------------------------------------------------
# explain table -> tracks -> regions

def tracks_from_explain(df: pd.DataFrame, score: str = "attribution", source: str = "explain.tsv"
                        ) -> Tracks:
    """Turn multirm-explain's long table into per-site code and score arrays.

    Parameters
    ----------
    df: pd.DataFrame with at least the columns of ``EXPLAIN_COLUMNS``.
    score: "attribution" or "attention": the column that ranks segments. Default is "attribution".
    source: name used in error messages. Default is "explain.tsv".

    Raises
    ------
    InputError
        Missing columns, non-numeric scores or positions, letters other than ACGTUN,
        sites whose windows differ in length or repeat a position.
    """
    missing = [c for c in EXPLAIN_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"{source}: missing column(s) {', '.join(missing)}; expected the explain.tsv "
                         f"of multirm-explain with columns {' '.join(EXPLAIN_COLUMNS)}")
    if not len(df):
        raise InputError(f"{source}: no rows (no explained sites)")
    wpos = pd.to_numeric(df["window_position"], errors="coerce")
    values = pd.to_numeric(df[score], errors="coerce")
    for name, col in (("window_position", wpos), (score, values)):
        bad = col.isna() | ~np.isfinite(col.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{source}: row {i + 2} (record {df['record'].iloc[i]}, site "
                             f"{df['site'].iloc[i]}): {name} {df[name].iloc[i]!r} is not a finite number")
    letters = df["nucleotide"].astype(str).str.upper()
    bad = ~letters.isin(list("ACGTUN"))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{source}: row {i + 2} (record {df['record'].iloc[i]}, site {df['site'].iloc[i]}): "
                         f"nucleotide {df['nucleotide'].iloc[i]!r} is not one of A C G U T N")
    frame = pd.DataFrame({"record": df["record"].astype(str), "site": df["site"].astype(str),
                          "modification": df["modification"].astype(str), "wpos": wpos.astype(np.int64),
                          "code": encode("".join(letters)), "score": values.astype(float)})
    keys = ["modification", "record", "site"]
    dup = frame.duplicated(keys + ["wpos"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError(f"{source}: row {i + 2}: record {frame['record'].iloc[i]}, site "
                         f"{frame['site'].iloc[i]}, {frame['modification'].iloc[i]} repeats window_position "
                         f"{frame['wpos'].iloc[i]}")
    lo, hi = int(frame["wpos"].min()), int(frame["wpos"].max())
    width = hi - lo + 1
    groups = frame.groupby(keys, sort=False)
    sizes = groups.size()
    if (sizes != width).any():
        key = sizes.index[np.flatnonzero((sizes != width).to_numpy())[0]]
        raise InputError(f"{source}: record {key[1]}, site {key[2]}, {key[0]} has {sizes[key]} window "
                         f"positions; every explained site needs the same {width} ({lo}..{hi})")
    gid = groups.ngroup().to_numpy()
    col = frame["wpos"].to_numpy() - lo
    n = int(gid.max()) + 1
    codes = np.full((n, width), N_CODE, dtype=np.uint8)
    scores = np.zeros((n, width), dtype=np.float64)
    codes[gid, col] = frame["code"].to_numpy()
    scores[gid, col] = frame["score"].to_numpy()
    scores[codes == N_CODE] = 0.0
    first = frame.groupby(gid, sort=True)[keys].first()
    site = pd.to_numeric(first["site"], errors="coerce")
    if site.isna().any():
        raise InputError(f"{source}: site {first['site'][site.isna()].iloc[0]!r} is not an integer")
    return Tracks(first["modification"].to_numpy(), first["record"].to_numpy(),
                  site.to_numpy(dtype=np.int64), codes, scores, lo)


def extract_regions(tracks: Tracks, width: int = 8, max_shift: int = 3) -> tuple[Regions, int]:
    """Per site, the ``width``-nt segment with the largest summed score, widened by ``max_shift``.

    Segments holding an N (padding beyond a record end, or an N in the sequence) are
    not candidates; a site with none (record or window shorter than ``width``) is dropped.

    Parameters
    ----------
    tracks: Tracks.
    width: int, segment length in nt. Default is 8.
    max_shift: int, extra nt kept on each side for re-alignment. Default is 3.

    Returns
    -------
    (Regions, n_dropped)
    """
    n, W = tracks.codes.shape
    if width > W:
        raise InputError(f"--width {width} is longer than the explained windows ({W} nt)")
    csum = np.concatenate([np.zeros((n, 1)), np.cumsum(tracks.scores, axis=1)], axis=1)
    sums = csum[:, width:] - csum[:, :-width]  # (n, W - width + 1)
    ncum = np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(tracks.codes == N_CODE, axis=1)], axis=1)
    has_n = (ncum[:, width:] - ncum[:, :-width]) > 0
    sums[has_n] = -np.inf
    keep = ~has_n.all(axis=1)
    best = np.argmax(sums, axis=1)  # first maximum: ties resolve to the leftmost segment
    padded = np.pad(tracks.codes, ((0, 0), (max_shift, max_shift)), constant_values=N_CODE)
    cols = best[:, None] + np.arange(width + 2 * max_shift)[None, :]
    codes = np.take_along_axis(padded, cols, axis=1)
    sel = np.flatnonzero(keep)
    return (Regions(tracks.modification[sel], tracks.record[sel], tracks.site[sel], codes[sel],
                    best[sel] + tracks.first_offset, width, max_shift), int(n - len(sel)))


# ---------------------------------------------------------------------------------------------
# motif finding

def _log_lr(codes: np.ndarray, logodds: np.ndarray) -> np.ndarray:
    """Log likelihood ratio (motif vs background) of every site and shift, shape=(n, n_shifts).

    ``logodds`` has shape (w, 5); its column 4 (N) is 0 so N neither helps nor hurts.
    """
    w = logodds.shape[0]
    shifts = codes.shape[1] - w + 1
    out = np.zeros((codes.shape[0], shifts))
    for j in range(w):
        out += logodds[j][codes[:, j:j + shifts]]
    return out


def _logodds(probs: np.ndarray, background: np.ndarray) -> np.ndarray:
    lo = np.zeros((probs.shape[0], 5))
    lo[:, :4] = np.log(probs) - np.log(background)[None, :]
    return lo


def _logsumexp(x: np.ndarray) -> np.ndarray:
    m = x.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]


def _em(codes: np.ndarray, probs: np.ndarray, background: np.ndarray, max_iter: int = 50,
        tol: float = 1e-4, pseudocount: float = 0.5) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """ZOOPS expectation-maximisation from the starting frequencies ``probs`` (w, 4).

    Returns (probs, llr, posterior per site, log LR per site and shift).
    """
    n, L = codes.shape
    w = probs.shape[0]
    shifts = L - w + 1
    gamma = 0.5
    onehot = np.eye(5)[:, :4][codes]  # (n, L, 4); N is all zeros
    for _ in range(max_iter):
        llr_s = _log_lr(codes, _logodds(probs, background))
        site_lr = _logsumexp(llr_s) - math.log(shifts)  # log mean over shifts
        # posterior that site i holds the motif: gamma * m / (gamma * m + 1 - gamma)
        post = 1.0 / (1.0 + np.exp(-(site_lr + math.log(gamma) - math.log1p(-gamma))))
        where = np.exp(llr_s - _logsumexp(llr_s)[:, None]) * post[:, None]  # (n, shifts)
        counts = np.stack([np.einsum("ns,nsk->k", where, onehot[:, j:j + shifts]) for j in range(w)])
        new = (counts + pseudocount * background) / (counts.sum(axis=1, keepdims=True) + pseudocount)
        gamma = float(np.clip(post.mean(), 1.0 / (n + 1), n / (n + 1)))
        done = np.abs(new - probs).max() < tol
        probs = new
        if done:
            break
    llr_s = _log_lr(codes, _logodds(probs, background))
    site_lr = _logsumexp(llr_s) - math.log(shifts)
    llr = float(np.sum(np.logaddexp(math.log(gamma) + site_lr, math.log1p(-gamma))))
    post = 1.0 / (1.0 + np.exp(-(site_lr + math.log(gamma) - math.log1p(-gamma))))
    return probs, llr, post, llr_s


def _seeds(codes: np.ndarray, k: int, n_seeds: int) -> list[np.ndarray]:
    """The ``n_seeds`` k-mers present in most sites (ties: lexicographic), as code arrays."""
    n = len(codes)
    windows = np.lib.stride_tricks.sliding_window_view(codes, k, axis=1)  # (n, L-k+1, k)
    valid = (windows != N_CODE).all(axis=2)
    ids = (windows.astype(np.int64) * (4 ** np.arange(k - 1, -1, -1))).sum(axis=2)
    site_idx = np.repeat(np.arange(n), windows.shape[1])
    pairs = np.unique(np.stack([site_idx[valid.ravel()], ids.ravel()[valid.ravel()]]), axis=1)
    presence = np.bincount(pairs[1], minlength=4 ** k)
    order = np.lexsort((np.arange(4 ** k), -presence))[:n_seeds]
    order = order[presence[order] > 0]
    return [np.array([(i // 4 ** p) % 4 for p in range(k - 1, -1, -1)]) for i in order]


def _search(codes: np.ndarray, width: int, background: np.ndarray, n_seeds: int
            ) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """The best EM motif over the k-mer seeds of ``codes``: (probs, llr, posterior, log LR)."""
    k = min(4, width)
    best = None
    for seed in _seeds(codes, k, n_seeds):
        start = np.tile(background, (width, 1))
        lo = (width - k) // 2
        start[lo:lo + k] = 0.1
        start[np.arange(lo, lo + k), seed] = 0.7
        result = _em(codes, start, background)
        if best is None or result[1] > best[1] + 1e-9:
            best = result
    return best


def information_content(probs: np.ndarray) -> np.ndarray:
    """Bits per column against a uniform background, shape=(w,)."""
    p = np.clip(probs, 1e-12, 1.0)
    return 2.0 + (probs * np.log2(p)).sum(axis=1)


def trim(probs: np.ndarray, min_bits: float, n_sites: int | None = None) -> tuple[int, int]:
    """(first, stop) of the columns left after dropping low-information columns at both ends.

    With ``n_sites``, the information content is corrected for small samples (the expected
    3 / (2 n ln 2) bits of a uniform column estimated from n letters are subtracted).
    """
    ic = information_content(probs)
    if n_sites:
        ic = ic - 3.0 / (2.0 * n_sites * math.log(2.0))
    keep = np.flatnonzero(ic >= min_bits)
    if not len(keep):
        return 0, 0
    return int(keep[0]), int(keep[-1]) + 1


def _frequencies(codes: np.ndarray, members: np.ndarray, shifts: np.ndarray, width: int) -> np.ndarray:
    cols = shifts[:, None] + np.arange(width)[None, :]
    seg = np.take_along_axis(codes[members], cols, axis=1)
    counts = np.stack([(seg == b).sum(axis=0) for b in range(4)], axis=1).astype(float)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)


def find_motifs(regions: Regions, method: str = "em", min_sites: int = 10, max_motifs: int = 3,
                min_bits: float = 0.3, min_width: int = 3, n_seeds: int = 10, n_null: int = 5,
                seed: int = 0, progress: Callable[[str], None] | None = None) -> list[Motif]:
    """Motifs of each class of ``regions`` (classes in order of first appearance).

    Parameters
    ----------
    regions: Regions from ``extract_regions``.
    method: "em" (iterative PWM refinement, several motifs per class) or "stack" (the
        highest-attribution segments stacked as extracted, one motif per class). Default is "em".
    min_sites: int, fewest sites a motif must hold. Default is 10.
    max_motifs: int, most motifs per class ("em"). Default is 3.
    min_bits: float, end columns below this information content (bits, corrected for the
        number of sites) are trimmed. Default is 0.3.
    min_width: int, a motif narrower than this after trimming is dropped. Default is 3.
    n_seeds: int, 4-mer seeds tried per motif ("em"). Default is 10.
    n_null: int, shuffles of the segments in the null search ("em"); a motif must beat
        every null likelihood ratio and their mean by 3 standard deviations. Default is 5.
    seed: int, seed of the shuffles. Default is 0.
    progress: called with a short message after each class, or None.

    Returns
    -------
    list of Motif, ids ``<class>_<k>`` numbered by discovery within the class.
    """
    if method not in ("em", "stack"):
        raise ValueError(f"method must be 'em' or 'stack', got {method!r}")
    rng = np.random.default_rng(seed)
    motifs: list[Motif] = []
    width, shift = regions.width, regions.max_shift
    for cls in pd.unique(regions.modification):
        idx = np.flatnonzero(regions.modification == cls)
        found = []
        if method == "stack":
            if len(idx) >= min_sites:
                shifts = np.full(len(idx), shift)
                found.append((idx, shifts, 0.0))
        else:
            valid = regions.codes[idx] != N_CODE
            bg = np.bincount(regions.codes[idx][valid], minlength=4)[:4] + 1.0
            background = bg / bg.sum()
            remaining = idx
            while len(remaining) >= min_sites and len(found) < max_motifs:
                codes = regions.codes[remaining]
                probs, llr, post, llr_s = _search(codes, width, background, n_seeds)
                null = np.array([_search(_shuffle_rows(codes, rng), width, background, n_seeds)[1]
                                 for _ in range(n_null)])
                members = np.flatnonzero(post > 0.5)
                if (len(members) < min_sites or llr <= null.max()
                        or llr <= null.mean() + 3 * null.std()):
                    break
                found.append((remaining[members], np.argmax(llr_s[members], axis=1), llr))
                remaining = np.delete(remaining, members)
        for members, shifts, llr in found:
            probs = _frequencies(regions.codes, members, shifts, width)
            a, b = trim(probs, min_bits, len(members))
            if b - a < min_width:
                continue
            starts = regions.offset[members] - shift + shifts + a
            motifs.append(Motif(f"{cls}_{sum(m.modification == cls for m in motifs) + 1}", str(cls),
                                probs[a:b], members, starts, float(llr)))
        if progress is not None:
            progress(f"{cls}: {len(idx)} sites, {sum(m.modification == cls for m in motifs)} motif(s)")
    return motifs


def _shuffle_rows(codes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each row's letters permuted (composition kept, order destroyed)."""
    keys = rng.random(codes.shape)
    return np.take_along_axis(codes, np.argsort(keys, axis=1), axis=1)


def consensus(probs: np.ndarray, rna: bool = True) -> str:
    """IUPAC consensus per column: the fewest letters (1-3) whose frequencies reach 0.5, 0.75 or 0.9, else N."""
    out = []
    for row in probs:
        order = np.argsort(-row, kind="stable")
        letters = "N"
        for n_letters, need in ((1, 0.5), (2, 0.75), (3, 0.9)):
            top = order[:n_letters]
            # one letter only if it also doubles the runner-up; every letter of a code holds >= 0.1
            clear = row[top[0]] >= 2 * row[order[1]] if n_letters == 1 else row[top[-1]] >= 0.1
            if row[top].sum() >= need and clear:
                letters = _IUPAC[frozenset(DNA[i] for i in top)]
                break
        out.append(letters)
    text = "".join(out)
    return text.replace("T", "U") if rna else text


# ---------------------------------------------------------------------------------------------
# logos

def write_logo(probs: np.ndarray, png: str | os.PathLike, svg: str | os.PathLike, title: str) -> None:
    """An information-content sequence logo (RNA letters) as PNG and SVG."""
    import matplotlib

    matplotlib.use("Agg")
    import logomaker
    import matplotlib.pyplot as plt

    frame = pd.DataFrame(np.clip(probs, 0.0, 1.0), columns=list(RNA))
    info = logomaker.transform_matrix(frame, from_type="probability", to_type="information")
    with plt.rc_context({"svg.hashsalt": "multirm-tools", "font.family": "DejaVu Sans"}):
        fig, ax = plt.subplots(figsize=(0.45 * len(probs) + 1.2, 2.2))
        logomaker.Logo(info, ax=ax, color_scheme="classic")
        ax.set_ylim(0, 2)
        ax.set_ylabel("bits")
        ax.set_xticks(range(len(probs)), [str(i + 1) for i in range(len(probs))])
        ax.set_title(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(png, format="png", dpi=150, metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
        plt.close(fig)


# ---------------------------------------------------------------------------------------------
# TOMTOM

def compare_motifs(queries: dict[str, np.ndarray], targets: dict[str, np.ndarray],
                   both_strands: bool = False, threads: int = 1) -> pd.DataFrame:
    """TOMTOM (memelite) of every query against every target.

    Parameters
    ----------
    queries, targets: id -> letter frequencies, shape=(w, 4), ACGT order.
    both_strands: also compare the reverse complement of each target (DNA motifs);
        RNA is single-stranded, so the default compares the given strand only. Default is False.
    threads: numba threads. Default is 1.

    Returns
    -------
    pd.DataFrame with ``TOMTOM_COLUMNS``, one row per query and target: p from TOMTOM,
    E = p * number of targets, q = Benjamini-Hochberg over all pairs; ``offset`` and
    ``overlap`` as memelite reports them (offset of the query against the target,
    overlapping columns); ``orientation`` "+" or "-" (target reverse-complemented).
    Rows ordered by query, then p-value.
    """
    if not queries:
        return pd.DataFrame(columns=TOMTOM_COLUMNS)
    import numba
    from memelite import tomtom

    if "NUMBA_THREADING_LAYER" not in os.environ:
        # numba's default OpenMP layer keeps its threads spinning after a call and slows PyTorch's
        # own OpenMP pool in the same process about tenfold; workqueue threads sleep instead. The
        # layer is chosen at numba's first parallel call, so later settings change nothing.
        numba.config.THREADING_LAYER = "workqueue"
    qids, tids = list(queries), list(targets)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the few-targets warning is the caller's to give
        p, _, offsets, overlaps, strands = tomtom([queries[q].T for q in qids], [targets[t].T for t in tids],
                                                  reverse_complement=both_strands, n_jobs=threads)
    p = np.clip(np.asarray(p, dtype=float), np.finfo(float).tiny, 1.0)
    q = bh_qvalues(p.ravel()).reshape(p.shape)
    frame = pd.DataFrame({
        "query_id": np.repeat(qids, len(tids)), "target_id": np.tile(tids, len(qids)),
        "offset": offsets.ravel().astype(int), "p_value": p.ravel(), "e_value": p.ravel() * len(tids),
        "q_value": q.ravel(), "overlap": overlaps.ravel().astype(int),
        "orientation": np.where(strands.ravel() > 0, "-", "+")})
    frame["_q"] = pd.Categorical(frame["query_id"], categories=qids, ordered=True)
    return frame.sort_values(["_q", "p_value", "target_id"], kind="stable").drop(columns="_q").reset_index(drop=True)
