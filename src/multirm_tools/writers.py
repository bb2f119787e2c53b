"""Output files of multirm-predict: the score spool and the predictions TSV.

BED6 / bedGraph rows are written by ``bed``, TSV tables and run records by ``tables``.

Everything is written column-wise with numpy/pandas, a chunk of rows at a time;
there is no Python loop per position. Callers open the files (under temporary
names, see ``paths.atomic_path``); these functions only format.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import pandas as pd

from .tables import FLOAT_FORMAT, TABLES, append_rows

PREDICTION_COLUMNS = TABLES["predictions"].names

#: One scored (position, class) pair in the spool between the two passes.
SPOOL_DTYPE = np.dtype([("rec", "<i4"), ("pos", "<i8"), ("cls", "u1"), ("edge", "u1"),
                        ("prob", "<f4"), ("k", "<i4")])


class Spool:
    """Rows of ``SPOOL_DTYPE`` appended to a binary file and read back in chunks.

    Parameters
    ----------
    path: where the spool lives; the caller removes it.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fh = open(self.path, "wb")
        self.rows = 0

    def append(self, rows: np.ndarray) -> None:
        rows.astype(SPOOL_DTYPE, copy=False).tofile(self._fh)
        self.rows += len(rows)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def chunks(self, size: int = 1 << 18) -> Iterator[np.ndarray]:
        """Read the rows back in order, ``size`` at a time."""
        self.close()
        with open(self.path, "rb") as fh:
            while True:
                block = np.fromfile(fh, dtype=SPOOL_DTYPE, count=size)
                if not len(block):
                    return
                yield block


def format_floats(values: np.ndarray) -> np.ndarray:
    """``FLOAT_FORMAT`` strings of ``values``, shape=(n,) object.

    pandas' own ``float_format`` path costs ~4 us a value; formatting first and
    writing strings is ~4x faster. Columns with few distinct values (p, q) are
    better formatted once per value and indexed.
    """
    fmt = FLOAT_FORMAT
    return np.array([fmt % v for v in np.asarray(values, dtype=np.float64).tolist()], dtype=object)


def write_predictions_header(fh: IO[str]) -> None:
    fh.write("\t".join(PREDICTION_COLUMNS) + "\n")


def write_predictions(fh: IO[str], record: np.ndarray, position: np.ndarray, base: np.ndarray,
                      modification: np.ndarray, probability: np.ndarray, p_value: np.ndarray,
                      q_value: np.ndarray, edge: np.ndarray) -> None:
    """Append rows to the predictions TSV; every argument has shape=(n,).

    ``position`` is 1-based, ``base`` in RNA letters, ``edge`` 0/1. Float columns
    may be given already formatted (``format_floats``), which is faster.
    """
    append_rows(fh, pd.DataFrame({"record": record, "position": position, "base": base,
                          "modification": modification, "probability": probability,
                          "p_value": p_value, "q_value": q_value,
                          "edge": np.asarray(edge, dtype=np.int8)}))
