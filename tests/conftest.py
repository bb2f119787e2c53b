"""Shared fixtures: a tiny random model bundle any test can load."""

from __future__ import annotations

from dataclasses import replace

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch

from multirm_tools.bundle import Bundle, save_bundle
from multirm_tools.constants import CLASS_NAMES
from multirm_tools.inference import score_windows
from multirm_tools.model import EnsembleNet, ModelConfig, build_network

TINY_CONFIG = dict(window=21, hidden=8, embedding="onehot", embedding_dim=64, attention_dim=8,
                   head_hidden=8)
#: Overrides of ``TINY_CONFIG`` for a tiny conv network (receptive field 7 of the 19 tokens).
TINY_CONV = dict(architecture="conv", kernel=3, dilations=(1, 2))


def make_tiny_bundle(path: str | Path, seed: int = 0, null: str | np.ndarray = "model",
                     null_size: int = 200, members: int = 1, specialists: tuple[str, ...] = (),
                     **config) -> Path:
    """Build and save a small random bundle (a ``MultiRMNet``, or the ``architecture`` in ``config``).

    Parameters
    ----------
    path: where to write the ``.safetensors`` file.
    seed: torch / numpy seed of the weights and of the null windows. Default is 0.
    null: "model" (the network's own scores of ``null_size`` random windows, so
        p-values of random sequence are roughly uniform), "uniform" (U(0, 1)
        draws), or an array used for every class.
    members: networks; 2 or more make an ``EnsembleNet``. Default is 1.
    specialists: classes that get a network of their own (an ``EnsembleNet`` member
        predicting that class alone), after the ``members``; with ``classes`` in
        ``config`` leaving them out, the default model's layout.
    config: overrides of ``TINY_CONFIG``.
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = ModelConfig(**{**TINY_CONFIG, **config})
    model = build_network(cfg).eval()
    if members > 1 or specialists:
        nets = [model] + [build_network(cfg) for _ in range(members - 1)]
        nets += [build_network(replace(cfg, classes=(c,)), model.embedding.weight) for c in specialists]
        classes = tuple(c for c in CLASS_NAMES if c in cfg.classes or c in specialists)
        model = EnsembleNet(nets, classes=classes).eval()
        cfg = model.config
    if isinstance(null, str) and null == "model":
        windows = rng.integers(0, 4, size=(null_size, cfg.window), dtype=np.uint8)
        scores = score_windows(model, windows)
        nulls = {c: scores[:, j] for j, c in enumerate(cfg.classes)}
    elif isinstance(null, str) and null == "uniform":
        nulls = {c: rng.uniform(size=null_size) for c in cfg.classes}
    else:
        nulls = {c: np.asarray(null, dtype=np.float32) for c in cfg.classes}
    path = Path(path)
    save_bundle(path, Bundle(model=model, null_scores=nulls, thresholds={c: 0.5 for c in cfg.classes},
                             provenance={"source": "tests/conftest.py tiny random bundle",
                                         "seed": seed}))
    return path


@pytest.fixture
def tiny_bundle_factory(tmp_path) -> Callable[..., Path]:
    """``make(name="tiny.safetensors", **kwargs)`` -> path of a tiny bundle in ``tmp_path``."""
    def make(name: str = "tiny.safetensors", **kwargs) -> Path:
        return make_tiny_bundle(tmp_path / name, **kwargs)
    return make


@pytest.fixture
def tiny_bundle(tiny_bundle_factory) -> Path:
    """Path of a tiny random bundle (window 21, one-hot, hidden 8) with model-score nulls."""
    return tiny_bundle_factory()
