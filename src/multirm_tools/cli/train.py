"""multirm-train: fit the network on labelled sites tables and write a model bundle.

Every ``TrainConfig`` field and the model sizes are options declared once, in
``multirm_tools.train_options``; their defaults are read from the dataclasses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..bundle import file_sha256, save_bundle
from ..errors import UsageError
from ..model import ModelConfig
from ..sites import read_many, read_sites
from ..tables import run_header
from ..train import TrainConfig, train_model
from ..train_options import (DEFAULT_NETWORK, MODEL_OPTIONS, TRAIN_OPTIONS, configs_from_args,
                             select_classes)
from .common import (add_classes_option, add_compute_options, add_output_option, base_parser, check_output_dir,
                     check_output_file, run_main, setup_compute)


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
    classes, train_df, valid_df = select_classes(train_df, valid_df, args.classes, args.train, args.valid)

    embedding = None if args.embedding == "onehot" else read_embedding(args.embedding, ModelConfig().k)
    train_cfg, model_cfg = configs_from_args(args, None if embedding is None else embedding.shape[1],
                                             classes)
    progress = not args.quiet and sys.stderr.isatty()
    bundle = train_model(train_df, valid_df, model_cfg, embedding, train_cfg, workdir, device=device,
                         progress=progress)
    bundle.provenance.update({
        "command_line": run_header("multirm-train", args.argv)["command_line"],
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


if __name__ == "__main__":
    sys.exit(main())
