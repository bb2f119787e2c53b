"""What every tool shares: the parser, the common options, error handling and exit codes.

Option value types live in ``multirm_tools.argtypes`` and output paths in ``multirm_tools.paths``;
they are imported here too, so a tool takes everything shared from this one module.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import traceback
import warnings
from typing import Callable

import torch

from .. import __version__
from ..argtypes import nonneg_int, positive_fraction, positive_int, probability  # noqa: F401 (tools import them here)
from ..constants import canonical_name
from ..errors import MultiRMError, UsageError
from ..paths import atomic_path, check_output_dir, check_output_file, nearest_existing  # noqa: F401 (same)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown once: not for flags, None defaults or help that already states one.

    Descriptions and epilogs keep their line breaks, so usage examples stay readable.
    A default of 0 is shown (``0 in (None, False)`` would hide it).
    """

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def base_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """A parser with ``--version`` and ``--debug``, the options every tool has."""
    parser = argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show a full traceback on errors")
    return parser


def add_model_option(parser, flag: str = "--model") -> None:
    """The ``--model`` option every tool that runs a network has (a parser or an argument group)."""
    from ..bundle import BUNDLED, default_bundle_path

    names = "; ".join(f"'{name}': {about}" for name, (_, _, about) in BUNDLED.items() if name != "default")
    parser.add_argument(flag, default=None, metavar="BUNDLE",
                        help=f"model bundle (.safetensors), or the name of a model shipped with the package "
                             f"({names}) (default: {default_bundle_path().name})")


def add_compute_options(parser: argparse.ArgumentParser, batch_size: int = 512) -> None:
    """``--device``, ``--threads``, ``--batch-size``: shared by every tool that runs the network."""
    group = parser.add_argument_group("compute")
    group.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                       help="where the network runs; auto uses CUDA when present")
    group.add_argument("--threads", type=positive_int, default=None,
                       help="CPU threads for PyTorch (default: $GALAXY_SLOTS, else all cores)")
    group.add_argument("--batch-size", type=positive_int, default=batch_size,
                       help="windows per network call")


def add_ig_options(group) -> None:
    """``--steps`` and ``--ig-baseline``: integrated gradients, in explain and motifs alike."""
    from ..explain import BASELINES, DEFAULT_BASELINE

    group.add_argument("--steps", type=positive_int, default=50, help="integrated-gradients steps")
    group.add_argument("--ig-baseline", "--baseline", dest="ig_baseline", choices=BASELINES, default=DEFAULT_BASELINE,
                       help="integrated gradients' reference input: N = the all-N window, zero = all-zero "
                            "embedding (--baseline: the former name)")


# One spelling per option across the tools (issue 21): ``-o/--outdir`` for a folder, ``-o/--output``
# for a single file, ``--classes`` a comma list. A tool's former spelling stays accepted as an alias.

def add_outdir_option(parser, help: str, aliases: tuple[str, ...] = ()) -> None:
    """``-o/--outdir DIR`` (required): the folder a tool writes its outputs into."""
    parser.add_argument("-o", "--outdir", *aliases, dest="outdir", required=True, metavar="OUTDIR", help=help)


def add_output_option(parser, help: str, metavar: str = "FILE", aliases: tuple[str, ...] = ()) -> None:
    """``-o/--output FILE`` (required): the one file a tool writes."""
    parser.add_argument("-o", "--output", *aliases, dest="output", required=True, metavar=metavar, help=help)


class _CommaList(argparse.Action):
    """``--classes m6A,Psi``; also the former ``--classes m6A Psi``: every value split at commas."""

    def __call__(self, parser, namespace, values, option_string=None):
        items = [v.strip() for value in values for v in value.split(",") if v.strip()]
        if not items:
            parser.error(f"{option_string}: names no class")
        setattr(namespace, self.dest, items)


def add_classes_option(parser, help: str, aliases: tuple[str, ...] = (), as_list: bool = False) -> None:
    """``--classes LIST``: class names or aliases, comma-separated.

    ``as_list``: the tool takes the names as a list (space-separated values also accepted, as
    those tools once required); otherwise the comma text, which ``resolve_classes`` reads against
    the model's classes.
    """
    if as_list:
        parser.add_argument("--classes", *aliases, dest="classes", nargs="+", action=_CommaList, default=None,
                            metavar="LIST", help=help)
    else:
        parser.add_argument("--classes", *aliases, dest="classes", default=None, metavar="LIST", help=help)


def resolve_classes(text: str | None, model_classes: tuple[str, ...]) -> list[str]:
    """The model's classes named by a comma-separated ``--classes`` (aliases allowed), in model order."""
    if text is None:
        return list(model_classes)
    wanted = {canonical_name(t) for t in text.split(",") if t.strip()}
    if not wanted:
        raise UsageError("--classes names no class")
    missing = sorted(wanted - set(model_classes))
    if missing:
        raise UsageError(f"--classes: the model does not predict {', '.join(missing)} "
                         f"(it predicts {', '.join(model_classes)})")
    return [c for c in model_classes if c in wanted]


def setup_compute(device: str, threads: int | None) -> torch.device:
    """Apply ``--threads`` and resolve ``--device``; a missing CUDA is a usage error."""
    if threads is None and os.environ.get("GALAXY_SLOTS", "").isdigit():
        threads = int(os.environ["GALAXY_SLOTS"])
    if threads:
        torch.set_num_threads(threads)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for but no CUDA device is available")
    return torch.device(device)


class Terminated(BaseException):
    """SIGTERM, raised where the process is so that ``finally`` blocks remove temporary files
    (a BaseException: no ``except Exception`` swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_terminated(signum, frame):
    raise Terminated(signum)


def run_main(body: Callable[[argparse.Namespace], int | None], parser: argparse.ArgumentParser,
             argv: list[str] | None) -> int:
    """Parse ``argv``, run ``body``; a ``MultiRMError`` becomes one stderr line and its exit code.

    So do errors the operating system reports on a named file (exit 1), text that is not text
    (a binary file read as a table or FASTA) and SIGINT / SIGTERM (exit 130 / 143), each after the
    ``finally`` blocks have removed the run's temporary files.
    """
    args = parser.parse_args(argv)
    previous = None
    with contextlib.suppress(ValueError):  # not the main thread (an embedding program's): leave SIGTERM be
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    shown = warnings.showwarning
    if not getattr(args, "debug", False):
        # A warning is one line naming the tool, like an error; --debug keeps Python's file:line form.
        warnings.showwarning = lambda message, *_, **__: print(f"{parser.prog}: warning: {message}",
                                                                file=sys.stderr)
    try:
        return body(args) or 0
    except MultiRMError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{parser.prog}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except UnicodeDecodeError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"{parser.prog}: error: an input file is not text (a binary file?): byte {exc.object[exc.start]:#04x} "
              f"cannot be decoded as {exc.encoding}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"{parser.prog}: terminated", file=sys.stderr)
        return 128 + exc.signum
    finally:
        warnings.showwarning = shown
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
