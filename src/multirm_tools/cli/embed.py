"""multirm-embed: train k-mer word2vec embeddings for multirm-train."""

from __future__ import annotations

import argparse
import sys

from ..argtypes import int_between
from ..embedding import KmerCorpus, missing_kmers, train_word2vec, write_embedding
from ..errors import InputError
from .common import add_output_option, base_parser, check_output_file, positive_int, run_main


def parse_arguments() -> argparse.ArgumentParser:
    parser = base_parser("multirm-embed", "Train 3-mer word2vec vectors (gensim) from FASTA files or "
                         "sites tables and write them in the word2vec text format.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="FASTA (.fa/.fasta/.fna, optionally .gz) or sites table (.tsv, .tsv.gz)")
    add_output_option(parser, "output word2vec text file", aliases=("--out",))
    algo = parser.add_mutually_exclusive_group()
    algo.add_argument("--sg", dest="sg", action="store_true", default=True, help="skip-gram")
    algo.add_argument("--cbow", dest="sg", action="store_false", help="CBOW instead of skip-gram")
    # 4**k words: k = 8 is 65,536 of them, and each step up quadruples the table.
    parser.add_argument("--k", type=int_between(1, 8), default=3, help="k-mer length, 1 to 8")
    parser.add_argument("--dim", type=positive_int, default=300, help="vector dimension")
    parser.add_argument("--window", type=positive_int, default=5, help="context window (tokens)")
    parser.add_argument("--epochs", type=positive_int, default=5, help="training passes")
    parser.add_argument("--min-count", type=positive_int, default=1, help="ignore rarer k-mers")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="gensim threads; only 1 gives the same vectors for the same seed")
    return parser


def run(args: argparse.Namespace) -> int:
    check_output_file(args.output, "-o/--output")  # before the training, not after it
    corpus = KmerCorpus(args.inputs, k=args.k)
    if not any(True for _ in corpus):
        raise InputError(f"{', '.join(args.inputs)}: no sequence with a {args.k}-mer free of N")
    wv = train_word2vec(corpus, dim=args.dim, window=args.window, sg=args.sg, epochs=args.epochs,
                        min_count=args.min_count, seed=args.seed, workers=args.workers)
    missing = missing_kmers(wv.index_to_key, args.k)
    if missing:
        raise InputError(f"{', '.join(args.inputs)}: {len(missing)} {args.k}-mers never occur "
                         f"(at least --min-count times), e.g. {', '.join(missing[:5])}; give more sequence")
    write_embedding(wv, args.output)
    print(f"multirm-embed: wrote {len(wv.index_to_key)} vectors of dimension {args.dim} to {args.output}",
          file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(run, parse_arguments(), argv)


if __name__ == "__main__":
    sys.exit(main())
