"""The house rules of the code (issue 21): thin tools, one reader and writer per format."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "multirm_tools"
TOOLS = sorted(p for p in (SRC / "cli").glob("*.py") if p.name not in ("__init__.py", "common.py"))
MAX_TOOL_LINES = 200


@pytest.mark.parametrize("path", TOOLS, ids=lambda p: p.stem)
def test_a_tool_parses_arguments_and_calls_the_library(path):
    """A tool module stays short and leaves files to the library: it opens none, parses no table."""
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_TOOL_LINES, f"{path.name}: move work into the library"
    tree = ast.parse(text)
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    assert not imported & {"gzip", "json", "csv", "pandas", "shlex"}, f"{path.name} imports {imported}"
    calls = {node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
             for node in ast.walk(tree) if isinstance(node, ast.Call)}
    assert not calls & {"open", "read_csv", "to_csv", "dump", "load"}, f"{path.name} reads or writes files itself"


def test_one_gzip_detection():
    """Only seqio looks at the gzip magic bytes; every reader asks it."""
    magic = re.compile(r"\\x1f\\x8b|0x1f")
    owners = sorted(p.name for p in SRC.rglob("*.py") if magic.search(p.read_text()))
    assert owners == ["seqio.py"]


def test_one_tsv_writer_and_run_header():
    """Tables go through tables.write_tsv / append_rows; run.json starts with tables.run_header."""
    for path in SRC.rglob("*.py"):
        if path.name == "tables.py":
            continue
        text = path.read_text()
        assert 'sep="\\t", index=False' not in text.replace("header=False, ", ""), \
            f"{path.relative_to(SRC)} writes a TSV itself; use tables.write_tsv"
        assert '"command_line": shlex.join' not in text, f"{path.relative_to(SRC)} builds a run header itself"


def test_the_table_registry_names_real_tools_and_refuses_drift():
    import tomllib

    from multirm_tools.tables import TABLES, frame

    scripts = set(tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text())["project"]["scripts"])
    assert {t.tool for t in TABLES.values()} <= scripts
    files = [(t.tool, t.file) for t in TABLES.values()]
    assert len(files) == len(set(files)), "two registry tables of one tool share a file name"
    names = TABLES["distances"].names
    assert list(frame("distances", {c: [1] for c in names}).columns) == names
    with pytest.raises(ValueError, match="not the registry's"):
        frame("distances", {c: [1] for c in reversed(names)})
    with pytest.raises(ValueError, match="not the registry's"):
        frame("distances", {c: [1] for c in names[:-1]})
