"""Parsers of option values for argparse ``type=``: counts, shares, probabilities, window lengths.

Each raises ``argparse.ArgumentTypeError``, so a bad value is a usage mistake (exit 2).
"""

from __future__ import annotations

import argparse


def _integer(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"{text!r} must be >= {least}")
    return value


def positive_int(text: str) -> int:
    return _integer(text, 1)


def nonneg_int(text: str) -> int:
    return _integer(text, 0)


def int_between(least: int, most: int):
    """An integer in [least, most]: for options whose cost grows steeply with the value."""
    def parse(text: str) -> int:
        value = _integer(text, least)
        if value > most:
            raise argparse.ArgumentTypeError(f"{text!r} must be <= {most}")
        return value
    parse.__name__ = "integer"
    return parse


def odd_positive_int(text: str) -> int:
    """A window length: odd, so that a window has a centre, and >= 1."""
    value = positive_int(text)
    if value % 2 == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be odd (a window has a centre)")
    return value


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def positive_fraction(text: str) -> float:
    """A share in (0, 1]."""
    value = probability(text)
    if value == 0.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value
