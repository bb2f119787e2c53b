#!/usr/bin/env python3
"""Motif recovery of multirm-motifs: the share of planted motifs matched by TOMTOM at q < 0.05.

Run from the repository root with the project installed (test extra):

    python benchmarks/motif_recovery.py [--seeds 10] [--models 3]

1. Explain-like tables (tests/test_motifs.py ``explain_table``: DRACH around m6A sites, GTTCGA
   around m5U sites, attribution +1 over the motif plus Gaussian noise) under several conditions,
   for the EM search and for plain stacking of the highest-attribution segments (at the default
   width 8 and at width 6); plus tables without any motif, where every motif found is false.
2. The planted-motif model of tests/planted.py (GGACT around m6A, GTTCGA around m5U), trained
   with ``--models`` seeds, each explained by multirm-motifs itself (``--sites``: true positives
   among the top 10% of scores, integrated gradients, 50 steps).

Targets of TOMTOM: the planted PWMs plus 30 random decoy motifs. Prints one line per condition.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from planted import make_planted_sites, planted_bundle, planted_pwm  # noqa: E402
from test_motifs import decoys, explain_table, iupac_pwm  # noqa: E402

from multirm_tools import motifs as M  # noqa: E402
from multirm_tools.cli import motifs as cli  # noqa: E402
from multirm_tools.meme import write_meme  # noqa: E402

CONDITIONS = {
    "clean (noise sd 0.3, n=40)": {},
    "noisy (sd 0.6)": {"noise": 0.6},
    "peaks jittered +-2 nt": {"jitter": 2},
    "30% of sites without motif (n=60)": {"motif_rate": 0.7, "n": 60},
    "few sites (n=15), sd 0.5, jitter 1": {"n": 15, "noise": 0.5, "jitter": 1},
}
PLANTED = {"m6A": "DRACH", "m5U": "TLOOP"}


def recovered(motifs: list[M.Motif], targets: dict) -> list[bool]:
    hits = M.compare_motifs({m.motif_id: m.probs for m in motifs}, targets)
    return [bool(((hits["query_id"].str.startswith(cls + "_")) & (hits["target_id"] == name)
                  & (hits["q_value"] < 0.05)).any()) for cls, name in PLANTED.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--models", type=int, default=3)
    args = parser.parse_args()
    targets = {"DRACH": iupac_pwm("DRACH"), "TLOOP": iupac_pwm("GTTCGA"), **decoys()}
    for name, kwargs in CONDITIONS.items():
        scores = {"em": [], "stack w8": [], "stack w6": []}
        t = time.time()
        for seed in range(args.seeds):
            tracks = M.tracks_from_explain(explain_table(seed=1000 + seed, **kwargs))
            for method, width in (("em", 8), ("stack w8", 8), ("stack w6", 6)):
                regions, _ = M.extract_regions(tracks, width, 3)
                found = M.find_motifs(regions, method.split()[0], min_sites=5, seed=seed)
                scores[method] += recovered(found, targets)
        print(f"{name}: " + ", ".join(f"{m} {np.mean(v):.0%} ({sum(v)}/{len(v)})" for m, v in scores.items())
              + f"  [{time.time() - t:.0f} s]", flush=True)
    false = 0
    for seed in range(args.seeds):
        regions, _ = M.extract_regions(M.tracks_from_explain(
            explain_table(n=60, motif_rate=0.0, seed=2000 + seed)), 8, 3)
        false += len(M.find_motifs(regions, min_sites=5, seed=seed))
    print(f"no motif planted (2 classes x 60 sites, {args.seeds} tables): {false} motif(s) found", flush=True)

    targets = {"GGACT": planted_pwm("m6A", 0.01), "TLOOP": planted_pwm("m5U", 0.01), **decoys()}
    ok = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for seed in range(args.models):
            bundle = planted_bundle(tmp / f"planted{seed}.safetensors", seed=seed)
            make_planted_sites(n_per_class=150, seed=500 + seed, id_prefix="b").to_csv(
                tmp / "sites.tsv", sep="\t", index=False)
            with open(tmp / "known.meme", "w") as fh:
                write_meme(fh, targets)
            out = tmp / f"out{seed}"
            assert cli.main(["--sites", str(tmp / "sites.tsv"), "--model", str(bundle), "-o", str(out),
                             "--known", str(tmp / "known.meme"), "--quiet", "--device", "cpu"]) == 0
            hits = pd.read_csv(out / "tomtom.tsv", sep="\t")
            for cls, name in (("m6A", "GGACT"), ("m5U", "TLOOP")):
                ok.append(bool(((hits["query_id"].str.startswith(cls + "_")) & (hits["target_id"] == name)
                                & (hits["q_value"] < 0.05)).any()))
    print(f"planted-motif model ({args.models} training seeds, explained with --sites): "
          f"{np.mean(ok):.0%} ({sum(ok)}/{len(ok)}) planted motifs recovered at q < 0.05")


if __name__ == "__main__":
    main()
