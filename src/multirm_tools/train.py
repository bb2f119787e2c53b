"""Training: labelled sites tables -> examples -> a fitted network -> a model bundle.

One example is one window with one known label for one class (the class of its
row); the loss of every other class is masked out, so a class with no row in a
batch contributes nothing. Fixed relative to MultiRM's public code: the
uncertainty-weighting parameters are optimised, OHEM and uncertainty weighting
work together, and gradients are clipped after ``backward``.

Data handling decided here:

- extra negatives: other positions with the class's base inside each training
  window (far enough from the site), as the paper sampled background from the
  same transcripts; optionally also other classes' sites on the same base
  (an m1A site is not an m6A site);
- context matching: each example's window is N-masked to the visible context of
  a random positive of its class, so that tables with short windows (41 nt) or
  off-centre background cannot be told apart by where the Ns are;
- calibration: a stratified share of the training rows is never fitted; its
  unmodified scores become the bundle's null distribution and its G-mean
  thresholds the bundle's thresholds;
- specialists: a class may get a network of its own, fitted on its rows alone
  (and other classes' sites as its negatives); it joins the shared members in
  one ensemble, where it alone predicts that class.

Same seed, same CPU -> same model: every random draw derives from (seed, epoch),
so a run resumed from ``workdir/checkpoint.pt`` continues exactly as if uninterrupted.
"""

from __future__ import annotations

import csv
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score
from torch import nn
from tqdm.auto import tqdm

from .bundle import Bundle, load_bundle
from .constants import BY_NAME
from .errors import InputError, UsageError
from .inference import score_windows
from .kmers import N_CODE, centre_windows, encode, tokenize
from .metrics import gmean_threshold
from .model import EnsembleNet, ModelConfig, MultiRMNet, Network, build_network
from .tables import write_tsv


@dataclass
class TrainConfig:
    """Options of a training run (all stored in the bundle's provenance)."""

    epochs: int = 30
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-5
    patience: int = 5  # epochs without a better mean validation AUC before stopping
    seed: int = 0
    ohem_keep: float = 0.7  # fraction of hardest examples kept per class per batch (1.0 = off)
    uncertainty_weighting: bool = True
    class_balance: bool = False  # weight positives and negatives of a class equally
    focal_gamma: float = 0.0  # 0 = plain cross-entropy
    background_per_row: int = 2  # extra negatives sampled inside each training window
    # Other classes' sites on the same base as negatives, this many per site of the class: AUCm ranks
    # a class's sites above every other row, and other modifications' sites are the hardest of them.
    cross_negatives: float = 0.0
    # Per-class overrides of cross_negatives: they cost a class's own AUCb a little (Psi's, m5C's),
    # so a class can have them where other modifications' sites are its real confusion (m6A's).
    class_cross_negatives: dict[str, float] = field(default_factory=dict)
    edge_mask_prob: float = 0.3  # chance an example's edges are further N-masked (scan edges)
    calibration_fraction: float = 0.1
    max_null: int = 20000
    max_rows_per_class: int | None = None  # per epoch; a fresh subsample every epoch
    # Per-class overrides of max_rows_per_class: more for a large in-distribution class, fewer for
    # one whose only data come from other studies and is overfitted within an epoch or two.
    class_max_rows: dict[str, int] = field(default_factory=dict)
    clip_norm: float = 5.0
    members: int = 1  # networks trained with seeds seed, seed+1, ...; their probabilities are averaged
    # Arithmetic of the training passes: "bf16" autocasts them to bfloat16 (epochs 1.4x faster on a CPU
    # with AVX-512 BF16, measured); weights, validation, calibration and prediction stay float32.
    precision: str = "fp32"
    # Classes fitted by a network of their own instead of by the shared members (one network each):
    # a large class then no longer competes with eleven others for the shared encoder (model card:
    # m6A 0.84 -> 0.86 on the held-out share).
    specialists: tuple[str, ...] = ()
    specialist_epochs: int | None = None  # None: epochs; no early stop, the best epoch on its selection rows
    # Other classes' sites on the specialist's base, relabelled as its unmodified rows, per site of its own.
    specialist_cross_negatives: float = 0.0
    # Its epoch is chosen on this many of its own rows (at most a tenth), carved from the fitted ones:
    # 150 + 150 validation rows of one class choose an epoch by chance.
    specialist_selection_rows: int = 4000
    # Distillation: a model bundle whose probabilities join the labels as targets (what a larger or
    # slower model knows of every example, background positions included); None = labels alone.
    distill: str | None = None
    distill_weight: float = 0.5  # target = (1 - w) * label + w * the teacher's probability


