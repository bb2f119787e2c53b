#!/usr/bin/env python3
"""Benchmark multirm-variants: alleles/s and peak RSS for a VCF of random SNVs on a generated genome.

Generates a random genome (default 10 Mb: 10 contigs of 1 Mb) and a sorted VCF of SNVs at random
positions (default 100,000, issue 20's size), and runs multirm-variants on them in a fresh process
(all classes of the model, both strands, the default outputs) with 2 threads. Prints alleles/s end
to end (process start, model load, genome index and writing included) and the peak RSS.

    python benchmarks/bench_variants.py                          # the bundled model, 100,000 SNVs
    python benchmarks/bench_variants.py --snvs 2000 --model conv --model bilstm

Set ``OMP_WAIT_POLICY=PASSIVE`` on a machine shared with other jobs (see bench_predict.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from multirm_tools.bundle import load_bundle, resolve_bundle_path
from multirm_tools.cli.variants import main as variants_main


def make_inputs(work: Path, megabases: float, contigs: int, snvs: int, seed: int = 0) -> None:
    """``genome.fa`` of random sequence and ``snvs.vcf`` of ``snvs`` sorted SNVs on it."""
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    length = int(megabases * 1_000_000 / contigs)
    seqs = {}
    with open(work / "genome.fa", "w") as fh:
        for c in range(contigs):
            seq = letters[rng.integers(0, 4, length)].tobytes().decode()
            seqs[f"chr{c + 1}"] = seq
            fh.write(f">chr{c + 1}\n")
            for lo in range(0, length, 60):
                fh.write(seq[lo:lo + 60] + "\n")
    per = np.bincount(rng.integers(0, contigs, snvs), minlength=contigs)
    with open(work / "snvs.vcf", "w") as fh:
        fh.write("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for c, n in enumerate(per):
            name = f"chr{c + 1}"
            for pos in np.sort(rng.choice(length, size=n, replace=False)).tolist():
                ref = seqs[name][pos]
                alt = "ACGT"[("ACGT".index(ref) + int(rng.integers(1, 4))) % 4]
                fh.write(f"{name}\t{pos + 1}\t.\t{ref}\t{alt}\t.\tPASS\t.\n")


def run_variants(work: Path, bundle: str, out: Path, threads: int) -> dict:
    t0 = time.perf_counter()
    rc = variants_main([str(work / "snvs.vcf"), str(work / "genome.fa"), "-o", str(out), "--model", bundle,
                        "--threads", str(threads), "--device", "cpu"])
    if rc != 0:
        raise SystemExit(f"multirm-variants failed with exit code {rc}")
    return {"seconds": time.perf_counter() - t0,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snvs", type=int, default=100_000, help="SNVs in the VCF (default 100000)")
    ap.add_argument("--megabases", type=float, default=10.0, help="genome size in Mb (default 10)")
    ap.add_argument("--contigs", type=int, default=10, help="contigs of the genome (default 10)")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    ap.add_argument("--model", action="append", default=None,
                    help="a bundle or a shipped model's name (default, bilstm, conv); repeat to compare (default: default)")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files")
    ap.add_argument("--child", nargs=3, metavar=("WORK", "BUNDLE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:  # one measured run in a fresh process: its peak RSS is its own
        print(json.dumps(run_variants(Path(args.child[0]), args.child[1], Path(args.child[2]), args.threads)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        make_inputs(work, args.megabases, args.contigs, args.snvs)
        for i, name in enumerate(args.model or ["default"]):
            out = work / f"out{i}"
            child = [sys.executable, __file__, "--child", str(work), name, str(out), "--threads", str(args.threads)]
            t0 = time.perf_counter()
            proc = subprocess.run(child, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr, file=sys.stderr)
                return proc.returncode
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            seconds = time.perf_counter() - t0
            run = json.loads((out / "run.json").read_text())
            model = load_bundle(resolve_bundle_path(None if name == "default" else name))
            print(f"{name} ({model.config.architecture}, {model.n_members} network(s)): {args.snvs:,} SNVs "
                  f"({run['counts']['placements']:,} allele-strands, {run['counts']['scores']:,} scores) in "
                  f"{seconds:.1f} s = {args.snvs / seconds:,.1f} alleles/s, peak RSS {result['rss_mb']:,.0f} MB "
                  f"(threads {args.threads}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
                  f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
