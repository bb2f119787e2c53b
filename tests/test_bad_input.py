"""Bad input, tried as a hostile user would, on every tool: one line naming the file, a non-zero exit,
no traceback and nothing left behind (no output folder, no temporary file)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from multirm_tools.cli import (correlate, curate_sites, embed, evaluate, explain, motifs, predict, report,
                               train, variants)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "galaxy_wrappers" / "test-data"
TINY = DATA / "tiny.safetensors"

# tool -> (main, argv with {IN} for the input under test and {OUT} for the output folder or file)
CATALOGUE = {
    "predict": (predict.main, ["{IN}", "-o", "{OUT}", "--model", str(TINY), "--threads", "1"]),
    "predict --model": (predict.main, [str(DATA / "example.fa"), "-o", "{OUT}", "--model", "{IN}"]),
    "embed": (embed.main, ["{IN}", "-o", "{OUT}.txt", "--epochs", "1"]),
    "train": (train.main, ["--train", "{IN}", "--valid", str(DATA / "sites_valid.tsv"), "--embedding", "onehot",
                           "--output", "{OUT}.safetensors", "--epochs", "1", "--quiet"]),
    "evaluate": (evaluate.main, ["--model", str(TINY), "--sites", "{IN}", "--outdir", "{OUT}", "--threads", "1"]),
    "curate-sites": (curate_sites.main, ["--sites", "{IN}", "--genome", str(DATA / "curate_genome.fa"),
                                         "--classes", "m6A", "-o", "{OUT}", "--quiet"]),
    "curate-sites --genome": (curate_sites.main, ["--sites", str(DATA / "curate_sites.bed"), "--genome", "{IN}",
                                                  "-o", "{OUT}", "--quiet"]),
    "explain": (explain.main, ["{IN}", "-o", "{OUT}", "--model", str(TINY), "--position", "x:5", "--quiet"]),
    "correlate": (correlate.main, ["--model", str(TINY), "-o", "{OUT}", "--sites", "{IN}", "--quiet"]),
    "correlate --model": (correlate.main, ["--model", "{IN}", "-o", "{OUT}"]),
    "motifs": (motifs.main, ["--explain", "{IN}", "-o", "{OUT}", "--quiet"]),
    "report": (report.main, ["{IN}", "-o", "{OUT}.html", "--quiet"]),
    "variants": (variants.main, ["{IN}", str(DATA / "variants_genome.fa"), "-o", "{OUT}", "--model", str(TINY)]),
    "variants --fasta": (variants.main, [str(DATA / "variants.vcf"), "{IN}", "-o", "{OUT}", "--model", str(TINY)]),
    "variants --annotation": (variants.main, [str(DATA / "variants.vcf"), str(DATA / "variants_genome.fa"), "-o",
                                              "{OUT}", "--model", str(TINY), "--annotation", "{IN}"]),
}


def _bad(kind: str, tmp_path: Path) -> Path:
    if kind == "missing":
        return tmp_path / "missing.txt"
    if kind == "folder":
        d = tmp_path / "a_folder"
        d.mkdir()
        (d / "inside.txt").write_text("x\n")
        return d
    path = tmp_path / f"{kind}.dat"
    if kind == "binary":
        path.write_bytes(bytes(range(256)) * 8 + b"\x00\xff\xfe" * 100)
    elif kind == "empty":
        path.write_bytes(b"")
    return path


def _leftovers(tmp_path: Path, before: set[str]) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir() if p.name not in before)


@pytest.mark.parametrize("kind", ["missing", "folder", "binary", "empty"])
@pytest.mark.parametrize("tool", list(CATALOGUE))
def test_bad_file_gives_one_line_and_leaves_nothing(tool, kind, tmp_path, capsys):
    main, template = CATALOGUE[tool]
    bad = _bad(kind, tmp_path)
    before = {p.name for p in tmp_path.iterdir()}
    out = tmp_path / "out"
    argv = [a.replace("{IN}", str(bad)).replace("{OUT}", str(out)) for a in template]
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    err = capsys.readouterr().err.strip().splitlines()
    assert code in (1, 2), (tool, kind, err)
    assert len(err) == 1 and "error:" in err[0] and "Traceback" not in err[0], (tool, kind, err)
    assert bad.name in err[0], (tool, kind, err)
    assert _leftovers(tmp_path, before) == [], (tool, kind)


def _as_nobody():
    """Run a child as an unprivileged user (root can write anywhere, so the permission case needs one)."""
    if os.geteuid() != 0:
        return {}
    return {"user": 65534, "group": 65534}


@pytest.mark.skipif(sys.platform != "linux", reason="needs setuid to an unprivileged user")
def test_output_folder_that_cannot_be_created(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)  # nobody may create anything inside
    tmp_path.chmod(0o755)
    env = {**os.environ, "HOME": str(tmp_path)}
    cmds = {
        "multirm-predict": [str(DATA / "example.fa"), "-o", str(locked / "out"), "--model", str(TINY)],
        "multirm-embed": [str(DATA / "example.fa"), "-o", str(locked / "emb.txt")],
        "multirm-correlate": ["--model", str(TINY), "-o", str(locked / "out"), "--measure", "query"],
    }
    for prog, args in cmds.items():
        try:
            proc = subprocess.run([str(Path(sys.executable).parent / prog), *args], capture_output=True, text=True,
                                  env=env, timeout=300, **_as_nobody())
        except PermissionError as exc:  # the venv itself is not readable by that user
            pytest.skip(f"cannot run as an unprivileged user here: {exc}")
        err = proc.stderr.strip().splitlines()
        assert proc.returncode == 1, (prog, proc.stderr)
        assert len(err) == 1 and "permission denied" in err[0].lower() and str(locked) in err[0], (prog, err)
    assert list(locked.iterdir()) == []


def test_embed_refuses_a_folder_as_output_before_training(tmp_path, capsys):
    (tmp_path / "emb").mkdir()
    t0 = time.perf_counter()
    assert embed.main([str(DATA / "example.fa"), "-o", str(tmp_path / "emb"), "--epochs", "50"]) == 2
    assert time.perf_counter() - t0 < 5  # refused before 50 epochs of training
    assert "is a folder; give a file name" in capsys.readouterr().err


def test_a_folder_given_as_the_model(tmp_path, capsys):
    assert predict.main([str(DATA / "example.fa"), "-o", str(tmp_path / "out"), "--model", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "is a folder, not a model bundle file" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("signum, last_line", [(signal.SIGTERM, "multirm-predict: terminated"),
                                               (signal.SIGINT, "multirm-predict: interrupted")])
def test_a_signal_during_a_scan_leaves_nothing(signum, last_line, tmp_path):
    """A killed predict removes its spool and its partial outputs (SIGTERM, as a job scheduler sends;
    SIGINT, as Ctrl-C does)."""
    fasta = tmp_path / "big.fa"
    import numpy as np
    rng = np.random.default_rng(0)
    with open(fasta, "w") as fh:
        for i in range(400):
            fh.write(f">r{i}\n" + "".join(rng.choice(list("ACGT"), 5000)) + "\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "multirm-predict"), str(fasta), "-o", str(out),
                             "--model", str(TINY), "--threads", "1"], stderr=subprocess.PIPE, text=True,
                            # a shell's background job inherits SIGINT ignored, and Python keeps it so
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.startswith(".multirm-predict.spool") for p in tmp_path.iterdir()):
        time.sleep(0.05)
    time.sleep(0.5)  # well into the scan
    assert proc.poll() is None, "the scan ended before it could be killed: make the input larger"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum
    assert err.strip().splitlines()[-1] == last_line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.fa"]


@pytest.mark.parametrize("tool", ["predict", "embed", "report", "train"])
def test_unwritable_output_is_refused_before_any_work(tool, tmp_path, capsys, monkeypatch):
    """As root nothing is unwritable, so the check's view of permissions is stubbed here for one folder;
    test_output_folder_that_cannot_be_created runs the real thing as an unprivileged user where it can."""
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    main, template = CATALOGUE[tool]
    good = {"predict": DATA / "example.fa", "embed": DATA / "example.fa", "report": DATA / "report_run.json",
            "train": DATA / "sites_train.tsv"}[tool]
    argv = [a.replace("{IN}", str(good)).replace("{OUT}", str(locked / "out")) for a in template]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "permission denied" in err[0] and str(locked) in err[0], err
    assert list(locked.iterdir()) == []


def test_a_warning_is_one_line_naming_the_tool(tmp_path, capsys):
    # A row whose base is not its class's is dropped with a warning: one line, no Python file:line.
    rows = (DATA / "sites_valid.tsv").read_text().splitlines()
    cells = rows[1].split("\t")
    cells[0], cells[1] = "wrong_base", "Psi"  # its site is an A
    table = tmp_path / "t.tsv"
    table.write_text("\n".join(rows + ["\t".join(cells)]) + "\n")
    assert evaluate.main(["--model", str(TINY), "--sites", str(table), "--outdir", str(tmp_path / "o"),
                          "--threads", "1"]) == 0
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if "dropped" in x]
    assert len(lines) == 1 and lines[0].startswith("multirm-evaluate: warning: ") and "t.tsv" in lines[0]
    assert "UserWarning" not in err and "warnings.warn" not in err
