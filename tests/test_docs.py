"""The user documentation: a README a user can read, its two commands, working links, a page per tool."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted([README, *(ROOT / "docs").rglob("*.md"), *(ROOT / "src").rglob("MODEL_CARD.md")])

# [text](target) and ![alt](target); fenced code is removed first, so examples never count as links.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def bash_blocks(text: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(r"^```bash\n(.*?)^```", text, re.S | re.M)]


def relative_links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:|#", t)]


def test_readme_is_short():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200


def test_readme_starts_with_the_main_job_and_the_test_command():
    first, second = bash_blocks(README.read_text(encoding="utf-8"))[:2]
    assert first.startswith("python3 -m venv .venv && . .venv/bin/activate && pip install torch==")
    assert "multirm-predict test-data/example.fa" in first and "multirm-report " in first
    # .ci/run runs this command: keep the two in step.
    assert second == ("python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 "
                      "-e '.[test]' && python -m pytest -q")
    assert "pip install -q torch==2.13.0 -e '.[test]'" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    broken = [t for t in relative_links(path)
              if not (path.parent / t.split("#")[0]).exists()]
    assert not broken, f"{path.relative_to(ROOT)}: broken links {broken}"


def test_every_console_script_has_a_docs_page():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    missing = [name for name in scripts
               if not (ROOT / "docs" / "tools" / f"{name.removeprefix('multirm-')}.md").is_file()]
    assert not missing, f"no docs/tools page for {missing}"
    readme = README.read_text(encoding="utf-8")
    assert all(f"docs/tools/{n.removeprefix('multirm-')}.md" in readme for n in scripts)


SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_each_tool_page_shows_the_tools_current_help(script, monkeypatch, capsys):
    """The page's --help block is what the tool prints (at 110 columns): regenerate it when options change."""
    import importlib

    page = ROOT / "docs" / "tools" / f"{script.removeprefix('multirm-')}.md"
    block = re.search(r"^```\n(usage: " + re.escape(script) + r" .*?)^```", page.read_text(encoding="utf-8"),
                      re.S | re.M)
    assert block, f"{page.name}: no --help block"
    module, func = SCRIPTS[script].split(":")
    monkeypatch.setenv("COLUMNS", "110")
    with pytest.raises(SystemExit) as stop:
        getattr(importlib.import_module(module), func)(["--help"])
    assert stop.value.code == 0
    assert block.group(1) == capsys.readouterr().out
