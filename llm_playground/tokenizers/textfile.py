"""Reading user text files for tokenizing and training.

Policy for invalid UTF-8 (chosen and documented here): we do not refuse the file. Bytes that are
not valid UTF-8 are decoded as U+FFFD (the replacement character), and the caller gets a warning
that says where the first bad byte is and how many characters were replaced, to show the user.
"""
from __future__ import annotations

import os
from pathlib import Path

from llm_playground.errors import PlaygroundError


def read_text_file(path: str | os.PathLike) -> tuple[str, str | None]:
    """The text of `path` and a warning (None if the file was valid UTF-8).

    A missing or unreadable file raises `PlaygroundError`.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PlaygroundError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise PlaygroundError(f"{path} is a folder; give a text file") from None
    except OSError as error:
        raise PlaygroundError(f"cannot read {path}: {error.strerror}") from None
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        text = data.decode("utf-8", errors="replace")
        replaced = text.count("\ufffd") - data.count("\ufffd".encode("utf-8"))
        return text, (f"{path} is not valid UTF-8 (first bad byte at offset {error.start}); "
                      f"{replaced} invalid byte sequence(s) were replaced by U+FFFD '\ufffd'")
