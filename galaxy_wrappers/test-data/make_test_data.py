#!/usr/bin/env python3
"""Write the small inputs the Galaxy wrapper tests use (galaxy_wrappers/test-data/).

Deterministic; rerun after a change of the bundle format or of the sites-table
columns. Run from the repository root with the project installed:

    python galaxy_wrappers/test-data/make_test_data.py

Files
-----
tiny.safetensors   random one-hot model (window 21, hidden 8, all 12 classes) with
                   model-score nulls, from tests/conftest.py ``make_tiny_bundle``
example.fa         copy of test-data/example.fa (5 records, 2 with genome headers)
bad_protein.fa     a protein FASTA: predict must refuse it with one line
sites_train.tsv    labelled sites (m6A, Psi; 12 sites + 12 backgrounds each; 41 nt)
sites_valid.tsv    the same classes, another seed
sites_missing_column.tsv  a sites table without the ``label`` column
all_n.fa           sequence of N only: embed must refuse it with one line

The tables and FASTA files come out byte-identical on every run. The bundle's tensors and
metadata do too, but not its bytes: safetensors writes the metadata keys in arbitrary
order, so its sha256 changes; the wrapper tests therefore do not pin that sha256.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import make_tiny_bundle  # noqa: E402
from synthetic import make_sites  # noqa: E402

from multirm_tools.sites import write_sites  # noqa: E402

CLASSES = ("m6A", "Psi")


def main() -> None:
    make_tiny_bundle(HERE / "tiny.safetensors", seed=0)
    shutil.copyfile(ROOT / "test-data" / "example.fa", HERE / "example.fa")
    (HERE / "bad_protein.fa").write_text(">prot1 not nucleotides\nMKTAYIAKQRQISFVKSHFSRQ\n")
    (HERE / "all_n.fa").write_text(">gap only N\n" + "N" * 60 + "\n")
    write_sites(make_sites(CLASSES, n_per_class=12, length=41, seed=1, id_prefix="tr_"),
                HERE / "sites_train.tsv")
    write_sites(make_sites(CLASSES, n_per_class=12, length=41, seed=2, id_prefix="va_"),
                HERE / "sites_valid.tsv")
    bad = make_sites(CLASSES, n_per_class=2, length=41, seed=3).drop(columns=["label"])
    bad.to_csv(HERE / "sites_missing_column.tsv", sep="\t", index=False)


if __name__ == "__main__":
    main()
