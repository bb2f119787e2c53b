"""recipe/meta.yaml (bioconda) renders, and agrees with pyproject.toml and the package.

conda-build is not available here; this is the structural check that can run:
jinja2 render with stand-ins for conda-build's jinja functions, YAML parse, required
keys, entry points == [project.scripts], version == multirm_tools.__version__, run
requirements == [project.dependencies] mapped to conda names, a --help test per script.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import multirm_tools

jinja2 = pytest.importorskip("jinja2")
yaml = pytest.importorskip("yaml")
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipe" / "meta.yaml"

# PyPI name -> conda-forge name, where they differ
CONDA_NAMES = {"torch": "pytorch"}


def _conda_jinja_globals() -> dict:
    """Stand-ins for what conda-build provides to meta.yaml."""
    return {
        "PYTHON": "python",
        "pin_subpackage": lambda name, max_pin=None, exact=False: f"{name} (pinned {max_pin or 'exact'})",
        "pin_compatible": lambda name, **kw: name,
        "compiler": lambda lang: f"{lang}-compiler",
        "environ": {},
    }


@pytest.fixture(scope="module")
def recipe() -> dict:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    text = env.from_string(RECIPE.read_text()).render(**_conda_jinja_globals())
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def _split_requirement(text: str) -> tuple[str, str]:
    """'numpy >=1.24' or 'numpy>=1.24' -> ('numpy', '>=1.24'); whitespace dropped from the spec."""
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", text)
    return m.group(1).lower(), re.sub(r"\s+", "", m.group(2))


def test_required_keys(recipe):
    for key in ("package", "source", "build", "requirements", "test", "about"):
        assert key in recipe, key
    assert recipe["package"]["name"] == "multirm-tools"
    assert recipe["build"]["noarch"] == "python"
    assert recipe["build"]["number"] == 0
    assert recipe["about"]["summary"] and recipe["about"]["license"]
    assert "pip install" in recipe["build"]["script"] and "--no-deps" in recipe["build"]["script"]


def test_version_is_package_version(recipe, pyproject):
    assert str(recipe["package"]["version"]) == multirm_tools.__version__
    assert pyproject["project"]["dynamic"] == ["version"]  # the package's __version__ is the one source


def test_entry_points_equal_pyproject_scripts(recipe, pyproject):
    scripts = pyproject["project"]["scripts"]
    points = dict(re.split(r"\s*=\s*", e, maxsplit=1) for e in recipe["build"]["entry_points"])
    assert points == scripts


def test_every_script_has_a_help_test(recipe, pyproject):
    commands = recipe["test"]["commands"]
    for script in pyproject["project"]["scripts"]:
        assert f"{script} --help" in commands, script
    assert 'python -c "import multirm_tools"' in commands
    assert "multirm_tools" in recipe["test"]["imports"]


def test_run_requirements_follow_pyproject(recipe, pyproject):
    run = dict(_split_requirement(r) for r in recipe["requirements"]["run"])
    assert run.pop("python") == pyproject["project"]["requires-python"].replace(" ", "")
    wanted = {}
    for dep in pyproject["project"]["dependencies"]:
        name, spec = _split_requirement(dep)
        wanted[CONDA_NAMES.get(name, name)] = spec
    assert run == wanted


def test_license_matches_pyproject(recipe, pyproject):
    assert recipe["about"]["license"] == pyproject["project"]["license"]
