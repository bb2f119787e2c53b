"""multirm-train: fit the network on labelled sites tables and write a model bundle.

Every ``TrainConfig`` field and the model sizes are options declared once, in
``TRAIN_OPTIONS`` and ``MODEL_OPTIONS``; their defaults are read from the dataclasses.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import fields
from pathlib import Path
from typing import Callable

from ..bundle import file_sha256, save_bundle
from ..constants import CLASS_NAMES, canonical_name
from ..errors import InputError, UsageError
from ..model import ARCHITECTURES, ModelConfig
from ..sites import read_many, read_sites
from ..train import PRECISIONS, TrainConfig, train_model
from .common import (add_classes_option, add_compute_options, add_output_option, base_parser, check_output_dir,
                     check_output_file, nonneg_int, positive_fraction, positive_int, probability, run_main,
                     setup_compute)


def _number(kind: Callable, lo: float, lo_open: bool = False) -> Callable[[str], float]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
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
# New networks are conv by default (the default model's kind); ModelConfig's own default stays bilstm,
# the architecture of every bundle written before the option existed.
DEFAULT_NETWORK = ModelConfig(architecture="conv")

MODEL_OPTIONS: list[tuple[str, Callable | tuple[str, ...], str]] = [
    ("architecture", ARCHITECTURES, "encoder: conv (dilated convolutions whose work overlapping windows "
                                    "share: fast genome-scale scans) or bilstm (MultiRM's BiLSTM)"),
    ("window", _odd_window, "window in nt centred on the site (odd)"),
    ("hidden", positive_int, "LSTM units per direction (bilstm); half the conv channels (conv)"),
    ("layers", positive_int, "LSTM layers (bilstm)"),
    ("kernel", _odd_kernel, "kernel size of each conv layer (conv)"),
    ("dilations", int_list, "one residual conv layer per dilation, as N[,N...] (conv)"),
    ("attention_dim", positive_int, "attention size"),
    ("head_hidden", positive_int, "hidden units of each class head"),
    ("dropout", probability, "dropout rate"),
]


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_spec(group, spec, defaults) -> None:
    for name, kind, help_ in spec:
        default = getattr(defaults, name)
        if kind is bool:
            group.add_argument(_flag(name), dest=name, action=argparse.BooleanOptionalAction,
                               default=default, help=help_)
        elif isinstance(kind, tuple):
            group.add_argument(_flag(name), dest=name, choices=kind, default=default, help=help_)
        else:  # kind None: a file name, taken as given
            group.add_argument(_flag(name), dest=name, type=kind, default=default, help=help_,
                               metavar="BUNDLE" if kind is None else name.upper())


def parse_arguments() -> argparse.ArgumentParser:
    parser = base_parser("multirm-train", "Train the multi-label RNA modification network on labelled "
                         "sites tables and write a model bundle (null scores and thresholds from "
                         "held-out training rows).")
    io = parser.add_argument_group("inputs and outputs")
    io.add_argument("--train", nargs="+", required=True, metavar="TABLE",
                    help="labelled sites tables (TSV or TSV.gz) to train on")
    io.add_argument("--valid", required=True, metavar="TABLE",
                    help="labelled sites table for early stopping and model selection")
    io.add_argument("--embedding", required=True, metavar="FILE|onehot",
                    help="3-mer word2vec text file (from multirm-embed), or 'onehot'")
    add_output_option(io, "model bundle to write", metavar="MODEL.safetensors", aliases=("--out",))
    io.add_argument("--workdir", default=None, metavar="DIR",
                    help="checkpoint and per-epoch log.tsv; rerunning with it resumes, and a finished run "
                         "rerun with a larger --epochs or --patience trains on; if not given, OUTPUT.work "
                         "beside the bundle")
    add_classes_option(io, "comma-separated classes to train, if not every class of the training tables; "
                           "rows of other classes are dropped", as_list=True)
    io.add_argument("--quiet", action="store_true", help="no progress output")
    _add_spec(parser.add_argument_group("training"), TRAIN_OPTIONS, TrainConfig())
    _add_spec(parser.add_argument_group("network"), MODEL_OPTIONS, DEFAULT_NETWORK)
    add_compute_options(parser, batch_size=TrainConfig().batch_size)
    return parser


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


def run(args: argparse.Namespace) -> int:
    from ..embedding import read_embedding

    out = Path(args.output)
    workdir = Path(args.workdir) if args.workdir else out.with_name(out.name + ".work")
    if not out.parent.is_dir():
        raise UsageError(f"--output {out}: folder {out.parent} does not exist")
    inputs = {Path(p).resolve() for p in [*args.train, args.valid]}
    if args.embedding != "onehot":
        inputs.add(Path(args.embedding).resolve())
    if out.resolve() in inputs or workdir.resolve() in inputs:
        raise UsageError("--output/--workdir would overwrite an input file")
    check_output_file(out, "--output")
    check_output_dir(workdir, "--workdir")
    device = setup_compute(args.device, args.threads)

    train_df = read_many(args.train, base_mismatch="drop")
    valid_df = read_sites(args.valid, base_mismatch="drop")
    if args.classes:
        classes = tuple(c for c in CLASS_NAMES if c in {canonical_name(x) for x in args.classes})
    else:
        classes = tuple(c for c in CLASS_NAMES if c in set(train_df["modification"]))
    absent = [c for c in classes if not (train_df["modification"] == c).any()]
    if absent:
        raise InputError(f"{', '.join(args.train)}: no training rows for class(es) {', '.join(absent)}")
    train_df = train_df[train_df["modification"].isin(classes)].reset_index(drop=True)
    valid_df = valid_df[valid_df["modification"].isin(classes)].reset_index(drop=True)
    if valid_df.empty:
        raise InputError(f"{args.valid}: no validation rows for class(es) {', '.join(classes)}")

    embedding = None if args.embedding == "onehot" else read_embedding(args.embedding, ModelConfig().k)
    train_cfg, model_cfg = configs_from_args(args, None if embedding is None else embedding.shape[1],
                                             classes)
    progress = not args.quiet and sys.stderr.isatty()
    bundle = train_model(train_df, valid_df, model_cfg, embedding, train_cfg, workdir, device=device,
                         progress=progress)
    bundle.provenance.update({
        "command_line": shlex.join(["multirm-train", *sys.argv[1:]]) if args.argv is None
        else shlex.join(["multirm-train", *args.argv]),
        "train_tables": [Path(p).name for p in args.train],
        "valid_table": Path(args.valid).name,
        "embedding": "onehot" if embedding is None else
        {"file": Path(args.embedding).name, "sha256": file_sha256(args.embedding)},
        "device": str(device),
    })
    save_bundle(out, bundle)
    if not args.quiet:
        print(f"multirm-train: wrote {out} ({len(classes)} classes; best epoch "
              f"{bundle.provenance.get('best_epoch')}, validation mean AUC "
              f"{bundle.provenance.get('valid_mean_auc', float('nan')):.4f}); log in {workdir / 'log.tsv'}",
              file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = parse_arguments()
    parser.set_defaults(argv=argv)
    return run_main(run, parser, argv)


def _check_spec() -> None:
    """Every TrainConfig field has exactly one option (guards against fields added later)."""
    declared = {name for name, _, _ in TRAIN_OPTIONS} | COMPUTE_FIELDS
    missing = {f.name for f in fields(TrainConfig)} - declared
    if missing:  # pragma: no cover - caught by tests
        raise RuntimeError(f"multirm-train has no option for TrainConfig field(s) {sorted(missing)}")


_check_spec()

if __name__ == "__main__":
    sys.exit(main())
