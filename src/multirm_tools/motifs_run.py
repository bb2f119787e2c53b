"""multirm-motifs' run: the sites' score tracks, motifs found in them, and the files written.

Tracks come from multirm-explain's explain.tsv (``read_explain`` + ``motifs.tracks_from_explain``,
then ``filter_classes``) or from labelled sites tables explained here (``explain_table_sites``: the
true positives among each class's top scores, as MultiRM chose them). ``find_and_write`` extracts
the segments, finds the motifs, compares them with known ones (TOMTOM) and writes motifs.meme,
motifs.tsv, motif_sites.tsv, the logos, tomtom.tsv and run.json, each under a temporary name.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .baseline import table_windows
from .constants import canonical_name
from .errors import InputError, MultiRMError, UsageError
from .explain import ExplainWarning, attention_nt, explain_pairs
from .inference import score_windows, zero_wrong_base
from .kmers import tokenize
from .meme import read_meme, write_meme
from .motifs import RNA, Tracks, compare_motifs, consensus, extract_regions, find_motifs, write_logo
from .paths import atomic_path
from .sites import read_many
from .tables import TABLES, write_run_record, write_tsv

#: Options of multirm-motifs recorded in run.json.
RECORDED_OPTIONS = ("score", "classes", "width", "max_shift", "method", "min_sites", "max_motifs", "min_bits", "seed",
                    "max_q", "both_strands")


def read_explain(arg: str) -> tuple[pd.DataFrame, Path]:
    """multirm-explain's explain.tsv (or the one in a folder) and the path it was read from."""
    path = Path(arg)
    if path.is_dir():
        path = path / "explain.tsv"
    try:
        df = pd.read_csv(path, sep="\t", dtype={"record": str, "nucleotide": str, "modification": str},
                         keep_default_na=False, na_values=[])
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file; expected the explain.tsv of multirm-explain") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a tab-separated table ({str(exc).splitlines()[0]})") from None
    return df, path


def filter_classes(tracks: Tracks, wanted: list[str] | None, source: str) -> Tracks:
    """The tracks of the ``wanted`` classes (all when None), names made canonical."""
    try:
        names = np.array([canonical_name(m) for m in tracks.modification], dtype=object)
    except MultiRMError as exc:
        raise InputError(f"{source}: {exc}") from None
    tracks = tracks._replace(modification=names)
    if wanted is None:
        return tracks
    absent = [c for c in wanted if c not in set(names)]
    if absent:
        raise UsageError(f"--classes: {source} has no sites of {', '.join(absent)} "
                         f"(it has {', '.join(sorted(set(names)))})")
    keep = np.isin(names, wanted)
    return Tracks(*(a[keep] for a in tracks[:5]), tracks.first_offset)


