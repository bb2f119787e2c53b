#!/usr/bin/env python3
"""Write the inputs of the multirm-explain and multirm-correlate wrapper tests (galaxy_wrappers/test-data/).

Run from the repository root with the project installed:

    python galaxy_wrappers/test-data/explain_make_data.py

Files
-----
explain_planted.safetensors  the planted-motif model of tests/planted.py (m6A on GGACU,
                             m5U on GUUCGA; one-hot, window 31), seed 0
explain_planted.fa           three planted sites: m6A and m5U on plain records, and m6A on a
                             minus-strand record chr2:2000-2081(-)
explain_sites.bed            the minus-strand m6A site in genome coordinates (as multirm-predict's
                             sites.bed would give it)
correlate_a.bed, correlate_b.bed
                             20 m6A sites and 20 Psi sites 10 nt downstream of them (chr1, +)
correlate_bad.bed            a BED row whose name is no class

The FASTA and BED files are byte-identical on every run. The bundle is the same model on the
same CPU and torch version; tests pin no number that depends on the last digits.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from planted import make_planted_sites, planted_bundle  # noqa: E402

LOCUS_START = 2000


def main() -> None:
    planted_bundle(HERE / "explain_planted.safetensors", seed=0)
    df = make_planted_sites(n_per_class=1, seed=5).set_index("id")
    m6a, m5u = df.loc["m6A_1_0", "sequence"], df.loc["m5U_1_0", "sequence"]
    other = make_planted_sites(n_per_class=2, seed=6, classes=("m6A",)).set_index("id")
    minus = other.loc["m6A_1_1", "sequence"]
    locus = f"chr2:{LOCUS_START}-{LOCUS_START + len(minus)}(-)"
    (HERE / "explain_planted.fa").write_text(
        f">m6A_site planted GGACU, site at 41\n{m6a}\n"
        f">m5U_site planted GUUCGA, site at 41\n{m5u}\n"
        f">{locus} planted GGACU on the minus strand, site at 41\n{minus}\n")
    site = len(minus) // 2  # 0-based record position of the planted site
    genome = LOCUS_START + len(minus) - 1 - site
    (HERE / "explain_sites.bed").write_text(f"chr2\t{genome}\t{genome + 1}\tm6A\t999\t-\n")
    a_sites = [1000 * i + 137 for i in range(20)]
    (HERE / "correlate_a.bed").write_text("".join(f"chr1\t{s}\t{s + 1}\tm6A\t900\t+\n" for s in a_sites))
    (HERE / "correlate_b.bed").write_text("".join(f"chr1\t{s + 10}\t{s + 11}\tPsi\t800\t+\n"
                                                  for s in a_sites))
    (HERE / "correlate_bad.bed").write_text("chr1\t100\t101\tfoo\t0\t+\n")


if __name__ == "__main__":
    main()
