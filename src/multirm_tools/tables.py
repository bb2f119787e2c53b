"""TSV tables and run records: the one writer of the tools' tables, their registry, the run.json header.

- ``append_rows``: rows without header appended to an open file (the streamed outputs);
- ``write_tsv``: a DataFrame as the tools' TSV (tab, header, no index, ``NA`` for missing values,
  ``\\n`` line ends, floats as ``FLOAT_FORMAT``), via a temporary name then renamed;
- ``run_header`` / ``write_run_record``: the fields every ``run.json`` starts with, and the file;
- ``TABLES``: every table a tool writes (file name, columns and their types, the tool), read by
  the report to recognise files and to type their columns, and by the tests against each tool's
  outputs.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import pandas as pd

from . import __version__
from .paths import atomic_path

FLOAT_FORMAT = "%.6g"
SCHEMA_VERSION = 1
RUN_TAG = "multirm-tools run"


def write_tsv(df: pd.DataFrame, path: str | os.PathLike | IO[str], *,
              float_format: str | None = FLOAT_FORMAT, na_rep: str = "NA", gzip: bool = False,
              atomic: bool = True) -> None:
    """Write a table of the tools: tab-separated, header, no index, ``\\n`` line ends.

    Parameters
    ----------
    df: the table, written in its column order.
    path: the output file, or a text handle open for writing (written as is).
    float_format: printf format of float cells (default ``FLOAT_FORMAT``, 6 significant digits);
        None writes Python's shortest round-trip repr.
    na_rep: what a missing value is written as (default ``NA``).
    gzip: gzip the file (a file name only).
    atomic: for a file name, write a temporary name beside it and rename it (default); False
        writes the name directly, for callers that already write under a temporary name.
    """
    def to(target) -> None:
        df.to_csv(target, sep="\t", index=False, float_format=float_format, na_rep=na_rep, lineterminator="\n",
                  compression="gzip" if gzip else None)

    if hasattr(path, "write") or not atomic:
        to(path)
        return
    with atomic_path(path) as tmp:
        to(tmp)


def append_rows(fh: IO[str], frame: pd.DataFrame) -> None:
    """Append ``frame``'s rows, no header, to an open TSV/BED/bedGraph file (floats as ``FLOAT_FORMAT``)."""
    frame.to_csv(fh, sep="\t", header=False, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def run_header(tool: str, argv: Sequence[str] | None) -> dict:
    """The fields every run.json starts with, in this order: tag, schema_version, tool, version,
    command_line (``tool`` and ``argv``, shell-quoted; ``argv`` None: this process's arguments)."""
    args = sys.argv[1:] if argv is None else list(argv)
    return {"tag": RUN_TAG, "schema_version": SCHEMA_VERSION, "tool": tool, "version": __version__,
            "command_line": shlex.join([tool, *args])}


def write_run_record(path: str | os.PathLike, record: dict) -> None:
    """Write a run's provenance record as JSON (indent 2, keys in the given order).

    ``record`` should start with ``run_header``; a record without it gets ``tag`` and
    ``schema_version`` in front."""
    with open(path, "w") as fh:
        json.dump({"tag": RUN_TAG, "schema_version": SCHEMA_VERSION, **record}, fh, indent=2,
                  sort_keys=False)
        fh.write("\n")


# ---------------------------------------------------------------------------------------------
# the registry of the tools' tables

#: The ``model`` value of the baseline's metrics and curves (multirm-evaluate --baseline-train).
BASELINE_MODEL = "LightGBM baseline"



def naming_model(df: pd.DataFrame, name: str | None, column: str = "model") -> pd.DataFrame:
    """``df`` with a first column naming the model it describes (evaluate's metrics, curves and
    comparisons): the report tells the baseline's tables by it, never by the file name."""
    return df.assign(**{column: name})[[column, *df.columns]]

@dataclass(frozen=True)
class Table:
    """One table a tool writes.

    kind: the registry key (and the report's name for it); file: the file name the tool gives it;
    tool: the tool that writes it; columns: the header, in order, as ``(name, type)`` with type
    ``str``, ``int`` or ``float``; optional: columns that may follow (``--bootstrap`` intervals);
    legacy: older headers (without the leading columns added since) still read by the report;
    label: what the report calls it.
    """

    kind: str
    file: str
    tool: str
    columns: tuple[tuple[str, str], ...]
    label: str
    optional: tuple[tuple[str, str], ...] = ()
    legacy: tuple[tuple[str, ...], ...] = ()

    @property
    def names(self) -> list[str]:
        """The header, without the optional columns."""
        return [c for c, _ in self.columns]

    @property
    def types(self) -> dict[str, str]:
        """Column -> type, the optional columns included."""
        return dict(self.columns + self.optional)

    def headers(self) -> list[list[str]]:
        """Every header this table may have: with and without the optional columns, and the
        legacy ones (each with and without the optional columns too)."""
        extra = [c for c, _ in self.optional]
        bases = [self.names, *(list(h) for h in self.legacy)]
        return [h + tail for h in bases for tail in ([[]] + ([extra] if extra else []))]


def _cols(spec: str) -> tuple[tuple[str, str], ...]:
    """``"a:str b:int c"`` -> ``(("a", "str"), ("b", "int"), ("c", "float"))`` (float when untyped)."""
    out = []
    for item in spec.split():
        name, _, kind = item.partition(":")
        out.append((name, kind or "float"))
    return tuple(out)


_METRICS = "modification:str n_pos:int n_neg:int AUCb AUCm AP threshold Sn Sp Acc MCC"
_CURVES = "modification:str curve:str x y threshold"
_COMPARISON = "modification:str metric:str model other difference low high better_share"
_CI = _cols("AUCb_low AUCb_high AUCm_low AUCm_high")
_SITES = "id:str modification:str label:int site:int sequence:str source:str"

TABLES: dict[str, Table] = {t.kind: t for t in [
    Table("predictions", "predictions.tsv", "multirm-predict",
          _cols("record:str position:int base:str modification:str probability p_value q_value edge:int"),
          "multirm-predict predictions"),
    Table("metrics", "metrics.tsv", "multirm-evaluate", _cols("model:str " + _METRICS),
          "multirm-evaluate metrics", optional=_CI, legacy=(tuple(c for c, _ in _cols(_METRICS)),)),
    Table("curves", "curves.tsv", "multirm-evaluate", _cols("model:str " + _CURVES),
          "multirm-evaluate ROC/PR curves", legacy=(tuple(c for c, _ in _cols(_CURVES)),)),
    Table("comparison", "comparison.tsv", "multirm-evaluate", _cols("other_model:str " + _COMPARISON),
          "multirm-evaluate comparison with another model", legacy=(tuple(c for c, _ in _cols(_COMPARISON)),)),
    Table("explain", "explain.tsv", "multirm-explain",
          _cols("record:str site:int modification:str probability window_position:int position:int "
                "nucleotide:str attention attribution"), "multirm-explain windows"),
    Table("explain_sites", "sites.tsv", "multirm-explain",
          _cols("record:str site:int modification:str probability logit baseline_logit attribution_sum delta"),
          "multirm-explain sites"),
    Table("mutagenesis", "mutagenesis.tsv", "multirm-explain",
          _cols("record:str site:int modification:str window_position:int position:int reference:str "
                "alternative:str probability delta_probability"), "multirm-explain mutagenesis"),
    Table("motifs_table", "motifs.tsv", "multirm-motifs",
          _cols("motif_id:str modification:str n_sites:int width:int consensus:str"), "multirm-motifs motif table"),
    Table("motif_sites", "motif_sites.tsv", "multirm-motifs",
          _cols("motif_id:str modification:str record:str site:int start:int end:int segment:str"),
          "multirm-motifs motif sites"),
    Table("tomtom", "tomtom.tsv", "multirm-motifs",
          _cols("query_id:str target_id:str offset:int p_value e_value q_value overlap:int orientation:str"),
          "multirm-motifs TOMTOM matches"),
    Table("correlation_long", "correlation_long.tsv", "multirm-correlate",
          _cols("class_a:str class_b:str pearson_r p_value"), "multirm-correlate correlations"),
    Table("distances", "distances.tsv", "multirm-correlate",
          _cols("class_a:str class_b:str n_pairs:int observed_median expected_median p_value"),
          "multirm-correlate distances"),
    Table("variants", "variants.tsv", "multirm-variants",
          _cols("chrom:str pos:int id:str ref:str alt:str strand:str transcript:str modification:str "
                "position:int ref_base:str alt_base:str ref_probability alt_probability delta ref_p_value "
                "alt_p_value ref_q_value alt_q_value call:str edge:int"), "multirm-variants affected positions"),
    Table("curated", "sites.tsv", "multirm-curate-sites",
          _cols(_SITES + " split:str chrom:str start:int strand:str edge:int"),
          "multirm-curate-sites labelled sites (also train.tsv, valid.tsv, test.tsv)"),
    Table("curate_report", "report.tsv", "multirm-curate-sites",
          _cols("category:str modification:str label:str split:str count:int detail:str"),
          "multirm-curate-sites counts"),
]}


def frame(kind: str, columns: dict) -> pd.DataFrame:
    """Table ``kind`` of ``TABLES`` built from its ``columns`` (name -> values), which must be the
    registry's, in its order: what a tool writes and what the report reads cannot drift apart."""
    names = TABLES[kind].names
    if list(columns) != names:
        raise ValueError(f"table {kind!r}: columns {list(columns)} are not the registry's {names}")
    return pd.DataFrame(columns)
