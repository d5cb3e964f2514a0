"""The one exception type whose message is meant for the user.

Faces print its message on one line and exit non-zero (CLI), show it inline (web), or return it
in the OpenAI error schema (API). Any other exception reaching a face is a bug.
"""


class PlaygroundError(Exception):
    """Something the user can fix: the message says what was wrong and what to do."""


class UnknownNameError(PlaygroundError, KeyError):
    """A name (model, tokenizer, preset…) that no registry knows; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AssetError(PlaygroundError):
    """A model, vocabulary or corpus that is missing, corrupt or cannot be prepared."""


def unknown_name(kind: str, name: str, known) -> UnknownNameError:
    """An error for an unknown `name` of `kind` that lists every known name.

    >>> str(unknown_name("model", "gpt5", ["gpt2", "smollm2"]))
    "unknown model 'gpt5'; known: gpt2, smollm2"
    """
    return UnknownNameError(f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}")
