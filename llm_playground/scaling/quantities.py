"""Read and write the big numbers of scaling laws: "175e9", "1B", "70B", "1.4T", "3.15e23".

Suffixes are the ones papers use for parameter and token counts: K (10^3), M (10^6), B or G (10^9),
T (10^12), P (10^15). FLOP counts are usually written in scientific notation ("5.76e23").
"""
from __future__ import annotations

import math
import re

from llm_playground.errors import PlaygroundError

SUFFIXES = {"": 1.0, "K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9, "T": 1e12, "P": 1e15}

_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]?)\s*$")


def parse_quantity(text: str | float | int, *, what: str = "quantity") -> float:
    """A positive number from text with an optional K/M/B/G/T/P suffix.

    >>> parse_quantity("1.4T"), parse_quantity("175e9"), parse_quantity("70B"), parse_quantity(1e20)
    (1400000000000.0, 175000000000.0, 70000000000.0, 1e+20)
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _QUANTITY.match(str(text).replace("_", "").replace(",", ""))
        suffix = match.group(2).upper() if match else None
        if match is None or suffix not in SUFFIXES:
            raise PlaygroundError(
                f"cannot read {what} {text!r}: write a number such as 175e9, 1.3e23, 7B, 70B or 1.4T "
                f"(suffixes: K, M, B or G, T, P)")
        value = float(match.group(1)) * SUFFIXES[suffix]
    if not math.isfinite(value) or value <= 0:
        raise PlaygroundError(f"{what} must be a positive number (got {text!r})")
    return value


def format_count(value: float, digits: int = 3) -> str:
    """A parameter or token count the way papers print it.

    >>> format_count(175e9), format_count(1.4e12), format_count(20.2e9), format_count(8.0e8)
    ('175B', '1.4T', '20.2B', '800M')
    """
    for suffix, scale in (("P", 1e15), ("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.{digits}g}{suffix}"
    return f"{value:.{digits}g}"


def format_flops(value: float) -> str:
    """FLOPs in scientific notation, as in the Chinchilla paper's tables.

    >>> format_flops(3.15e23)
    '3.15e+23'
    """
    return f"{value:.3g}" if value < 1e4 else f"{value:.2e}"
