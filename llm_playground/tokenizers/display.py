"""Showing tokens to people: whitespace made visible, pieces coloured by token.

Both the CLI and the web playground use these, so a token looks the same in both.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llm_playground.tokenizers.base import Token, fix_surrogates

VISIBLE = {" ": "·", "\n": "↵", "\t": "→", "\r": "␍"}
SHARED_SPAN = "⋯"  # a token whose input was already drawn by the token before it

# Background colours that keep black text readable, cycled token by token.
ANSI_BACKGROUNDS = (
    "48;5;153", "48;5;223", "48;5;194", "48;5;217", "48;5;189", "48;5;230", "48;5;159", "48;5;225",
)


def visible_whitespace(text: str) -> str:
    """`text` with spaces, newlines, tabs and carriage returns drawn as · ↵ → ␍.

    >>> visible_whitespace("a b\\n\\tc")
    'a·b↵→c'
    """
    return "".join(VISIBLE.get(ch, ch) for ch in text)


@dataclass(frozen=True)
class Piece:
    """A run of input text to draw in the colour of token `index` (of the `tokens()` list)."""

    index: int
    """Which token this piece belongs to; -1 for input no token covers (spaces a word-level
    tokenizer skips), drawn plain."""
    text: str
    """What to draw: the input text of the span, whitespace made visible; a span that holds only
    part of a character is drawn as its bytes (`<F0 9F>`)."""
    data: bytes = b""
    """The input bytes this piece stands for (empty for `⋯`): the pieces' bytes, in order, are
    exactly the text's bytes."""


def token_pieces(text: str, tokens: Sequence[Token]) -> list[Piece]:
    """What to draw for each token: the input bytes its span covers, readable.

    A span that is valid UTF-8 shows its text; a span that cuts a character shows that token's
    bytes in hex, so a 4-byte emoji split over two tokens reads `<F0 9F>` `<98 80>`. Tokens whose
    span repeats the previous one (Hugging Face reports the whole emoji for each part), or is empty,
    draw as `⋯` so that every token stays visible.
    Input between tokens that no token covers comes as a piece with index -1.

    >>> from llm_playground.tokenizers.base import Token
    >>> [p.text for p in token_pieces("a 😀", [Token(0, "a", 0, 1), Token(1, " ", 1, 4), Token(2, "", 4, 6)])]
    ['a', '·<F0 9F>', '<98 80>']
    """
    data = fix_surrogates(text).encode("utf-8")
    pieces: list[Piece] = []
    previous_end = 0
    for index, token in enumerate(tokens):
        if token.start_byte > previous_end:
            gap = data[previous_end:token.start_byte]
            pieces.append(Piece(-1, _readable(gap), gap))
        start = max(token.start_byte, previous_end)
        span = data[start:token.end_byte]
        previous_end = max(previous_end, token.end_byte)
        pieces.append(Piece(index, _readable(span) if span else SHARED_SPAN, span))
    if previous_end < len(data) and tokens:
        pieces.append(Piece(-1, _readable(data[previous_end:]), data[previous_end:]))
    return pieces


def _readable(span: bytes) -> str:
    try:
        return visible_whitespace(span.decode("utf-8"))
    except UnicodeDecodeError:
        return _show_partial(span)


def _show_partial(span: bytes) -> str:
    """Decode what forms whole characters; show the loose bytes of a cut character in hex."""
    out, hex_run = [], []
    text = span.decode("utf-8", errors="surrogateescape")
    for ch in text:
        if 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that is not part of a whole character
            hex_run.append(f"{ord(ch) - 0xDC00:02X}")
            continue
        if hex_run:
            out.append("<" + " ".join(hex_run) + ">")
            hex_run = []
        out.append(VISIBLE.get(ch, ch))
    if hex_run:
        out.append("<" + " ".join(hex_run) + ">")
    return "".join(out)


def render_ansi(text: str, tokens: Sequence[Token], *, color: bool = True) -> str:
    """The tokens of `text` as one string for a terminal: each token on its own background colour.

    Newlines are shown as ↵ and then really broken, so long texts keep their lines. Without colour,
    tokens are separated by `|`.
    """
    out = []
    for piece in token_pieces(text, tokens):
        shown = piece.text.replace("↵", "↵\n")
        if piece.index < 0:  # not part of any token
            out.append(shown)
        elif color:
            style = ANSI_BACKGROUNDS[piece.index % len(ANSI_BACKGROUNDS)]
            shown = "\n".join(f"\x1b[{style};30m{line}\x1b[0m" if line else "" for line in shown.split("\n"))
            out.append(shown)
        else:
            out.append(shown + "|")
    return "".join(out)
