"""Terminal rendering shared by the CLI commands: tables, colours, JSON. Presentation only."""
from __future__ import annotations

import json
import os
import sys


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout  # looked up now: a default bound at import would outlive a replaced stdout
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or stream.isatty()


def print_json(value) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def table(rows: list[dict], columns: list[str], headers: list[str] | None = None) -> str:
    """A plain aligned text table."""
    headers = headers or columns
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def probability_colour(text: str, prob: float) -> str:
    """Text on a background from red (unlikely) through yellow to green (likely), ANSI 24-bit."""
    if not use_colour():
        return text
    p = max(0.0, min(1.0, prob))
    red, green = (255, int(510 * p)) if p < 0.5 else (int(510 * (1 - p)), 255)
    return f"\x1b[48;2;{red};{green};80m\x1b[38;2;0;0;0m{text}\x1b[0m"


def dim(text: str) -> str:
    return f"\x1b[2m{text}\x1b[0m" if use_colour() else text


def visible(text: str) -> str:
    """Whitespace made visible: · for space, ↵ for newline, → for tab."""
    return text.replace(" ", "·").replace("\n", "↵").replace("\t", "→")
