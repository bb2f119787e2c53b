"""multirm-train's options, declared once: every ``TrainConfig`` field and the model sizes.

``TRAIN_OPTIONS`` and ``MODEL_OPTIONS`` list (field, value parser, help); the tool turns each into an
option whose default is the dataclass's, and ``configs_from_args`` turns the parsed options back
into a ``TrainConfig`` and a ``ModelConfig``. ``select_classes`` chooses the classes a run trains.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import fields
from typing import Callable

import pandas as pd

from .argtypes import nonneg_int, positive_fraction, positive_int, probability
from .constants import CLASS_NAMES, canonical_name
from .errors import InputError, UsageError
from .model import ARCHITECTURES, POOLINGS, ModelConfig
from .train import PRECISIONS, TrainConfig


def _number(kind: Callable, lo: float, lo_open: bool = False) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):  # nan passes every comparison below
            raise argparse.ArgumentTypeError(f"{text!r} must be a finite number")
        if value < lo or (lo_open and value == lo):
            raise argparse.ArgumentTypeError(f"{text!r} must be {'>' if lo_open else '>='} {lo}")
        return value
    parse.__name__ = kind.__name__
    return parse


def _odd_window(text: str) -> int:
    value = positive_int(text)
    if value % 2 != 1 or value < 5:
        raise argparse.ArgumentTypeError(f"{text!r} must be an odd number >= 5")
    return value


def _class_map(parse_value: Callable[[str], float], what: str) -> Callable[[str], dict]:
    """Parser of ``CLASS=VALUE[,CLASS=VALUE...]`` -> {registry class name: value}; empty text -> {}."""
    def parse(text: str) -> dict:
        out = {}
        for item in filter(None, (t.strip() for t in text.split(","))):
            name, sep, value = item.partition("=")
            if not sep:
                raise argparse.ArgumentTypeError(f"{item!r} is not CLASS={what}")
            try:
                cls = canonical_name(name)
            except UsageError as exc:
                raise argparse.ArgumentTypeError(str(exc)) from None
            out[cls] = parse_value(value.strip())
        return out
    parse.__name__ = f"CLASS={what} list"
    return parse


def class_list(text: str) -> tuple[str, ...]:
    """Parser of ``CLASS[,CLASS...]`` -> registry class names; empty text -> ()."""
    try:
        return tuple(dict.fromkeys(canonical_name(t.strip()) for t in text.split(",") if t.strip()))
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class_list.__name__ = "CLASS list"


def _odd_kernel(text: str) -> int:
    value = positive_int(text)
    if value % 2 != 1 or value < 3:
        raise argparse.ArgumentTypeError(f"{text!r} must be an odd number >= 3")
    return value


def int_list(text: str) -> tuple[int, ...]:
    """Parser of ``N[,N...]`` (each >= 1) -> a tuple of ints."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give at least one number")
    return tuple(positive_int(t) for t in items)


int_list.__name__ = "N list"
positive_float = _number(float, 0.0, lo_open=True)
nonneg_float = _number(float, 0.0)
class_counts = _class_map(positive_int, "N")  # {class: N >= 1}
class_rates = _class_map(nonneg_float, "R")  # {class: R >= 0}

# (TrainConfig field, parser (bool = on/off flag, tuple = choices), help); --batch-size comes from the
# compute group.
TRAIN_OPTIONS: list[tuple[str, Callable | type | tuple[str, ...] | None, str]] = [
    ("epochs", positive_int, "maximum number of epochs"),
    ("lr", positive_float, "Adam learning rate"),
    ("weight_decay", nonneg_float, "Adam weight decay"),
    ("patience", positive_int, "early stopping: epochs without a better mean validation AUC"),
    ("seed", int, "random seed (same seed, same CPU -> same model)"),
    ("ohem_keep", positive_fraction, "online hard example mining: fraction of the hardest examples kept "
                                  "per class per batch (1 = off)"),
    ("uncertainty_weighting", bool, "weight the class losses by learned uncertainty"),
    ("class_balance", bool, "weight each class's positives and negatives equally"),
    ("focal_gamma", nonneg_float, "focal loss gamma (0 = plain cross-entropy)"),
    ("background_per_row", nonneg_int, "extra negatives per training row: other positions with the "
                                       "class's base inside its window"),
    ("cross_negatives", nonneg_float, "other classes' sites on the same base used as a class's "
                                      "negatives, per site of the class (0 = none)"),
    ("class_cross_negatives", class_rates, "per-class --cross-negatives overriding it, as "
                                           "CLASS=R[,CLASS=R...] (e.g. m6A=0.3)"),
    ("edge_mask_prob", probability, "augmentation: chance that a window's edges are N-masked"),
    ("calibration_fraction", probability, "share of training rows held out for the null scores "
                                          "and thresholds"),
    ("max_null", positive_int, "most null scores kept per class"),
    ("max_rows_per_class", positive_int, "subsample each class to this many rows per epoch "
                                         "(None: all)"),
    ("class_max_rows", class_counts, "per-class rows per epoch overriding --max-rows-per-class, "
                                     "as CLASS=N[,CLASS=N...] (e.g. m6A=40000,AtoI=3000)"),
    ("clip_norm", positive_float, "gradient norm clipping"),
    ("members", positive_int, "networks to train (seeds SEED, SEED+1, ...) and ship as one ensemble "
                              "whose probabilities are averaged; each costs one training run and "
                              "slows prediction by one network"),
    ("precision", PRECISIONS, "arithmetic of the training passes: fp32, or bf16 (bfloat16 autocast; "
                              "epochs 1.4x faster measured on a CPU with AVX-512 BF16, may be slower "
                              "on CPUs without it); the model is stored and predicts in fp32"),
    ("specialists", class_list, "classes predicted by a network of their own, fitted on their rows alone, "
                                "instead of by the shared networks, as CLASS[,CLASS...] (e.g. m6A); "
                                "each costs a training run and slows prediction by one network"),
    ("specialist_epochs", positive_int, "epochs of each specialist network, without early stopping "
                                        "(None: --epochs)"),
    ("specialist_cross_negatives", nonneg_float, "other classes' sites on a specialist's base used as its "
                                                 "negatives, per site of its class"),
    ("specialist_selection_rows", positive_int, "rows of a specialist's class held out of its fitting to "
                                                "choose its epoch (at most a tenth of them)"),
    ("distill", None, "distillation: a model bundle (e.g. a slower ensemble) whose probability of each "
                     "example joins its label as the target (None: labels alone)"),
    ("distill_weight", probability, "with --distill, the teacher's share of each target: "
                                    "(1 - W) * label + W * teacher probability"),
]
COMPUTE_FIELDS = {"batch_size"}  # TrainConfig fields set from add_compute_options
# New networks are conv by default (fast scans, accuracy within noise of the BiLSTM: docs/model.md), though
# the bundled default model is a BiLSTM; ModelConfig's own default stays bilstm, the architecture of every
# bundle written before the option existed.
DEFAULT_NETWORK = ModelConfig(architecture="conv")

