#!/usr/bin/env python3
"""Write the inputs of the multirm-report wrapper tests (galaxy_wrappers/test-data/report_*).

Run from the repository root with the project installed:

    python galaxy_wrappers/test-data/report_make_data.py

Files
-----
report_predictions.tsv, report_sites.bed, report_run.json
                     multirm-predict with a tiny random model (seed 0, built here) on the first
                     record of example.fa
                     (chr1:1000-1300(+)), classes m6A and Psi, cut-offs 0.5 / 0.9 so that some
                     sites are significant
report_metrics.tsv, report_curves.tsv
                     multirm-evaluate with the same model on sites_valid.tsv
report_metrics_baseline.tsv, report_comparison_baseline.tsv
                     the same with the baseline trained on sites_train.tsv and 50 bootstrap
                     resamples: the baseline's metrics and the comparison with it
report_bad.txt       a text file the report does not recognise

Every file is byte-identical on every run on the same CPU and torch version.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from multirm_tools.bundle import Bundle, save_bundle
from multirm_tools.cli import evaluate, predict
from multirm_tools.inference import score_windows
from multirm_tools.model import ModelConfig, MultiRMNet

HERE = Path(__file__).resolve().parent


def tiny_bundle(path: Path) -> Path:
    """A small random network whose null scores are its own scores of random windows."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cfg = ModelConfig(window=21, hidden=8, embedding="onehot", embedding_dim=64, attention_dim=8, head_hidden=8)
    model = MultiRMNet(cfg).eval()
    scores = score_windows(model, rng.integers(0, 4, size=(200, cfg.window), dtype=np.uint8))
    save_bundle(path, Bundle(model=model, null_scores={c: scores[:, j] for j, c in enumerate(cfg.classes)},
                             thresholds={c: 0.5 for c in cfg.classes},
                             provenance={"source": "galaxy_wrappers/test-data/report_make_data.py", "seed": 0}))
    return path


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = str(tiny_bundle(tmp / "tiny.safetensors"))
        records = (HERE / "example.fa").read_text().split(">")[1:]
        (tmp / "one.fa").write_text(">" + records[0])
        rc = predict.main([str(tmp / "one.fa"), "-o", str(tmp / "p"), "--model", model,
                           "--classes", "m6A,Psi", "--alpha", "0.5", "--fdr", "0.9", "--threads", "1"])
        rc = rc or evaluate.main(["--model", model, "--sites", str(HERE / "sites_valid.tsv"),
                                  "--outdir", str(tmp / "e"), "--threads", "1", "--batch-size", "64"])
        rc = rc or evaluate.main(["--model", model, "--sites", str(HERE / "sites_valid.tsv"),
                                  "--outdir", str(tmp / "b"), "--threads", "1", "--batch-size", "64",
                                  "--baseline-train", str(HERE / "sites_train.tsv"), "--bootstrap", "50"])
        if rc:
            return rc
        for src, dst in (("p/predictions.tsv", "report_predictions.tsv"), ("p/sites.bed", "report_sites.bed"),
                         ("p/run.json", "report_run.json"), ("e/metrics.tsv", "report_metrics.tsv"),
                         ("e/curves.tsv", "report_curves.tsv"),
                         ("b/metrics_baseline.tsv", "report_metrics_baseline.tsv"),
                         ("b/comparison_baseline.tsv", "report_comparison_baseline.tsv")):
            shutil.copyfile(tmp / src, HERE / dst)
    (HERE / "report_bad.txt").write_text("these are my notes\nnot a table\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
