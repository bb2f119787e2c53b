"""Tiny labelled sites tables with planted motifs, for tests of training and evaluation.

Each class has its own 5-nt motif holding the class's base; a positive (label 1)
row carries that motif over its centre site, a background (label 0) row is
random sequence with the class's base at the centre and the motif removed.
Everything is deterministic from ``seed``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from multirm_tools.constants import BY_NAME, CLASS_NAMES

# class -> (motif in DNA letters, index of the modified base inside the motif)
MOTIFS: dict[str, tuple[str, int]] = {
    "Am": ("CCAGG", 2),
    "Cm": ("AACTT", 2),
    "Gm": ("TTGCA", 2),
    "Um": ("GGTAC", 2),
    "m1A": ("TCAAG", 2),
    "m5C": ("CGCGA", 2),
    "m5U": ("AGTTC", 2),
    "m6A": ("GGACT", 2),
    "m6Am": ("GCAGA", 2),
    "m7G": ("ACGGT", 2),
    "Psi": ("TTCGA", 1),
    "AtoI": ("TAAGG", 2),
}
for _c, (_m, _o) in MOTIFS.items():
    assert _m[_o] == BY_NAME[_c].base, _c

_BASES = np.array(list("ACGT"))


def make_sites(classes: tuple[str, ...] = ("m6A", "Psi", "m5C"), n_per_class: int = 20,
               length: int = 61, seed: int = 0, motif_rate: float = 1.0,
               source: str = "synthetic", id_prefix: str = "") -> pd.DataFrame:
    """A sites table with ``n_per_class`` sites and ``n_per_class`` backgrounds per class.

    Parameters
    ----------
    classes: class names (registry names). Default is ("m6A", "Psi", "m5C").
    n_per_class: int, rows per label per class. Default is 20.
    length: int, odd sequence length; the site is the centre. Default is 61.
    seed: int. Default is 0.
    motif_rate: float, fraction of positives that carry the motif (the rest are
        random, i.e. label noise). Default is 1.0.
    source: value of the ``source`` column. Default is "synthetic".
    id_prefix: prepended to every id (keeps ids unique across tables). Default is "".

    Returns
    -------
    pd.DataFrame with columns ``id modification label site sequence source``,
    rows ordered by class, then label 1 before label 0.
    """
    if length % 2 != 1 or length < 7:
        raise ValueError(f"length must be odd and >= 7, got {length}")
    rng = np.random.default_rng(seed)
    centre = length // 2
    rows = []
    for cls in classes:
        motif, off = MOTIFS[cls]
        lo = centre - off
        for label in (1, 0):
            for i in range(n_per_class):
                seq = rng.choice(_BASES, size=length)
                if label == 1 and rng.random() < motif_rate:
                    seq[lo:lo + len(motif)] = list(motif)
                elif "".join(seq[lo:lo + len(motif)]) == motif:
                    j = lo if off != 0 else lo + 1  # break the motif away from the site
                    seq[j] = "A" if seq[j] != "A" else "C"
                seq[centre] = BY_NAME[cls].base
                rows.append((f"{id_prefix}{cls}_{label}_{i}", cls, label, centre, "".join(seq), source))
    df = pd.DataFrame(rows, columns=["id", "modification", "label", "site", "sequence", "source"])
    df["label"] = df["label"].astype(np.int8)
    df["site"] = df["site"].astype(np.int64)
    return df


ALL_CLASSES: tuple[str, ...] = CLASS_NAMES
