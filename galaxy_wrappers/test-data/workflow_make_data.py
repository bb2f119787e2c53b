#!/usr/bin/env python3
"""Write the inputs of the workflow test (galaxy_wrappers/workflow/multirm-pipeline.gxwf-tests.yml).

Run from the repository root with the project installed:

    python galaxy_wrappers/test-data/workflow_make_data.py [OUTDIR]

(OUTDIR defaults to this folder.)

Files
-----
workflow_genome.fa   two 10-kb random chromosomes with planted motifs (tests/planted.py): m6A sites
                     on GGACT (the A) and m5U sites on GTTCGA (the first T), every 100 nt,
                     alternating; chance occurrences of either motif elsewhere are broken
workflow_sites.bed   the 200 planted sites (BED6, plus strand, name = class)

Byte-identical on every run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from planted import PLANTED  # noqa: E402

CHROMS = ("chrA", "chrB")
LENGTH = 10000
SPACING = 100


def _break_motifs(seq: np.ndarray, rng: np.random.Generator) -> None:
    """Mutate chance occurrences of the planted motifs (either strand) until none is left."""
    complement = str.maketrans("ACGT", "TGCA")
    patterns = [m for m, _ in PLANTED.values()]
    patterns += [m.translate(complement)[::-1] for m in patterns]
    while True:
        text = "".join(seq)
        hits = [text.find(p) for p in patterns if p in text]
        if not hits:
            return
        i = min(hits)
        seq[i + 1] = rng.choice([b for b in "ACGT" if b != seq[i + 1]])


def main(out: Path = HERE) -> None:
    rng = np.random.default_rng(7)
    classes = list(PLANTED)
    fasta, bed = [], []
    for chrom in CHROMS:
        seq = rng.choice(np.array(list("ACGT")), size=LENGTH)
        _break_motifs(seq, rng)
        for k, site in enumerate(range(SPACING // 2, LENGTH - SPACING // 2 + 1, SPACING)):
            cls = classes[k % len(classes)]
            motif, offset = PLANTED[cls]
            seq[site - offset:site - offset + len(motif)] = list(motif)
            bed.append(f"{chrom}\t{site}\t{site + 1}\t{cls}\t0\t+\n")
        text = "".join(seq)
        fasta.append(f">{chrom}\n" + "".join(text[i:i + 60] + "\n" for i in range(0, LENGTH, 60)))
    (out / "workflow_genome.fa").write_text("".join(fasta))
    (out / "workflow_sites.bed").write_text("".join(bed))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
