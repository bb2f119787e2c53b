"""The Galaxy wrappers (galaxy_wrappers/*.xml) against the tools' argparse parsers.

No Galaxy needed: each wrapper is parsed with xml.etree, its macros from macros.xml
expanded, and every ``argument="--flag"`` compared with the parser of the tool it
wraps (type, default, bounds, choices, multiplicity). Every parser option must be a
wrapper parameter, a flag fixed in the command (``FIXED``), or deliberately left out
(``CLI_ONLY``), so a new option or a changed default fails here until the wrapper follows.
"""

from __future__ import annotations

import argparse
import copy
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import multirm_tools
from multirm_tools.cli import embed, evaluate, predict, train
from multirm_tools.cli import curate_sites
from multirm_tools.cli import correlate, explain
from multirm_tools.cli import report
from multirm_tools.cli import motifs
from multirm_tools.cli import variants
from multirm_tools.constants import CLASS_NAMES

WRAPPERS = Path(__file__).resolve().parents[1] / "galaxy_wrappers"

# wrapper file -> (parser factory, {positional dest: wrapper data param})
TOOLS = {
    "multirm_predict.xml": (predict.build_parser, {"input": "input"}),
    "multirm_train.xml": (train.parse_arguments, {}),
    "multirm_evaluate.xml": (evaluate.parse_arguments, {}),
    "multirm_embed.xml": (embed.parse_arguments, {"inputs": "inputs"}),
    "multirm_curate_sites.xml": (curate_sites.parse_arguments, {}),
    "multirm_explain.xml": (explain.build_parser, {"input": "input"}),
    "multirm_correlate.xml": (correlate.build_parser, {}),
    "multirm_report.xml": (report.parse_arguments, {"inputs": "inputs"}),
    "multirm_motifs.xml": (motifs.build_parser, {}),
    "multirm_variants.xml": (variants.build_parser, {"vcf": "vcf", "fasta": "fasta"}),
}

# options every tool has that make no sense in Galaxy
COMMON_CLI_ONLY = {
    "--help": "argparse help",
    "--version": "used by <version_command>, not a parameter",
    "--debug": "tracebacks are for developers; Galaxy shows the one-line error",
}

# flags the wrapper sets itself: they must appear in its <command>
FIXED = {
    "multirm_predict.xml": {
        "--outdir": "outputs are collected from out/",
        "--device": "auto: CUDA when the job sees one; GPU routing is the administrator's",
        "--threads": "from GALAXY_SLOTS",
    },
    "multirm_train.xml": {
        "--output": "the bundle is collected from model.safetensors",
        "--workdir": "the epoch log is collected from work/log.tsv",
        "--quiet": "no progress output in a job log",
        "--device": "auto: CUDA when the job sees one; the tool declares cuda_device_count_min",
        "--threads": "from GALAXY_SLOTS",
    },
    "multirm_evaluate.xml": {
        "--outdir": "outputs are collected from out/",
        "--device": "auto: CUDA when the job sees one",
        "--threads": "from GALAXY_SLOTS",
    },
    "multirm_embed.xml": {
        "--output": "the vectors are collected from embedding.txt",
        "--k": "3: multirm-train reads 3-mer vectors only",
        "--workers": "1: only then does the same seed give the same vectors",
    },
    "multirm_curate_sites.xml": {
        "--outdir": "outputs are collected from out/",
        "--quiet": "no progress output in a job log",
    },
    "multirm_explain.xml": {
        "--outdir": "outputs are collected from out/",
        "--position": "one per entry of the 'positions' text parameter (a repeatable flag)",
        "--quiet": "no progress output in a job log",
        "--device": "auto: CUDA when the job sees one",
        "--threads": "from GALAXY_SLOTS",
    },
    "multirm_correlate.xml": {
        "--outdir": "outputs are collected from out/",
        "--quiet": "no progress output in a job log",
    },
    "multirm_report.xml": {
        "--output": "the page is collected from report.html",
        "--quiet": "no progress output in a job log",
    },
    "multirm_variants.xml": {
        "--outdir": "outputs are collected from out/",
        "--transcriptome": "set by the strand conditional (transcript FASTA)",
        "--annotation": "set by the strand conditional (strand from an annotation)",
        "--device": "auto: CUDA when the job sees one",
        "--threads": "from GALAXY_SLOTS",
    },
    "multirm_motifs.xml": {
        "--outdir": "outputs are collected from out/",
        "--explain": "set by the input-source conditional (explain table mode)",
        "--sites": "set by the input-source conditional (sites table mode)",
        "--quiet": "no progress output in a job log",
        "--device": "auto: CUDA when the job sees one",
        "--threads": "from GALAXY_SLOTS",
    },
}

