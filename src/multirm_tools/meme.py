"""MEME minimal motif format (version 4): the one reader and writer (``multirm-motifs``, the report).

- ``write_meme``: motifs (id -> letter frequencies, shape=(w, 4), ACGT order) as MEME 4, DNA alphabet;
- ``read_meme``: a MEME 4 or 5 file, DNA or RNA alphabet, back to the same mapping, with errors
  naming the file, the line and the problem.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .errors import InputError


def write_meme(fh, motifs: dict[str, np.ndarray], nsites: dict[str, int] | None = None) -> None:
    """Write motifs (id -> frequencies, shape=(w, 4), ACGT order) in MEME minimal format 4."""
    fh.write("MEME version 4\n\nALPHABET= ACGT\n\nstrands: +\n\n"
             "Background letter frequencies\nA 0.25 C 0.25 G 0.25 T 0.25\n\n")
    for name, probs in motifs.items():
        extra = f" nsites= {nsites[name]}" if nsites else ""
        fh.write(f"MOTIF {name}\nletter-probability matrix: alength= 4 w= {len(probs)}{extra}\n")
        for row in probs:
            fh.write(" ".join(f"{v:.6f}" for v in row) + "\n")
        fh.write("\n")


_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?(\s+[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)*\s*$")


def read_meme(path: str | os.PathLike, *, allow_empty: bool = False) -> dict[str, np.ndarray]:
    """Read a MEME motif file (minimal format, versions 4 and 5, DNA or RNA alphabet).

    Parameters
    ----------
    path: the MEME file.
    allow_empty: a file without any MOTIF (``multirm-motifs`` found none) gives ``{}`` instead of
        an error. Default is False.

    Returns
    -------
    dict: motif id (first word after MOTIF) -> letter frequencies, shape=(w, 4), ACGT order,
    rows normalised to sum to 1.

    Raises
    ------
    InputError
        Naming the file, line and problem: unreadable file, alphabet other than DNA/RNA,
        no MOTIF line, a motif without its matrix, a matrix row that is not 4 non-negative
        numbers summing to 1 (within 0.02), a row count different from ``w=``, duplicate ids.
    """
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    motifs: dict[str, np.ndarray] = {}
    name, name_line, rows, expect = None, 0, [], None
    has_matrix = reading = False  # a matrix line was seen for this motif; its rows are being read

    def close() -> None:
        if name is None:
            return
        if not has_matrix:
            raise InputError(f"{path}: line {name_line}: MOTIF {name} has no 'letter-probability matrix' line")
        if not rows:
            raise InputError(f"{path}: line {name_line}: MOTIF {name} has an empty matrix")
        if expect is not None and len(rows) != expect:
            raise InputError(f"{path}: line {name_line}: MOTIF {name} declares w= {expect} but has "
                             f"{len(rows)} matrix rows")
        m = np.array(rows)
        motifs[name] = m / m.sum(axis=1, keepdims=True)

    for lineno, line in enumerate(lines, 1):
        text = line.strip()
        if text.startswith("ALPHABET"):
            m = re.match(r"ALPHABET\s*=\s*(\S+)\s*$", text)
            letters = m.group(1).upper() if m else text
            if letters not in ("ACGT", "ACGU"):
                raise InputError(f"{path}: line {lineno}: alphabet {text[8:].strip(' =')!r} is not DNA "
                                 f"(ACGT) or RNA (ACGU)")
        elif text.startswith("MOTIF"):
            close()
            parts = text.split()
            if len(parts) < 2:
                raise InputError(f"{path}: line {lineno}: MOTIF line without a motif id")
            name, name_line, rows, expect = parts[1], lineno, [], None
            has_matrix = reading = False
            if name in motifs:
                raise InputError(f"{path}: line {lineno}: motif id {name} appears twice")
        elif text.startswith("letter-probability matrix"):
            if name is None:
                raise InputError(f"{path}: line {lineno}: matrix before any MOTIF line")
            alen = re.search(r"alength=\s*(\d+)", text)
            if alen and int(alen.group(1)) != 4:
                raise InputError(f"{path}: line {lineno}: MOTIF {name} has alength= {alen.group(1)}; "
                                 f"a DNA/RNA motif has 4 letters")
            w = re.search(r"\bw=\s*(\d+)", text)
            expect = int(w.group(1)) if w else None
            has_matrix = reading = True
        elif reading:
            if not text:
                reading = not rows  # blank lines may precede the rows; one after them ends the matrix
                continue
            if not _NUMBER.match(text):
                if expect is None and rows:  # without w=, the first other line ends the matrix
                    reading = False
                    continue
                raise InputError(f"{path}: line {lineno}: MOTIF {name}: matrix row {text!r} is not 4 numbers")
            values = [float(v) for v in text.split()]
            if len(values) != 4:
                raise InputError(f"{path}: line {lineno}: MOTIF {name}: matrix row has {len(values)} "
                                 f"values, expected 4")
            if min(values) < 0 or abs(sum(values) - 1.0) > 0.02:
                raise InputError(f"{path}: line {lineno}: MOTIF {name}: matrix row {text!r} is not "
                                 f"letter probabilities (non-negative, summing to 1)")
            rows.append(values)
            reading = expect is None or len(rows) < expect
    close()
    if not motifs and not allow_empty:
        raise InputError(f"{path}: no MOTIF lines; not a MEME motif file")
    return motifs
