"""The house rule on exit codes, tool by tool: exit 2 for a usage mistake, 1 for bad data.

Every console script of pyproject.toml's [project.scripts] is called in-process through its
``main(argv)`` with (a) an unknown option: exit 2 and an argparse ``PROG: error:`` line naming it;
(b) a missing and a malformed input file: exit 1 and one stderr line naming the file. Either way
no traceback and nothing left behind in the output's folder. A new script fails here until it
has its cases in ``CASES``. The cases after the per-tool ones are options once refused with the
wrong code (or not at all).
"""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest

from test_bad_input import DATA, TINY, _leftovers

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
T = str(TINY)
UNKNOWN = "--no-such-option"


def _d(name: str) -> str:
    return str(DATA / name)


# tool -> argv of a run that works on the bundled test data ({OUT}: the output, inside tmp_path).
# Each is cheap: a tiny model, one epoch, few shuffles.
GOOD: dict[str, list[str]] = {
    "multirm-predict": [_d("example.fa"), "-o", "{OUT}", "--model", T, "--threads", "1"],
    "multirm-variants": [_d("variants.vcf"), _d("variants_genome.fa"), "-o", "{OUT}", "--model", T,
                         "--transcriptome", "--threads", "1"],
    "multirm-explain": [_d("example.fa"), "-o", "{OUT}", "--model", T, "--position", "tx4:5", "--quiet",
                        "--threads", "1"],
    "multirm-motifs": ["--explain", _d("motifs_explain.tsv"), "-o", "{OUT}", "--quiet"],
    "multirm-correlate": ["--model", T, "-o", "{OUT}", "--sites", _d("correlate_a.bed"), _d("correlate_b.bed"),
                          "--shuffles", "10", "--quiet"],
    "multirm-evaluate": ["--model", T, "--sites", _d("sites_valid.tsv"), "-o", "{OUT}", "--threads", "1"],
    "multirm-curate-sites": ["--sites", _d("curate_sites.bed"), "--genome", _d("curate_genome.fa"), "-o", "{OUT}",
                             "--quiet"],
    "multirm-train": ["--train", _d("sites_train.tsv"), "--valid", _d("sites_valid.tsv"), "--embedding", "onehot",
                      "-o", "{OUT}.safetensors", "--epochs", "1", "--quiet", "--threads", "1"],
    "multirm-embed": [_d("example.fa"), "-o", "{OUT}.txt", "--epochs", "1", "--dim", "8"],
    "multirm-report": [_d("report_predictions.tsv"), "-o", "{OUT}.html", "--quiet"],
}


class Case(NamedTuple):
    script: str
    what: str  # the test id after the script's name
    argv: list[str]  # {OUT}: the output; {MISSING}: a file that does not exist (tmp_path/missing.*)
    code: int  # the exit code the rule asks for
    names: str  # what the error line must name: the option, or the file's name


def _swap(script: str, old: str, new: str) -> list[str]:
    """The good run with one argument replaced (the input under test)."""
    argv = GOOD[script]
    assert argv.count(old) == 1, (script, old)
    return [new if a == old else a for a in argv]


def _data_cases(script: str, good_input: str, missing: str, malformed: str) -> list[Case]:
    """A missing and a malformed (bundled bad test-data) file in place of ``good_input``: exit 1."""
    return [Case(script, f"missing input missing{missing}", _swap(script, _d(good_input), "{MISSING}" + missing), 1,
                 "missing" + missing),
            Case(script, f"malformed input {malformed}", _swap(script, _d(good_input), _d(malformed)), 1, malformed)]


_PER_TOOL = [
    *_data_cases("multirm-predict", "example.fa", ".fa", "bad_protein.fa"),
    *_data_cases("multirm-variants", "variants.vcf", ".vcf", "variants_bad_ref.vcf"),
    *_data_cases("multirm-explain", "example.fa", ".fa", "bad_protein.fa"),
    *_data_cases("multirm-motifs", "motifs_explain.tsv", ".tsv", "sites_missing_column.tsv"),
    *_data_cases("multirm-correlate", "correlate_b.bed", ".bed", "correlate_bad.bed"),
    *_data_cases("multirm-evaluate", "sites_valid.tsv", ".tsv", "sites_missing_column.tsv"),
    *_data_cases("multirm-curate-sites", "curate_sites.bed", ".bed", "curate_bad_chrom.bed"),
    *_data_cases("multirm-train", "sites_train.tsv", ".tsv", "sites_missing_column.tsv"),
    *_data_cases("multirm-embed", "example.fa", ".fa", "bad_protein.fa"),
    *_data_cases("multirm-report", "report_predictions.tsv", ".tsv", "report_bad.txt"),
]