PRECISIONS = ("fp32", "bf16")


CALIBRATION_BACKGROUND = 16  # same-base background positions drawn per calibration row


class Examples(NamedTuple):
    """Labelled windows: one class and label each."""

    windows: np.ndarray  # (n, window) uint8 codes
    cls: np.ndarray  # (n,) int64 class index
    label: np.ndarray  # (n,) float32 0/1
    left: np.ndarray  # (n,) visible context left of the centre (nt)
    right: np.ndarray  # (n,) visible context right of the centre (nt)
    target: np.ndarray | None = None  # (n,) float32 soft targets (distillation); None: the labels


def split_calibration(df: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified (class x label) split of rows: (fit rows, calibration rows)."""
    if fraction <= 0:
        return df, df.iloc[:0]
    rng = np.random.default_rng([seed, 1])
    calib = np.zeros(len(df), dtype=bool)
    for _, idx in df.groupby(["modification", "label"]).indices.items():
        n = int(round(len(idx) * fraction))
        calib[rng.choice(idx, n, replace=False)] = True
    return df[~calib], df[calib]


def build_examples(df: pd.DataFrame, classes: tuple[str, ...], window: int, background_per_row: int,
                   seed: int, cross_negatives: float = 0.0,
                   class_cross_negatives: dict[str, float] | None = None) -> Examples:
    """Centre windows of every row, plus ``background_per_row`` same-base negatives per row.

    A background position lies more than ``window // 2`` nt from the row's site,
    so its window never contains the site, and its full window fits in the sequence.
    With ``cross_negatives`` r > 0, each class also gets ``round(r * its sites)`` (at most
    all) sites of the other classes on the same base, drawn at random, as negatives;
    ``class_cross_negatives`` sets r per class name instead.
    """
    half = window // 2
    cls_index = {c: i for i, c in enumerate(classes)}
    codes = [encode(s) for s in df["sequence"]]
    sites = df["site"].to_numpy()
    cls = df["modification"].map(cls_index).to_numpy()
    lengths = np.array([len(c) for c in codes])
    wins = [centre_windows(codes, sites, window)]
    labels = [df["label"].to_numpy(np.float32)]
    classes_out = [cls]
    lefts = [np.minimum(sites, half)]
    rights = [np.minimum(lengths - 1 - sites, half)]
    base_code = np.array([encode(BY_NAME[c].base)[0] for c in classes])
    if background_per_row > 0:
        rng = np.random.default_rng([seed, 2])
        b_codes, b_sites, b_cls = [], [], []
        for i, (c, site) in enumerate(zip(codes, sites)):
            if len(c) < 2 * window:
                continue
            pos = np.flatnonzero(c[half:len(c) - half] == base_code[cls[i]]) + half
            pos = pos[np.abs(pos - site) > half]
            if len(pos) == 0:
                continue
            for p in rng.choice(pos, min(background_per_row, len(pos)), replace=False):
                b_codes.append(c)
                b_sites.append(p)
                b_cls.append(cls[i])
        if b_sites:
            wins.append(centre_windows(b_codes, np.array(b_sites), window))
            labels.append(np.zeros(len(b_sites), np.float32))
            classes_out.append(np.array(b_cls))
            lefts.append(np.full(len(b_sites), half))
            rights.append(np.full(len(b_sites), half))
    rates = [(class_cross_negatives or {}).get(name, cross_negatives) for name in classes]
    if any(r > 0 for r in rates):
        rng = np.random.default_rng([seed, 5])
        is_site = labels[0] == 1
        for c, rate in enumerate(rates):
            n_sites = int((is_site & (cls == c)).sum())
            pool = np.flatnonzero(is_site & (cls != c) & (base_code[cls] == base_code[c]))
            n = min(len(pool), int(round(rate * n_sites)))
            if n == 0:
                continue
            donors = np.sort(rng.choice(pool, n, replace=False))
            wins.append(wins[0][donors])
            labels.append(np.zeros(n, np.float32))
            classes_out.append(np.full(n, c))
            lefts.append(lefts[0][donors])
            rights.append(rights[0][donors])
    return Examples(np.concatenate(wins), np.concatenate(classes_out).astype(np.int64),
                    np.concatenate(labels), np.concatenate(lefts), np.concatenate(rights))


def _mask_context(windows: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """N-mask each window beyond ``left``/``right`` nt of its centre (vectorised)."""
    half = windows.shape[1] // 2
    offset = np.arange(windows.shape[1]) - half
    keep = (offset[None, :] >= -left[:, None]) & (offset[None, :] <= right[:, None])
    return np.where(keep, windows, N_CODE).astype(np.uint8)


def epoch_examples(ex: Examples, classes: tuple[str, ...], config: TrainConfig, epoch: int
                   ) -> tuple[np.ndarray, ...]:
    """The shuffled, augmented examples of one epoch: (tokens-ready windows, cls, label, target).

    ``target`` is what the loss fits: the labels, or the soft targets of distillation.
    """
    rng = np.random.default_rng([config.seed, 3, epoch])
    idx = np.arange(len(ex.cls))
    if config.max_rows_per_class or config.class_max_rows:
        parts = []
        for c, name in enumerate(classes):
            members = idx[ex.cls == c]
            cap = config.class_max_rows.get(name, config.max_rows_per_class)
            if cap and len(members) > cap:
                members = rng.choice(members, cap, replace=False)
            parts.append(members)
        idx = np.concatenate(parts)
    idx = rng.permutation(idx)
    cls, label = ex.cls[idx], ex.label[idx]
    left, right = ex.left[idx].copy(), ex.right[idx].copy()
    # Context matching: borrow the visible extent of a random positive of the same class.
    for c in np.unique(cls):
        pos = np.flatnonzero((ex.cls == c) & (ex.label == 1))
        if len(pos) == 0:
            continue
        members = np.flatnonzero(cls == c)
        donor = rng.choice(pos, len(members))
        left[members] = np.minimum(left[members], ex.left[donor])
        right[members] = np.minimum(right[members], ex.right[donor])
    # Edge augmentation: predictions near record ends see N-padded windows.
    half = ex.windows.shape[1] // 2
    aug = rng.random(len(idx)) < config.edge_mask_prob
    side = rng.random(len(idx)) < 0.5
    cut = rng.integers(half // 2, half + 1, len(idx))
    left = np.where(aug & side, np.minimum(left, cut), left)
    right = np.where(aug & ~side, np.minimum(right, cut), right)
    target = label if ex.target is None else ex.target[idx]
    return _mask_context(ex.windows[idx], left, right), cls, label, target


class MultiTaskLoss(nn.Module):
    """Masked per-class BCE with OHEM inside each class and uncertainty weighting across classes.

    OHEM keeps the hardest ``ohem_keep`` share of the sites and of the
    background of each class in the batch; the other examples give no gradient.

    ``log_vars`` (one per class) are parameters: hand this module's parameters
    to the optimiser together with the network's.
    """

    def __init__(self, n_classes: int, ohem_keep: float = 0.7, uncertainty_weighting: bool = True,
                 focal_gamma: float = 0.0, pos_weight: torch.Tensor | None = None):
        super().__init__()
        if not 0 < ohem_keep <= 1:
            raise ValueError("ohem_keep must be in (0, 1]")
        self.ohem_keep = ohem_keep
        self.uncertainty_weighting = uncertainty_weighting
        self.focal_gamma = focal_gamma
        self.log_vars = nn.Parameter(torch.zeros(n_classes), requires_grad=uncertainty_weighting)
        self.register_buffer("pos_weight", pos_weight if pos_weight is not None else torch.ones(n_classes))

    def per_class(self, logits: torch.Tensor, cls: torch.Tensor, label: torch.Tensor,
                  target: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss of each class over its kept (hardest) examples; and which classes were present.

        ``target`` (soft targets, distillation) is what the cross-entropy fits; OHEM still ranks
        sites and background (``label``) apart. Default: the labels.

        Returns
        -------
        losses: torch.Tensor, shape=(n_classes,), 0 for absent classes
        present: torch.BoolTensor, shape=(n_classes,)
        """
        logit = logits.gather(1, cls[:, None]).squeeze(1)
        loss = nn.functional.binary_cross_entropy_with_logits(logit, label if target is None else target,
                                                              reduction="none")
        if self.focal_gamma > 0:
            p_true = torch.exp(-loss)
            loss = loss * (1 - p_true) ** self.focal_gamma
        w = torch.where(label > 0, self.pos_weight[cls], torch.ones_like(label))
        loss = loss * w
        n_classes = logits.shape[1]
        losses = logits.new_zeros(n_classes)
        present = torch.zeros(n_classes, dtype=torch.bool, device=logits.device)
        for c in torch.unique(cls).tolist():
            in_c = cls == c
            kept = []
            # Hardest examples within sites and within background separately: a shared ranking
            # keeps mostly one label while the model is undecided, and it collapses to a constant.
            for lab in (0.0, 1.0):
                lc = loss[in_c & (label == lab)]
                if lc.numel():
                    k = max(1, int(np.ceil(self.ohem_keep * lc.numel())))
                    kept.append(torch.topk(lc, k).values if k < lc.numel() else lc)
            losses[c] = torch.cat(kept).mean()
            present[c] = True
        return losses, present

    def forward(self, logits: torch.Tensor, cls: torch.Tensor, label: torch.Tensor,
                target: torch.Tensor | None = None) -> torch.Tensor:
        losses, present = self.per_class(logits, cls, label, target)
        if self.uncertainty_weighting:
            # Kendall et al.: exp(-s) * L + s, summed over the classes present in the batch.
            total = (torch.exp(-self.log_vars) * losses + self.log_vars)[present].sum()
        else:
            total = losses[present].sum()
        return total / present.sum().clamp(min=1)


def _validate(model: Network, valid: Examples, device) -> dict[str, float]:
    scores = score_windows(model, valid.windows, batch_size=512, device=device)
    out = {}
    for c, name in enumerate(model.config.classes):
        m = valid.cls == c
        y = valid.label[m]
        if m.any() and 0 < y.sum() < len(y):
            out[name] = float(roc_auc_score(y, scores[m, c]))
    return out


def _validation_examples(valid_df: pd.DataFrame, model_config: ModelConfig, seed: int) -> Examples:
    """The validation rows as examples, each window N-masked beyond its table's context."""
    valid = build_examples(valid_df, model_config.classes, model_config.window, 0, seed)
    return valid._replace(windows=_mask_context(valid.windows, valid.left, valid.right))


def calibrate(model: Network, calib_df: pd.DataFrame, config: TrainConfig, device
              ) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Null score distributions and G-mean thresholds from rows never fitted."""
    classes = model.config.classes
    # Many background positions per row: the null's size bounds the smallest p-value, 1 / (n + 1).
    ex = build_examples(calib_df, classes, model.config.window,
                        background_per_row=max(CALIBRATION_BACKGROUND, config.background_per_row),
                        seed=config.seed + 7)
    windows = _mask_context(ex.windows, ex.left, ex.right)
    scores = score_windows(model, windows, batch_size=512, device=device)
    rng = np.random.default_rng([config.seed, 4])
    nulls, thresholds = {}, {}
    for c, name in enumerate(classes):
        m = ex.cls == c
        s, y = scores[m, c], ex.label[m]
        null = s[y == 0]
        if len(null) == 0:
            raise InputError(f"class {name}: no unmodified calibration rows to build a null distribution")
        if len(null) > config.max_null:
            null = rng.choice(null, config.max_null, replace=False)
        nulls[name] = np.sort(null.astype(np.float32))
        if 0 < y.sum() < len(y):
            thresholds[name] = gmean_threshold(y, s)
    return nulls, thresholds


def teacher_probabilities(path: str | os.PathLike, ex: Examples, classes: tuple[str, ...], device,
                          cache: Path | None = None, progress: bool = False) -> np.ndarray:
    """A teacher bundle's probability of each example's own class, on the window the example shows.

    Each class is scored by the teacher networks that predict it alone (``subset``). With
    ``cache``, the scores are kept there and reused by a resumed run (when they still fit).

    Raises
    ------
    InputError
        The teacher does not predict a class or has another window.
    """
    if cache is not None and cache.exists():
        cached = np.load(cache)
        if cached.shape == ex.label.shape:
            return cached
    teacher = load_bundle(path, device=device)
    if teacher.config.window != ex.windows.shape[1]:
        raise InputError(f"{path}: the teacher's window is {teacher.config.window} nt, the model's "
                         f"{ex.windows.shape[1]}: distillation needs the same windows")
    missing = [c for c in classes if c not in teacher.config.classes]
    if missing:
        raise InputError(f"{path}: the teacher does not predict class(es) {', '.join(missing)}")
    out = np.zeros(len(ex.label), dtype=np.float32)
    windows = _mask_context(ex.windows, ex.left, ex.right)
    for c, name in enumerate(tqdm(classes, desc="teacher", disable=not progress, leave=False)):
        rows = np.flatnonzero(ex.cls == c)
        if rows.size:
            net = teacher.model.subset([name])
            out[rows] = score_windows(net, windows[rows], batch_size=512, device=device)[
                :, net.config.classes.index(name)]
    if cache is not None:
        tmp = cache.with_name(cache.name + ".tmp.npy")
        np.save(tmp, out)
        os.replace(tmp, cache)
    return out


def _save_checkpoint(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train_model(train_df: pd.DataFrame, valid_df: pd.DataFrame, model_config: ModelConfig,
                embedding: np.ndarray | None, config: TrainConfig, workdir: str | os.PathLike,
                device: str | torch.device = "cpu", progress: bool = True) -> Bundle:
    """Fit a network (or ``config.members`` of them) and return its bundle, null scores and thresholds included.

    Parameters
    ----------
    train_df, valid_df: sites tables (``sites.read_sites``); valid picks the best epoch.
    model_config: sizes; ``embedding_dim`` must match ``embedding``.
    embedding: np.ndarray, shape=(4**k + 1, dim), or None for one-hot.
    config: TrainConfig.
    workdir: holds ``checkpoint.pt`` (resume) and ``log.tsv`` (one row per epoch); with
        several members, each member's in ``member<i>/`` and all rows in ``log.tsv``.

    Every member fits the same rows and is calibrated with the others on the same
    held-out share: member i draws its initial weights, background negatives and
    epochs from seed ``config.seed + i`` (member 1 is the single-network run).
    """
    device = torch.device(device)
    workdir = Path(workdir)
    made = not workdir.exists()
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _train_model(train_df, valid_df, model_config, embedding, config, workdir, device, progress)
    except BaseException:
        # A run stopped before it wrote anything (a bad option, a missing --distill teacher) has nothing
        # to resume from: it leaves no folder behind. A checkpoint or log written since is kept.
        if made and workdir.is_dir() and not any(p.is_file() for p in workdir.rglob("*")):
            shutil.rmtree(workdir)
        raise


def _train_model(train_df: pd.DataFrame, valid_df: pd.DataFrame, model_config: ModelConfig,
                 embedding: np.ndarray | None, config: TrainConfig, workdir: Path, device: torch.device,
                 progress: bool) -> Bundle:
    classes = model_config.classes
    for name, df in (("training", train_df), ("validation", valid_df)):
        unknown = sorted(set(df["modification"]) - set(classes))
        if unknown:
            raise InputError(f"{name} table has classes the model does not predict: {unknown}")
    # Options that name classes the run does not train contradict --classes: usage mistakes (exit 2).
    for option in ("class_max_rows", "class_cross_negatives"):
        unknown = sorted(set(getattr(config, option)) - set(classes))
        if unknown:
            raise UsageError(f"{option} (--{option.replace('_', '-')}) names class(es) the model does not "
                             f"predict: {unknown}")
    absent = [c for c in classes if not (train_df["modification"] == c).any()]
    if absent:
        raise InputError(f"no training rows for class(es) {absent}; restrict the classes or add data")
    if config.members < 1:
        raise InputError(f"members (--members) must be >= 1, got {config.members}")
    unknown = sorted(set(config.specialists) - set(classes))
    if unknown:
        raise UsageError(f"specialists (--specialists) names class(es) the model does not predict: {unknown}")
    if config.precision not in PRECISIONS:
        raise InputError(f"precision (--precision) must be one of {', '.join(PRECISIONS)}, got {config.precision!r}")

    fit_df, calib_df = split_calibration(train_df, config.calibration_fraction, config.seed)
    if config.specialists:
        model, summaries, n_examples = _fit_with_specialists(fit_df, valid_df, model_config, embedding, config,
                                                             workdir, device, progress)
    else:
        nets, summaries, n_examples, _ = _fit_networks(fit_df, valid_df, model_config, embedding, config,
                                                      workdir, device, progress)
        model = nets[0] if len(nets) == 1 else EnsembleNet(nets)
    if isinstance(model, EnsembleNet):
        aucs = _validate(model.eval(), _validation_examples(valid_df, model_config, config.seed), device)
        provenance = {"valid_mean_auc": float(np.mean(list(aucs.values()))) if aucs else float("nan"),
                      "best_epoch": [m["best_epoch"] for m in summaries], "members": summaries}
    else:
        provenance = dict(summaries[0])
        del provenance["seed"]
    nulls, thresholds = calibrate(model, calib_df if len(calib_df) else fit_df, config, device)
    provenance = {"train_config": asdict(config), **provenance, "n_fit_rows": len(fit_df),
                  "n_calibration_rows": len(calib_df), "n_examples": n_examples,
                  "sources": sorted(set(train_df["source"])) if "source" in train_df else []}
    return Bundle(model=model.cpu(), null_scores=nulls, thresholds=thresholds, provenance=provenance)


def specialist_table(fit_df: pd.DataFrame, cls: str, cross_negatives: float, selection_rows: int, seed: int
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows to fit, rows to choose the epoch) of a network that predicts ``cls`` alone.

    Its negatives are its own unmodified rows plus ``round(cross_negatives * its sites)`` (at
    most all) sites of the other classes on the same base, relabelled as unmodified ``cls``
    rows (an m1A site is not an m6A site). The selection rows, ``selection_rows`` but at most
    a tenth of its own rows, are drawn from those and not fitted.
    """
    rng = np.random.default_rng([seed, 11])
    own = fit_df[fit_df["modification"] == cls]
    chosen = np.zeros(len(own), dtype=bool)
    chosen[rng.choice(len(own), min(selection_rows, len(own) // 10), replace=False)] = True
    own, selection = own[~chosen], own[chosen]
    base = BY_NAME[cls].base
    pool = fit_df[(fit_df["modification"] != cls) & (fit_df["label"] == 1)
                  & (fit_df["modification"].map(lambda m: BY_NAME[m].base) == base)]
    n = min(len(pool), int(round(cross_negatives * int(own["label"].sum()))))
    cross = pool.iloc[np.sort(rng.choice(len(pool), n, replace=False))].copy()
    cross["id"] = "cross:" + cross["modification"] + ":" + cross["id"].astype(str)
    cross["modification"], cross["label"] = cls, 0
    return pd.concat([own, cross], ignore_index=True), selection


def _fit_with_specialists(fit_df: pd.DataFrame, valid_df: pd.DataFrame, model_config: ModelConfig,
                          embedding: np.ndarray | None, config: TrainConfig, workdir: Path, device,
                          progress: bool) -> tuple[Network, list[dict], int]:
    """``config.members`` shared networks of the other classes (in ``workdir/shared``) and one network
    per specialist class (``workdir/specialist_<class>``), as one ensemble."""
    specialists = [c for c in model_config.classes if c in config.specialists]
    shared = tuple(c for c in model_config.classes if c not in specialists)
    nets, summaries, logs, n_examples = [], [], [], 0
    # The specialists first: they take minutes, the shared networks most of the time.
    for cls in specialists:
        rows, selection = specialist_table(fit_df, cls, config.specialist_cross_negatives,
                                           config.specialist_selection_rows, config.seed)
        epochs = config.specialist_epochs or config.epochs
        own = replace(config, epochs=epochs, patience=epochs, members=1, cross_negatives=0.0,
                      class_cross_negatives={}, class_max_rows={k: v for k, v in config.class_max_rows.items()
                                                                if k == cls})
        (net,), (summary,), n, log = _fit_networks(rows, selection, replace(model_config, classes=(cls,)),
                                                  embedding, own, workdir / f"specialist_{cls}", device, progress)
        nets.append(net)
        summaries.append({**summary, "classes": [cls], "selection_rows": len(selection)})
        logs += log
        n_examples += n
    if shared:
        keep = {"class_max_rows", "class_cross_negatives"}
        shared_config = replace(config, **{k: {c: v for c, v in getattr(config, k).items() if c in shared}
                                           for k in keep})
        shared_nets, shared_summaries, n, shared_logs = _fit_networks(
            fit_df[fit_df["modification"].isin(shared)], valid_df[valid_df["modification"].isin(shared)],
            replace(model_config, classes=shared), embedding, shared_config, workdir / "shared", device, progress)
        nets = shared_nets + nets
        summaries = [{**m, "classes": list(shared)} for m in shared_summaries] + summaries
        logs = shared_logs + logs
        n_examples += n
    _merge_logs(workdir, logs)
    model = nets[0] if len(nets) == 1 else EnsembleNet(nets, classes=model_config.classes)
    return model.eval(), summaries, n_examples


def _fit_networks(fit_df: pd.DataFrame, valid_df: pd.DataFrame, model_config: ModelConfig,
                 embedding: np.ndarray | None, config: TrainConfig, workdir: str | os.PathLike,
                 device: str | torch.device = "cpu", progress: bool = True
                 ) -> tuple[list[MultiRMNet], list[dict], int, list[Path]]:
    """Fit ``config.members`` networks on all of ``fit_df`` (the calibration share is already out).

    Returns the networks at their best epochs, one summary per network (seed, 1-based best
    epoch, its validation mean AUC), the number of fit examples of the last network and each
    network's epoch log. Resumable like ``train_model``.
    """
    device = torch.device(device)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    valid = _validation_examples(valid_df, model_config, config.seed)
    nets, summaries, logs, n_examples = [], [], [], 0
    for i in range(config.members):
        member_config = replace(config, seed=config.seed + i)
        member_dir = workdir if config.members == 1 else workdir / f"member{i + 1}"
        logs.append(member_dir / "log.tsv")
        prefix = "" if config.members == 1 else f"member {i + 1}/{config.members} "
        net, best_epoch, best_score, n_examples = _fit_member(
            fit_df, valid, model_config, embedding, member_config, member_dir, device, progress, prefix)
        nets.append(net)
        summaries.append({"seed": member_config.seed, "best_epoch": best_epoch + 1, "valid_mean_auc": best_score})
    if config.members > 1:
        _merge_logs(workdir, logs)
    return nets, summaries, n_examples, logs


def _merge_logs(workdir: Path, logs: list[Path]) -> None:
    """The epoch rows of ``logs`` (one per network, in ensemble order) in ``workdir/log.tsv``, a
    ``member`` column first; a specialist's rows leave the other classes' columns empty."""
    frames = [pd.read_csv(path, sep="\t") for path in logs]
    merged = pd.concat([f.assign(member=i + 1) for i, f in enumerate(frames)], ignore_index=True)
    columns = list(dict.fromkeys(c for f in frames for c in f.columns))
    merged = merged[["member", *columns]]
    write_tsv(merged, workdir / "log.tsv", float_format=None, na_rep="")


def _fit_member(fit_df: pd.DataFrame, valid: Examples, model_config: ModelConfig, embedding: np.ndarray | None,
                config: TrainConfig, workdir: Path, device: torch.device, progress: bool, prefix: str
                ) -> tuple[MultiRMNet, int, float, int]:
    """One network's training loop, resumable from ``workdir/checkpoint.pt``.

    ``prefix`` starts its progress lines (which member). Returns the network at its best
    epoch (eval mode), that epoch (0-based), its validation mean AUC and the number of fit
    examples.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    classes = model_config.classes
    torch.manual_seed(config.seed)
    model = build_network(model_config, None if embedding is None else torch.as_tensor(embedding))
    model.to(device)
    ex = build_examples(fit_df, classes, model_config.window, config.background_per_row, config.seed,
                        config.cross_negatives, config.class_cross_negatives)
    if config.distill:
        teacher = teacher_probabilities(config.distill, ex, classes, device, workdir / "teacher.npy", progress)
        ex = ex._replace(target=((1 - config.distill_weight) * ex.label
                                 + config.distill_weight * teacher).astype(np.float32))

    pos_weight = torch.ones(len(classes))
    if config.class_balance:
        for c in range(len(classes)):
            y = ex.label[ex.cls == c]
            pos_weight[c] = float((len(y) - y.sum()) / max(y.sum(), 1))
    loss_fn = MultiTaskLoss(len(classes), config.ohem_keep, config.uncertainty_weighting,
                            config.focal_gamma, pos_weight).to(device)
    params = [p for p in model.parameters() if p.requires_grad] + [p for p in loss_fn.parameters()
                                                                    if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=1)

    ckpt_path = workdir / "checkpoint.pt"
    log_path = workdir / "log.tsv"
    start_epoch, best_score, best_epoch, bad_epochs, best_state = 0, -np.inf, -1, 0, None
    if ckpt_path.exists():
        ckpt = torch.load(ckpt_path, map_location=device, weights_only=True)
        # epochs and patience may change on resume: a finished run can be extended; the number of
        # members and the specialists of an ensemble do not change how one network trains.
        free = ("epochs", "patience", "members", "specialists", "specialist_epochs",
                "specialist_cross_negatives", "specialist_selection_rows")
        same = {k_: v for k_, v in asdict(config).items() if k_ not in free}
        # Options added since the checkpoint was written take their defaults (the run had no such option).
        old = {**asdict(TrainConfig()), **ckpt["train_config"]}
        old = {k_: v for k_, v in old.items() if k_ not in free}
        if old != same or ckpt["model_config"] != model_config.to_dict():
            raise InputError(f"{ckpt_path}: checkpoint was made with other options; use a new --workdir")
        model.load_state_dict(ckpt["model"])
        loss_fn.load_state_dict(ckpt["loss"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start_epoch, best_score, best_epoch = ckpt["epoch"] + 1, ckpt["best_score"], ckpt["best_epoch"]
        bad_epochs, best_state = ckpt["bad_epochs"], ckpt["best_state"]
    elif log_path.exists():
        log_path.unlink()

    k = model_config.k
    for epoch in range(start_epoch, config.epochs):
        if bad_epochs >= config.patience:
            break
        t0 = time.time()
        torch.manual_seed(config.seed * 100003 + epoch)
        windows, cls, label, target = epoch_examples(ex, classes, config, epoch)
        model.train()
        total, n_batches = 0.0, 0
        bar = tqdm(range(0, len(cls), config.batch_size), desc=f"{prefix}epoch {epoch + 1}/{config.epochs}",
                   disable=not progress, leave=False)
        for lo in bar:
            hi = lo + config.batch_size
            tok = torch.as_tensor(tokenize(windows[lo:hi], k), device=device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
                logits = model(tok)
            logits = logits.float()  # the loss, its OHEM ranking and its uncertainty weights in float32
            loss = loss_fn(logits, torch.as_tensor(cls[lo:hi], device=device),
                           torch.as_tensor(label[lo:hi], device=device),
                           None if ex.target is None else torch.as_tensor(target[lo:hi], device=device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, config.clip_norm)  # after backward, on real gradients
            optimizer.step()
            total += float(loss.detach())
            n_batches += 1
        model.eval()
        aucs = _validate(model, valid, device)
        score = float(np.mean(list(aucs.values()))) if aucs else -float(total / max(n_batches, 1))
        scheduler.step(score)
        if score > best_score:
            best_score, best_epoch, bad_epochs = score, epoch, 0
            best_state = {k_: v.detach().clone() for k_, v in model.state_dict().items()}
        else:
            bad_epochs += 1
        row = {"epoch": epoch + 1, "train_loss": total / max(n_batches, 1), "valid_mean_auc": score,
               "lr": optimizer.param_groups[0]["lr"], "seconds": round(time.time() - t0, 1),
               **{f"auc_{c}": aucs.get(c, float("nan")) for c in classes},
               **{f"logvar_{c}": float(v) for c, v in zip(classes, loss_fn.log_vars.detach().cpu())}}
        new = not log_path.exists()
        with open(log_path, "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row), delimiter="\t", lineterminator="\n")
            if new:
                w.writeheader()
            w.writerow(row)
        if progress:
            tqdm.write(f"{prefix}epoch {epoch + 1}: loss {row['train_loss']:.4f} valid mean AUC {score:.4f} "
                       f"({row['seconds']} s)")
        _save_checkpoint(ckpt_path, {
            "epoch": epoch, "model": model.state_dict(), "loss": loss_fn.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "best_score": best_score, "best_epoch": best_epoch, "bad_epochs": bad_epochs,
            "best_state": best_state, "train_config": asdict(config),
            "model_config": model_config.to_dict()})

    if best_state is not None:
        model.load_state_dict(best_state)
    return model.eval(), best_epoch, best_score, len(ex.cls)
