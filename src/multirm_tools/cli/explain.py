"""multirm-explain: attention, integrated gradients, top windows and mutagenesis for chosen sites."""

from __future__ import annotations

import argparse
import contextlib
import shlex
import sys
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from .. import __version__
from ..bundle import load_bundle, resolve_bundle_path
from ..constants import BY_NAME, canonical_name, rna_base
from ..errors import BundleError, InputError, UsageError
from ..explain import (BASELINES, DEFAULT_BASELINE, RNA_LETTERS, ExplainWarning, explain_pairs,
                       mutagenesis, relative_delta, top_windows)
from ..inference import score_windows
from ..kmers import BASES, N_CODE, centre_windows, encode
from ..seqio import GenomeLocus, genome_positions, read_fasta, record_locus
from ..writers import FLOAT_FORMAT, write_bedgraph, write_bedgraph_header, write_run_record
from .common import (add_classes_option, add_compute_options, add_model_option, add_outdir_option, atomic_path,
                     base_parser, check_output_dir, positive_int, probability, resolve_classes, run_main, setup_compute)

PROG = "multirm-explain"

DESCRIPTION = """\
Explain predictions: for each chosen site and class, the class's attention over the
window and integrated-gradients attributions per nucleotide, computed on the model
that predicts; the top-k sub-windows per site as BED; optionally in-silico mutagenesis.
"""

EPILOG = """\
choosing sites (at least one of):
  --predictions   multirm-predict's predictions.tsv (or its OUTDIR): rows with
                  p_value <= --alpha and q_value <= --fdr, each for its class
  --sites-bed     multirm-predict's sites.bed (genome coordinates are mapped back to
                  records named chrom:start-end(strand)); the BED name is the class
  --position      RECORD:POS[:CLASS], 1-based, repeatable; without CLASS, every class
                  of that base whose probability reaches the model's threshold
  --classes limits all of them; --max-sites keeps the most probable site-class pairs.

integrated gradients:
  attributions of each class's logit to the embedding input, summed per token and
  spread over the token's 3 nt; completeness: sum(attribution) = logit - baseline
  logit, the difference is the convergence delta (sites.tsv). Baseline N: the all-N
  window, the model's "no sequence" input (padding then gets zero attribution).

outputs (in OUTDIR):
  explain.tsv        record site modification probability window_position position
                     nucleotide attention attribution (site, position 1-based; NA/N past
                     record ends; RNA letters)
  sites.tsv          record site modification probability logit baseline_logit
                     attribution_sum delta
  attention.bedgraph, attribution.bedgraph
                     per nucleotide, summed over explained sites and classes
  top_windows.bed    BED6: the --top best --att-window nt sub-windows of each site (by
                     --top-by), name = class, score = round(1000 * probability)
  mutagenesis.tsv    with --mutagenesis: record site modification window_position
                     position reference alternative probability delta_probability
  run.json           provenance
  Files appear only when the whole run succeeds.
"""

#: Tensors a bundle needs for attention (and so for explanations and correlations), per network:
#: ``model.<name>``, or ``model.members.0.<name>`` in an ensemble.
ATTENTION_TENSORS = ("att_proj.weight", "att_proj.bias", "att_query")



