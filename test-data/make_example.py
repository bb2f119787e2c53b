#!/usr/bin/env python3
"""Write test-data/example.fa: five random records (200-600 nt), fixed seed.

Record 1 and 2 carry bedtools getfasta -s style genome headers (+ and - strand);
record 3 is RNA in lower case with a few N; records 4-5 are plain DNA.
Run from the repository root: ``python test-data/make_example.py``.
"""

from pathlib import Path

import numpy as np

SEED = 20240607


def main() -> None:
    rng = np.random.default_rng(SEED)

    def seq(n: int, letters: str = "ACGT") -> str:
        return "".join(rng.choice(list(letters), n))

    s3 = list(seq(250, "ACGU").lower())
    for i in (40, 41, 120):
        s3[i] = "n"
    records = [
        ("chr1:1000-1300(+)", "example transcript fragment, plus strand", seq(300)),
        ("chr2:5000-5400(-)", "example transcript fragment, minus strand", seq(400)),
        ("rna_lower", "RNA letters, lower case, three N", "".join(s3)),
        ("tx4", "plain record", seq(600)),
        ("tx5", "plain record", seq(200)),
    ]
    out = Path(__file__).with_name("example.fa")
    with open(out, "w") as fh:
        for rid, desc, s in records:
            fh.write(f">{rid} {desc}\n")
            for lo in range(0, len(s), 60):
                fh.write(s[lo:lo + 60] + "\n")


if __name__ == "__main__":
    main()