# tool options deliberately absent from a wrapper (beyond COMMON_CLI_ONLY)
CLI_ONLY: dict[str, dict[str, str]] = {name: {} for name in TOOLS}
CLI_ONLY["multirm_curate_sites.xml"] = {
    "--motif": "free-text CLASS=MOTIF specs; the wrapper keeps the defaults (DRACH, BCA) or lifts them",
}
CLI_ONLY["multirm_report.xml"] = {
    "--title": "in Galaxy the dataset's name labels the report",
}


# ---------------------------------------------------------------------------------------------
# wrapper parsing: a small macro expander (tokens, <xml> macros with token_* defaults, yield)

def _macros() -> tuple[dict[str, str], dict[str, ET.Element]]:
    root = ET.parse(WRAPPERS / "macros.xml").getroot()
    tokens = {t.get("name"): (t.text or "") for t in root.findall("token")}
    xmls = {x.get("name"): x for x in root.findall("xml")}
    return tokens, xmls


def _expand(elem: ET.Element, xmls: dict[str, ET.Element]) -> None:
    i = 0
    while i < len(elem):
        child = elem[i]
        if child.tag == "expand":
            macro = copy.deepcopy(xmls[child.get("macro")])
            values = {k[len("token_"):].upper(): v for k, v in macro.attrib.items() if k.startswith("token_")}
            values.update({k.upper(): v for k, v in child.attrib.items() if k != "macro"})
            text = ET.tostring(macro, encoding="unicode")
            for key, value in values.items():
                text = text.replace(f"@{key}@", value)
            macro = ET.fromstring(text)
            new = []
            for m in macro:
                if m.tag == "yield":
                    continue
                for parent in m.iter():
                    for y in [c for c in parent if c.tag == "yield"]:
                        idx = list(parent).index(y)
                        parent.remove(y)
                        for k, extra in enumerate(child):
                            parent.insert(idx + k, copy.deepcopy(extra))
                new.append(m)
            elem.remove(child)
            for k, m in enumerate(new):
                elem.insert(i + k, m)
            continue  # re-examine: expanded macros may expand further
        _expand(child, xmls)
        i += 1


def load_wrapper(name: str) -> ET.Element:
    tokens, xmls = _macros()
    text = (WRAPPERS / name).read_text()
    root = ET.fromstring(text)
    _expand(root, xmls)
    text = ET.tostring(root, encoding="unicode")
    for key, value in tokens.items():
        text = text.replace(key, value)
    return ET.fromstring(text)


def wrapper_params(root: ET.Element) -> list[ET.Element]:
    return list(root.find("inputs").iter("param"))


def flag_of(param: ET.Element) -> str | None:
    return param.get("argument")


def param_name(param: ET.Element) -> str:
    return param.get("name") or param.get("argument").lstrip("-").replace("-", "_")


def parser_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every option string (``--x``, ``--no-x``) -> its action; short forms dropped."""
    out = {}
    for action in parser._actions:
        for s in action.option_strings:
            if s.startswith("--"):
                out[s] = action
    return out


def covered_flags(root: ET.Element) -> dict[str, ET.Element]:
    """Flags a wrapper's parameters stand for: ``argument``, flag-valued options and true/false values."""
    flags = {}
    for p in wrapper_params(root):
        if flag_of(p):
            flags[flag_of(p)] = p
        for value in [o.get("value") for o in p.iter("option")] + [p.get("truevalue"), p.get("falsevalue")]:
            if value and value.startswith("--"):
                flags[value] = p
    return flags


def _accepts(kind, text: str) -> bool:
    try:
        kind(text)
    except (argparse.ArgumentTypeError, ValueError, TypeError):
        return False
    return True


def _numeric_kind(action: argparse.Action, sample: str) -> str | None:
    """'integer' or 'float': what the tool's type makes of ``sample`` (the wrapper's value)."""
    if action.type is None or not _accepts(action.type, sample):
        return None
    value = action.type(sample)
    return "integer" if isinstance(value, int) else "float" if isinstance(value, float) else None


# ---------------------------------------------------------------------------------------------

@pytest.fixture(params=sorted(TOOLS), ids=lambda n: n.removesuffix(".xml"))
def tool(request):
    name = request.param
    factory, positionals = TOOLS[name]
    return name, load_wrapper(name), factory(), positionals


def test_every_wrapper_is_tested_here():
    assert sorted(p.name for p in WRAPPERS.glob("*.xml") if p.name != "macros.xml") == sorted(TOOLS)