def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(PROG, DESCRIPTION)
    parser.epilog = EPILOG
    parser.add_argument("input", metavar="INPUT.fa[.gz]", help="FASTA file the sites lie in")
    add_outdir_option(parser, help="output folder (created if missing; required)")
    add_model_option(parser)
    sites = parser.add_argument_group("sites")
    sites.add_argument("--predictions", default=None, metavar="TSV",
                       help="multirm-predict predictions.tsv (or its OUTDIR): its significant rows")
    sites.add_argument("--sites-bed", default=None, metavar="BED",
                       help="multirm-predict sites.bed (BED6, name = class)")
    sites.add_argument("--position", action="append", default=None, metavar="RECORD:POS[:CLASS]",
                       help="a site, 1-based; repeatable")
    sites.add_argument("--alpha", type=probability, default=0.05,
                       help="p-value cut-off for rows of --predictions")
    sites.add_argument("--fdr", type=probability, default=0.05,
                       help="q-value cut-off for rows of --predictions")
    add_classes_option(sites, help="comma-separated classes to explain; aliases accepted (default: all)")
    sites.add_argument("--max-sites", type=positive_int, default=500,
                       help="explain at most this many site-class pairs, the most probable first")
    ig = parser.add_argument_group("integrated gradients")
    ig.add_argument("--steps", type=positive_int, default=50, help="integration steps")
    ig.add_argument("--ig-baseline", "--baseline", dest="ig_baseline", choices=BASELINES, default=DEFAULT_BASELINE,
                    help="integrated gradients' reference input: N = the all-N window, zero = all-zero "
                         "embedding (--baseline: the former name)")
    top = parser.add_argument_group("top windows")
    top.add_argument("--top", type=positive_int, default=3,
                     help="sub-windows per site in top_windows.bed (MultiRM --top)")
    top.add_argument("--att-window", type=positive_int, default=3,
                     help="sub-window length in nt (MultiRM --att_window)")
    top.add_argument("--top-by", choices=("attribution", "attention"), default="attribution",
                     help="rank sub-windows by summed attribution or summed attention")
    parser.add_argument("--mutagenesis", action="store_true",
                        help="also write mutagenesis.tsv: every single substitution in each window")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_compute_options(parser, batch_size=64)
    return parser


# -- inputs -------------------------------------------------------------------------------

class Request(NamedTuple):
    """A site asked for: a record position (0-based) or a genome coordinate, maybe a class."""

    origin: str  # where it was asked for, for messages
    record: str | None
    pos: int  # 0-based record position, or genome coordinate when ``record`` is None
    cls: str | None
    chrom: str | None = None
    strand: str = "."


def read_bed(path: str | Path) -> pd.DataFrame:
    """BED rows (3 or more columns): ``chrom start end name strand line``; name/strand may be "".

    ``track``, ``browser`` and ``#`` lines are skipped.

    Raises
    ------
    InputError
        Missing file, fewer than 3 columns, non-integer or negative coordinates, end <= start.
    """
    path = Path(path)
    rows = []
    try:
        fh = open(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    with fh:
        lines = enumerate(fh, 1)
        while True:
            try:
                lineno, line = next(lines)
            except StopIteration:
                break
            except UnicodeDecodeError:
                raise InputError(f"{path.name}: not a text file (binary?), cannot be read as BED") from None
            if not line.strip() or line.startswith(("track", "browser", "#")):
                continue
            f = line.rstrip("\r\n").split("\t")
            if len(f) < 3:
                raise InputError(f"{path.name} line {lineno}: {len(f)} column(s), BED needs at least 3 "
                                 f"(chrom start end), tab-separated")
            try:
                start, end = int(f[1]), int(f[2])
            except ValueError:
                raise InputError(f"{path.name} line {lineno}: start/end {f[1]!r}/{f[2]!r} are not "
                                 f"integers") from None
            if start < 0 or end <= start:
                raise InputError(f"{path.name} line {lineno}: bad interval {start}-{end}")
            rows.append((f[0], start, end, f[3] if len(f) > 3 else "", f[5] if len(f) > 5 else ".",
                         lineno))
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "strand", "line"])


def require_attention(path: str | Path | None, purpose: str) -> None:
    """Refuse a bundle whose tensors lack the attention weights, with a clear message.

    Unreadable or foreign files pass through: ``load_bundle`` reports those.
    """
    from safetensors import safe_open

    path = resolve_bundle_path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as fh:
            keys = set(fh.keys())
    except Exception:  # safetensors raises its own types for every malformed file
        return
    if not any(k.startswith("model.") for k in keys):
        return
    prefix = "model.members.0." if any(k.startswith("model.members.") for k in keys) else "model."
    missing = [prefix + k for k in ATTENTION_TENSORS if prefix + k not in keys]
    if missing:
        raise BundleError(f"{path}: the model has no attention weights ({', '.join(missing)} "
                          f"missing); {purpose} needs a MultiRM attention model")


