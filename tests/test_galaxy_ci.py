"""The Galaxy CI harness (.ci/galaxy/) and the workflow (galaxy_wrappers/workflow/), without Galaxy.

The real run is `.ci/galaxy/run.sh` (a Galaxy server, planemo test). These checks catch what would
otherwise surface only there, late: a wrapper the harness would not load, a workflow step naming a
tool or version that does not exist, a workflow output without a content test, missing test data,
and a closing line `N passed, N failed` that miscounts planemo's report.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WRAPPERS = ROOT / "galaxy_wrappers"
CI = ROOT / ".ci" / "galaxy"
WORKFLOW = WRAPPERS / "workflow" / "multirm-pipeline.gxwf.yml"
WORKFLOW_TESTS = WRAPPERS / "workflow" / "multirm-pipeline.gxwf-tests.yml"
CHAIN = ["multirm_curate_sites", "multirm_embed", "multirm_train", "multirm_predict",
         "multirm_explain", "multirm_motifs", "multirm_correlate", "multirm_report"]


def _tool_files() -> list[Path]:
    return sorted(p for p in WRAPPERS.glob("*.xml") if p.name != "macros.xml")


def _tool_versions() -> dict[str, str]:
    tokens = {t.get("name"): t.text for t in ET.parse(WRAPPERS / "macros.xml").getroot().iter("token")}
    versions = {}
    for path in _tool_files():
        root = ET.parse(path).getroot()
        version = root.get("version")
        for name, value in tokens.items():
            version = version.replace(name, value or "")
        versions[root.get("id")] = version
    return versions


def test_harness_discovers_every_wrapper():
    # run.sh finds wrappers with `grep -l '^<tool '`: each tool file must start its root there
    found = subprocess.run(["grep", "-l", "^<tool ", *map(str, _tool_files())],
                           capture_output=True, text=True).stdout.split()
    assert sorted(found) == [str(p) for p in _tool_files()]
    assert len(found) >= len(CHAIN)


def test_workflow_chains_the_tools_in_order():
    wf = yaml.safe_load(WORKFLOW.read_text())
    assert [step["tool_id"] for step in wf["steps"].values()] == CHAIN
    versions = _tool_versions()
    for name, step in wf["steps"].items():
        assert step["tool_version"] == versions[step["tool_id"]], name
        assert step.get("doc"), f"step {name} has no doc (workflow_lint wants one)"
    assert wf["creator"] and wf["license"] and wf["doc"]


def test_workflow_connections_name_existing_steps_and_outputs():
    wf = yaml.safe_load(WORKFLOW.read_text())
    outputs = {}
    for path in _tool_files():
        root = ET.parse(path).getroot()
        outputs[root.get("id")] = {e.get("name") for e in root.find("outputs")}
    steps = wf["steps"]

    def check(source: str) -> None:
        if "/" not in source:
            assert source in wf["inputs"], source
            return
        step, output = source.split("/")
        assert output in outputs[steps[step]["tool_id"]], source

    for step in steps.values():
        for value in step.get("in", {}).values():
            sources = value["source"] if isinstance(value, dict) else value
            for source in [sources] if isinstance(sources, str) else sources:
                check(source)
    for output in wf["outputs"].values():
        check(output["outputSource"])


def test_every_workflow_output_is_checked_by_content():
    wf = yaml.safe_load(WORKFLOW.read_text())
    tests = yaml.safe_load(WORKFLOW_TESTS.read_text())
    assert len(tests) >= 1
    for test in tests:
        assert set(test["outputs"]) == set(wf["outputs"])
        for name, expected in test["outputs"].items():
            kinds = {a["that"] for a in expected["asserts"]}
            assert kinds & {"has_line", "has_line_matching", "has_text", "has_n_lines"}, name
        for name, given in test["job"].items():
            assert name in wf["inputs"]
            assert (WORKFLOW_TESTS.parent / given["path"]).is_file(), given["path"]


def test_workflow_data_is_what_the_generator_writes(tmp_path):
    spec = importlib.util.spec_from_file_location("workflow_make_data",
                                                  WRAPPERS / "test-data" / "workflow_make_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in ("workflow_genome.fa", "workflow_sites.bed"):
        assert (tmp_path / name).read_bytes() == (WRAPPERS / "test-data" / name).read_bytes(), name


def test_workflow_sites_sit_on_their_planted_motifs():
    genome, name = {}, None
    for line in (WRAPPERS / "test-data" / "workflow_genome.fa").read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            genome[name] = ""
        else:
            genome[name] += line
    rows = [line.split("\t") for line in (WRAPPERS / "test-data" / "workflow_sites.bed").read_text().splitlines()]
    assert {r[3] for r in rows} == {"m6A", "m5U"} and len(rows) == 200
    for chrom, start, end, cls, _, strand in rows:
        site = int(start)
        assert int(end) == site + 1 and strand == "+"
        # m6A: the A of GGACT; m5U: the first T of GTTCGA
        motif = genome[chrom][site - 2:site + 3] if cls == "m6A" else genome[chrom][site - 1:site + 5]
        assert motif == {"m6A": "GGACT", "m5U": "GTTCGA"}[cls], (chrom, site, cls)


def _report(path: Path, statuses: list[str]) -> Path:
    path.write_text(json.dumps({"version": "0.2", "tests": [
        {"id": f"tool_{i}", "has_data": True, "data": {"status": s}} for i, s in enumerate(statuses)]}))
    return path


def _summary(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CI / "planemo_summary.py"), *map(str, paths)],
                          capture_output=True, text=True)


def test_summary_counts_across_reports(tmp_path):
    done = _summary(_report(tmp_path / "a.json", ["success", "success", "failure"]),
                    _report(tmp_path / "b.json", ["success", "error"]))
    assert done.stdout.splitlines()[-1] == "3 passed, 2 failed"
    assert "FAILED (failure): tool_2" in done.stdout and "FAILED (error): tool_1" in done.stdout
    assert done.returncode == 1


def test_summary_passes_only_when_all_pass(tmp_path):
    done = _summary(_report(tmp_path / "a.json", ["success", "success"]))
    assert done.stdout.splitlines() == ["2 passed, 0 failed"] and done.returncode == 0


@pytest.mark.parametrize("content", [None, "not json", "{}"])
def test_summary_counts_a_missing_or_broken_report_as_failed(tmp_path, content):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    done = _summary(_report(tmp_path / "ok.json", ["success"]), path)
    assert done.stdout.splitlines()[-1] == "1 passed, 1 failed"
    assert done.returncode == 1


def test_galaxy_config_template_fills_in():
    text = (CI / "galaxy.yml.in").read_text()
    assert set(re.findall(r"@[A-Z_]+@", text)) == {"@WORK@", "@TOOL_CONF@", "@KEY@"}
    config = yaml.safe_load(text.replace("@", "X"))["galaxy"]
    assert config["metadata_strategy"] == "directory_celery" and config["enable_celery_tasks"] is True
    assert config["dependency_resolvers"] == [] and config["conda_auto_install"] is False