def explain_table_sites(paths: list[str], bundle, wanted: list[str] | None, *, top_fraction: float, score: str,
                        steps: int, ig_baseline: str, batch_size: int, device, progress: bool,
                        warn: Callable[[str], None]) -> tuple[Tracks, dict]:
    """Score the tables' centre windows, keep true positives among the top scores, explain them."""

    cfg = bundle.config
    df = read_many(paths, base_mismatch="drop")
    classes = wanted or [c for c in cfg.classes if c in set(df["modification"])]
    foreign = sorted(set(classes) - set(cfg.classes))
    if foreign:
        raise UsageError(f"class(es) {', '.join(foreign)} are not predicted by the model {bundle.path} "
                         f"(it predicts {', '.join(cfg.classes)})")
    absent = [c for c in classes if c not in set(df["modification"])]
    if absent:
        raise UsageError(f"--classes: {', '.join(paths)} have no rows of {', '.join(absent)}")
    df = df[df["modification"].isin(classes)].reset_index(drop=True)
    windows = table_windows(df, cfg.window)
    scores = zero_wrong_base(windows, score_windows(bundle.model, windows, batch_size, device), cfg.classes)
    chosen, counts = [], {}
    for cls in classes:
        rows = np.flatnonzero(df["modification"].to_numpy() == cls)
        s = scores[rows, cfg.classes.index(cls)]
        top = rows[np.argsort(-s, kind="stable")[:math.ceil(top_fraction * len(rows))]]
        tp = top[df["label"].to_numpy()[top] == 1]
        counts[cls] = {"rows": len(rows), "top": len(top), "true_positives": len(tp)}
        chosen.extend(sorted(tp))
    if not chosen:
        raise InputError(f"{', '.join(paths)}: no true positives (label 1) among the top "
                         f"{top_fraction:g} of scores of any class; nothing to explain")
    chosen = np.asarray(chosen)
    class_index = np.array([cfg.classes.index(c) for c in df["modification"].to_numpy()[chosen]])
    codes = windows[chosen]
    with tqdm(total=len(chosen), desc="explaining", unit="site", disable=not progress, file=sys.stderr) as bar:
        if score == "attention":  # no gradients needed
            values = np.empty(codes.shape)
            for lo in range(0, len(codes), batch_size):
                tok = torch.as_tensor(tokenize(codes[lo:lo + batch_size], cfg.k), device=device)
                att = attention_nt(bundle.model, tok)
                values[lo:lo + len(tok)] = att[np.arange(len(tok)), class_index[lo:lo + len(tok)]]
                bar.update(len(tok))
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ExplainWarning)
                values = explain_pairs(bundle.model, codes, class_index, steps, ig_baseline,
                                       batch_size, device, progress=bar.update).attribution
            for w in caught:
                warn(str(w.message))
    values = np.where(codes == 4, 0.0, values)
    tracks = Tracks(df["modification"].to_numpy()[chosen], df["id"].to_numpy()[chosen],
                    df["site"].to_numpy()[chosen] + 1, codes, values, -(cfg.window // 2))
    return tracks, {"model": str(bundle.path), "per_class": counts}


def known_motifs(path: str | None, warn: Callable[[str], None]) -> dict[str, np.ndarray] | None:
    """The motifs of a known-motif MEME file (None without one); few targets get a warning."""
    if path is None:
        return None
    known = read_meme(path)
    if len(known) < 25:
        warn(f"{path} holds {len(known)} motif(s); TOMTOM p-values depend on the targets and are "
             f"unreliable with fewer than 25 (MEME's tomtom warns below 50)")
    return known


def occurrences(motifs, regions) -> pd.DataFrame:
    """motif_sites.tsv: the occurrence that supports each motif, positions 1-based in the record."""
    rows = []
    letters = np.array(list(RNA + "N"))
    for m in motifs:
        w = len(m.probs)
        for member, start in zip(m.members, m.starts):
            # start: window position of the first motif column; the region holds the segment
            # from offset - max_shift on, so the occurrence is at column start - offset + max_shift
            col = start - regions.offset[member] + regions.max_shift
            seg = "".join(letters[regions.codes[member, col:col + w]])
            site = int(regions.site[member])
            rows.append((m.motif_id, m.modification, regions.record[member], site, site + start,
                         site + start + w - 1, seg))
    return pd.DataFrame(rows, columns=TABLES["motif_sites"].names)


def find_and_write(tracks: Tracks, out: Path, options: dict, known: dict[str, np.ndarray] | None, *,
                   run_header: dict, inputs: dict, progress: bool) -> dict:
    """Motifs of ``tracks`` found with ``options`` (multirm-motifs' option names), written into ``out``.

    Returns the counts run.json records: sites per class, sites without a segment, motifs and
    TOMTOM matches (None without ``known``), and the matched motif ids.
    """
    width, max_shift = options["width"], options["max_shift"]
    regions, dropped = extract_regions(tracks, width, max_shift)
    if not len(regions.codes):
        raise InputError(f"no site has a {width}-nt segment without N; use a smaller --width")
    n_classes = len(pd.unique(regions.modification))
    with tqdm(total=n_classes, desc="motifs", unit="class", disable=not progress, file=sys.stderr) as bar:
        motifs = find_motifs(regions, options["method"], options["min_sites"], options["max_motifs"],
                             options["min_bits"], seed=options["seed"],
                             progress=lambda msg: (bar.set_postfix_str(msg), bar.update()))
    found = {m.motif_id: m.probs for m in motifs}
    table = pd.DataFrame({"motif_id": [m.motif_id for m in motifs],
                          "modification": [m.modification for m in motifs],
                          "n_sites": [len(m.members) for m in motifs],
                          "width": [len(m.probs) for m in motifs],
                          "consensus": [consensus(m.probs) for m in motifs]},
                         columns=TABLES["motifs_table"].names)
    hits = None
    if known is not None:
        hits = compare_motifs(found, known, options["both_strands"], threads=1)
        hits = hits[hits["q_value"] <= options["max_q"]].reset_index(drop=True)

    out.mkdir(parents=True, exist_ok=True)
    logos = out / "logos"
    logos.mkdir(exist_ok=True)
    for m in motifs:
        with atomic_path(logos / f"{m.motif_id}.png") as png, atomic_path(logos / f"{m.motif_id}.svg") as svg:
            write_logo(m.probs, png, svg, f"{m.motif_id} ({len(m.members)} sites)")
    with atomic_path(out / "motifs.meme") as tmp, open(tmp, "w") as fh:
        write_meme(fh, found, {m.motif_id: len(m.members) for m in motifs})
    write_tsv(table, out / "motifs.tsv", float_format=None)
    write_tsv(occurrences(motifs, regions), out / "motif_sites.tsv", float_format=None)
    if hits is not None:
        write_tsv(hits[TABLES["tomtom"].names], out / "tomtom.tsv")
    n_sites = {str(c): int((regions.modification == c).sum()) for c in pd.unique(regions.modification)}
    counts = {"sites": n_sites, "sites_without_segment": dropped, "motifs": len(motifs),
              "tomtom_matches": None if hits is None else len(hits)}
    with atomic_path(out / "run.json") as tmp:
        write_run_record(tmp, {**run_header, "inputs": inputs, "known": options.get("known"),
                               "options": {k: options[k] for k in RECORDED_OPTIONS}, "counts": counts})
    return {**counts, "matched": None if hits is None else int(hits["query_id"].nunique())}
