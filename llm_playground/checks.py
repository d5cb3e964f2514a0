"""Range checks for the knobs every capability takes, with messages that name the field and its range.

    require_range("top_k", top_k, 1, MAX_ROWS)      # raises PlaygroundError("top_k must be …")

Library functions call these before any model work, so a bad value fails at once in every face.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

from llm_playground.errors import PlaygroundError


def require_range(name: str, value, low: float | None = None, high: float | None = None, *,
                  integer: bool = True, why: str = "") -> None:
    """Raise PlaygroundError unless `value` is a (whole, when `integer`) number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlaygroundError(f"{name} must be a number (got {value!r})")
    if integer and (isinstance(value, float) and not value.is_integer()):
        raise PlaygroundError(f"{name} must be a whole number (got {value})")
    if not math.isfinite(value):
        raise PlaygroundError(f"{name} must be a finite number (got {value})")
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            allowed = f"between {low:g} and {high:g}"
        elif low is not None:
            allowed = f"at least {low:g}"
        else:
            allowed = f"at most {high:g}"
        raise PlaygroundError(f"{name} must be {allowed} (got {value:g})" + (f"; {why}" if why else ""))


def require_regex(name: str, pattern: str) -> None:
    """Raise PlaygroundError unless `pattern` compiles (the `regex` module's syntax, as tiktoken's)."""
    import regex

    try:
        regex.compile(pattern)
    except (regex.error, re.error) as error:
        raise PlaygroundError(f"{name} is not a valid regular expression: {error}") from None


def require_output_folder(name: str, path: str | Path) -> Path:
    """A folder to write into: may exist (as a folder) or not yet; never an existing file."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise PlaygroundError(f"{name} {str(path)!r} is an existing file, but it must be a folder; "
                              "give a folder path (it is created if missing)")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise PlaygroundError(f"{name} {str(path)!r} is inside {str(parent)!r}, which is a file, not a folder")
            break
    return path


def png_path(path: str | Path, default_name: str) -> Path:
    """Where a plot goes: `path` itself if it names a file; `path/default_name` if it is a folder
    (existing, or written with a trailing slash). A missing suffix becomes .png."""
    text = str(path)
    target = Path(text).expanduser()
    if target.is_dir() or text.endswith(("/", "\\")):
        target = target / default_name
    elif target.suffix.lower() != ".png":
        target = target.with_name(target.name + ".png")
    require_output_folder("the plot's folder", target.parent)
    return target
