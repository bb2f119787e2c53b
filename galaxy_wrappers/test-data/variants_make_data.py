#!/usr/bin/env python3
"""Write the inputs of the multirm-variants wrapper tests (galaxy_wrappers/test-data/).

Run from the repository root with the project installed:

    python galaxy_wrappers/test-data/variants_make_data.py

Files (the model is explain_planted.safetensors: m6A on GGACU, window 31)
-----
variants_genome.fa     chr1, 240 nt of C/G/T with one planted GGACT (its A at 1-based 101)
variants.vcf           two SNVs: the planted A (A>G, id centre) and a base far from it (id far)
variants.vcf.gz        the same, bgzip-compressed
variants_bad_ref.vcf   a REF that is not the genome's base (line 4)

Byte-identical on every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from Bio import bgzf

HERE = Path(__file__).resolve().parent
HEADER = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=240>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"


def main() -> None:
    rng = np.random.default_rng(20)
    seq = list(rng.choice(list("CGT"), 240))
    seq[98:103] = list("GGACT")
    seq = "".join(seq)
    (HERE / "variants_genome.fa").write_text(f">chr1 planted GGACT, A at 101\n{seq}\n")
    far = seq[199]
    text = HEADER + (f"chr1\t101\tcentre\tA\tG\t50\tPASS\tDP=9\n"
                     f"chr1\t200\tfar\t{far}\t{'G' if far != 'G' else 'T'}\t50\tPASS\tDP=4\n")
    (HERE / "variants.vcf").write_text(text)
    with bgzf.BgzfWriter(str(HERE / "variants.vcf.gz"), "wb") as fh:
        fh.write(text.encode())
    wrong = "C" if seq[49] != "C" else "G"
    (HERE / "variants_bad_ref.vcf").write_text(HEADER + f"chr1\t50\tbad\t{wrong}\tA\t.\t.\t.\n")


if __name__ == "__main__":
    main()