_KNOWN = [
    # Once exit 1 (an even or negative window) or silently the model's window (0): now argparse's.
    *[Case("multirm-evaluate", f"--baseline-window {w}",
           GOOD["multirm-evaluate"] + ["--baseline-train", _d("sites_train.tsv"), "--baseline-window", w], 2,
           "--baseline-window") for w in ("4", "0", "-1")],
    # The training tables hold m6A and Psi only: an option naming another class contradicts the run.
    Case("multirm-train", "--class-max-rows of a class not trained", GOOD["multirm-train"] + ["--class-max-rows",
         "m5C=5"], 2, "--class-max-rows"),
    Case("multirm-train", "--specialists of a class not trained", GOOD["multirm-train"] + ["--specialists", "m5C"],
         2, "--specialists"),
    # Once exit 1 but with an empty OUTPUT.work folder left behind (train_model makes it first).
    Case("multirm-train", "missing --distill teacher", GOOD["multirm-train"] + ["--distill", "{MISSING}.safetensors"],
         1, "missing.safetensors"),
    # --fasta draws the attention measure's windows; with --measure query it was once ignored (exit 0).
    Case("multirm-correlate", "--fasta with --measure query",
         GOOD["multirm-correlate"] + ["--measure", "query", "--fasta", "{MISSING}.fa"], 2, "--fasta"),
    # NaN passed the range checks and stopped training with a traceback (exit 1).
    *[Case("multirm-train", f"{opt} {v}", GOOD["multirm-train"] + [opt, v], 2, opt)
      for opt, v in (("--lr", "nan"), ("--lr", "inf"), ("--clip-norm", "nan"))],
    # 4**k words: --k 100 once grew until the kernel killed the process.
    Case("multirm-embed", "--k 9", GOOD["multirm-embed"] + ["--k", "9"], 2, "--k"),
]



def _cases() -> list:
    """Per console script: an unknown option, then its data cases; a script without any fails."""
    params = []
    for script in SCRIPTS:
        if script not in GOOD:
            params.append(pytest.param(Case(script, "has cases", [], 0, ""), id=f"{script}: has cases"))
            continue
        usage = Case(script, f"unknown option {UNKNOWN}", GOOD[script] + [UNKNOWN], 2, UNKNOWN)
        for case in [usage, *(c for c in _PER_TOOL + _KNOWN if c.script == script)]:
            ident = f"{script}: {case.what}"
            params.append(pytest.param(case, id=ident))
    return params


def _main(script: str):
    module, _, function = SCRIPTS[script].partition(":")
    return getattr(importlib.import_module(module), function)


@pytest.mark.parametrize("case", _cases())
def test_usage_exits_2_and_bad_data_exits_1(case, tmp_path, capsys):
    assert case.script in GOOD, f"{case.script}: add its cases to GOOD and _PER_TOOL in {Path(__file__).name}"
    before = {p.name for p in tmp_path.iterdir()}
    argv = [a.replace("{OUT}", str(tmp_path / "out")).replace("{MISSING}", str(tmp_path / "missing"))
            for a in case.argv]
    try:
        code = _main(case.script)(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    lines = capsys.readouterr().err.strip().splitlines()
    where = (case.script, case.what, lines)
    assert code == case.code, where
    assert not any("Traceback" in line for line in lines), where
    assert [line for line in lines if "error:" in line] == lines[-1:], where
    assert lines[-1].startswith(f"{case.script}: error: ") and case.names in lines[-1], where
    if code == 1:
        assert len(lines) == 1, where  # the one line, no usage
    else:  # argparse puts its usage lines (the first starts "usage:") before the error line
        assert len(lines) == 1 or lines[0].startswith("usage:"), where
    assert _leftovers(tmp_path, before) == [], where


def test_the_good_runs_work(tmp_path):
    """The runs the cases start from succeed, so each case's exit comes from what it changed."""
    for script, template in GOOD.items():
        out = tmp_path / script
        out.mkdir()
        argv = [a.replace("{OUT}", str(out / "out")) for a in template]
        assert _main(script)(argv) == 0, script
