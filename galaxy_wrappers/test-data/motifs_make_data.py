#!/usr/bin/env python3
"""Write the inputs of the multirm-motifs wrapper tests (galaxy_wrappers/test-data/).

Run from the repository root with the project installed (test extra):

    python galaxy_wrappers/test-data/motifs_make_data.py

Files
-----
motifs_explain.tsv  an explain.tsv-like table (multirm-explain's columns): 20 m6A sites with a
                    DRACH instance and 20 m5U sites with GUUCGA around the site, attribution
                    +1 over the motif plus N(0, 0.3) noise, window 21 (tests/test_motifs.py's
                    ``explain_table``)
motifs_known.meme   the planted PWMs (DRACH and TLOOP = GTTCGA of motifs_explain.tsv, GGACT of the
                    planted model) and 30 random decoy motifs, so that TOMTOM has a target set to
                    calibrate its p-values on
motifs_sites.tsv    a planted sites table (tests/planted.py, 100 rows per label and class) for
                    the --sites mode with explain_planted.safetensors
motifs_bad.meme     a MEME file whose matrix row has 3 values

Every file is byte-identical on every run.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from planted import make_planted_sites, planted_pwm
from test_motifs import decoys, explain_table, iupac_pwm

from multirm_tools.meme import write_meme


def main() -> None:
    explain_table(n=20, seed=21).to_csv(HERE / "motifs_explain.tsv", sep="\t", index=False,
                                        float_format="%.4g")
    with open(HERE / "motifs_known.meme", "w") as fh:
        write_meme(fh, {"DRACH": iupac_pwm("DRACH"), "GGACT": planted_pwm("m6A", 0.01),
                        "TLOOP": iupac_pwm("GTTCGA"), **decoys()})
    make_planted_sites(n_per_class=100, seed=8, id_prefix="g").to_csv(HERE / "motifs_sites.tsv", sep="\t",
                                                                     index=False)
    (HERE / "motifs_bad.meme").write_text("MEME version 4\n\nALPHABET= ACGT\n\nMOTIF broken\n"
                                          "letter-probability matrix: alength= 4 w= 2\n"
                                          "0.25 0.25 0.5\n0 0 0 1\n")


if __name__ == "__main__":
    main()