def _class_or_error(name: str, origin: str) -> str:
    try:
        return canonical_name(name)
    except UsageError:
        raise InputError(f"{origin}: {name!r} is no modification class") from None


def _requests_from_predictions(path: str, alpha: float, fdr: float) -> list[Request]:
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
            origin = f"{p.name} line {first_line + i}"
            out.append(Request(origin, chunk["record"].iat[i], int(pos.iat[i]) - 1,
                               _class_or_error(chunk["modification"].iat[i], origin)))
        first_line += len(chunk)
    return out


def _requests_from_bed(path: str) -> list[Request]:
    bed = read_bed(path)
    name = Path(path).name
    out = []
    for r in bed.itertuples(index=False):
        origin = f"{name} line {r.line}"
        if r.end - r.start != 1:
            raise InputError(f"{origin}: interval {r.start}-{r.end} is {r.end - r.start} nt; a site is one "
                             f"nucleotide (end = start + 1), as in multirm-predict's sites.bed")
        cls = _class_or_error(r.name, origin) if r.name else None
        out.append(Request(origin, None, r.start, cls, r.chrom, r.strand))
    return out


def _parse_position(text: str) -> Request:
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


def _load_records(fasta: str, requests: list[Request]) -> tuple[dict[str, Record], list[Request]]:
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


# -- choosing (site, class) pairs ---------------------------------------------------------

class Pairs(NamedTuple):
    record: list[Record]
    pos: np.ndarray  # 0-based
    cls: np.ndarray  # model column
    windows: np.ndarray  # (n, window) uint8


