"""k-mer word2vec embeddings: train with gensim, read and write the word2vec text format.

Sentences are the overlapping k-mer tokens of each sequence (k-mers touching an
N end a sentence). ``read_embedding`` parses the text format by hand (no pickle)
into a matrix aligned to ``kmers.vocabulary(k)``: row 0 (the N k-mer) is zero.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from .errors import InputError
from .kmers import encode, tokenize, vocabulary
from .seqio import is_gzip, read_fasta

FASTA_SUFFIXES = (".fa", ".fasta", ".fna", ".fa.gz", ".fasta.gz", ".fna.gz")
TABLE_SUFFIXES = (".tsv", ".tsv.gz")
MAX_SENTENCE = 10000  # gensim truncates longer sentences; split them instead


def _open_text(path: Path):
    """A text handle on a plain or gzipped file (gzip detected from its content)."""
    return gzip.open(path, "rt") if is_gzip(path) else open(path, "rt")


def sequence_sentences(seq: str, k: int = 3) -> list[list[str]]:
    """The k-mer token sentences of one sequence: split at N-containing k-mers and every
    ``MAX_SENTENCE`` tokens."""
    vocab = vocabulary(k)
    ids = tokenize(encode(seq), k)
    out: list[list[str]] = []
    # runs of non-zero token ids
    bounds = np.flatnonzero(np.diff(np.concatenate([[0], (ids != 0).astype(np.int8), [0]])))
    for a, b in zip(bounds[::2], bounds[1::2]):
        for lo in range(a, b, MAX_SENTENCE):
            out.append([vocab[t] for t in ids[lo:min(b, lo + MAX_SENTENCE)]])
    return out


class KmerCorpus:
    """A re-iterable corpus of k-mer sentences from FASTA files and sites tables.

    Parameters
    ----------
    paths: FASTA (.fa/.fasta/.fna, optionally .gz) or sites tables (.tsv, .tsv.gz).
    k: int, k-mer length. Default is 3.

    FASTA files are re-read on every pass (they may be large); sites tables are read once.
    """

    def __init__(self, paths: Iterable[str | os.PathLike], k: int = 3):
        self.k = k
        self.fasta: list[Path] = []
        self.table_seqs: list[str] = []
        for p in map(Path, paths):
            name = p.name.lower()
            if name.endswith(FASTA_SUFFIXES):
                if not p.is_file():
                    raise InputError(f"{p}: file not found")
                self.fasta.append(p)
            elif name.endswith(TABLE_SUFFIXES):
                from .sites import read_sites
                self.table_seqs.extend(read_sites(p, base_mismatch="drop")["sequence"])
            else:
                raise InputError(f"{p}: unknown input type; expected FASTA ({', '.join(FASTA_SUFFIXES)}) "
                                 f"or a sites table ({', '.join(TABLE_SUFFIXES)})")

    def __iter__(self) -> Iterator[list[str]]:
        for path in self.fasta:
            for seq in (r.sequence for r in read_fasta(path)):
                yield from sequence_sentences(seq, self.k)
        for seq in self.table_seqs:
            yield from sequence_sentences(seq, self.k)


def train_word2vec(sentences: Iterable[list[str]], dim: int = 300, window: int = 5, sg: bool = True,
                   epochs: int = 5, min_count: int = 1, seed: int = 0, workers: int = 1):
    """Train k-mer word2vec vectors with gensim.

    Parameters
    ----------
    sentences: re-iterable of token lists (e.g. ``KmerCorpus``).
    dim: int, vector size. Default is 300.
    window: int, context window in tokens. Default is 5.
    sg: bool, skip-gram (True) or CBOW (False). Default is True.
    epochs: int. Default is 5.
    min_count: int. Default is 1.
    seed: int. Default is 0.
    workers: int, gensim threads; only 1 is deterministic. Default is 1.

    Returns
    -------
    gensim.models.KeyedVectors
    """
    from gensim.models import Word2Vec

    model = Word2Vec(sentences=sentences, vector_size=dim, window=window, sg=int(sg), epochs=epochs,
                     min_count=min_count, seed=seed, workers=workers)
    return model.wv


def missing_kmers(words: Iterable[str], k: int = 3) -> list[str]:
    """The k-mers of ``vocabulary(k)`` (N excluded) absent from ``words``."""
    have = set(words)
    return [w for w in vocabulary(k)[1:] if w not in have]


def write_embedding(wv, path: str | os.PathLike) -> None:
    """Write KeyedVectors in the word2vec text format via a temporary name."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part{os.getpid()}")
    try:
        wv.save_word2vec_format(str(tmp), binary=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_embedding(path: str | os.PathLike, k: int = 3) -> np.ndarray:
    """Read a word2vec text file into a matrix aligned to ``kmers.vocabulary(k)``.

    Parameters
    ----------
    path: a word2vec text file (``count dim`` header, then ``word v1 .. vdim`` lines),
        optionally gzipped. Words are k-mers (U read as T, any case); other words are ignored.
    k: int, k-mer length. Default is 3.

    Returns
    -------
    np.ndarray, shape=(4**k + 1, dim), dtype=float32
        Row 0 (k-mers with N) is zeros; row ``i`` is ``vocabulary(k)[i]``.

    Raises
    ------
    InputError
        Naming the file and line: missing or malformed header, a line with the wrong
        number of values, values that are not finite numbers, a duplicate k-mer,
        fewer lines than the header announces, or k-mers missing from the file.
    """
    path = Path(path)
    index = {w: i for i, w in enumerate(vocabulary(k))}
    try:
        with _open_text(path) as fh:
            header = fh.readline().split()
            if len(header) != 2 or not all(h.isdigit() for h in header) or int(header[1]) < 1:
                raise InputError(f"{path}: line 1: expected a word2vec text header 'COUNT DIM', "
                                 f"got {' '.join(header)[:60]!r}")
            count, dim = int(header[0]), int(header[1])
            out = np.zeros((len(index), dim), dtype=np.float32)
            seen: set[str] = set()
            n = 0
            for lineno, line in enumerate(fh, 2):
                parts = line.rstrip("\n").rstrip(" ").split(" ")
                if not line.strip():
                    continue
                n += 1
                if len(parts) != dim + 1:
                    raise InputError(f"{path}: line {lineno}: expected a word and {dim} values, "
                                     f"got {len(parts) - 1} values")
                word = parts[0].upper().replace("U", "T")
                try:
                    vec = np.array(parts[1:], dtype=np.float32)
                except ValueError:
                    raise InputError(f"{path}: line {lineno}: values of {parts[0]!r} are not numbers") from None
                if not np.all(np.isfinite(vec)):
                    raise InputError(f"{path}: line {lineno}: values of {parts[0]!r} are not finite")
                if word in seen:
                    raise InputError(f"{path}: line {lineno}: k-mer {parts[0]!r} appears twice")
                seen.add(word)
                i = index.get(word)
                if i is not None and i != 0:
                    out[i] = vec
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if n != count:
        raise InputError(f"{path}: header announces {count} vectors but the file holds {n}")
    missing = missing_kmers(seen, k)
    if missing:
        raise InputError(f"{path}: {len(missing)} of the {4 ** k} {k}-mers have no vector "
                         f"(e.g. {', '.join(missing[:5])})")
    return out
