"""The report's library: recognise the other tools' outputs by content, load them into tidy tables,
bound what one HTML page embeds, build its Altair charts and render it from ``templates/``.

Everything a page needs is inside it: the Vega, Vega-Lite and vega-embed JavaScript (from
vl-convert, once per page), the chart data (column-wise JSON), logos as base64 PNG. Sizes are
bounded by ``Limits`` whatever the input, so a report stays under ``SIZE_BOUND_MB``.
"""

from __future__ import annotations

import base64
import functools
import gzip
import heapq
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .bed import is_sites_bed, read_bed
from .constants import CLASS_NAMES
from .errors import InputError, UsageError
from .meme import read_meme
from .seqio import is_gzip
from .tables import BASELINE_MODEL, TABLES

TEMPLATES = Path(__file__).resolve().parent / "templates"
SIZE_BOUND_MB = 10

PREDICTION_COLUMNS = TABLES["predictions"].names
#: The tools' tables the report reads (their layouts: ``tables.TABLES``).
TABLE_KINDS = ("predictions", "metrics", "curves", "explain", "explain_sites", "motifs_table", "tomtom",
               "correlation_long", "distances", "comparison", "variants")
#: Tables of multirm-evaluate that describe either the model or the baseline (``model`` /
#: ``other_model`` column, first): ``KIND_baseline`` for the baseline's.
_BY_MODEL = ("metrics", "curves", "comparison")
KIND_LABELS = {
    "predictions": TABLES["predictions"].label, "run": "multirm-predict run record",
    "sites_bed": "significant sites (BED)", "metrics": TABLES["metrics"].label,
    "curves": TABLES["curves"].label, "metrics_baseline": "multirm-evaluate baseline metrics",
    "curves_baseline": "multirm-evaluate baseline ROC/PR curves", "explain": TABLES["explain"].label,
    "explain_sites": TABLES["explain_sites"].label, "motifs_meme": "multirm-motifs MEME motifs",
    "motifs_table": TABLES["motifs_table"].label, "tomtom": TABLES["tomtom"].label,
    "logos": "multirm-motifs logos", "correlation": "multirm-correlate correlation matrix",
    "correlation_long": TABLES["correlation_long"].label, "distances": TABLES["distances"].label,
    "comparison": TABLES["comparison"].label,
    "comparison_baseline": "multirm-evaluate comparison with the baseline",
    "variants": TABLES["variants"].label, "variants_run": "multirm-variants run record",
}
MAX_LOGO_BYTES = 65536
MAX_LOGOS = 30
MAX_CURVE_POINTS = 400
MAX_TOMTOM_PER_MOTIF = 3


@dataclass(frozen=True)
class Limits:
    """What one report embeds at most (the size bound follows from these)."""

    max_sequences: int = 50  # records with a track, the most significant sites first
    max_points: int = 2000  # track points per record (max per bin when downsampled)
    max_site_marks: int = 500  # significant sites marked per track (highest probability first)
    max_table_rows: int = 2000  # rows of the significant-sites table
    max_explained: int = 20  # explained sites drawn per class (highest probability first)


# ---------------------------------------------------------------------------------------------
# recognising inputs

def _open_text(path: Path):
    return gzip.open(path, "rt", newline="") if is_gzip(path) else open(path, newline="")


def _first_lines(path: Path, n: int = 1) -> list[str]:
    """The first ``n`` lines (fewer at the end of the file); ``["\0"]`` when the file is no text."""
    try:
        with _open_text(path) as fh:
            return [line.rstrip("\r\n") for _, line in zip(range(n), fh)] or [""]
    except (UnicodeDecodeError, OSError, EOFError):
        return ["\0"]


def _first_line(path: Path) -> str:
    return _first_lines(path)[0]


def _table_kind(path: Path, cells: list[str]) -> str | None:
    """The registry table whose header ``cells`` is; evaluate's tables of the baseline as
    ``KIND_baseline``, told by their first column (older ones without it: by the file name)."""
    for kind in TABLE_KINDS:
        headers = TABLES[kind].headers()
        if cells not in headers:
            continue
        if kind in _BY_MODEL:
            if cells[0] in ("model", "other_model"):
                lines = _first_lines(path, 2)
                described = lines[1].split("\t")[0] if len(lines) > 1 else ""
                return kind + "_baseline" if described == BASELINE_MODEL else kind
            if "baseline" in path.name:
                return kind + "_baseline"
        return kind
    return None


def classify_file(path: Path) -> str | None:
    """The kind of one output file, from its content (``None``: not one the report reads)."""
    if path.suffix.lower() == ".png":
        return "logo" if path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" else None
    line = _first_line(path)
    cells = line.split("\t")
    kind = _table_kind(path, cells)
    if kind is not None:
        return kind
    if len(cells) > 1 and cells[0] in ("", "modification") and set(cells[1:]) <= set(CLASS_NAMES):
        return "correlation"
    if line.startswith("MEME version"):
        return "motifs_meme"
    if line.lstrip().startswith("{"):
        try:
            record = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            return None
        tool = record.get("tool") if isinstance(record, dict) else None
        return {"multirm-predict": "run", "multirm-variants": "variants_run"}.get(tool)
    if is_sites_bed(path):
        return "sites_bed"
    return None


