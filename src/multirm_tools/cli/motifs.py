"""multirm-motifs: consensus motifs per modification from attributions, as MEME motifs and logos."""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..bundle import load_bundle
from ..constants import canonical_name
from ..errors import InputError, MultiRMError, UsageError
from ..motifs import (
    RNA,
    TOMTOM_COLUMNS,
    Tracks,
    compare_motifs,
    consensus,
    extract_regions,
    find_motifs,
    read_meme,
    tracks_from_explain,
    write_logo,
    write_meme,
)
from ..writers import write_run_record
from .common import (add_classes_option, add_compute_options, add_model_option, add_outdir_option, atomic_path,
                     base_parser, check_output_dir, nonneg_int, positive_fraction, positive_int, probability, run_main,
                     setup_compute)

PROG = "multirm-motifs"

DESCRIPTION = """\
Find the sequence motifs behind a model's predictions: per explained site, the
--width nt segment with the largest summed attribution (or attention); per class,
motifs found in these segments by iterative PWM refinement (4-mer seeds, ZOOPS
expectation-maximisation with re-alignment by up to --max-shift nt, a motif kept
only if it beats the same search on shuffled segments); written as MEME motifs
(DNA alphabet) with information-content logos, and compared with known motifs by
TOMTOM (memelite) when --known is given.
"""

EPILOG = """\
inputs (one of):
  --explain DIR|explain.tsv  the output of multirm-explain (explain.tsv is read)
  --sites TABLE ...          labelled sites tables: the centre window of every row is
                             scored with --model; per class, the label-1 rows among the
                             top --top-fraction scores (true positives, as MultiRM did)
                             are explained with integrated gradients and attention

outputs (in OUTDIR):
  motifs.meme        MEME minimal motif format 4, ALPHABET= ACGT, ids <class>_<k>
  motifs.tsv         motif_id modification n_sites width consensus (IUPAC, RNA letters)
  motif_sites.tsv    motif_id modification record site start end segment: the occurrence
                     supporting each motif (site, start, end 1-based in the record)
  logos/<id>.png, logos/<id>.svg   information-content sequence logos
  tomtom.tsv         with --known: query_id target_id offset p_value e_value q_value
                     overlap orientation (pairs with q_value <= --max-q)
  run.json           provenance: version, command line, inputs, options, counts
  Files appear only when the whole run succeeds.
"""




