"""Why a window scores high: attention and integrated gradients per nucleotide, mutagenesis, top windows.

Everything works on the network that predicts (``MultiRMNet``, or an
``EnsembleNet``: its mean attention, attributions of its mean-probability logit; each pair runs
on the members that predict its class only), on windows of
nucleotide codes (``kmers.encode``) or their k-mer tokens. A k-mer token covers
``k`` nucleotides; a token's attention weight or attribution is spread equally
over its ``k`` nucleotides (``token_spread``), so each class's attention over a
window still sums to 1 and attributions keep their sum.

Integrated gradients (captum) run on the network's ``forward_embedded``: token ids
have no gradient, the embedding does. The target is a class's **logit**, so
completeness reads ``sum(attribution) = logit(x) - logit(baseline)``; the
convergence delta is the difference of the two sides. Baselines:

- ``"N"`` (default): every token is the N token, the model's own "no sequence"
  input, seen in training as the padding past record ends. Padding and N
  positions of the explained window then get exactly zero attribution.
- ``"zero"``: the all-zero embedding. For bundles made by ``multirm-train`` the N
  token's vector is zero (one-hot and word2vec alike), so both baselines agree;
  they differ only for an embedding whose N vector is not zero.

No file is read or written here; ``cli.explain`` does that.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch

from .inference import score_tokens
from .kmers import N_CODE, tokenize
from .model import EnsembleNet, Network

BASELINES = ("N", "zero")
DEFAULT_BASELINE = "N"
#: Relative convergence delta (``relative_delta``) above which a warning is raised.
DELTA_WARNING = 0.01
#: Logit gaps below this count as this much in ``relative_delta``: a window scored like the
#: baseline has no meaningful relative error.
MIN_GAP = 0.1
#: RNA letters of codes 0-4 for user-facing output.
RNA_LETTERS = np.array(list("ACGUN"), dtype=object)


class ExplainWarning(UserWarning):
    """Warnings of this module (large convergence deltas); filter with ``warnings`` as usual."""


class Explanation(NamedTuple):
    """Explanations of ``n`` (window, class) pairs.

    probability, logit, baseline_logit, delta: np.ndarray, shape=(n,), float64.
    attention, attribution: np.ndarray, shape=(n, window), float64, per nucleotide.
    """

    probability: np.ndarray
    logit: np.ndarray
    baseline_logit: np.ndarray
    attention: np.ndarray
    attribution: np.ndarray
    delta: np.ndarray


def token_spread(n_tokens: int, k: int, dtype=torch.float32) -> torch.Tensor:
    """The matrix spreading token values over nucleotides, shape=(n_tokens, n_tokens + k - 1).

    Row ``t`` holds ``1/k`` at nucleotides ``t .. t+k-1`` (the nucleotides of token ``t``);
    ``values @ spread`` keeps each row's sum.
    """
    spread = torch.zeros(n_tokens, n_tokens + k - 1, dtype=dtype)
    for j in range(k):
        spread[torch.arange(n_tokens), torch.arange(n_tokens) + j] = 1.0 / k
    return spread


def _check_tokens(model: Network, tokens: torch.Tensor) -> None:
    n_tokens = model.config.n_tokens
    if tokens.ndim != 2 or tokens.shape[1] != n_tokens:
        raise ValueError(f"tokens has shape {tuple(tokens.shape)} but must have shape (B, {n_tokens})")


@torch.no_grad()
def attention_nt(model: Network, tokens: torch.Tensor) -> np.ndarray:
    """Each class's attention over a window, mapped to nucleotides.

    Parameters
    ----------
    model: MultiRMNet or EnsembleNet, in eval mode.
    tokens: torch.LongTensor, shape=(B, n_tokens), on the model's device.

    Returns
    -------
    np.ndarray, shape=(B, n_classes, window), float64; each (window, class) row sums to 1.
    """
    _check_tokens(model, tokens)
    _, attn = model(tokens, return_attention=True)  # (B, C, T)
    spread = token_spread(model.config.n_tokens, model.config.k, attn.dtype).to(attn.device)
    return (attn @ spread).double().cpu().numpy()


def baseline_embedding(model: Network, shape: torch.Size, baseline: str = DEFAULT_BASELINE
                       ) -> torch.Tensor:
    """The IG baseline in embedding space, ``shape=(B, n_tokens, embedding_dim)``.

    baseline: "N" (every token the N token, id 0) or "zero" (all-zero vectors).
    """
    weight = model.embedding.weight
    if baseline == "zero":
        return weight.new_zeros(shape)
    if baseline == "N":
        return weight[0].expand(shape).clone()
    raise ValueError(f"baseline must be one of {BASELINES}, got {baseline!r}")


def _grad_context(device: torch.device):
    # cuDNN computes LSTM gradients only in training mode; the native kernels do it in eval mode.
    if device.type == "cuda":
        return torch.backends.cudnn.flags(enabled=False)
    return contextlib.nullcontext()


def integrated_gradients(model: Network, tokens: torch.Tensor, class_index: int | torch.Tensor,
                         steps: int = 50, baseline: str = DEFAULT_BASELINE,
                         internal_batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Integrated-gradients attributions of a class's logit to each nucleotide of each window.

    Parameters
    ----------
    model: MultiRMNet or EnsembleNet, in eval mode.
    tokens: torch.LongTensor, shape=(B, n_tokens), on the model's device.
    class_index: int or torch.LongTensor, shape=(B,), the class (column of the model's
        output) explained for each window.
    steps: int, integration steps (Gauss-Legendre). Default is 50.
    baseline: "N" or "zero" (see the module docstring). Default is "N".
    internal_batch_size: int, windows per network call inside captum (``B * steps``
        windows are run in all). Default is all at once.

    Returns
    -------
    attribution: np.ndarray, shape=(B, window), float64; the embedding attributions summed
        over the embedding dimension per token, then spread over the token's k nucleotides.
    delta: np.ndarray, shape=(B,), float64, sum(attribution) - (logit(x) - logit(baseline)).
    """
    from captum.attr import IntegratedGradients

    _check_tokens(model, tokens)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    target = class_index
    if isinstance(target, torch.Tensor):
        target = target.to(tokens.device)
        if target.shape != (tokens.shape[0],):
            raise ValueError(f"class_index has shape {tuple(target.shape)} but must have shape "
                             f"({tokens.shape[0]},)")
    emb = model.embedding(tokens).detach()
    base = baseline_embedding(model, emb.shape, baseline)
    ig = IntegratedGradients(model.forward_embedded)
    with torch.enable_grad(), _grad_context(tokens.device):
        attr, delta = ig.attribute(emb, baselines=base, target=target, n_steps=steps,
                                   internal_batch_size=internal_batch_size,
                                   return_convergence_delta=True)
    per_token = attr.sum(-1)  # (B, T)
    spread = token_spread(model.config.n_tokens, model.config.k, per_token.dtype).to(per_token.device)
    return (per_token @ spread).double().cpu().numpy(), delta.double().detach().cpu().numpy()


