"""Running a network over windows: codes or tokens in, per-class probabilities out.

Shared by ``multirm-predict`` (scanning records), ``multirm-evaluate`` and the
validation pass of training (labelled windows).
"""

from __future__ import annotations

import numpy as np
import torch

from .constants import BY_NAME
from .kmers import BASES, tokenize
from .model import Network


@torch.no_grad()
def score_tokens(model: Network, tokens: np.ndarray, batch_size: int = 256,
                 device: torch.device | str = "cpu", tables: torch.Tensor | None = None) -> np.ndarray:
    """Probabilities of every class for token windows.

    Parameters
    ----------
    model: MultiRMNet or EnsembleNet, in eval mode.
    tokens: np.ndarray, shape=(n, n_tokens), integer token ids (may be a strided view).
    batch_size: int, windows per network call. Default is 256.
    device: where to run. Default is "cpu".
    tables: torch.Tensor, optional, ``model.scan_tables()`` on ``device``,
        passed by callers that score many chunks.

    Returns
    -------
    np.ndarray, shape=(n, n_classes), dtype=float32
    """
    model.eval()
    device = torch.device(device)
    if tables is None:
        tables = model.scan_tables()
    out = np.empty((len(tokens), len(model.config.classes)), dtype=np.float32)
    for lo in range(0, len(tokens), batch_size):
        batch = torch.as_tensor(np.array(tokens[lo:lo + batch_size], dtype=np.int64), dtype=torch.long,
                                device=device)
        out[lo:lo + batch_size] = torch.sigmoid(model.scan_logits(batch, tables)).float().cpu().numpy()
    return out


def score_windows(model: Network, windows: np.ndarray, batch_size: int = 256,
                  device: torch.device | str = "cpu") -> np.ndarray:
    """Probabilities for nucleotide-code windows, shape=(n, window) uint8 -> (n, n_classes)."""
    if windows.shape[1] != model.config.window:
        raise ValueError(f"windows have length {windows.shape[1]} but the model expects "
                         f"{model.config.window}")
    return score_tokens(model, tokenize(windows, model.config.k), batch_size, device)


def zero_wrong_base(windows: np.ndarray, scores: np.ndarray, classes: tuple[str, ...] | list[str]
                    ) -> np.ndarray:
    """Set a class's score to 0 where the window's centre base is not the class's base.

    The predictor reports no class on a wrong base; evaluating the same way keeps
    AUCm (a class's sites against every other row) honest about that.

    windows: shape=(n, window) uint8 codes; scores: shape=(n, len(classes)).
    """
    centre = windows[:, windows.shape[1] // 2]
    out = scores.copy()
    for j, c in enumerate(classes):
        out[centre != BASES.index(BY_NAME[c].base), j] = 0.0
    return out
