"""multirm-embed and read_embedding: word2vec text written, read back aligned to the vocabulary."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from multirm_tools.cli import embed
from multirm_tools.embedding import read_embedding, sequence_sentences
from multirm_tools.errors import InputError
from multirm_tools.kmers import vocabulary
from multirm_tools.sites import write_sites
from synthetic import make_sites


@pytest.fixture(scope="module")
def fasta(tmp_path_factory):
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("emb") / "seqs.fa.gz"
    with gzip.open(path, "wt") as fh:
        for i in range(20):
            seq = "".join(rng.choice(list("ACGU"), size=200))
            fh.write(f">r{i} description\n{seq[:100]}\n{seq[100:]}\n")
    return path


def _embed(fasta, out, *extra):
    return embed.main([str(fasta), "-o", str(out), "--dim", "8", "--epochs", "2", *extra])


def test_embed_roundtrip_and_seed(fasta, tmp_path):
    a, b, c = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    assert _embed(fasta, a, "--seed", "3") == 0
    assert _embed(fasta, b, "--seed", "3") == 0
    assert _embed(fasta, c, "--seed", "4", "--cbow") == 0
    header = a.read_text().splitlines()[0]
    assert header == "64 8"
    ea, eb, ec = (read_embedding(p) for p in (a, b, c))
    assert ea.shape == (65, 8)
    assert np.all(ea[0] == 0) and np.all(np.abs(ea[1:]).sum(1) > 0)
    np.testing.assert_array_equal(ea, eb)
    assert not np.allclose(ea, ec)
    # rows follow vocabulary(3): the vector in the file for "ACG" is row vocabulary.index("ACG")
    line = next(ln for ln in a.read_text().splitlines() if ln.startswith("ACG "))
    np.testing.assert_allclose(ea[vocabulary(3).index("ACG")], np.array(line.split()[1:], float),
                               rtol=1e-6)


def test_embed_from_sites_table(tmp_path):
    table = tmp_path / "t.tsv.gz"
    write_sites(make_sites(n_per_class=10), table)
    out = tmp_path / "e.txt"
    assert embed.main([str(table), "-o", str(out), "--dim", "4", "--epochs", "1"]) == 0
    assert read_embedding(out).shape == (65, 4)


def test_sentences_split_at_n():
    assert sequence_sentences("ACGTNACGT") == [["ACG", "CGT"], ["ACG", "CGT"]]


def test_embed_errors(tmp_path, capsys):
    bad = tmp_path / "x.bed"
    bad.write_text("chr1\t1\t2\n")
    out = tmp_path / "e.txt"
    assert embed.main([str(bad), "-o", str(out)]) == 1
    short = tmp_path / "s.fa"
    short.write_text(">a\nACGTACGT\n")
    assert embed.main([str(short), "-o", str(out), "--dim", "4"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "never occur" in err[1]
    assert not out.exists()


def _w2v(lines, dim=2):
    return f"{len(lines)} {dim}\n" + "".join(ln + "\n" for ln in lines)


@pytest.mark.parametrize("text, match", [
    ("hello world\n", "line 1"),
    (_w2v([f"{w} 1 2" for w in vocabulary(3)[1:-1]] + ["TTT 1"]), "line 65: expected a word and 2"),
    (_w2v([f"{w} 1 2" for w in vocabulary(3)[1:-1]] + ["TTT 1 x"]), "line 65: .*not numbers"),
    (_w2v([f"{w} 1 2" for w in vocabulary(3)[1:-1]] + ["TTT 1 nan"]), "not finite"),
    (_w2v([f"{w} 1 2" for w in vocabulary(3)[1:-1]] + ["AAA 1 2"]), "line 65: .*twice"),
    (_w2v([f"{w} 1 2" for w in vocabulary(3)[1:-1]]), "1 of the 64 3-mers.*TTT"),
    ("64 2\nAAA 1 2\n", "announces 64"),
])
def test_read_embedding_malformed(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as e:
        read_embedding(path)
    assert str(path) in str(e.value)


def test_read_embedding_accepts_rna_and_extra_words(tmp_path):
    words = [w.replace("T", "U").lower() for w in vocabulary(3)[1:]] + ["</s>"]
    path = tmp_path / "ok.txt"
    path.write_text(_w2v([f"{w} {i} -{i}" for i, w in enumerate(words)]))
    emb = read_embedding(path)
    assert emb.shape == (65, 2)
    assert emb[64].tolist() == [63.0, -63.0]