def recognise(paths: list[str]) -> dict[str, Any]:
    """Map each input (a tool's output folder or one of its files) to the kinds it holds.

    Returns ``{kind: Path}`` (``logos``: ``{motif_id: Path}``). An input that holds nothing the
    report reads, or two inputs of the same kind, is an error naming them.
    """
    found: dict[str, Any] = {}
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise InputError(f"{raw}: no such file or folder")
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.is_file())
            logos = p / "logos"
            if logos.is_dir():
                files += sorted(logos.glob("*.png"))
            kinds = [(f, classify_file(f)) for f in files]
            kinds = [(f, k) for f, k in kinds if k]
            if not kinds:
                raise InputError(f"{raw}: no output of multirm-predict, -evaluate, -explain, -motifs "
                                 f"or -correlate in this folder")
        else:
            kind = classify_file(p)
            if kind is None:
                raise InputError(f"{raw}: not recognised as an output of multirm-predict, -evaluate, "
                                 f"-explain, -motifs or -correlate (first line: {_first_line(p)[:60]!r})")
            kinds = [(p, kind)]
        for f, kind in kinds:
            if kind == "logo":
                found.setdefault("logos", {})[f.stem] = f
                continue
            if kind in found:
                raise UsageError(f"{found[kind]} and {f} are both {KIND_LABELS[kind]}; give one of them")
            found[kind] = f
    if "predictions" in found:
        found.pop("sites_bed", None)  # the significant sites are read from the predictions
    return found


# ---------------------------------------------------------------------------------------------
# small tables

def read_table(path: Path, kind: str) -> pd.DataFrame:
    """A TSV whose header was recognised as ``kind``; numeric columns checked, errors name the line."""
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False,
                         compression="gzip" if is_gzip(path) else None)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: not a readable table: {str(exc).splitlines()[0]}") from None
    if kind == "correlation":
        numeric = list(df.columns[1:])
    else:
        types = TABLES[kind.removesuffix("_baseline")].types
        numeric = [c for c in df.columns if types.get(c) in ("int", "float")]
    for col in numeric:
        values = pd.to_numeric(df[col].replace({"NA": "nan", "": "nan"}), errors="coerce")
        bad = values.isna() & ~df[col].isin(["NA", "", "nan", "NaN"])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: line {i + 2}: column {col} is {df[col].iloc[i]!r}, not a number")
        df[col] = values
    return df