def test_shipped_model_choices_are_the_bundled_models():
    """The wrappers' shipped-model select offers every model file the package ships, by a name the
    tools accept (``bilstm`` is the default's file, so it is not offered twice)."""
    from multirm_tools.bundle import BUNDLED, bundled_path
    macro = ET.parse(WRAPPERS / "macros.xml").getroot().find("xml[@name='model_param']")
    values = [o.get("value") for o in macro.find("param[@name='shipped_model']").iter("option")]
    assert set(values) <= set(BUNDLED) and len(set(values)) == len(values)
    assert {bundled_path(v) for v in values} == {bundled_path(n) for n in BUNDLED}


def test_no_wrapper_splits_its_job(tool):
    """q-values and cut-offs are over the whole run (issue 21): Galaxy's task splitting would give
    them per task, so no wrapper declares ``<parallelism>``."""
    name, root, _, _ = tool
    assert root.find("parallelism") is None, name


def test_the_galaxy_class_list_is_every_class_in_registry_order():
    """macros.xml's class options are exactly the package's classes, each labelled with its base."""
    from multirm_tools.constants import BY_NAME, rna_base
    options = ET.parse(WRAPPERS / "macros.xml").getroot().find("xml[@name='class_options']").findall("option")
    assert [o.get("value") for o in options] == list(CLASS_NAMES)
    for o in options:
        assert o.text.startswith(f"{o.get('value')}: ") and o.text.endswith(f"({rna_base(BY_NAME[o.get('value')].base)})"), o.text


def test_version_token_is_package_version():
    tokens, _ = _macros()
    assert tokens["@TOOL_VERSION@"] == multirm_tools.__version__
    assert float(tokens["@PROFILE@"]) >= 23.0  # <resource type="cuda_device_count_min"> needs 23.0


def test_tool_header(tool):
    name, root, parser, _ = tool
    raw = ET.parse(WRAPPERS / name).getroot()
    assert raw.get("version") == "@TOOL_VERSION@+galaxy@VERSION_SUFFIX@"
    assert raw.get("profile") == "@PROFILE@"
    assert root.get("version") == f"{multirm_tools.__version__}+galaxy0"
    req = root.find("requirements/requirement")
    assert (req.text, req.get("version")) == ("multirm-tools", multirm_tools.__version__)
    assert root.find("version_command").text == f"{parser.prog} --version"
    command = root.find("command")
    assert command.get("detect_errors") == "exit_code"
    assert re.search(rf"^\s*{re.escape(parser.prog)}\b", command.text, re.M), "the command runs the tool"
    assert root.find("citations/citation[@type='doi']").text == "10.1038/s41467-021-24313-3"


def test_wrapper_arguments_exist_in_parser(tool):
    name, root, parser, _ = tool
    options = parser_options(parser)
    unknown = sorted(set(covered_flags(root)) - set(options))
    assert not unknown, f"{name}: the tool has no option {unknown}"


def test_every_parser_option_is_exposed_fixed_or_cli_only(tool):
    name, root, parser, positionals = tool
    covered = covered_flags(root)
    fixed = FIXED[name]
    cli_only = {**COMMON_CLI_ONLY, **CLI_ONLY[name]}
    command = root.find("command").text
    missing = []
    for action in parser._actions:
        if not action.option_strings:
            assert positionals.get(action.dest) in {param_name(p) for p in wrapper_params(root)}, \
                f"{name}: positional {action.dest} has no data parameter"
            continue
        flags = [s for s in action.option_strings if s.startswith("--")]
        if any(f in covered for f in flags):
            assert not any(f in fixed or f in cli_only for f in flags), f"{name}: {flags} both exposed and fixed"
            continue
        if any(f in fixed for f in flags):
            assert any(re.search(rf"(^|\s){re.escape(f)}(\s|$)", command, re.M) for f in flags), \
                f"{name}: {flags} is listed as fixed but not in <command>"
            continue
        if any(f in cli_only for f in flags):
            assert not any(f in command for f in flags)
            continue
        missing.append(flags[0])
    assert not missing, (f"{name}: option(s) {missing} are neither wrapper parameters nor listed in FIXED "
                         f"or CLI_ONLY of tests/test_wrappers.py")
    stale = [f for f in {**fixed, **CLI_ONLY[name]} if f not in parser_options(parser)]
    assert not stale, f"{name}: FIXED/CLI_ONLY name options the tool no longer has: {stale}"