@torch.no_grad()
def _logits(model: Network, x: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    return model.forward_embedded(x).gather(1, cls[:, None]).squeeze(1)


def _by_network(model: Network, class_index: np.ndarray):
    """Yield (network, rows, class index in that network) groups of pairs.

    An ``EnsembleNet``'s pairs are grouped by the members that predict their class, and each
    group runs on ``EnsembleNet.subset``: the same numbers (each class's mean is over those
    members alone) without running the other members, so a specialist runs alone for its class.
    """
    if not isinstance(model, EnsembleNet):
        yield model, np.arange(len(class_index)), class_index
        return
    names = model.config.classes
    groups: dict[tuple[int, ...], list[int]] = {}
    for c in np.unique(class_index):
        key = tuple(i for i, m in enumerate(model.members) if names[c] in m.config.classes)
        groups.setdefault(key, []).append(int(c))
    for cols in groups.values():
        net = model.subset([names[c] for c in cols])
        rows = np.flatnonzero(np.isin(class_index, cols))
        remap = np.zeros(len(names), dtype=np.int64)
        remap[cols] = [net.config.classes.index(names[c]) for c in cols]
        yield net, rows, remap[class_index[rows]]


def explain_pairs(model: Network, windows: np.ndarray, class_index: np.ndarray, steps: int = 50,
                  baseline: str = DEFAULT_BASELINE, batch_size: int = 64,
                  device: torch.device | str = "cpu",
                  progress: Callable[[int], None] | None = None) -> Explanation:
    """Attention, attributions and logits of ``n`` (window, class) pairs.

    Parameters
    ----------
    model: MultiRMNet or EnsembleNet, on ``device``; an ensemble's pairs run on the members
        that predict their class (``EnsembleNet.subset``), with the same numbers.
    windows: np.ndarray, shape=(n, window), uint8 codes (``kmers.encode``), centred on the site.
    class_index: np.ndarray, shape=(n,), the model column explained for each window.
    steps: int, IG steps. Default is 50.
    baseline: "N" or "zero". Default is "N".
    batch_size: int, pairs per IG call (each runs ``steps`` windows). Default is 64.
    device: where the network runs. Default is "cpu".
    progress: called with the number of pairs done after each batch, optional.

    Returns
    -------
    Explanation. A relative convergence delta above ``DELTA_WARNING`` raises an
    ``ExplainWarning`` that suggests more steps.
    """
    cfg = model.config
    windows = np.asarray(windows, dtype=np.uint8)
    class_index = np.asarray(class_index, dtype=np.int64)
    if windows.ndim != 2 or windows.shape[1] != cfg.window:
        raise ValueError(f"windows has shape {windows.shape} but must have shape (n, {cfg.window})")
    if class_index.shape != (len(windows),):
        raise ValueError(f"class_index has shape {class_index.shape} but must have shape ({len(windows)},)")
    if len(class_index) and (class_index.min() < 0 or class_index.max() >= len(cfg.classes)):
        raise ValueError(f"class_index must lie in 0 .. {len(cfg.classes) - 1}")
    device = torch.device(device)
    n, W = windows.shape
    out = {name: np.empty(n) for name in ("logit", "baseline_logit", "delta")}
    attention = np.empty((n, W))
    attribution = np.empty((n, W))
    for net, rows, index in _by_network(model, class_index):
        net.eval()
        for lo in range(0, len(rows), batch_size):
            at = rows[lo:lo + batch_size]
            tok = torch.as_tensor(tokenize(windows[at], cfg.k), device=device)
            cls = torch.as_tensor(index[lo:lo + batch_size], device=device)
            attention[at] = attention_nt(net, tok)[np.arange(len(at)), index[lo:lo + batch_size]]
            attribution[at], out["delta"][at] = integrated_gradients(
                net, tok, cls, steps, baseline, internal_batch_size=batch_size * 8)
            emb = net.embedding(tok)
            out["logit"][at] = _logits(net, emb, cls).double().cpu().numpy()
            out["baseline_logit"][at] = _logits(net, baseline_embedding(net, emb.shape, baseline),
                                                cls).double().cpu().numpy()
            if progress is not None:
                progress(len(at))
    ex = Explanation(1.0 / (1.0 + np.exp(-out["logit"])), out["logit"], out["baseline_logit"],
                     attention, attribution, out["delta"])
    rel = relative_delta(ex)
    if n and rel.max() > DELTA_WARNING:
        warnings.warn(f"integrated gradients: convergence delta up to {100 * rel.max():.2g}% of "
                      f"|logit - baseline logit| ({int((rel > DELTA_WARNING).sum())} of {n} pairs above "
                      f"{100 * DELTA_WARNING:g}%); use more steps", ExplainWarning, stacklevel=2)
    return ex


def relative_delta(ex: Explanation) -> np.ndarray:
    """|delta| / max(|logit - baseline logit|, MIN_GAP) per pair, shape=(n,): how far completeness misses."""
    return np.abs(ex.delta) / np.maximum(np.abs(ex.logit - ex.baseline_logit), MIN_GAP)


def explain_windows(bundle, windows: np.ndarray, classes: Sequence[str], steps: int = 50,
                    baseline: str = DEFAULT_BASELINE, batch_size: int = 64,
                    device: torch.device | str = "cpu") -> pd.DataFrame:
    """Per-nucleotide explanations of every window for every named class, as a long table.

    Parameters
    ----------
    bundle: bundle.Bundle (its ``model`` on ``device``).
    windows: np.ndarray, shape=(B, window), uint8 codes, centred on the site.
    classes: class names predicted by the model.
    steps, baseline, batch_size, device: as for ``explain_pairs``.

    Returns
    -------
    pd.DataFrame, ``B * len(classes) * window`` rows ordered by window, class (as given),
    then nucleotide, with columns ``window`` (row of ``windows``), ``modification``,
    ``probability``, ``logit``, ``baseline_logit``, ``delta`` (per pair, repeated),
    ``window_position`` (offset from the centre, -window//2 .. window//2),
    ``nucleotide`` (RNA letter, N for N/padding), ``attention``, ``attribution``.
    """
    model = bundle.model
    cfg = model.config
    unknown = [c for c in classes if c not in cfg.classes]
    if unknown:
        raise ValueError(f"classes {unknown} are not predicted by this model ({list(cfg.classes)})")
    windows = np.asarray(windows, dtype=np.uint8)
    B, W = windows.shape
    C = len(classes)
    col = np.array([cfg.classes.index(c) for c in classes], dtype=np.int64)
    pair_window = np.repeat(np.arange(B), C)
    pair_class = np.tile(col, B)
    ex = explain_pairs(model, windows[pair_window], pair_class, steps, baseline, batch_size, device)
    half = W // 2

    def per_nt(values: np.ndarray) -> np.ndarray:
        return np.repeat(values, W)

    return pd.DataFrame({
        "window": per_nt(pair_window),
        "modification": per_nt(np.tile(np.asarray(classes, dtype=object), B)),
        "probability": per_nt(ex.probability),
        "logit": per_nt(ex.logit),
        "baseline_logit": per_nt(ex.baseline_logit),
        "delta": per_nt(ex.delta),
        "window_position": np.tile(np.arange(-half, half + 1), B * C),
        "nucleotide": RNA_LETTERS[windows[pair_window].reshape(-1)],
        "attention": ex.attention.reshape(-1),
        "attribution": ex.attribution.reshape(-1),
    })


def mutagenesis(model: Network, windows: np.ndarray, class_index: np.ndarray, batch_size: int = 512,
                device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """In-silico mutagenesis: every single substitution of every window position.

    Parameters
    ----------
    model: MultiRMNet or EnsembleNet, in eval mode on ``device``.
    windows: np.ndarray, shape=(n, window), uint8 codes.
    class_index: np.ndarray, shape=(n,), the class scored for each window.
    batch_size: int, windows per network call. Default is 512.
    device: where the network runs. Default is "cpu".

    Returns
    -------
    reference: np.ndarray, shape=(n,), float64, the probability of each window.
    mutant: np.ndarray, shape=(n, window, 4), float64, the probability with position ``i`` set
        to base ``b`` (A C G T); ``mutant[j, i, b] == reference[j]`` where ``b`` is the reference base.
    """
    cfg = model.config
    windows = np.asarray(windows, dtype=np.uint8)
    class_index = np.asarray(class_index, dtype=np.int64)
    n, W = windows.shape
    reference = np.empty(n)
    mutant = np.empty((n, W, 4))
    for net, rows, index in _by_network(model, class_index):
        tables = net.scan_tables()
        ref = score_tokens(net, tokenize(windows[rows], cfg.k), batch_size, device, tables)
        reference[rows] = ref[np.arange(len(rows)), index]
        for j, col in zip(rows, index):
            # All 4 * W variants of one window at once: position i, base b at row 4 i + b.
            variants = np.repeat(windows[j][None], 4 * W, axis=0)
            variants[np.arange(4 * W), np.repeat(np.arange(W), 4)] = np.tile(np.arange(4, dtype=np.uint8), W)
            probs = score_tokens(net, tokenize(variants, cfg.k), batch_size, device, tables)
            mutant[j] = probs[:, col].reshape(W, 4)
            same = windows[j] < N_CODE
            mutant[j, np.flatnonzero(same), windows[j][same]] = reference[j]
    return reference, mutant


def top_windows(scores: np.ndarray, valid: np.ndarray, width: int, top: int) -> np.ndarray:
    """The ``top`` non-overlapping ``width``-nt sub-windows with the largest summed score, per row.

    Parameters
    ----------
    scores: np.ndarray, shape=(n, window), per-nucleotide scores (attention or attribution).
    valid: np.ndarray, shape=(n, window), bool, nucleotides a sub-window may cover (inside the
        record).
    width: int, sub-window length (MultiRM's ``--att_window``).
    top: int, sub-windows per row (MultiRM's ``--top``).

    Returns
    -------
    starts: np.ndarray, shape=(n, top), int64, 0-based start of each sub-window inside the
        window, best first; -1 where fewer fit. Greedy: the best sub-window, then the best
        one not overlapping those already taken.
    sums: np.ndarray, shape=(n, top), float64, their summed scores (NaN where start is -1).
    """
    scores = np.asarray(scores, dtype=np.float64)
    n, W = scores.shape
    starts = np.full((n, top), -1, dtype=np.int64)
    sums = np.full((n, top), np.nan)
    if width > W:
        return starts, sums
    kernel = np.ones(width)
    for j in range(n):
        total = np.convolve(scores[j], kernel, mode="valid")  # total[s] = sum of s .. s+width-1
        ok = np.convolve(valid[j].astype(np.float64), kernel, mode="valid") == width
        for t in range(top):
            if not ok.any():
                break
            s = int(np.flatnonzero(ok)[np.argmax(total[ok])])
            starts[j, t], sums[j, t] = s, total[s]
            ok[max(0, s - width + 1):s + width] = False
    return starts, sums
