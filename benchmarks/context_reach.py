#!/usr/bin/env python3
"""How much of its window a model uses: each class's AUC when the tokens beyond +-r nt of the site
are set to N, for several r (r = half the window: nothing masked).

A model whose AUC still rises from r = 32 to r = 50 reads the outer third of its 101-nt window; one
whose AUC is flat there does not. This measured why the conv candidates trail the BiLSTM on m5C
(docs/conv-default-rule.md, candidate 5). Needs a labelled sites table, by default MultiRM's
validation split from ../shared/data (skips with a message when it is absent).

    python benchmarks/context_reach.py --model default --model conv
    python benchmarks/context_reach.py --model runs/x/model.safetensors --classes m5C Psi --radii 50 32 10
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import torch
from sklearn.metrics import roc_auc_score

from multirm_tools.baseline import table_windows
from multirm_tools.bundle import load_bundle
from multirm_tools.inference import score_windows
from multirm_tools.kmers import N_CODE
from multirm_tools.sites import read_sites

VALID = Path(__file__).resolve().parents[2] / "shared" / "data" / "multirm" / "valid.tsv.gz"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", default=None, help="bundle or shipped name (repeatable; default: default)")
    ap.add_argument("--sites", default=str(VALID), help="labelled sites table (default: MultiRM's validation split)")
    ap.add_argument("--classes", nargs="+", default=["m5C", "Psi", "m1A"])
    ap.add_argument("--radii", type=int, nargs="+", default=[50, 40, 32, 20, 10], help="nt kept each side of the site")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    if not Path(a.sites).exists():
        print(f"skipped: {a.sites} not found (shared data absent)")
        return 0
    torch.set_num_threads(a.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = read_sites(a.sites)
    print("model\tclass\t" + "\t".join(f"r={r}" for r in a.radii))
    for name in a.model or ["default"]:
        bundle = load_bundle(name)
        half = bundle.config.window // 2
        for cls in a.classes:
            rows = df[df["modification"] == cls]
            net = bundle.model.subset([cls])
            col = net.config.classes.index(cls)
            windows = table_windows(rows, bundle.config.window)
            aucs = []
            for r in a.radii:
                masked = windows.copy()
                masked[:, :max(half - r, 0)] = N_CODE
                masked[:, half + r + 1:] = N_CODE
                aucs.append(roc_auc_score(rows["label"], score_windows(net, masked)[:, col]))
            print(f"{name}\t{cls}\t" + "\t".join(f"{x:.4f}" for x in aucs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