def test_parameters_match_parser(tool):
    name, root, parser, _ = tool
    options = parser_options(parser)
    for p in wrapper_params(root):
        flag = flag_of(p)
        if not flag:
            continue
        action = options[flag]
        where = f"{name} {flag}"
        ptype = p.get("type")
        optional = p.get("optional") == "true"
        multiple = p.get("multiple") == "true"
        if ptype == "boolean":
            if isinstance(action, argparse.BooleanOptionalAction):
                assert p.get("truevalue") == flag and p.get("falsevalue") == "--no-" + flag[2:], where
            else:
                assert isinstance(action, argparse._StoreTrueAction), where
                assert p.get("truevalue") == flag and p.get("falsevalue") == "", where
            assert (p.get("checked") == "true") == bool(action.default), f"{where}: checked != default"
            continue
        assert action.nargs != 0, f"{where}: a flag needs a boolean parameter"
        if action.nargs in ("+", "*"):
            assert multiple, f"{where}: the tool takes several values; the parameter must be multiple"
        if action.required:
            assert not optional, f"{where}: required by the tool"
        elif action.default is None:
            assert optional or ptype == "boolean", f"{where}: no default in the tool; the parameter must be optional"
        if ptype == "data":
            assert action.type is None, f"{where}: a data parameter for a typed option"
            continue
        if ptype == "select":
            values = [o.get("value") for o in p.iter("option")]
            if action.choices is not None:
                assert set(values) <= set(action.choices), f"{where}: options {values} vs {action.choices}"
            else:  # free text in the tool; the class lists are the only selects
                assert set(values) <= set(CLASS_NAMES), f"{where}: {values}"
            if not optional and action.default is not None:
                selected = [o.get("value") for o in p.iter("option") if o.get("selected") == "true"]
                assert selected == [action.default], f"{where}: selected {selected} != default {action.default}"
            continue
        if ptype == "text":  # free text the tool parses itself: the wrapper's value is the tool's default
            assert action.type is not None and action.type(p.get("value", "")) == action.default, where
            # the wrapper's regex and the tool's parser agree on the shape of CLASS=N lists
            for v in p.findall("validator[@type='regex']"):
                for sample in ("", "m6A=5", "m6A=5,AtoI=7", " m6A=5 , Psi=2", "m6A", "m6A=", "=5", "m6A=5;Psi=2"):
                    agree = bool(re.fullmatch(v.text, sample)) == _accepts(action.type, sample)
                    assert agree, f"{where}: the regex and the tool disagree on {sample!r}"
            continue
        sample = p.get("value") or p.get("min") or p.get("max") or "1"
        kind = _numeric_kind(action, sample)
        assert ptype == kind, f"{where}: parameter type {ptype}, tool type {kind}"
        if p.get("value") is not None:
            value = action.type(p.get("value"))
            assert value == action.default, f"{where}: default {p.get('value')} != tool default {action.default}"
        else:
            assert optional and action.default is None, f"{where}: no value but the tool has a default"
        for bound in ("min", "max"):
            if p.get(bound) is not None:
                assert _accepts(action.type, p.get(bound)), f"{where}: {bound}={p.get(bound)} refused by the tool"
        for v in p.findall("validator[@type='in_range']"):
            lo = v.get("min")
            if lo is not None and v.get("exclude_min") == "true":
                assert not _accepts(action.type, lo), f"{where}: the tool accepts {lo}; drop exclude_min"
                assert _accepts(action.type, str(float(lo) + 1e-6)), where


def test_test_data_present(tool):
    name, root, _, _ = tool
    wanted = set()
    for test in root.find("tests"):
        for p in test.iter("param"):
            for v in (p.get("value") or "").split(","):
                if re.search(r"\.(fa|tsv|safetensors)$", v):
                    wanted.add(v)
    missing = sorted(v for v in wanted if not (WRAPPERS / "test-data" / v).is_file())
    assert not missing, f"{name}: test-data lacks {missing}"


def test_each_wrapper_tests_content_and_failure(tool):
    name, root, _, _ = tool
    tests = list(root.find("tests"))
    ok = [t for t in tests if t.get("expect_failure") != "true"]
    bad = [t for t in tests if t.get("expect_failure") == "true"]
    assert ok and bad
    assert all(t.find("assert_stderr/has_text") is not None for t in bad)
    for t in ok:
        tags = {a.tag for a in t.iter() if a.tag.startswith("has_")}
        assert {"has_line_matching"} & tags, f"{name}: a test without content assertions"


def test_threads_from_galaxy_slots(tool):
    name, root, parser, _ = tool
    if "--threads" in parser_options(parser):
        assert '--threads "\\${GALAXY_SLOTS:-1}"' in root.find("command").text
