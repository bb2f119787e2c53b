"""Planted-motif data and a tiny model trained on it in seconds, for the interpretation tools' tests.

Two classes carry a motif over their site: m6A a DRACH instance ``GGACT`` (the A at
index 2) and m5U the T-loop-like ``GTTCGA`` (the modified T at index 1, as T54 in
tRNA's ``GT54Psi55C56RA``). A positive row has the motif around its centre site; a
negative row is random sequence with the class's base at the centre and the motif
broken. ``train_planted`` fits a one-hot network (BiLSTM unless told) on these rows, so explain
and motif tests can check that attributions and recovered motifs fall on
``motif_positions``. Deterministic from ``seed``.

Shared by tests/test_explain.py and the motif tests: keep the names stable.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from multirm_tools.bundle import Bundle, save_bundle
from multirm_tools.constants import BY_NAME
from multirm_tools.model import ModelConfig
from multirm_tools.train import TrainConfig, train_model

#: class -> (motif in DNA letters, index of the modified base inside the motif)
PLANTED: dict[str, tuple[str, int]] = {
    "m6A": ("GGACT", 2),
    "m5U": ("GTTCGA", 1),
}
CLASSES: tuple[str, ...] = tuple(PLANTED)
for _c, (_m, _o) in PLANTED.items():
    assert _m[_o] == BY_NAME[_c].base, _c

#: Model sizes: small enough to train in a few seconds on one core.
MODEL_CONFIG = dict(window=31, hidden=16, embedding="onehot", embedding_dim=64, attention_dim=16,
                    head_hidden=16, dropout=0.0, classes=CLASSES)
#: Overrides of MODEL_CONFIG for the conv network (receptive field 15 of the 29 tokens).
CONV_CONFIG = dict(architecture="conv", kernel=3, dilations=(1, 2, 4))
TRAIN_CONFIG = dict(epochs=8, batch_size=32, lr=1e-2, patience=8, background_per_row=1,
                    calibration_fraction=0.2)

_BASES = np.array(list("ACGT"))


def planted_pwm(cls: str, pseudocount: float = 0.0) -> np.ndarray:
    """The planted motif of ``cls`` as a probability matrix, shape=(len(motif), 4), columns ACGT.

    ``pseudocount`` is added to every cell before normalising (TOMTOM dislikes zeros).
    """
    motif, _ = PLANTED[cls]
    pwm = np.full((len(motif), 4), pseudocount, dtype=np.float64)
    for i, b in enumerate(motif):
        pwm[i, "ACGT".index(b)] += 1.0
    return pwm / pwm.sum(axis=1, keepdims=True)


def motif_positions(cls: str, site: int) -> np.ndarray:
    """0-based sequence indices covered by the planted motif of ``cls`` around a site at ``site``."""
    motif, off = PLANTED[cls]
    return np.arange(site - off, site - off + len(motif))


def make_planted_sites(n_per_class: int = 150, length: int = 81, seed: int = 0,
                       classes: tuple[str, ...] = CLASSES, id_prefix: str = "") -> pd.DataFrame:
    """A sites table (``id modification label site sequence source``) with planted motifs.

    Parameters
    ----------
    n_per_class: int, rows per label per class. Default is 150.
    length: int, odd sequence length; the site is the centre. Default is 81 (long enough
        for training to draw background positions whose window misses the site).
    seed: int. Default is 0.
    classes: subset of ``PLANTED``. Default is all of them.
    id_prefix: prepended to every id. Default is "".

    Returns
    -------
    pd.DataFrame, rows ordered by class, label 1 before label 0; ids ``{prefix}{cls}_{label}_{i}``.
    """
    if length % 2 != 1 or length < 13:
        raise ValueError(f"length must be odd and >= 13, got {length}")
    rng = np.random.default_rng(seed)
    centre = length // 2
    rows = []
    for cls in classes:
        motif, off = PLANTED[cls]
        lo = centre - off
        for label in (1, 0):
            for i in range(n_per_class):
                seq = rng.choice(_BASES, size=length)
                if label == 1:
                    seq[lo:lo + len(motif)] = list(motif)
                else:
                    seq[centre] = BY_NAME[cls].base
                    if "".join(seq[lo:lo + len(motif)]) == motif:
                        j = lo if off != 0 else lo + 1  # break the motif away from the site
                        seq[j] = "A" if seq[j] != "A" else "C"
                rows.append((f"{id_prefix}{cls}_{label}_{i}", cls, label, centre, "".join(seq),
                             "planted"))
    df = pd.DataFrame(rows, columns=["id", "modification", "label", "site", "sequence", "source"])
    df["label"] = df["label"].astype(np.int8)
    df["site"] = df["site"].astype(np.int64)
    return df


def train_planted(workdir: str | os.PathLike, seed: int = 0, **model) -> Bundle:
    """Fit the tiny planted-motif model (a few seconds on one core) and return its bundle.

    ``model``: overrides of ``MODEL_CONFIG`` (``CONV_CONFIG`` for the conv network).
    """
    train = make_planted_sites(seed=seed)
    # Validation AUC is 1 from the first epoch on planted data, so ties would keep epoch 1. A
    # positives-only validation table gives no AUC and training keeps the lowest-loss epoch instead.
    valid = make_planted_sites(n_per_class=10, seed=seed + 1000, id_prefix="v")
    valid = valid[valid["label"] == 1]
    return train_model(train, valid, ModelConfig(**{**MODEL_CONFIG, **model}), None,
                       TrainConfig(seed=seed, **TRAIN_CONFIG), Path(workdir), progress=False)


def planted_bundle(path: str | os.PathLike, seed: int = 0, **model) -> Path:
    """Train the planted-motif model and save it as a bundle at ``path``; returns the path."""
    path = Path(path)
    with tempfile.TemporaryDirectory() as work:  # the checkpoint and epoch log are not kept
        save_bundle(path, train_planted(work, seed, **model))
    return path


def write_fasta(path: str | os.PathLike, df: pd.DataFrame) -> Path:
    """Write a sites table's sequences as FASTA records named by ``id``."""
    path = Path(path)
    with open(path, "w") as fh:
        for rid, seq in zip(df["id"], df["sequence"]):
            fh.write(f">{rid}\n{seq}\n")
    return path