def read_run(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(f"{path}: not valid JSON: {exc}") from None


def read_sites_bed(path: Path) -> pd.DataFrame:
    """A sites BED as ``chrom start end modification score strand`` (score an integer)."""
    bed = read_bed(path)
    score = pd.to_numeric(bed["score"], errors="coerce")
    if score.isna().any():
        i = int(np.flatnonzero(score.isna().to_numpy())[0])
        raise InputError(f"{path}: line {bed['line'].iloc[i]}: score {bed['score'].iloc[i]!r} is not an integer")
    return (bed.assign(score=score.astype(np.int64)).rename(columns={"name": "modification"})
            [["chrom", "start", "end", "modification", "score", "strand"]])


# ---------------------------------------------------------------------------------------------
# predictions: one streaming pass, bounded memory

@dataclass
class Track:
    """One record's probability track, reduced to at most ``Limits.max_points`` rows."""

    record: str
    order: int  # rank of the record in the input
    length: int = 0  # last position seen
    n_significant: int = 0
    bin_width: int = 1  # 1: every position is drawn
    rows: pd.DataFrame | None = None  # position base modification probability p_value q_value
    sites: pd.DataFrame | None = None  # significant rows (at most max_site_marks)
    sites_cut: bool = False


@dataclass
class PredictionSummary:
    tracks: list[Track]  # the records drawn, best first
    n_records: int
    per_class: pd.DataFrame  # modification, predictions, significant
    sites: pd.DataFrame  # significant rows, at most max_table_rows
    n_significant: int
    alpha: float
    fdr: float
    max_bin_width: int = 1


TRACK_COLUMNS = ["position", "base", "modification", "probability", "p_value", "q_value"]


def _reduce(rows: pd.DataFrame, codes: np.ndarray, positions: np.ndarray, width: int) -> pd.DataFrame:
    """Keep, per class and bin of ``width`` positions, the row of highest probability (the first
    such row on ties). ``rows`` are sorted by class, then position; ``codes``, ``positions`` are
    their class codes and positions."""
    if width == 1 or rows.empty:
        return rows
    k = positions // width
    start = np.r_[True, (k[1:] != k[:-1]) | (codes[1:] != codes[:-1])]
    group = np.cumsum(start) - 1
    prob = rows["probability"].to_numpy()
    best = np.maximum.reduceat(prob, np.flatnonzero(start))
    idx = np.flatnonzero(prob == best[group])
    g = group[idx]
    return rows.iloc[idx[np.r_[True, g[1:] != g[:-1]]]]


def _n_bins(codes: np.ndarray, positions: np.ndarray, width: int) -> int:
    """Distinct (class, bin) pairs; ``codes``, ``positions`` sorted by class, then position."""
    k = positions // width
    return 1 + int(np.count_nonzero((k[1:] != k[:-1]) | (codes[1:] != codes[:-1]))) if len(k) else 0


class _TrackBuilder:
    """Accumulates one record's rows chunk by chunk, doubling the bin width when over budget.

    Bins of width 2w are unions of bins of width w, so reducing again after doubling gives the
    same rows as reducing everything at once.
    """

    def __init__(self, record: str, order: int, limits: Limits):
        self.track = Track(record, order)
        self.limits = limits
        self.parts: list[pd.DataFrame] = []
        self.n_parts_rows = 0
        self.site_parts: list[pd.DataFrame] = []

    def add(self, rows: pd.DataFrame, significant: np.ndarray) -> None:
        t = self.track
        t.length = max(t.length, int(rows["position"].max()))
        n_sig = int(significant.sum())
        t.n_significant += n_sig
        if n_sig:
            self.site_parts.append(rows[significant])
            if sum(len(s) for s in self.site_parts) > 4 * self.limits.max_site_marks:
                self._cut_sites()
        self.parts.append(rows)
        self.n_parts_rows += len(rows)
        if self.n_parts_rows > 2 * self.limits.max_points:
            self._compact()

    def _cut_sites(self) -> None:
        if not self.site_parts:
            return
        sites = pd.concat(self.site_parts)
        if len(sites) > self.limits.max_site_marks:
            self.track.sites_cut = True
            sites = sites.nlargest(self.limits.max_site_marks, "probability", keep="first")
        self.site_parts = [sites]

    def _compact(self) -> None:
        rows = pd.concat(self.parts, ignore_index=True)
        width = self.track.bin_width
        codes = rows["modification"].cat.codes.to_numpy()
        positions = rows["position"].to_numpy()
        order = np.lexsort((positions, codes))
        rows, codes, positions = rows.iloc[order], codes[order], positions[order]
        while _n_bins(codes, positions, width) > self.limits.max_points:
            width *= 2
        self.track.bin_width = width
        rows = _reduce(rows, codes, positions, width)
        self.parts, self.n_parts_rows = [rows], len(rows)

    def finish(self) -> Track:
        self._compact()
        self._cut_sites()
        t = self.track
        t.rows = self.parts[0].sort_values(["modification", "position"], kind="stable")
        t.sites = (self.site_parts[0].sort_values("position", kind="stable") if self.site_parts
                   else t.rows.iloc[:0])
        self.parts = self.site_parts = []
        return t


def _locate_bad_line(path: Path) -> str:
    """The first line of a predictions table that does not parse (only called after a failure)."""
    with _open_text(path) as fh:
        fh.readline()
        for n, line in enumerate(fh, start=2):
            f = line.rstrip("\r\n").split("\t")
            if len(f) != len(PREDICTION_COLUMNS):
                return f"line {n}: {len(f)} columns, expected {len(PREDICTION_COLUMNS)}"
            try:
                int(f[1]), float(f[4]), float(f[5]), float(f[6]), int(f[7])
            except ValueError:
                return f"line {n}: position, probability, p_value, q_value or edge is not a number"
    return "unreadable table"


def _chunks(path: Path, dtypes: dict, chunk_rows: int):
    """``read_csv`` chunks; a parse failure becomes an InputError naming the first bad line."""
    try:
        reader = pd.read_csv(path, sep="\t", dtype=dtypes, chunksize=chunk_rows, na_filter=False,
                             compression="gzip" if is_gzip(path) else None)
        while True:
            try:
                chunk = next(reader)
            except StopIteration:
                return
            yield chunk
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file") from None
    except (ValueError, pd.errors.ParserError):
        raise InputError(f"{path}: {_locate_bad_line(path)}") from None


def summarise_predictions(path: Path, alpha: float, fdr: float, limits: Limits,
                          chunk_rows: int = 1_000_000, progress: bool = False) -> PredictionSummary:
    """Stream ``predictions.tsv`` once: per-class counts, the top records' tracks, the sites table.

    Records must be contiguous (predict writes them so). Memory is bounded by ``chunk_rows`` and
    ``limits``, not by the size of the file.
    """
    from tqdm.auto import tqdm

    dtypes = {"record": "category", "position": np.int64, "base": "category",
              "modification": pd.CategoricalDtype(CLASS_NAMES), "probability": np.float64,
              "p_value": np.float64, "q_value": np.float64, "edge": np.int8}
    counts = np.zeros((len(CLASS_NAMES), 2), dtype=np.int64)
    best: list[tuple[int, int, Track]] = []  # heap of (n_significant, -order, track)
    seen: set[str] = set()
    builder: _TrackBuilder | None = None
    site_rows: list[pd.DataFrame] = []
    n_site_rows = n_significant = 0
    n_records = 0
    line = 2

    def close(b: _TrackBuilder) -> None:
        t = b.finish()
        item = (t.n_significant, -t.order, t)
        if len(best) < limits.max_sequences:
            heapq.heappush(best, item)
        elif item[:2] > best[0][:2]:
            heapq.heapreplace(best, item)

    def top_sites(frames: list[pd.DataFrame]) -> pd.DataFrame:
        s = pd.concat(frames, ignore_index=True)
        return s.sort_values(["q_value", "p_value", "probability"], ascending=[True, True, False],
                             kind="stable").head(limits.max_table_rows)

    bar = tqdm(unit=" rows", disable=not progress, desc="predictions")
    for chunk in _chunks(path, dtypes, chunk_rows):
        if list(chunk.columns) != PREDICTION_COLUMNS:
            raise InputError(f"{path}: header is not {' '.join(PREDICTION_COLUMNS)}")
        if chunk["modification"].isna().any():
            i = int(np.flatnonzero(chunk["modification"].isna().to_numpy())[0])
            raise InputError(f"{path}: line {line + i}: unknown modification class")
        prob = chunk["probability"].to_numpy()
        bad = ~((prob >= 0) & (prob <= 1)) | ~(chunk["p_value"].to_numpy() > 0)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{path}: line {line + i}: probability must be in [0, 1] and p_value > 0")
        if chunk.empty:  # a header alone: a run that predicted nothing (e.g. --classes m6A on no A)
            continue
        sig = (chunk["p_value"].to_numpy() <= alpha) & (chunk["q_value"].to_numpy() <= fdr)
        codes = chunk["modification"].cat.codes.to_numpy()
        np.add.at(counts[:, 0], codes, 1)
        np.add.at(counts[:, 1], codes[sig], 1)
        n_significant += int(sig.sum())
        if sig.any():
            site_rows.append(chunk.loc[sig, PREDICTION_COLUMNS[:7]])
            n_site_rows += int(sig.sum())
            if n_site_rows > 4 * limits.max_table_rows:
                site_rows = [top_sites(site_rows)]
                n_site_rows = len(site_rows[0])
        rec_codes = chunk["record"].cat.codes.to_numpy()
        starts = np.flatnonzero(np.r_[True, rec_codes[1:] != rec_codes[:-1]])
        ends = np.r_[starts[1:], len(chunk)]
        names = chunk["record"].cat.categories
        for s, e in zip(starts, ends):
            name = str(names[rec_codes[s]])
            if builder is None or builder.track.record != name:
                if name in seen:
                    raise InputError(f"{path}: line {line + s}: record {name} appears again after "
                                     f"other records (rows of a record must be together)")
                seen.add(name)
                if builder is not None:
                    close(builder)
                builder = _TrackBuilder(name, n_records, limits)
                n_records += 1
            part = chunk.iloc[s:e][TRACK_COLUMNS].reset_index(drop=True)
            builder.add(part, sig[s:e])
        line += len(chunk)
        bar.update(len(chunk))
    bar.close()
    if builder is not None:
        close(builder)
    tracks = [t for _, _, t in sorted(best, key=lambda x: (-x[0], -x[1]))]
    sites = top_sites(site_rows) if site_rows else pd.DataFrame(columns=PREDICTION_COLUMNS[:7])
    per_class = pd.DataFrame({"modification": CLASS_NAMES, "predictions": counts[:, 0],
                              "significant": counts[:, 1]})
    per_class = per_class[per_class["predictions"] > 0].reset_index(drop=True)
    return PredictionSummary(tracks=tracks, n_records=n_records, per_class=per_class, sites=sites,
                             n_significant=n_significant, alpha=alpha, fdr=fdr,
                             max_bin_width=max((t.bin_width for t in tracks), default=1))


# ---------------------------------------------------------------------------------------------
# charts: Altair specs whose data are named datasets, embedded column-wise

def _round(values: np.ndarray, digits: int) -> list:
    """Floats to ``digits`` significant digits (smaller JSON; more than the eye can see)."""
    out = []
    for v in np.asarray(values, dtype=float):
        out.append(None if not math.isfinite(v) else float(f"{v:.{digits}g}"))
    return out


def _columns(df: pd.DataFrame, digits: int = 4) -> dict[str, list]:
    cols = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_float_dtype(s):
            cols[c] = _round(s.to_numpy(), digits)
        elif pd.api.types.is_integer_dtype(s):
            cols[c] = [int(v) for v in s.to_numpy()]
        else:
            cols[c] = [str(v) for v in s.astype(str)]
    return {"columns": cols}


def _spec(chart, datasets: dict[str, pd.DataFrame], digits: int = 4) -> dict:
    spec = chart.to_dict()
    spec.pop("$schema", None)  # a URL the page never needs to fetch
    spec["datasets"] = {name: _columns(df, digits) for name, df in datasets.items()}
    return spec


CLASS_SCALE_DOMAIN = list(CLASS_NAMES)


def track_chart(track: Track, width: int = 860):
    """Probability along one record, one lane per class, significant sites marked; zoom on x."""
    import altair as alt
    sig = track.sites.assign(sig=1)
    rows = track.rows.merge(sig[["position", "modification", "sig"]], on=["position", "modification"],
                            how="left")
    extra = sig.merge(track.rows[["position", "modification"]], on=["position", "modification"],
                      how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"].drop(columns="_merge")
    data = (pd.concat([rows, extra], ignore_index=True)
            .assign(sig=lambda d: d["sig"].fillna(0).astype(int))
            .sort_values(["modification", "position"], kind="stable")
            .rename(columns={"p_value": "p", "q_value": "q"}))
    data["modification"] = data["modification"].astype(str)
    classes = [c for c in CLASS_NAMES if c in set(data["modification"])]
    n = len(classes)
    # one panel, one lane per class (first class on top): a facet per class costs the browser
    # several times more per chart, and a report holds up to --max-sequences of them
    names = json.dumps(classes)
    lane_y = f"{n - 1} - indexof({names}, datum.modification) + 0.08 + 0.84 * datum.probability"
    zoom = alt.selection_interval(name="zoom", bind="scales", encodings=["x"])
    tooltip = [alt.Tooltip("position:Q"), alt.Tooltip("base:N"), alt.Tooltip("modification:N"),
               alt.Tooltip("probability:Q", format=".3f"), alt.Tooltip("p:Q", format=".3g"),
               alt.Tooltip("q:Q", format=".3g")]
    color = alt.Color("modification:N", scale=alt.Scale(domain=CLASS_SCALE_DOMAIN, scheme="tableau20"),
                      legend=None)
    x = alt.X("position:Q", scale=alt.Scale(domain=[1, max(track.length, 2)]), title="position (nt)")
    y = alt.Y("lane_y:Q", scale=alt.Scale(domain=[0, n], nice=False, zero=True),
              title="probability, one lane per class (0 to 1)",
              axis=alt.Axis(values=[i + 0.5 for i in range(n)], grid=False, ticks=False, domain=False,
                            labelExpr=f"{names}[{n - 1} - floor(datum.value)]", labelFontWeight="bold",
                            labelOverlap=False))
    base = alt.Chart(alt.NamedData("track")).transform_calculate(lane_y=lane_y).encode(x=x, y=y, color=color)
    lines = base.mark_line(strokeWidth=1).add_params(zoom)
    points = base.mark_circle(size=12, opacity=0.7).encode(tooltip=tooltip)
    marks = base.mark_point(shape="triangle-down", size=70, filled=True, stroke="black", strokeWidth=0.7,
                            opacity=1).encode(tooltip=tooltip).transform_filter("datum.sig == 1")
    chart = alt.layer(lines, points, marks).properties(width=width, height=34 * n)
    return _spec(chart, {"track": data})


def explain_chart(df: pd.DataFrame, cls: str):
    """Attention and attribution per nucleotide around each explained site (paper's Fig. 4)."""
    import altair as alt
    data = df.assign(label=df["record"].astype(str) + ":" + df["site"].astype(int).astype(str)
                     + " (P=" + df["probability"].map(lambda v: f"{v:.2f}") + ")")
    data = data[["label", "window_position", "position", "nucleotide", "attention", "attribution"]]
    order = list(dict.fromkeys(data["label"]))
    base = alt.Chart(alt.NamedData("explain")).encode(
        x=alt.X("window_position:O", title="offset from the site (nt)"),
        y=alt.Y("label:N", sort=order, title=None),
        tooltip=[alt.Tooltip("label:N", title="site"), alt.Tooltip("position:N"),
                 alt.Tooltip("nucleotide:N"), alt.Tooltip("attention:Q", format=".3g"),
                 alt.Tooltip("attribution:Q", format=".3g")])
    letters = base.mark_text(fontSize=9).encode(text="nucleotide:N")
    lim = float(np.nanmax(np.abs(data["attribution"]))) if len(data) else 1.0
    att = alt.layer(base.mark_rect().encode(color=alt.Color(
        "attention:Q", scale=alt.Scale(scheme="blues"), legend=alt.Legend(title="attention"))), letters
    ).properties(title=f"{cls}: attention", width=alt.Step(14), height=alt.Step(14))
    attr = alt.layer(base.mark_rect().encode(color=alt.Color(
        "attribution:Q", scale=alt.Scale(scheme="redblue", reverse=True, domain=[-lim or -1, lim or 1]),
        legend=alt.Legend(title="attribution"))), letters
    ).properties(title=f"{cls}: attribution (integrated gradients)", width=alt.Step(14),
                 height=alt.Step(14))
    chart = alt.vconcat(att, attr).resolve_scale(color="independent")
    return _spec(chart, {"explain": data})


def correlation_chart(long: pd.DataFrame):
    import altair as alt
    order = [c for c in CLASS_NAMES if c in set(long["class_a"]) | set(long["class_b"])]
    base = alt.Chart(alt.NamedData("corr")).encode(
        x=alt.X("class_a:N", sort=order, title=None), y=alt.Y("class_b:N", sort=order, title=None),
        tooltip=[alt.Tooltip("class_a:N"), alt.Tooltip("class_b:N"),
                 alt.Tooltip("pearson_r:Q", format=".3f"), alt.Tooltip("p_value:Q", format=".3g")])
    chart = alt.layer(
        base.mark_rect().encode(color=alt.Color("pearson_r:Q", scale=alt.Scale(
            scheme="redblue", reverse=True, domain=[-1, 1]), title="Pearson r")),
        base.mark_text(fontSize=9).encode(text=alt.Text("pearson_r:Q", format=".2f")),
    ).properties(width=alt.Step(34), height=alt.Step(34))
    return _spec(chart, {"corr": long[["class_a", "class_b", "pearson_r", "p_value"]]})


def _thin_curve(df: pd.DataFrame) -> pd.DataFrame:
    """At most MAX_CURVE_POINTS points per curve, first and last kept."""
    if len(df) <= MAX_CURVE_POINTS:
        return df
    idx = np.unique(np.linspace(0, len(df) - 1, MAX_CURVE_POINTS).round().astype(int))
    return df.iloc[idx]


def curve_chart(curves: pd.DataFrame, which: str):
    """ROC or PR curves, one line per class; the baseline's dashed when given."""
    import altair as alt
    data = curves[curves["curve"] == which]
    data = pd.concat([_thin_curve(g) for _, g in data.groupby(["source", "modification"], sort=False)]
                     ) if len(data) else data
    data = data[["source", "modification", "x", "y", "threshold"]]
    xt, yt = ("false positive rate", "true positive rate") if which == "ROC" else ("recall", "precision")
    pick = alt.selection_point(name="pick", fields=["modification"], bind="legend")
    chart = alt.Chart(alt.NamedData("curves")).mark_line(strokeWidth=1.5).encode(
        x=alt.X("x:Q", title=xt, scale=alt.Scale(domain=[0, 1])),
        y=alt.Y("y:Q", title=yt, scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("modification:N", scale=alt.Scale(domain=CLASS_SCALE_DOMAIN, scheme="tableau20")),
        strokeDash=alt.StrokeDash("source:N", title="scores"),
        detail="source:N",
        opacity=alt.condition(pick, alt.value(0.9), alt.value(0.08)),
        tooltip=[alt.Tooltip("modification:N"), alt.Tooltip("source:N"), alt.Tooltip("x:Q", format=".3f"),
                 alt.Tooltip("y:Q", format=".3f"), alt.Tooltip("threshold:Q", format=".3g")],
    ).add_params(pick).properties(title=f"{which} curves", width=320, height=320)
    return _spec(chart, {"curves": data})


# ---------------------------------------------------------------------------------------------
# the page

@dataclass
class Chart:
    id: str
    title: str
    spec: dict
    renderer: str = "svg"
    height: int = 360  # px kept for the chart before it is drawn (charts are drawn lazily)


@dataclass
class Report:
    """Everything the template shows; sections with ``None`` are left out."""

    title: str
    inputs: list[tuple[str, str]] = field(default_factory=list)  # (label, path)
    run: dict | None = None
    notes: list[str] = field(default_factory=list)
    per_class: list[dict] | None = None
    predictions: PredictionSummary | None = None
    sites_table: dict | None = None  # {"columns": [...], "rows": [[...]], "numeric": [...]}
    bed_sites: dict | None = None
    track_charts: list[Chart] = field(default_factory=list)
    explain_charts: list[Chart] = field(default_factory=list)
    explain_sites: dict | None = None
    motifs: list[dict] | None = None
    correlation_chart: Chart | None = None
    distances: dict | None = None
    metrics: list[tuple[str, dict]] | None = None
    comparisons: list[tuple[str, dict]] | None = None
    curve_charts: list[Chart] = field(default_factory=list)
    variant_calls: dict | None = None  # calls per class and kind
    variant_rows: dict | None = None  # the called rows, largest |delta| first
    variant_chart: Chart | None = None
    variant_run: dict | None = None

    def charts(self) -> list[Chart]:
        out = list(self.track_charts) + list(self.explain_charts)
        if self.variant_chart:
            out.append(self.variant_chart)
        if self.correlation_chart:
            out.append(self.correlation_chart)
        return out + list(self.curve_charts)


def _html_table(df: pd.DataFrame, digits: int = 4) -> dict:
    numeric = [bool(pd.api.types.is_numeric_dtype(df[c])) for c in df.columns]
    rows = []
    for rec in df.itertuples(index=False):
        row = []
        for v, num in zip(rec, numeric):
            if num and isinstance(v, (float, np.floating)):
                row.append("NA" if not math.isfinite(v) else f"{v:.{digits}g}")
            else:
                row.append(str(v))
        rows.append(row)
    return {"columns": list(df.columns), "rows": rows, "numeric": numeric}


def _logo_data_uri(path: Path) -> str | None:
    data = path.read_bytes()
    if len(data) > MAX_LOGO_BYTES:
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def build_report(found: dict[str, Any], limits: Limits = Limits(), alpha: float | None = None,
                 fdr: float | None = None, title: str = "MultiRM report",
                 progress: bool = False) -> Report:
    """Load every recognised input (``recognise``'s result) and build the sections' content."""
    rep = Report(title=title)
    for kind, label in KIND_LABELS.items():
        if kind in found:
            value = found[kind]
            where = str(next(iter(value.values())).parent) if kind == "logos" else str(value)
            rep.inputs.append((label + (f" ({len(value)})" if kind == "logos" else ""), where))

    if "run" in found:
        rep.run = read_run(found["run"])
    thresholds = (rep.run or {}).get("thresholds", {})
    alpha = alpha if alpha is not None else float(thresholds.get("alpha", 0.05))
    fdr = fdr if fdr is not None else float(thresholds.get("fdr", 0.05))

    if "predictions" in found:
        s = summarise_predictions(found["predictions"], alpha, fdr, limits, progress=progress)
        rep.predictions = s
        rep.per_class = s.per_class.to_dict("records")
        if s.n_records > len(s.tracks):
            rep.notes.append(f"Tracks are drawn for {len(s.tracks)} of {s.n_records} records: those with "
                             f"the most significant sites (--max-sequences {limits.max_sequences}).")
        if s.max_bin_width > 1:
            rep.notes.append(f"Long records are downsampled to at most {limits.max_points} points per track "
                             f"(--max-points): each point is the highest probability of its class in a "
                             f"bin of up to {s.max_bin_width} nt; every significant site is still marked.")
        if any(t.sites_cut for t in s.tracks):
            rep.notes.append(f"Records with more than {limits.max_site_marks} significant sites mark the "
                             f"{limits.max_site_marks} most probable.")
        if s.n_significant > len(s.sites):
            rep.notes.append(f"The sites table lists {len(s.sites)} of {s.n_significant} significant sites, "
                             f"the lowest q-values first (--max-table-rows {limits.max_table_rows}).")
        for i, t in enumerate(s.tracks):
            # the last predicted position, not the record's length: its last bases may have no class
            label = (f"{t.record} (positions 1-{t.length}, {t.n_significant} significant "
                     f"site{'' if t.n_significant == 1 else 's'}"
                     f"{f', bins of {t.bin_width} nt' if t.bin_width > 1 else ''})")
            lanes = t.rows["modification"].nunique() if len(t.rows) else 1
            rep.track_charts.append(Chart(f"track-{i}", label, track_chart(t), renderer="canvas",
                                          height=34 * lanes + 50))
        rep.sites_table = _html_table(s.sites.rename(columns={"p_value": "p", "q_value": "q"}))
    elif rep.run is not None:
        per = rep.run.get("counts", {}).get("per_class", {})
        rep.per_class = [{"modification": k, "predictions": v.get("predictions"),
                          "significant": v.get("significant")} for k, v in per.items()]
    if "sites_bed" in found:
        bed = read_sites_bed(found["sites_bed"])
        if rep.per_class is None:
            counts = bed["modification"].value_counts()
            rep.per_class = [{"modification": c, "predictions": None, "significant": int(counts[c])}
                             for c in CLASS_NAMES if c in counts]
        if len(bed) > limits.max_table_rows:
            rep.notes.append(f"The BED sites table lists the first {limits.max_table_rows} of {len(bed)} "
                             f"sites (--max-table-rows).")
        rep.bed_sites = _html_table(bed.head(limits.max_table_rows))

    if "explain" in found:
        ex = read_table(found["explain"], "explain")
        for cls in [c for c in CLASS_NAMES if c in set(ex["modification"])]:
            sub = ex[ex["modification"] == cls]
            keys = (sub[["record", "site", "probability"]].drop_duplicates(["record", "site"])
                    .sort_values("probability", ascending=False, kind="stable"))
            if len(keys) > limits.max_explained:
                rep.notes.append(f"Explanations of {cls}: {limits.max_explained} of {len(keys)} sites, the "
                                 f"most probable (--max-explained).")
                keys = keys.head(limits.max_explained)
            sub = sub.merge(keys[["record", "site"]], on=["record", "site"])
            sub = sub.set_index(["record", "site"]).loc[list(zip(keys["record"], keys["site"]))].reset_index()
            rep.explain_charts.append(Chart(f"explain-{cls}", f"{cls}: {len(keys)} site(s)",
                                            explain_chart(sub, cls), height=28 * len(keys) + 160))
    if "explain_sites" in found:
        es = read_table(found["explain_sites"], "explain_sites").sort_values(
            "probability", ascending=False, kind="stable")
        if len(es) > limits.max_table_rows:
            rep.notes.append(f"The explained-sites table lists {limits.max_table_rows} of {len(es)} sites.")
        rep.explain_sites = _html_table(es.head(limits.max_table_rows))

    if {"motifs_meme", "motifs_table", "logos"} & set(found):
        rep.motifs = _motif_rows(found, rep.notes)

    if "correlation_long" in found:
        long = read_table(found["correlation_long"], "correlation_long")
    elif "correlation" in found:
        mat = read_table(found["correlation"], "correlation")
        mat = mat.rename(columns={mat.columns[0]: "class_a"})
        long = mat.melt(id_vars="class_a", var_name="class_b", value_name="pearson_r").assign(p_value=np.nan)
    else:
        long = None
    if long is not None:
        # correlation_long.tsv holds each pair once: mirror it, so the heatmap is the full matrix
        swapped = long.rename(columns={"class_a": "class_b", "class_b": "class_a"})
        classes = sorted(set(long["class_a"]) | set(long["class_b"]))
        diagonal = pd.DataFrame({"class_a": classes, "class_b": classes, "pearson_r": 1.0, "p_value": np.nan})
        long = (pd.concat([long, swapped[long.columns], diagonal], ignore_index=True)
                .drop_duplicates(["class_a", "class_b"]).reset_index(drop=True))
        rep.correlation_chart = Chart("chart-correlation", "Pearson correlation between classes",
                                      correlation_chart(long))
    if "distances" in found:
        rep.distances = _html_table(read_table(found["distances"], "distances"))

    if "variants" in found:
        _variant_sections(rep, read_table(found["variants"], "variants"), limits)
        if "variants_run" in found:
            rep.variant_run = read_run(found["variants_run"])

    curves = []
    metrics = []
    for suffix, label in (("", "model"), ("_baseline", "LightGBM baseline")):
        if "metrics" + suffix in found:
            metrics.append((label, _html_table(read_table(found["metrics" + suffix], "metrics" + suffix))))
        if "curves" + suffix in found:
            curves.append(read_table(found["curves" + suffix], "curves" + suffix).assign(source=label))
    rep.metrics = metrics or None
    rep.comparisons = [(label, _html_table(read_table(found[kind], kind)))
                       for kind, label in (("comparison", "the compared model"),
                                           ("comparison_baseline", "the LightGBM baseline"))
                       if kind in found] or None
    if curves:
        allc = pd.concat(curves, ignore_index=True)
        rep.curve_charts = [Chart(f"curve-{w}", f"{w} curves", curve_chart(allc, w)) for w in ("ROC", "PR")]
    return rep


VARIANT_CALLS = ("site_destroyed", "loss", "gain")


def _variant_sections(rep: Report, rows: pd.DataFrame, limits: Limits) -> None:
    """multirm-variants: calls per class and kind (a table and a bar chart), the called rows."""
    import altair as alt

    called = rows[rows["call"].isin(VARIANT_CALLS)]
    counts = (called.groupby(["modification", "call"]).size().unstack(fill_value=0)
              .reindex(columns=list(VARIANT_CALLS), fill_value=0))
    counts = counts.reindex([c for c in CLASS_NAMES if c in counts.index])
    alleles = called[["modification", "chrom", "pos", "ref", "alt"]].drop_duplicates().groupby("modification").size()
    counts["alleles"] = alleles.reindex(counts.index, fill_value=0)  # no calls: an empty table, not an error
    rep.variant_calls = _html_table(counts.reset_index())
    order = called.assign(size=called["delta"].abs()).sort_values("size", ascending=False, kind="stable")
    if len(order) > limits.max_table_rows:
        rep.notes.append(f"The variant calls table lists {limits.max_table_rows} of {len(order)} calls, the "
                         f"largest changes first (--max-table-rows).")
    cols = ["chrom", "pos", "id", "ref", "alt", "strand", "modification", "position", "ref_probability",
            "alt_probability", "delta", "ref_q_value", "alt_q_value", "call"]
    rep.variant_rows = _html_table(order.head(limits.max_table_rows)[cols])
    if len(called):
        long = called.groupby(["modification", "call"]).size().rename("calls").reset_index()
        chart = alt.Chart(alt.Data(name="calls")).mark_bar().encode(
            x=alt.X("calls:Q", title="calls"), y=alt.Y("modification:N", sort=list(CLASS_NAMES), title=None),
            color=alt.Color("call:N", scale=alt.Scale(domain=list(VARIANT_CALLS))),
            tooltip=["modification:N", "call:N", "calls:Q"]).properties(width=600)
        rep.variant_chart = Chart("chart-variants", "Calls per class", _spec(chart, {"calls": long}),
                                  height=24 * long["modification"].nunique() + 80)


def _motif_rows(found: dict[str, Any], notes: list[str]) -> list[dict]:
    table = read_table(found["motifs_table"], "motifs_table") if "motifs_table" in found else None
    meme = read_meme(found["motifs_meme"], allow_empty=True) if "motifs_meme" in found else {}
    logos = found.get("logos", {})
    tomtom = read_table(found["tomtom"], "tomtom") if "tomtom" in found else None
    ids = list(table["motif_id"]) if table is not None else list(meme) or sorted(logos)
    if len(ids) > MAX_LOGOS:
        notes.append(f"Motifs: the first {MAX_LOGOS} of {len(ids)} are shown.")
        ids = ids[:MAX_LOGOS]
    rows = []
    for mid in ids:
        row = {"id": mid, "modification": "", "n_sites": "", "width": "", "consensus": "", "logo": None,
               "matches": []}
        if table is not None:
            r = table[table["motif_id"] == mid].iloc[0]
            row.update(modification=r["modification"], n_sites=int(r["n_sites"]), width=int(r["width"]),
                       consensus=r["consensus"])
        elif mid in meme:
            m = meme[mid]
            row.update(width=len(m), consensus="".join("ACGU"[j] for j in m.argmax(axis=1)))
        if mid in logos:
            row["logo"] = _logo_data_uri(logos[mid])
            if row["logo"] is None:
                notes.append(f"Logo {logos[mid]} is over {MAX_LOGO_BYTES // 1024} KB and is left out.")
        if tomtom is not None:
            hits = tomtom[tomtom["query_id"] == mid].sort_values("p_value", kind="stable")
            row["matches"] = [{"target": h.target_id, "p": f"{h.p_value:.3g}", "e": f"{h.e_value:.3g}",
                               "q": f"{h.q_value:.3g}", "orientation": h.orientation}
                              for h in hits.head(MAX_TOMTOM_PER_MOTIF).itertuples()]
        rows.append(row)
    return rows


@functools.lru_cache(maxsize=1)
def vega_javascript() -> str:
    """Vega, Vega-Lite and vega-embed in one script (from vl-convert; no network)."""
    import altair
    import vl_convert
    # the Vega-Lite whose schema the installed Altair writes (SCHEMA_VERSION "v6.4.1" -> "6.4")
    version = altair.SCHEMA_VERSION.lstrip("v").rsplit(".", 1)[0]
    js = vl_convert.javascript_bundle(vl_version=version)
    return js.replace("</script", "<\\/script")


def render_html(rep: Report) -> str:
    """The report as one self-contained HTML page."""
    import jinja2
    import markupsafe
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":")}
    charts = rep.charts()
    chart_payload = [{"id": c.id, "renderer": c.renderer, "spec": c.spec} for c in charts]
    return env.get_template("report.html.j2").render(
        rep=rep, version=__version__, charts=chart_payload, n_charts=len(charts),
        vega_js=markupsafe.Markup(vega_javascript()), size_bound=SIZE_BOUND_MB)

