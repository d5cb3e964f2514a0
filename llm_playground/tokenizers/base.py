"""The one interface every tokenizer here speaks, and the special-token rules they share.

A tokenizer turns text into ids (`encode`), ids back into text (`decode`), and can say which piece
of the input each id covers (`tokens`), as a byte span so that a face can colour it even when a
token ends in the middle of a multi-byte character. Options are keyword-only, as in tiktoken.

Special tokens (`<|endoftext|>`, `[PAD]`, …) are control signals, not text. As in tiktoken, text
that spells one raises an error in `encode` unless it is allowed (`allowed_special=`), and
`encode_ordinary` treats such text as ordinary characters.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import regex

from llm_playground.errors import PlaygroundError

AllowedSpecial = Literal["all"] | Collection[str]


class SpecialTokenError(PlaygroundError, ValueError):
    """User text spells a special token that the caller did not allow."""


class TokenizerError(PlaygroundError):
    """A tokenizer that cannot be built, trained, saved or loaded as asked."""


@dataclass(frozen=True)
class Token:
    """One token of an encoded text: its id, how its vocabulary spells it, and where it sits.

    >>> Token(id=31373, text="hello", start_byte=0, end_byte=5)
    Token(id=31373, text='hello', start_byte=0, end_byte=5, special=False)
    """

    id: int
    """The token id."""
    text: str
    """The token as its vocabulary spells it (`decode([id])`): "[UNK]" for an unknown word, and
    U+FFFD where the token holds only part of a multi-byte character."""
    start_byte: int
    """First byte of the span this token covers, in the UTF-8 bytes of the (surrogate-fixed) input."""
    end_byte: int
    """One past the last byte of the span. Spans of consecutive byte-level tokens tile the input;
    Hugging Face tokenizers report whole characters, so two tokens of one emoji share its span."""
    special: bool = False
    """True for a special token (`<|endoftext|>`, `[UNK]`, `[PAD]`, …)."""

    def to_dict(self) -> dict:
        """Plain JSON-ready fields, for the web playground and the API."""
        return {"id": self.id, "text": self.text, "start_byte": self.start_byte, "end_byte": self.end_byte,
                "special": self.special}

    def span_bytes(self, text: str) -> bytes:
        """The bytes of `text` (the string that was encoded) that this token covers."""
        return fix_surrogates(text).encode("utf-8")[self.start_byte:self.end_byte]


def fix_surrogates(text: str) -> str:
    """Make `text` encodable as UTF-8 exactly the way tiktoken does before it encodes.

    A surrogate pair written as two code points becomes the character it stands for, and a lone
    surrogate becomes U+FFFD. Text without surrogates comes back unchanged (and fast).

    >>> fix_surrogates("a\\ud83d\\ude00b"), fix_surrogates("x\\udc80")
    ('a😀b', 'x�')
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@lru_cache(maxsize=64)
def _special_regex(specials: frozenset[str]) -> regex.Pattern:
    # Longest first, so that "<|a|>" never hides "<|a|>b" when both are special.
    return regex.compile("|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True)))


def check_special(text: str, special_tokens: Collection[str], allowed: AllowedSpecial,
                  disallowed: AllowedSpecial) -> frozenset[str]:
    """Raise `SpecialTokenError` if `text` spells a disallowed special token; return the allowed set.

    `allowed="all"` allows every special token; `disallowed="all"` (the default) means every
    special token not allowed; `disallowed=()` turns the check off, so such text is encoded as
    ordinary characters.
    """
    known = frozenset(special_tokens)
    allowed_set = known if allowed == "all" else frozenset(allowed)
    unknown = allowed_set - known
    if unknown:
        raise SpecialTokenError(f"not special tokens of this tokenizer: {', '.join(sorted(unknown))}; "
                                f"its special tokens are: {', '.join(sorted(known)) or 'none'}")
    disallowed_set = known - allowed_set if disallowed == "all" else frozenset(disallowed)
    if disallowed_set and (match := _special_regex(disallowed_set).search(text)):
        token = match.group()
        raise SpecialTokenError(
            f"the text contains {token!r}, which is a special token of this tokenizer; to encode it "
            f"as the special token pass allowed_special={{{token!r}}} (CLI: --allow-special), or "
            f"use encode_ordinary() (CLI: --ordinary) to encode it as plain text")
    return allowed_set


def split_on_special(text: str, allowed: frozenset[str]) -> list[tuple[str, bool]]:
    """Cut `text` around the allowed special tokens: [(piece, is_special), …], empty pieces dropped.

    >>> split_on_special("a<|endoftext|>b", frozenset({"<|endoftext|>"}))
    [('a', False), ('<|endoftext|>', True), ('b', False)]
    """
    if not allowed:
        return [(text, False)] if text else []
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in _special_regex(allowed).finditer(text):
        if match.start() > position:
            pieces.append((text[position:match.start()], False))
        pieces.append((match.group(), True))
        position = match.end()
    if position < len(text):
        pieces.append((text[position:], False))
    return pieces


class Tokenizer(ABC):
    """Text ↔ ids. Subclasses implement `encode_ordinary`, `decode` and `_ordinary_tokens`.

    The base class adds the special-token rules (`encode`, `tokens`) on top, so every tokenizer
    treats `<|endoftext|>` in user text the same way.
    """

    name: str = "tokenizer"

    # ---- what a subclass provides -------------------------------------------------------------
    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """How many ids there are, special tokens included (largest id + 1)."""

    @property
    @abstractmethod
    def special_tokens(self) -> dict[str, int]:
        """Special token text → id."""

    @abstractmethod
    def encode_ordinary(self, text: str) -> list[int]:
        """Encode `text`, treating any special-token text in it as ordinary characters."""

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """The text for `ids` (bytes that do not form valid UTF-8 become U+FFFD)."""

    @abstractmethod
    def _ordinary_tokens(self, text: str, byte_offset: int) -> list[Token]:
        """`tokens()` for text without special tokens; spans shifted by `byte_offset`."""

    # ---- shared behaviour -----------------------------------------------------------------------
    def encode(self, text: str, *, allowed_special: AllowedSpecial = (),
               disallowed_special: AllowedSpecial = "all") -> list[int]:
        """Encode `text`; special-token text raises `SpecialTokenError` unless allowed.

        Args mirror tiktoken: `allowed_special="all"` or a set of token texts to encode as special
        tokens; `disallowed_special=()` to encode any other special-token text as plain text.
        """
        allowed = check_special(text, self.special_tokens, allowed_special, disallowed_special)
        if not allowed:
            return self.encode_ordinary(text)
        ids: list[int] = []
        for piece, is_special in split_on_special(text, allowed):
            ids.extend([self.special_tokens[piece]] if is_special else self.encode_ordinary(piece))
        return ids

    def tokens(self, text: str, *, allowed_special: AllowedSpecial = (),
               disallowed_special: AllowedSpecial = "all") -> list[Token]:
        """Each token of `encode(text)` with its id, its text and its byte span in `text`.

        The ids are exactly those of `encode(text, …)` with the same options.
        """
        allowed = check_special(text, self.special_tokens, allowed_special, disallowed_special)
        result: list[Token] = []
        byte_offset = 0
        for piece, is_special in split_on_special(fix_surrogates(text), allowed):
            length = len(piece.encode("utf-8"))
            if is_special:
                result.append(Token(self.special_tokens[piece], piece, byte_offset, byte_offset + length, True))
            else:
                result.extend(self._ordinary_tokens(piece, byte_offset))
            byte_offset += length
        return result

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} vocab_size={self.vocab_size}>"


def char_to_byte_offsets(text: str) -> list[int]:
    """Byte offset of each character of `text` in its UTF-8 form, plus the total length at the end.

    >>> char_to_byte_offsets("aé😀")
    [0, 1, 3, 7]
    """
    offsets = [0] * (len(text) + 1)
    total = 0
    for index, character in enumerate(text):
        offsets[index] = total
        total += len(character.encode("utf-8", "surrogatepass"))
    offsets[len(text)] = total
    return offsets
