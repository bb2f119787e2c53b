#!/usr/bin/env python3
"""Benchmark multirm-predict: positions/s and peak RSS on a generated FASTA.

Generates a random FASTA (default 1 Mb: 100 records of 10 kb) in a temporary folder
and runs multirm-predict on it (all 12 classes, p- and q-values, the default outputs)
with 2 threads, each run in a fresh process, and prints positions/s end to end
(process start, model load and writing included) and the process's peak RSS.
Targets (issue 19): >= 20,000 positions/s with the default model at 1 Mb, and flat
peak RSS from 1 Mb to 10 Mb (a 100-Mb input must fit in 2 GB).

    python benchmarks/bench_predict.py                        # the bundled model, 1 Mb
    python benchmarks/bench_predict.py --megabases 1 10       # RSS at 1 and 10 Mb
    python benchmarks/bench_predict.py --model default --model old.safetensors
                                                              # two models in one run, same input
    python benchmarks/bench_predict.py --model random --architecture bilstm --members 3 --specialists m6A
                                                              # a random network of a given layout
    python benchmarks/bench_predict.py --profile              # cProfile top functions (in process)

On a machine shared with other jobs, OpenMP's default busy-waiting makes two
PyTorch threads far slower than one (measured: 336 vs 3,507 windows/s at load
3.5 on 2 cores); run with ``OMP_WAIT_POLICY=PASSIVE`` there. The load average
is printed with the result so numbers can be judged.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from multirm_tools.bundle import Bundle, default_bundle_path, load_bundle, save_bundle
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


def run_predict(fasta: Path, bundle: Path, out: Path, args, profile: bool = False) -> dict:
    """multirm-predict in this process: seconds, output size and this process's peak RSS."""
    cli = [str(fasta), "-o", str(out), "--model", str(bundle), "--threads", str(args.threads), "--device", "cpu"]
    if args.bedgraph:
        cli.append("--bedgraph")
    if args.classes:
        cli += ["--classes", args.classes]
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    rc = predict_main(cli)
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    if rc != 0:
        raise SystemExit(f"predict failed with exit code {rc}")
    return {"seconds": time.perf_counter() - t0, "tsv_mb": (out / "predictions.tsv").stat().st_size / 1e6,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--megabases", type=float, nargs="+", default=[1.0], help="FASTA sizes in Mb (default 1)")
    ap.add_argument("--record-length", type=int, default=10_000, help="nt per record (default 10000)")
    ap.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    ap.add_argument("--model", action="append", default=None,
                    help="a bundle, 'default' (the bundled model) or 'random' (a random network of the layout "
                         "below); repeat to compare (default: default)")
    ap.add_argument("--architecture", default="conv", choices=("conv", "bilstm"), help="random network")
    ap.add_argument("--window", type=int, default=101, help="random network")
    ap.add_argument("--hidden", type=int, default=64, help="random network")
    ap.add_argument("--embedding-dim", type=int, default=100, help="random network")
    ap.add_argument("--attention-dim", type=int, default=64, help="random network")
    ap.add_argument("--head-hidden", type=int, default=32, help="random network")
    ap.add_argument("--members", type=int, default=1, help="random network: networks (an ensemble if > 1)")
    ap.add_argument("--specialists", default="", help="random network: classes with a network of their own")
    ap.add_argument("--classes", help="multirm-predict --classes (only their networks run)")
    ap.add_argument("--bedgraph", action="store_true", help="also write bedGraph tracks")
    ap.add_argument("--profile", action="store_true", help="run in this process and print the top cProfile entries")
    ap.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files")
    ap.add_argument("--child", nargs=3, metavar=("FASTA", "BUNDLE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:  # one measured run in a fresh process: its peak RSS is its own
        print(json.dumps(run_predict(*map(Path, args.child), args)))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        bundles = []
        for i, name in enumerate(args.model or ["default"]):
            if name == "random":
                path = work / f"random{i}.safetensors"
                make_bundle(path, args.window, args.hidden, args.embedding_dim, args.attention_dim,
                            args.head_hidden, members=args.members,
                            specialists=tuple(c for c in args.specialists.split(",") if c),
                            architecture=args.architecture)
            else:
                path = default_bundle_path() if name == "default" else Path(name)
            bundles.append((name, path))
        for mb in args.megabases:
            fasta = work / f"bench{mb:g}.fa"
            positions = make_fasta(fasta, mb, args.record_length)
            for name, path in bundles:
                out = work / f"out_{mb:g}_{Path(name).stem}"
                if args.profile:
                    result = run_predict(fasta, path, out, args, profile=True)
                else:
                    child = [sys.executable, __file__, "--child", str(fasta), str(path), str(out),
                             "--threads", str(args.threads)] + (["--bedgraph"] if args.bedgraph else []) + \
                            (["--classes", args.classes] if args.classes else [])
                    t0 = time.perf_counter()
                    proc = subprocess.run(child, capture_output=True, text=True)
                    if proc.returncode != 0:
                        print(proc.stderr, file=sys.stderr)
                        return proc.returncode
                    result = json.loads(proc.stdout.strip().splitlines()[-1])
                    result["seconds"] = time.perf_counter() - t0  # process start and imports included
                model = load_bundle(path)
                print(f"{name} ({model.config.architecture}, {model.n_members} network(s)): "
                      f"{positions:,} positions in {result['seconds']:.1f} s = "
                      f"{positions / result['seconds']:,.0f} positions/s, peak RSS {result['rss_mb']:,.0f} MB, "
                      f"predictions.tsv {result['tsv_mb']:,.0f} MB (threads {args.threads}, "
                      f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, "
                      f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
