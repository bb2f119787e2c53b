"""multirm-report: one self-contained HTML report from the other tools' outputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import UsageError
from ..report import SIZE_BOUND_MB, Limits, build_report, recognise, render_html
from .common import atomic_path, base_parser, check_output_file, positive_int, probability, run_main


def parse_arguments() -> argparse.ArgumentParser:
    d = Limits()
    parser = base_parser(
        "multirm-report",
        "Render one HTML file from the outputs of multirm-predict, -evaluate, -explain, -motifs, "
        "-correlate and -variants (folders or single files, recognised by content). The page carries its charts' "
        "JavaScript and data and needs no network. Sections appear only for the inputs given. What it "
        "embeds is bounded (the options below), so a report stays under "
        f"{SIZE_BOUND_MB} MB for any input; the page says what it left out.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="an output folder of another multirm tool, or one of its files")
    parser.add_argument("-o", "--output", required=True, metavar="HTML", help="the report file to write")
    parser.add_argument("--title", default="MultiRM report", help="the page title")
    group = parser.add_argument_group("significance (default: the cut-offs in run.json, else 0.05)")
    group.add_argument("--alpha", type=probability, default=None, help="p-value cut-off of a significant site")
    group.add_argument("--fdr", type=probability, default=None, help="q-value cut-off of a significant site")
    group = parser.add_argument_group("bounds (what the page embeds at most)")
    group.add_argument("--max-sequences", type=positive_int, default=d.max_sequences,
                       help="records drawn as tracks, those with the most significant sites first")
    group.add_argument("--max-points", type=positive_int, default=d.max_points,
                       help="points per track; longer records show the highest probability per bin")
    group.add_argument("--max-table-rows", type=positive_int, default=d.max_table_rows,
                       help="rows of the significant-sites table, lowest q-values first")
    group.add_argument("--max-explained", type=positive_int, default=d.max_explained,
                       help="explained sites drawn per class, most probable first")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    out = check_output_file(args.output, "-o/--output", parents=True)
    found = recognise(args.inputs)
    read = [*args.inputs, *(v for k, v in found.items() if k != "logos"), *found.get("logos", {}).values()]
    if any(Path(p).resolve() == out.resolve() for p in read):
        raise UsageError(f"{out}: the report would overwrite an input")
    limits = Limits(max_sequences=args.max_sequences, max_points=args.max_points,
                    max_site_marks=min(Limits().max_site_marks, args.max_points),
                    max_table_rows=args.max_table_rows, max_explained=args.max_explained)
    rep = build_report(found, limits, alpha=args.alpha, fdr=args.fdr, title=args.title,
                       progress=not args.quiet and sys.stderr.isatty())
    html = render_html(rep)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    print(f"multirm-report: {len(found)} input kind(s), {len(rep.charts())} chart(s), "
          f"{len(html.encode('utf-8')) / 1e6:.1f} MB -> {out}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parse_arguments(), argv)


if __name__ == "__main__":
    sys.exit(main())
