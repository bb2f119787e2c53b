"""The labelled sites table: ``id modification label site sequence [source]``.

The format of ../shared/data and of what ``multirm-curate-sites`` writes, read
by ``multirm-train`` and ``multirm-evaluate``. Gzipped (detected from the content) or plain TSV
with a header. ``label`` 1 = modified site, 0 = unmodified base of the same kind;
``site`` is the 0-based index of that base in ``sequence`` (DNA or RNA letters).
"""

from __future__ import annotations

import gzip
import os
import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from .constants import BY_NAME, canonical_name
from .errors import InputError, MultiRMError
from .seqio import is_gzip
from .tables import write_tsv

REQUIRED = ["id", "modification", "label", "site", "sequence"]
COLUMNS = REQUIRED + ["source"]


def read_sites(path: str | os.PathLike, base_mismatch: str = "error") -> pd.DataFrame:
    """Read and validate a sites table.

    Returns a DataFrame with the columns of ``COLUMNS``: modification names made
    canonical (aliases accepted), sequences upper case DNA, ``source`` filled
    with the file name where absent.

    Raises
    ------
    InputError
        Naming the file, the row id and the problem: missing columns, unknown
        modification, label not 0/1, site outside its sequence, a site whose
        base is not the modification's base, duplicate ids.

    ``base_mismatch``: "error" (default) or "drop", which drops such rows with
    a warning (public sets carry a few, e.g. 104 of iMRM's A-to-I sites).
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype={"id": str, "sequence": str, "modification": str,
                                                "source": str}, keep_default_na=False,
                         compression="gzip" if is_gzip(path) else None)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (EOFError, OSError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty sites table") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: not a tab-separated table ({str(exc).splitlines()[0]})") from None
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; expected header "
                         f"{' '.join(COLUMNS)}")
    if df.empty:
        raise InputError(f"{path}: sites table has a header but no rows")
    if "source" not in df.columns:
        df["source"] = path.name
    df = df[COLUMNS].copy()

    def bad(mask: np.ndarray, what: str) -> None:
        if mask.any():
            i = int(np.flatnonzero(mask)[0])
            raise InputError(f"{path}: record {df['id'].iat[i]!r} (data row {i + 1}): {what}")

    bad(df["id"].duplicated().to_numpy(), "duplicate id")
    try:
        df["modification"] = [canonical_name(m) for m in df["modification"]]
    except MultiRMError as exc:
        raise InputError(f"{path}: {exc}") from None
    label = pd.to_numeric(df["label"], errors="coerce")
    bad(~label.isin([0, 1]).to_numpy(), "label must be 0 or 1")
    df["label"] = label.astype(np.int8)
    site = pd.to_numeric(df["site"], errors="coerce")
    bad(site.isna().to_numpy() | (site % 1 != 0).to_numpy(), "site is not an integer")
    df["site"] = site.astype(np.int64)
    df["sequence"] = df["sequence"].str.upper().str.replace("U", "T", regex=False)
    lengths = df["sequence"].str.len().to_numpy()
    bad((df["site"].to_numpy() < 0) | (df["site"].to_numpy() >= lengths), "site outside the sequence")
    bad(~df["sequence"].str.fullmatch(r"[ACGTNRYSWKMBDHV]+").to_numpy(),
        "sequence has characters other than nucleotides")
    centre = np.array([s[i] for s, i in zip(df["sequence"], df["site"])])
    expected = np.array([BY_NAME[m].base for m in df["modification"]])
    mismatch = centre != expected
    if base_mismatch == "drop":
        if mismatch.any():
            warnings.warn(f"{path}: dropped {int(mismatch.sum())} row(s) whose base at site does "
                          f"not match the modification's base", stacklevel=2)
        df = df[~mismatch]
    else:
        bad(mismatch, "base at site does not match the modification's base")
    return df.reset_index(drop=True)


def read_many(paths: list[str | os.PathLike], base_mismatch: str = "error") -> pd.DataFrame:
    """Read several tables into one; ids must stay unique across files."""
    frames = [read_sites(p, base_mismatch) for p in paths]
    df = pd.concat(frames, ignore_index=True)
    dup = df["id"].duplicated()
    if dup.any():
        raise InputError(f"{paths}: id {df['id'][dup].iat[0]!r} appears in more than one table")
    return df


def write_sites(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a sites table (gzipped when the name ends in .gz) via a temporary name."""
    write_tsv(df[COLUMNS], path, float_format=None, na_rep="", gzip=Path(path).suffix == ".gz")