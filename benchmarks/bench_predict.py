#!/usr/bin/env python3
"""Benchmark multirm-predict: positions/s and peak RSS on a generated FASTA.

Generates a random FASTA (default 1 Mb: 100 records of 10 kb) in a temporary
folder, builds a random network of the default model's size (window 101, BiLSTM
hidden 64, 100-d frozen word2vec-style random embedding) as a bundle, runs
``multirm_tools.cli.predict.main`` in-process with 2 threads and prints
positions/s and peak RSS (``ru_maxrss``). Targets (issue 2): >= 5,000
positions/s and < 2 GB RSS at 1 Mb and at 10 Mb.

    python benchmarks/bench_predict.py                 # 1 Mb
    python benchmarks/bench_predict.py --megabases 10  # 10 Mb
    python benchmarks/bench_predict.py --profile       # cProfile top functions
    python benchmarks/bench_predict.py --members 3 --specialists m6A
                                                       # the bundled ensemble's layout
    python benchmarks/bench_predict.py --members 3 --specialists m6A --classes m6A
                                                       # m6A alone: its network alone runs

On a machine shared with other jobs, OpenMP's default busy-waiting makes two
PyTorch threads far slower than one (measured: 336 vs 3,507 windows/s at load
3.5 on 2 cores); run with ``OMP_WAIT_POLICY=PASSIVE`` there. The load average
is printed with the result so numbers can be judged.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from multirm_tools.bundle import Bundle, save_bundle
from multirm_tools.cli.predict import main as predict_main
from multirm_tools.model import EnsembleNet, ModelConfig, build_network


def make_fasta(path: Path, megabases: float, record_len: int, seed: int = 0) -> int:
    """Write random records of ``record_len`` nt totalling ``megabases`` Mb; returns positions."""
    rng = np.random.default_rng(seed)
    total = int(megabases * 1_000_000)
    letters = np.frombuffer(b"ACGT", dtype=np.uint8)
    written = 0
    with open(path, "w") as fh:
        i = 0
        while written < total:
            n = min(record_len, total - written)
            seq = letters[rng.integers(0, 4, n)].tobytes().decode()
            fh.write(f">bench{i}\n")
            for lo in range(0, n, 60):
                fh.write(seq[lo:lo + 60] + "\n")
            written += n
            i += 1
    return written


def make_bundle(path: Path, window: int, hidden: int, embedding_dim: int, attention_dim: int,
                head_hidden: int, seed: int = 0, members: int = 1, specialists: tuple[str, ...] = (),
                architecture: str = "conv") -> None:
    torch.manual_seed(seed)
    cfg = ModelConfig(window=window, hidden=hidden, embedding="word2vec", embedding_dim=embedding_dim,
                      attention_dim=attention_dim, head_hidden=head_hidden, architecture=architecture)
    emb = torch.randn(cfg.vocab_size, embedding_dim) * 0.1
    emb[0] = 0.0
    model = build_network(cfg, emb).eval()
    if members > 1 or specialists:  # the same cost per network as trained members
        # The bundled model's layout: the shared networks leave the specialists' classes out.
        shared = replace(cfg, classes=tuple(c for c in cfg.classes if c not in specialists))
        nets = [build_network(shared, emb) for _ in range(members)]
        nets += [build_network(replace(cfg, classes=(c,)), emb) for c in specialists]
        model = EnsembleNet(nets, classes=cfg.classes).eval()
    rng = np.random.default_rng(seed)
    nulls = {c: rng.uniform(size=1000) for c in cfg.classes}
    save_bundle(path, Bundle(model=model, null_scores=nulls, provenance={"source": "benchmark"}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--megabases", type=float, default=1.0, help="FASTA size in Mb (default 1)")
    ap.add_argument("--record-length", type=int, default=10_000, help="nt per record (default 10000)")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    ap.add_argument("--batch-size", type=int, default=512, help="windows per call (default 512, as multirm-predict)")
    ap.add_argument("--architecture", default="conv", choices=("conv", "bilstm"))
    ap.add_argument("--window", type=int, default=101)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--embedding-dim", type=int, default=100)
    ap.add_argument("--attention-dim", type=int, default=64)
    ap.add_argument("--head-hidden", type=int, default=32)
    ap.add_argument("--members", type=int, default=1, help="networks in the bundle (an ensemble if > 1)")
    ap.add_argument("--specialists", default="", help="classes with a network of their own as well, e.g. m6A")
    ap.add_argument("--classes", help="multirm-predict --classes (only their networks run)")
    ap.add_argument("--bedgraph", action="store_true", help="also write bedGraph tracks")
    ap.add_argument("--profile", action="store_true", help="print the top cProfile entries")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        fasta, bundle, out = work / "bench.fa", work / "bench.safetensors", work / "out"
        t0 = time.perf_counter()
        positions = make_fasta(fasta, args.megabases, args.record_length)
        make_bundle(bundle, args.window, args.hidden, args.embedding_dim, args.attention_dim,
                    args.head_hidden, members=args.members,
                    specialists=tuple(c for c in args.specialists.split(",") if c), architecture=args.architecture)
        print(f"setup: {positions:,} positions in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        cli = [str(fasta), "-o", str(out), "--model", str(bundle), "--threads", str(args.threads),
               "--batch-size", str(args.batch_size), "--device", "cpu"]
        if args.bedgraph:
            cli.append("--bedgraph")
        if args.classes:
            cli += ["--classes", args.classes]
        prof = cProfile.Profile() if args.profile else None
        t0 = time.perf_counter()
        if prof:
            prof.enable()
        rc = predict_main(cli)
        if prof:
            prof.disable()
        elapsed = time.perf_counter() - t0
        if rc != 0:
            print(f"predict failed with exit code {rc}", file=sys.stderr)
            return rc
        tsv_mb = (out / "predictions.tsv").stat().st_size / 1e6
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"positions: {positions:,}  time: {elapsed:.1f} s  positions/s: {positions / elapsed:,.0f}  "
          f"peak RSS: {rss_mb:,.0f} MB  predictions.tsv: {tsv_mb:,.0f} MB  "
          f"(threads {args.threads}, batch {args.batch_size}, window {args.window}, hidden {args.hidden}, "
          f"embedding {args.embedding_dim}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')})")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
