#!/usr/bin/env python3
"""Write the small genome, annotation and site BEDs that test multirm-curate-sites.

Deterministic (numpy seed 2026); needs only numpy. Run from anywhere:

    python test-data/curate/make_curate_data.py

Files (here, and as curate_* copies in galaxy_wrappers/test-data/ for the wrapper tests)
-----
genome.fa         chr1 8000 nt, chr2 6000 nt, chr3 3000 nt, random; chr2 2000-2400 is a copy of
                  chr1 1000-1400, so windows centred in the two copies share their central k-mers
transcripts.gtf   6 transcripts on both strands, 1-3 exons each (GTF, 1-based closed)
transcripts.bed   the same transcripts as BED12
sites.bed         BED6 sites, class in the name column: m6A in DRACH, m6Am in BCA, Psi, m5C on
                  exons at least 30 nt from exon ends (so transcript and genome contexts agree),
                  the same offsets in both copies of the repeat, plus 4 m6A sites outside DRACH
                  and 3 intronic Psi sites (both dropped by the tool and counted in its report),
                  and m6Am at the first nucleotide of tx1 (+) and tx2 (-), whose BCA motif lies
                  in the genome upstream of the transcript (written into the genome there)
known.bed         known sites (never negatives): 1-nt intervals on exons, one 40-nt interval
                  with strand '.'
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GALAXY = HERE.parents[1] / "galaxy_wrappers" / "test-data"
COMP = str.maketrans("ACGT", "TGCA")
CHROMS = {"chr1": 8000, "chr2": 6000, "chr3": 3000}
# transcript id -> (chrom, strand, exons as 0-based half-open intervals)
TRANSCRIPTS = {
    "tx1": ("chr1", "+", [(200, 700), (900, 1500), (1800, 2600)]),
    "tx2": ("chr1", "-", [(3000, 3600), (4000, 4800)]),
    "tx3": ("chr1", "+", [(5000, 6000), (6500, 7600)]),
    "tx4": ("chr2", "+", [(1800, 2500), (2700, 3500)]),
    "tx5": ("chr2", "-", [(4000, 5800)]),
    "tx6": ("chr3", "-", [(100, 900), (1200, 2000), (2300, 2900)]),
}
DRACH = {"D": "AGT", "R": "AG", "A": "A", "C": "C", "H": "ACT", "B": "CGT"}


def oriented(genome: dict[str, str], chrom: str, start: int, end: int, strand: str) -> str:
    seq = genome[chrom][start:end]
    return seq.translate(COMP)[::-1] if strand == "-" else seq


def holds(context: str, motif: str) -> bool:
    return all(c in DRACH[m] for c, m in zip(context, motif))


def main() -> None:
    rng = np.random.default_rng(2026)
    genome = {c: "".join(rng.choice(list("ACGT"), size=n)) for c, n in CHROMS.items()}
    genome["chr2"] = genome["chr2"][:2000] + genome["chr1"][1000:1400] + genome["chr2"][2400:]
    # BCA at the transcription starts of tx1 (+, chr1 200) and tx2 (-, chr1 4799): TCA on each strand
    c1 = genome["chr1"]
    genome["chr1"] = c1[:198] + "TCA" + c1[201:4799] + "TGA" + c1[4802:]

    sites: list[tuple[str, int, str, str]] = []
    taken: set[tuple[str, int]] = set()

    def pick(cls: str, n: int, ok) -> None:
        """n exonic positions (>= 30 nt from exon ends) where ``ok(context -2..+2)`` holds."""
        pool = []
        for chrom, strand, exons in TRANSCRIPTS.values():
            for s, e in exons:
                for p in range(s + 30, e - 30):
                    if (chrom, p) not in taken and not (chrom == "chr2" and 1990 <= p < 2410) \
                            and not (chrom == "chr1" and 990 <= p < 1410):
                        ctx = oriented(genome, chrom, p - 2, p + 3, strand)
                        if ok(ctx):
                            pool.append((chrom, p, strand))
        for i in sorted(rng.choice(len(pool), size=n, replace=False)):
            chrom, p, strand = pool[i]
            taken.add((chrom, p))
            sites.append((chrom, p, strand, cls))

    pick("m6A", 40, lambda c: holds(c, "DRACH"))
    pick("m6Am", 20, lambda c: holds(c[:3], "BCA"))
    pick("Psi", 30, lambda c: c[2] == "T")
    pick("m5C", 30, lambda c: c[2] == "C")
    pick("m6A", 4, lambda c: c[2] == "A" and not holds(c, "DRACH"))
    # the repeat: the same offsets in chr1 1000-1400 (tx1 exon 2) and chr2 2000-2400 (tx4 exon 1)
    repeat = [p for p in range(1040, 1360) if holds(genome["chr1"][p - 2:p + 3], "DRACH")][:3]
    repeat += [p for p in range(1040, 1360) if genome["chr1"][p] == "T"][:3]
    for p in repeat:
        cls = "m6A" if genome["chr1"][p] == "A" else "Psi"
        sites += [("chr1", p, "+", cls), ("chr2", p + 1000, "+", cls)]
    sites += [("chr1", 200, "+", "m6Am"), ("chr1", 4799, "-", "m6Am")]
    # intronic Psi sites of tx1 (700-900) and tx3 (6000-6500)
    for p in [p for p in range(720, 880) if genome["chr1"][p] == "T"][:2] + \
             [p for p in range(6020, 6480) if genome["chr1"][p] == "T"][:1]:
        sites.append(("chr1", p, "+", "Psi"))
    sites.sort()

    with open(HERE / "genome.fa", "w") as fh:
        for chrom, seq in genome.items():
            fh.write(f">{chrom}\n" + "".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60)))
    with open(HERE / "transcripts.gtf", "w") as fh:
        for tid, (chrom, strand, exons) in TRANSCRIPTS.items():
            gene = "g" + tid[2:]
            for k, (s, e) in enumerate(exons, 1):
                fh.write(f"{chrom}\ttest\texon\t{s + 1}\t{e}\t.\t{strand}\t.\tgene_id \"{gene}\"; "
                         f"transcript_id \"{tid}\"; exon_number \"{k}\";\n")
    with open(HERE / "transcripts.bed", "w") as fh:
        for tid, (chrom, strand, exons) in TRANSCRIPTS.items():
            lo, hi = exons[0][0], exons[-1][1]
            fh.write(f"{chrom}\t{lo}\t{hi}\t{tid}\t0\t{strand}\t{lo}\t{hi}\t0\t{len(exons)}\t"
                     f"{','.join(str(e - s) for s, e in exons)},\t{','.join(str(s - lo) for s, _ in exons)},\n")
    with open(HERE / "sites.bed", "w") as fh:
        for chrom, p, strand, cls in sites:
            fh.write(f"{chrom}\t{p}\t{p + 1}\t{cls}\t0\t{strand}\n")
    known = []
    for tid in ("tx1", "tx2", "tx5"):
        chrom, strand, exons = TRANSCRIPTS[tid]
        s, e = exons[-1]
        for p in sorted(rng.choice(np.arange(s, e), size=15, replace=False)):
            if (chrom, int(p)) not in taken:
                known.append(f"{chrom}\t{p}\t{p + 1}\tknown\t0\t{strand}\n")
    known.append("chr3\t1500\t1540\tknown_block\t0\t.\n")
    (HERE / "known.bed").write_text("".join(known))
    GALAXY.mkdir(parents=True, exist_ok=True)
    for name in ("genome.fa", "transcripts.gtf", "sites.bed", "known.bed"):
        shutil.copyfile(HERE / name, GALAXY / f"curate_{name}")
    (GALAXY / "curate_bad_chrom.bed").write_text("chr1\t250\t251\tm6A\t0\t+\nchrZ\t10\t11\tm6A\t0\t+\n")


if __name__ == "__main__":
    main()
