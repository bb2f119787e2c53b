"""One spelling per option across the tools, and the Galaxy wrappers use it (issue 21).

``-o/--outdir`` where a tool writes a folder, ``-o/--output`` where it writes one file, ``--classes``
a comma list wherever classes are chosen, ``--ig-baseline`` for integrated gradients' reference (so
``--baseline`` means the LightGBM baseline only). A tool's former spelling is still accepted.
"""

from __future__ import annotations

import argparse
import re

import pytest

from multirm_tools.cli import (correlate, curate_sites, embed, evaluate, explain, motifs, predict, report, train,
                               variants)

from test_wrappers import WRAPPERS, load_wrapper, parser_options

# tool -> (parser factory, wrapper, what -o writes, minimal arguments besides -o)
TOOLS = {
    "multirm-predict": (predict.build_parser, "multirm_predict.xml", "folder", ["in.fa"]),
    "multirm-variants": (variants.build_parser, "multirm_variants.xml", "folder", ["in.vcf", "genome.fa"]),
    "multirm-explain": (explain.build_parser, "multirm_explain.xml", "folder", ["in.fa"]),
    "multirm-motifs": (motifs.build_parser, "multirm_motifs.xml", "folder", ["--explain", "e.tsv"]),
    "multirm-correlate": (correlate.build_parser, "multirm_correlate.xml", "folder", []),
    "multirm-evaluate": (evaluate.parse_arguments, "multirm_evaluate.xml", "folder", ["--sites", "s.tsv"]),
    "multirm-curate-sites": (curate_sites.parse_arguments, "multirm_curate_sites.xml", "folder",
                             ["--labelled", "s.tsv"]),
    "multirm-train": (train.parse_arguments, "multirm_train.xml", "file",
                      ["--train", "t.tsv", "--valid", "v.tsv", "--embedding", "onehot"]),
    "multirm-embed": (embed.parse_arguments, "multirm_embed.xml", "file", ["in.fa"]),
    "multirm-report": (report.parse_arguments, "multirm_report.xml", "file", ["run/"]),
}
# former spellings, still accepted: tool -> (old option, its value, dest, value parsed)
ALIASES = [
    ("multirm-evaluate", "--out", "dir", "outdir", "dir"),
    ("multirm-train", "--out", "m.safetensors", "output", "m.safetensors"),
    ("multirm-embed", "--out", "v.txt", "output", "v.txt"),
    ("multirm-curate-sites", "--modification", "Psi", "classes", ["Psi"]),
    ("multirm-explain", "--baseline", "zero", "ig_baseline", "zero"),
    ("multirm-motifs", "--baseline", "zero", "ig_baseline", "zero"),
]


def _primary(action: argparse.Action) -> str:
    return next(s for s in action.option_strings if s.startswith("--"))


@pytest.fixture(params=sorted(TOOLS))
def tool(request):
    factory, wrapper, writes, minimal = TOOLS[request.param]
    return request.param, factory(), wrapper, writes, minimal


def test_every_tool_writes_to_o_with_the_shared_name(tool):
    name, parser, _, writes, minimal = tool
    options = parser_options(parser)
    long = "--outdir" if writes == "folder" else "--output"
    other = "--output" if writes == "folder" else "--outdir"
    assert long in options and other not in options, name
    assert options[long].option_strings[:2] == ["-o", long], name
    args = parser.parse_args([*minimal, "-o", "X"])
    assert getattr(args, long[2:]) == "X"


def test_classes_are_one_comma_list_wherever_they_are_chosen(tool):
    name, parser, _, _, minimal = tool
    options = parser_options(parser)
    classes = [a for a in parser._actions if a.dest == "classes"]
    if not classes:
        return
    assert _primary(classes[0]) == "--classes", name
    args = parser.parse_args([*minimal, "-o", "X", "--classes", "m6A,Psi"])
    assert args.classes in ("m6A,Psi", ["m6A", "Psi"]), name
    assert "--modification" not in options or _primary(options["--modification"]) == "--classes"


def test_baseline_means_the_lightgbm_baseline_only(tool):
    name, parser, _, _, _ = tool
    for action in parser._actions:
        primary = [s for s in action.option_strings if s.startswith("--")][:1]
        if primary and "baseline" in primary[0]:
            assert primary[0] in ("--ig-baseline", "--baseline-train", "--baseline-window"), (name, primary)


@pytest.mark.parametrize("name, old, value, dest, parsed", ALIASES)
def test_former_spellings_still_work(name, old, value, dest, parsed):
    factory, _, writes, minimal = TOOLS[name]
    argv = [*minimal, old, value] if old in ("--out",) else [*minimal, "-o", "X", old, value]
    assert getattr(factory().parse_args(argv), dest) == parsed


def test_wrappers_use_the_shared_names_not_the_former_ones(tool):
    """Every ``argument=`` of a wrapper and every flag of its command is an option's first name."""
    name, parser, wrapper, _, _ = tool
    options = parser_options(parser)
    root = load_wrapper(wrapper)
    used = {p.get("argument") for p in root.iter("param") if p.get("argument")}
    used |= set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", root.find("command").text))
    former = sorted(f for f in used if f in options and _primary(options[f]) != f)
    assert not former, f"{wrapper} uses former option names {former}"
    assert (WRAPPERS / wrapper).is_file()


def test_a_usage_mistake_exits_2_in_every_tool(tool, capsys):
    name, parser, _, _, minimal = tool
    with pytest.raises(SystemExit) as exc:
        parser.parse_args([*minimal, "-o", "X", "--no-such-option"])
    assert exc.value.code == 2
    assert "--no-such-option" in capsys.readouterr().err
