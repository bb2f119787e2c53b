"""Output paths: checked before any work, written under a temporary name and renamed at the end.

A failed run therefore leaves no partial output under the final name; an output that cannot be
written is refused before the inputs are read (a folder given for a file: UsageError, exit 2;
permission denied: InputError, exit 1).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from .errors import InputError, UsageError


def nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_dir(path: str | os.PathLike, flag: str = "-o/--outdir") -> Path:
    """Before any work: ``path`` is a folder, or can be made one, that this process may write in.

    Creates nothing: folders are made once the inputs have been read.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a folder")
    base = nearest_existing(path)
    if not base.is_dir():
        raise UsageError(f"{flag} {path}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: cannot write in {base} (permission denied)")
    return path


def check_output_file(path: str | os.PathLike, flag: str = "-o/--output", parents: bool = False) -> Path:
    """Before any work: ``path`` can be written as a file: not a folder, in a writable folder
    (``parents``: a folder this process may create)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; give a file name")
    base = nearest_existing(path.parent) if parents else path.parent
    if not base.is_dir():
        raise UsageError(f"{flag} {path}: folder {path.parent} does not exist" if base == path.parent
                         else f"{flag} {path}: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"{flag} {path}: cannot write there (permission denied)")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    A failed run therefore leaves no partial output under the final name.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
