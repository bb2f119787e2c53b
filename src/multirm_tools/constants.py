"""The modification registry: the twelve classes, their aliases, original base and motifs.

Class names follow MultiRM and ../shared/data (``Psi``, ``AtoI``). Aliases are
accepted wherever a user names a class. Bases are written in the DNA alphabet
(T for U) because sequences are encoded that way internally.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from .errors import UsageError


class Modification(NamedTuple):
    name: str
    base: str  # original (unmodified) base, DNA alphabet
    aliases: tuple[str, ...]
    description: str
    motif: str | None = None  # IUPAC motif (DNA alphabet) that must surround the site
    motif_offset: int = 0  # index of the modified base inside ``motif``


# Order is the model's output order; changing it changes every bundle.
MODIFICATIONS: tuple[Modification, ...] = (
    Modification("Am", "A", ("2-O-methyladenosine", "Nm-A"), "2'-O-methyladenosine"),
    Modification("Cm", "C", ("2-O-methylcytidine", "Nm-C"), "2'-O-methylcytidine"),
    Modification("Gm", "G", ("2-O-methylguanosine", "Nm-G"), "2'-O-methylguanosine"),
    Modification("Um", "T", ("Tm", "2-O-methyluridine", "Nm-U"), "2'-O-methyluridine"),
    Modification("m1A", "A", ("1-methyladenosine",), "N1-methyladenosine"),
    Modification("m5C", "C", ("5-methylcytidine",), "5-methylcytidine"),
    Modification("m5U", "T", ("5-methyluridine", "T", "rT"), "5-methyluridine"),
    Modification("m6A", "A", ("6-methyladenosine", "N6-methyladenosine"), "N6-methyladenosine",
                 motif="DRACH", motif_offset=2),
    Modification("m6Am", "A", ("N6,2-O-dimethyladenosine",), "N6,2'-O-dimethyladenosine",
                 motif="BCA", motif_offset=2),
    Modification("m7G", "G", ("7-methylguanosine",), "7-methylguanosine"),
    Modification("Psi", "T", ("Ψ", "pseudouridine", "Y", "pU"), "pseudouridine"),
    Modification("AtoI", "A", ("I", "inosine", "A-to-I", "A2I"), "inosine (A-to-I editing)"),
)

CLASS_NAMES: tuple[str, ...] = tuple(m.name for m in MODIFICATIONS)
BY_NAME: dict[str, Modification] = {m.name: m for m in MODIFICATIONS}

_ALIASES: dict[str, str] = {}
for _m in MODIFICATIONS:
    for _a in (_m.name, *_m.aliases):
        _ALIASES[_a.lower()] = _m.name

IUPAC_DNA: dict[str, str] = {
    "A": "A", "C": "C", "G": "G", "T": "T", "U": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}


def canonical_name(name: str) -> str:
    """Return the registry name of a modification given its name or any alias.

    Raises
    ------
    UsageError
        If ``name`` is no known modification.
    """
    try:
        return _ALIASES[name.strip().lower()]
    except KeyError:
        raise UsageError(
            f"unknown modification {name!r}; known: {', '.join(CLASS_NAMES)}"
        ) from None


def rna_base(base: str) -> str:
    """The RNA letter of a DNA-alphabet base (T -> U) for user-facing output."""
    return "U" if base == "T" else base


def motif_regex(mod: Modification) -> re.Pattern[str] | None:
    """A regex matching the motif (DNA letters; the modified base at ``motif_offset``), or None."""
    if mod.motif is None:
        return None
    return re.compile("".join(f"[{IUPAC_DNA[c]}]" for c in mod.motif))