MODEL_OPTIONS: list[tuple[str, Callable | tuple[str, ...], str]] = [
    ("architecture", ARCHITECTURES, "encoder: conv (dilated convolutions whose work overlapping windows "
                                    "share: fast genome-scale scans) or bilstm (MultiRM's BiLSTM)"),
    ("window", _odd_window, "window in nt centred on the site (odd)"),
    ("hidden", positive_int, "LSTM units per direction (bilstm); half the conv channels (conv)"),
    ("layers", positive_int, "LSTM layers (bilstm)"),
    ("kernel", _odd_kernel, "kernel size of each conv layer (conv)"),
    ("dilations", int_list, "one residual conv layer per dilation, as N[,N...] (conv)"),
    ("composition", nonneg_int, "features of the 3-mer composition of the whole window that the heads "
                                "read beside attention; 0 for none (conv)"),
    ("pooling", POOLINGS, "how each class's head weighs the window's states (conv): attention (by their "
                          "content) or attention+position (plus a learned weight for each place in the "
                          "window: conv states do not know where they sit)"),
    ("attention_dim", positive_int, "attention size"),
    ("head_hidden", positive_int, "hidden units of each class head"),
    ("dropout", probability, "dropout rate"),
]


def configs_from_args(args: argparse.Namespace, embedding_dim: int | None,
                      classes: tuple[str, ...]) -> tuple[TrainConfig, ModelConfig]:
    """The TrainConfig and ModelConfig an argument namespace asks for (``embedding_dim`` None: one-hot)."""
    train_cfg = TrainConfig(**{name: getattr(args, name) for name, _, _ in TRAIN_OPTIONS},
                            batch_size=args.batch_size)
    sizes = {name: getattr(args, name) for name, _, _ in MODEL_OPTIONS}
    k = ModelConfig().k
    model_cfg = ModelConfig(**sizes, classes=classes,
                            embedding="onehot" if embedding_dim is None else "word2vec",
                            embedding_dim=4 ** k if embedding_dim is None else embedding_dim)
    try:
        model_cfg.validate()
    except ValueError as exc:
        raise UsageError(f"network options: {exc}") from None
    return train_cfg, model_cfg


def select_classes(train_df: pd.DataFrame, valid_df: pd.DataFrame, wanted: list[str] | None,
                   train_names: list[str], valid_name: str) -> tuple[tuple[str, ...], pd.DataFrame, pd.DataFrame]:
    """The classes to train (``wanted``, or every class of the training rows), in registry order, and
    the training and validation rows of those classes.

    Raises
    ------
    UsageError
        ``wanted`` names a class the training tables have no rows of.
    InputError
        The validation table has no row of any of the classes.
    """
    if wanted:
        classes = tuple(c for c in CLASS_NAMES if c in {canonical_name(x) for x in wanted})
    else:
        classes = tuple(c for c in CLASS_NAMES if c in set(train_df["modification"]))
    absent = [c for c in classes if not (train_df["modification"] == c).any()]
    if absent:
        raise UsageError(f"{', '.join(train_names)}: no training rows for class(es) {', '.join(absent)}")
    train_df = train_df[train_df["modification"].isin(classes)].reset_index(drop=True)
    valid_df = valid_df[valid_df["modification"].isin(classes)].reset_index(drop=True)
    if valid_df.empty:
        raise InputError(f"{valid_name}: no validation rows for class(es) {', '.join(classes)}")
    return classes, train_df, valid_df


def _check_spec() -> None:
    """Every TrainConfig field has exactly one option (guards against fields added later)."""
    declared = {name for name, _, _ in TRAIN_OPTIONS} | COMPUTE_FIELDS
    missing = {f.name for f in fields(TrainConfig)} - declared
    if missing:  # pragma: no cover - caught by tests
        raise RuntimeError(f"multirm-train has no option for TrainConfig field(s) {sorted(missing)}")


_check_spec()