def build_parser() -> argparse.ArgumentParser:
    parser = base_parser(PROG, DESCRIPTION)
    parser.epilog = EPILOG
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--explain", metavar="DIR|TSV",
                     help="multirm-explain output folder or its explain.tsv")
    src.add_argument("--sites", nargs="+", metavar="TABLE",
                     help="labelled sites table(s), TSV or TSV.gz (explained here with --model)")
    add_outdir_option(parser, help="output folder (created if missing; required)")
    parser.add_argument("--score", choices=("attribution", "attention"), default="attribution",
                        help="per-nucleotide score that picks each site's segment")
    add_classes_option(parser, help="comma-separated classes; aliases accepted (default: every class of the input)")
    find = parser.add_argument_group("motif finding")
    find.add_argument("--width", type=positive_int, default=8,
                      help="segment and motif width in nt before trimming")
    find.add_argument("--max-shift", type=nonneg_int, default=3,
                      help="nt a segment may move to align with a motif")
    find.add_argument("--method", choices=("em", "stack"), default="em",
                      help="em: iterative PWM refinement, several motifs per class; stack: the "
                           "segments stacked as extracted, one motif per class")
    find.add_argument("--min-sites", type=positive_int, default=10,
                      help="fewest sites a motif must hold")
    find.add_argument("--max-motifs", type=positive_int, default=3, help="most motifs per class")
    find.add_argument("--min-bits", type=float, default=0.3,
                      help="end columns with less information content (bits) are trimmed")
    find.add_argument("--seed", type=int, default=0, help="seed of the shuffled-segment null")
    known = parser.add_argument_group("comparison with known motifs (TOMTOM)")
    known.add_argument("--known", default=None, metavar="MEME",
                       help="MEME file of known motifs (DNA or RNA alphabet) to compare with")
    known.add_argument("--max-q", type=probability, default=0.5,
                       help="report TOMTOM matches with q-value at most this")
    known.add_argument("--both-strands", action="store_true",
                       help="also match the reverse complement of known motifs (RNA is single-stranded: "
                            "off by default)")
    model = parser.add_argument_group("explaining a sites table (--sites)")
    add_model_option(model)
    model.add_argument("--top-fraction", type=positive_fraction, default=0.1,
                       help="per class, explain the label-1 rows among this top fraction of scores")
    model.add_argument("--steps", type=positive_int, default=50, help="integrated-gradients steps")
    model.add_argument("--ig-baseline", "--baseline", dest="ig_baseline", choices=("N", "zero"), default="N",
                       help="integrated gradients' reference input: all-N window or zero embedding "
                            "(--baseline: the former name)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    add_compute_options(parser, batch_size=64)
    return parser


def _wanted_classes(text: str | None) -> list[str] | None:
    if text is None:
        return None
    try:
        wanted = list(dict.fromkeys(canonical_name(t.strip()) for t in text.split(",") if t.strip()))
    except MultiRMError as exc:
        raise UsageError(f"--classes: {exc}") from None
    if not wanted:
        raise UsageError("--classes names no class")
    return wanted


def _read_explain(arg: str) -> tuple[pd.DataFrame, Path]:
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


def _filter_classes(tracks: Tracks, wanted: list[str] | None, source: str) -> Tracks:
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


def _explain_sites(args, wanted: list[str] | None, progress: bool) -> tuple[Tracks, dict]:
    """Score the tables' centre windows, keep true positives among the top scores, explain them."""
    import torch

    from ..baseline import table_windows
    from ..explain import ExplainWarning, attention_nt, explain_pairs
    from ..inference import score_windows, zero_wrong_base
    from ..kmers import tokenize
    from ..sites import read_many

    device = setup_compute(args.device, args.threads)
    bundle = load_bundle(args.model, device=device)
    cfg = bundle.config
    df = read_many(args.sites, base_mismatch="drop")
    classes = wanted or [c for c in cfg.classes if c in set(df["modification"])]
    foreign = sorted(set(classes) - set(cfg.classes))
    if foreign:
        raise UsageError(f"class(es) {', '.join(foreign)} are not predicted by the model {bundle.path} "
                         f"(it predicts {', '.join(cfg.classes)})")
    absent = [c for c in classes if c not in set(df["modification"])]
    if absent:
        raise UsageError(f"--classes: {', '.join(args.sites)} have no rows of {', '.join(absent)}")
    df = df[df["modification"].isin(classes)].reset_index(drop=True)
    windows = table_windows(df, cfg.window)
    scores = zero_wrong_base(windows, score_windows(bundle.model, windows, args.batch_size, device), cfg.classes)
    chosen, counts = [], {}
    for cls in classes:
        rows = np.flatnonzero(df["modification"].to_numpy() == cls)
        s = scores[rows, cfg.classes.index(cls)]
        top = rows[np.argsort(-s, kind="stable")[:math.ceil(args.top_fraction * len(rows))]]
        tp = top[df["label"].to_numpy()[top] == 1]
        counts[cls] = {"rows": len(rows), "top": len(top), "true_positives": len(tp)}
        chosen.extend(sorted(tp))
    if not chosen:
        raise InputError(f"{', '.join(args.sites)}: no true positives (label 1) among the top "
                         f"{args.top_fraction:g} of scores of any class; nothing to explain")
    chosen = np.asarray(chosen)
    class_index = np.array([cfg.classes.index(c) for c in df["modification"].to_numpy()[chosen]])
    from tqdm import tqdm

    codes = windows[chosen]
    with tqdm(total=len(chosen), desc="explaining", unit="site", disable=not progress, file=sys.stderr) as bar:
        if args.score == "attention":  # no gradients needed
            values = np.empty(codes.shape)
            for lo in range(0, len(codes), args.batch_size):
                tok = torch.as_tensor(tokenize(codes[lo:lo + args.batch_size], cfg.k), device=device)
                att = attention_nt(bundle.model, tok)
                values[lo:lo + len(tok)] = att[np.arange(len(tok)), class_index[lo:lo + len(tok)]]
                bar.update(len(tok))
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ExplainWarning)
                values = explain_pairs(bundle.model, codes, class_index, args.steps, args.ig_baseline,
                                       args.batch_size, device, progress=bar.update).attribution
            for w in caught:
                print(f"{PROG}: warning: {w.message}", file=sys.stderr)
    values = np.where(codes == 4, 0.0, values)
    tracks = Tracks(df["modification"].to_numpy()[chosen], df["id"].to_numpy()[chosen],
                    df["site"].to_numpy()[chosen] + 1, codes, values, -(cfg.window // 2))
    return tracks, {"model": str(bundle.path), "per_class": counts}


def _known_motifs(path: str | None) -> dict[str, np.ndarray] | None:
    if path is None:
        return None
    known = read_meme(path)
    if len(known) < 25:
        print(f"{PROG}: warning: {path} holds {len(known)} motif(s); TOMTOM p-values depend on the "
              f"targets and are unreliable with fewer than 25 (MEME's tomtom warns below 50)",
              file=sys.stderr)
    return known


def run(args: argparse.Namespace, argv: list[str] | None = None) -> int:
    out = check_output_dir(args.outdir)
    if args.min_bits < 0 or args.min_bits > 2:
        raise UsageError(f"--min-bits {args.min_bits} must be between 0 and 2")
    if args.sites is None and args.model is not None:
        raise UsageError("--model is used with --sites only; multirm-explain already chose the model")
    progress = not args.quiet and sys.stderr.isatty()
    wanted = _wanted_classes(args.classes)
    known = _known_motifs(args.known)  # a bad known-motif file fails before any work
    if args.explain is not None:
        table, source = _read_explain(args.explain)
        tracks = _filter_classes(tracks_from_explain(table, args.score, str(source)), wanted, str(source))
        inputs = {"explain": str(source)}
    else:
        tracks, inputs = _explain_sites(args, wanted, progress)
        inputs["sites"] = list(args.sites)
    regions, dropped = extract_regions(tracks, args.width, args.max_shift)
    if not len(regions.codes):
        raise InputError(f"no site has a {args.width}-nt segment without N; use a smaller --width")

    from tqdm import tqdm

    n_classes = len(pd.unique(regions.modification))
    with tqdm(total=n_classes, desc="motifs", unit="class", disable=not progress, file=sys.stderr) as bar:
        motifs = find_motifs(regions, args.method, args.min_sites, args.max_motifs, args.min_bits,
                             seed=args.seed, progress=lambda msg: (bar.set_postfix_str(msg), bar.update()))
    found = {m.motif_id: m.probs for m in motifs}
    table = pd.DataFrame({"motif_id": [m.motif_id for m in motifs],
                          "modification": [m.modification for m in motifs],
                          "n_sites": [len(m.members) for m in motifs],
                          "width": [len(m.probs) for m in motifs],
                          "consensus": [consensus(m.probs) for m in motifs]},
                         columns=["motif_id", "modification", "n_sites", "width", "consensus"])
    occurrences = _occurrences(motifs, regions)
    hits = None
    if known is not None:
        hits = compare_motifs(found, known, args.both_strands, threads=1)
        hits = hits[hits["q_value"] <= args.max_q].reset_index(drop=True)

    out.mkdir(parents=True, exist_ok=True)
    logos = out / "logos"
    logos.mkdir(exist_ok=True)
    for m in motifs:
        with atomic_path(logos / f"{m.motif_id}.png") as png, atomic_path(logos / f"{m.motif_id}.svg") as svg:
            write_logo(m.probs, png, svg, f"{m.motif_id} ({len(m.members)} sites)")
    with atomic_path(out / "motifs.meme") as tmp, open(tmp, "w") as fh:
        write_meme(fh, found, {m.motif_id: len(m.members) for m in motifs})
    with atomic_path(out / "motifs.tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    with atomic_path(out / "motif_sites.tsv") as tmp:
        occurrences.to_csv(tmp, sep="\t", index=False)
    if hits is not None:
        with atomic_path(out / "tomtom.tsv") as tmp:
            hits.to_csv(tmp, sep="\t", index=False, float_format="%.6g", columns=TOMTOM_COLUMNS)
    n_sites = {str(c): int((regions.modification == c).sum()) for c in pd.unique(regions.modification)}
    with atomic_path(out / "run.json") as tmp:
        write_run_record(tmp, {
            "tool": PROG, "version": __version__, "command_line": shlex.join([PROG, *(sys.argv[1:] if argv is None else argv)]),
            "inputs": inputs, "known": args.known,
            "options": {k: getattr(args, k) for k in ("score", "classes", "width", "max_shift", "method",
                                                      "min_sites", "max_motifs", "min_bits", "seed", "max_q",
                                                      "both_strands")},
            "counts": {"sites": n_sites, "sites_without_segment": dropped, "motifs": len(motifs),
                       "tomtom_matches": None if hits is None else len(hits)}})
    summary = ", ".join(f"{c} {n}" for c, n in n_sites.items())
    matched = "" if hits is None else f", {hits['query_id'].nunique()} matched a known motif at q <= {args.max_q:g}"
    print(f"{PROG}: {sum(n_sites.values())} sites ({summary}), {len(motifs)} motif(s){matched} -> {out}",
          file=sys.stderr)
    return 0


def _occurrences(motifs, regions) -> pd.DataFrame:
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
    return pd.DataFrame(rows, columns=["motif_id", "modification", "record", "site", "start", "end", "segment"])


def main(argv: list[str] | None = None) -> int:
    return run_main(lambda args: run(args, argv), build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