def _choose_pairs(requests: list[Request], records: dict[str, Record], bundle, allowed: list[str],
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
                raise UsageError(f"{r.origin}: the model does not predict {r.cls} (it predicts "
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


def _limit(pairs: Pairs, probs: np.ndarray, max_sites: int) -> tuple[Pairs, np.ndarray, str | None]:
    """Keep the ``max_sites`` most probable pairs, in their original order."""
    n = len(pairs.pos)
    if n <= max_sites:
        return pairs, probs, None
    order = np.argsort(-probs, kind="stable")
    keep = np.sort(order[:max_sites])
    note = (f"--max-sites {max_sites}: explaining the {max_sites} most probable of {n} site-class pairs; "
            f"dropped {n - max_sites} with probability <= {probs[order[max_sites]]:.4g}")
    return (Pairs([pairs.record[i] for i in keep], pairs.pos[keep], pairs.cls[keep],
                  pairs.windows[keep]), probs[keep], note)


# -- outputs ------------------------------------------------------------------------------

def _genome(rec: Record, pos: np.ndarray) -> tuple[str, np.ndarray, str]:
    """chrom, 0-based coordinates and strand of record positions (record id itself if no locus)."""
    if rec.locus is None:
        return rec.id, np.asarray(pos, dtype=np.int64), "+"
    return rec.locus.chrom, genome_positions(rec.locus, pos), rec.locus.strand


def _write_tsv(df: pd.DataFrame, path: Path) -> None:
    df.to_csv(path, sep="\t", index=False, float_format=FLOAT_FORMAT, na_rep="NA", lineterminator="\n")


def _explain_table(pairs: Pairs, classes, ex) -> pd.DataFrame:
    n, W = pairs.windows.shape
    half = W // 2
    offset = np.tile(np.arange(-half, half + 1), n)
    site = np.repeat(pairs.pos, W)
    at = site + offset
    length = np.repeat([len(r.codes) for r in pairs.record], W)
    inside = (at >= 0) & (at < length)
    return pd.DataFrame({
        "record": np.repeat(np.array([r.id for r in pairs.record], dtype=object), W),
        "site": site + 1,
        "modification": np.repeat(np.asarray(classes, dtype=object)[pairs.cls], W),
        "probability": np.repeat(ex.probability, W),
        "window_position": offset,
        "position": pd.Series(at + 1).where(inside).astype("Int64"),
        "nucleotide": RNA_LETTERS[pairs.windows.reshape(-1)],
        "attention": ex.attention.reshape(-1),
        "attribution": ex.attribution.reshape(-1),
    })


def _bedgraph_frames(pairs: Pairs, ex) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-nucleotide sums over explained pairs, in genome (or record) coordinates, sorted."""
    W = pairs.windows.shape[1]
    half = W // 2
    parts = []
    for i, rec in enumerate(pairs.record):
        at = pairs.pos[i] + np.arange(-half, half + 1)
        inside = (at >= 0) & (at < len(rec.codes))
        chrom, g, _ = _genome(rec, at[inside])
        parts.append(pd.DataFrame({"chrom": chrom, "start": g, "attention": ex.attention[i, inside],
                                   "attribution": ex.attribution[i, inside]}))
    df = pd.concat(parts).groupby(["chrom", "start"], sort=True, as_index=False).sum()
    return df[["chrom", "start", "attention"]], df[["chrom", "start", "attribution"]]


def _top_bed(pairs: Pairs, classes, ex, width: int, top: int, by: str) -> pd.DataFrame:
    n, W = pairs.windows.shape
    half = W // 2
    at = pairs.pos[:, None] + np.arange(-half, half + 1)[None, :]
    length = np.array([len(r.codes) for r in pairs.record])[:, None]
    valid = (at >= 0) & (at < length)
    starts, _ = top_windows(ex.attribution if by == "attribution" else ex.attention, valid, width, top)
    rows = []
    for i, rec in enumerate(pairs.record):
        for s in starts[i][starts[i] >= 0]:
            a = int(pairs.pos[i] - half + s)  # record positions a .. a + width - 1
            chrom, g, strand = _genome(rec, np.array([a, a + width - 1]))
            rows.append((chrom, int(g.min()), int(g.max()) + 1, classes[pairs.cls[i]],
                         int(round(1000 * ex.probability[i])), strand))
    return pd.DataFrame(rows, columns=["chrom", "start", "end", "name", "score", "strand"])


def _mutagenesis_table(pairs: Pairs, classes, reference: np.ndarray, mutant: np.ndarray) -> pd.DataFrame:
    n, W = pairs.windows.shape
    half = W // 2
    j, i, b = np.nonzero(np.ones((n, W, 4), dtype=bool))  # pair, window index, base
    at = pairs.pos[j] + i - half
    length = np.array([len(r.codes) for r in pairs.record])[j]
    ref = pairs.windows[j, i]
    keep = (at >= 0) & (at < length) & (ref < N_CODE) & (ref != b)
    j, i, b, at, ref = j[keep], i[keep], b[keep], at[keep], ref[keep]
    prob = mutant[j, i, b]
    return pd.DataFrame({
        "record": np.array([r.id for r in pairs.record], dtype=object)[j],
        "site": pairs.pos[j] + 1,
        "modification": np.asarray(classes, dtype=object)[pairs.cls[j]],
        "window_position": i - half,
        "position": at + 1,
        "reference": RNA_LETTERS[ref],
        "alternative": RNA_LETTERS[b],
        "probability": prob,
        "delta_probability": prob - reference[j],
    })


def _body(args: argparse.Namespace, argv: list[str] | None) -> int:
    if not (args.predictions or args.sites_bed or args.position):
        raise UsageError("no site chosen: give --predictions, --sites-bed and/or --position")
    outdir = check_output_dir(args.outdir)
    requests = [_parse_position(t) for t in args.position or []]
    device = setup_compute(args.device, args.threads)
    require_attention(args.model, PROG)
    bundle = load_bundle(args.model, device)
    cfg = bundle.config
    allowed = resolve_classes(args.classes, cfg.classes)
    if args.predictions:
        requests += _requests_from_predictions(args.predictions, args.alpha, args.fdr)
    if args.sites_bed:
        requests += _requests_from_bed(args.sites_bed)
    if not requests:
        raise InputError("no site chosen: the given predictions/BED files name no (significant) site")
    records, requests = _load_records(args.input, requests)
    pairs, notes = _choose_pairs(requests, records, bundle, allowed, args.input, args.batch_size, device)
    if not len(pairs.pos):
        raise InputError("no site chosen: " + ("; ".join(notes) if notes else "no site-class pair left"))
    probs = score_windows(bundle.model, pairs.windows, args.batch_size, device)[np.arange(len(pairs.pos)),
                                                                               pairs.cls]
    pairs, probs, note = _limit(pairs, probs, args.max_sites)
    for msg in notes + ([note] if note else []):
        print(f"{PROG}: {msg}", file=sys.stderr)

    from tqdm import tqdm

    quiet = args.quiet or not sys.stderr.isatty()
    with tqdm(total=len(pairs.pos), unit="site", desc="explaining", disable=quiet, file=sys.stderr) as bar, \
            warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ExplainWarning)
        ex = explain_pairs(bundle.model, pairs.windows, pairs.cls, args.steps, args.ig_baseline,
                           args.batch_size, device, progress=bar.update)
    for w in caught:
        if issubclass(w.category, ExplainWarning):
            print(f"{PROG}: warning: {w.message}", file=sys.stderr)
    mut = None
    if args.mutagenesis:
        mut = mutagenesis(bundle.model, pairs.windows, pairs.cls, max(args.batch_size, 256), device)

    classes = cfg.classes
    outdir.mkdir(parents=True, exist_ok=True)
    sites = pd.DataFrame({
        "record": [r.id for r in pairs.record], "site": pairs.pos + 1,
        "modification": np.asarray(classes, dtype=object)[pairs.cls], "probability": ex.probability,
        "logit": ex.logit, "baseline_logit": ex.baseline_logit,
        "attribution_sum": ex.attribution.sum(axis=1), "delta": ex.delta})
    att_graph, attr_graph = _bedgraph_frames(pairs, ex)
    outputs = ["explain.tsv", "sites.tsv", "attention.bedgraph", "attribution.bedgraph",
               "top_windows.bed"] + (["mutagenesis.tsv"] if mut is not None else []) + ["run.json"]
    with contextlib.ExitStack() as stack:
        tmp = {name: stack.enter_context(atomic_path(outdir / name)) for name in outputs}
        _write_tsv(_explain_table(pairs, classes, ex), tmp["explain.tsv"])
        _write_tsv(sites, tmp["sites.tsv"])
        for name, frame, what in (("attention.bedgraph", att_graph, "attention"),
                                  ("attribution.bedgraph", attr_graph, "attribution")):
            with open(tmp[name], "w") as fh:
                write_bedgraph_header(fh, what, f"multirm-explain {what}, summed over explained classes")
                write_bedgraph(fh, frame["chrom"].to_numpy(), frame["start"].to_numpy(),
                               frame[what].to_numpy())
        _top_bed(pairs, classes, ex, args.att_window, args.top, args.top_by).to_csv(
            tmp["top_windows.bed"], sep="\t", header=False, index=False, lineterminator="\n")
        if mut is not None:
            _write_tsv(_mutagenesis_table(pairs, classes, *mut), tmp["mutagenesis.tsv"])
        rel = relative_delta(ex)
        write_run_record(tmp["run.json"], {
            "tool": PROG,
            "version": __version__,
            "command_line": shlex.join([PROG, *(sys.argv[1:] if argv is None else argv)]),
            "input": str(args.input),
            "model": {"path": bundle.path, "sha256": bundle.sha256, "members": bundle.n_members,
                      "config": cfg.to_dict()},
            "integrated_gradients": {"target": "logit", "steps": args.steps, "baseline": args.ig_baseline,
                                     "max_relative_delta": float(rel.max())},
            "top_windows": {"top": args.top, "width": args.att_window, "by": args.top_by},
            "counts": {"site_class_pairs": int(len(pairs.pos)),
                       "sites": int(len({(r.id, p) for r, p in zip(pairs.record, pairs.pos)}))},
            "outputs": outputs,
        })
    print(f"{PROG}: {len(pairs.pos)} site-class pair(s) explained, max |delta| "
          f"{100 * rel.max():.2g}% of |logit - baseline logit| -> {outdir}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run_main(lambda args: _body(args, argv), parser, argv)


if __name__ == "__main__":
    sys.exit(main())
