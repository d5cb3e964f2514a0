"""Recursive chunking measured in tokens of the embedding model's tokenizer.

The rule, in full (LangChain's recursive splitter, measured in tokens instead of characters):

1. A text of at most `chunk_size` tokens is one piece.
2. A longer text is cut at the first separator of `separators` that occurs in it ("\\n\\n" blank
   lines, then "\\n" lines, then sentence ends, then clause marks, then spaces); each separator stays
   at the end of the piece before it, so the pieces tile the text exactly.
3. A piece still longer than `chunk_size` is cut again with the next separators; the empty
   separator "" cuts hard at token boundaries.
4. Consecutive pieces are merged greedily into chunks of at most `chunk_size` tokens. When a chunk
   is closed, the next one starts `chunk_overlap` tokens before its end (fewer when the next piece
   needs the room), moved forward to the start of a word: the overlap repeats the end of the
   previous chunk, so a sentence cut at a boundary is read whole by one of the two.
5. A chunk's text is its span of the page with the surrounding whitespace trimmed; its `start` and
   `end` are character offsets into the page text, so `page.text[start:end] == chunk.text`.

Tokens are counted once per page: the page is encoded with offsets, and a span holds the tokens
whose first character lies inside it ([CLS]/[SEP] excluded).
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from llm_playground.errors import PlaygroundError

SEPARATORS = ("\n\n", "\n", ". ", "? ", "! ", "; ", ": ", ", ", " ", "")
MAX_CHUNK_TOKENS = 254
"""all-MiniLM-L6-v2 reads 256 word pieces ([CLS] and [SEP] included); a longer chunk would be cut
silently by the encoder, so the chunker never makes one."""


@dataclass(frozen=True)
class ChunkingConfig:
    """How documents are cut into chunks (sizes in tokens of the embedding model's tokenizer)."""

    chunk_size: int = 128
    """Most tokens in a chunk (1–254: MiniLM reads 256 word pieces including [CLS] and [SEP])."""
    chunk_overlap: int = 24
    """Tokens a chunk repeats from the end of the previous one (0 ≤ overlap < chunk_size)."""
    separators: tuple[str, ...] = field(default=SEPARATORS, metadata={"cli": False})
    """Cut points tried in order; "" (the last) cuts at any token boundary."""

    def __post_init__(self) -> None:
        if not isinstance(self.chunk_size, int) or not 1 <= self.chunk_size <= MAX_CHUNK_TOKENS:
            raise PlaygroundError(f"chunk_size must be between 1 and {MAX_CHUNK_TOKENS} tokens (got {self.chunk_size}): "
                                  "the embedding model reads at most 256 word pieces")
        if not isinstance(self.chunk_overlap, int) or not 0 <= self.chunk_overlap < self.chunk_size:
            raise PlaygroundError(f"chunk_overlap must be at least 0 and less than chunk_size={self.chunk_size} "
                                  f"(got {self.chunk_overlap})")
        if not self.separators or self.separators[-1] != "":
            raise PlaygroundError('separators must end with "" (the hard cut at token boundaries)')

    @property
    def signature(self) -> str:
        """What a stored document records, so that new settings re-chunk it: `"128/24"`."""
        return f"{self.chunk_size}/{self.chunk_overlap}" + ("" if self.separators == SEPARATORS else
                                                              "/" + "|".join(map(repr, self.separators)))


@dataclass(frozen=True)
class TextChunk:
    """One chunk of a page: its exact text and where it lies."""

    text: str
    start: int
    """Character offset of the chunk's first character in the page text."""
    end: int
    """Character offset just after its last character."""
    tokens: int
    """Tokens of the embedding tokenizer in it ([CLS]/[SEP] not counted)."""


class TokenCounter:
    """Token counts of character spans of one text, from a single encoding with offsets."""

    def __init__(self, tokenizer, text: str) -> None:
        encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        self.starts = [start for start, end in encoding["offset_mapping"] if end > start]  # sorted, (T,)

    def count(self, start: int, end: int) -> int:
        """Tokens whose first character lies in [start, end)."""
        return bisect.bisect_left(self.starts, end) - bisect.bisect_left(self.starts, start)

    def boundaries(self, start: int, end: int) -> list[int]:
        """Character offsets where the tokens of [start, end) begin (cut points for the hard split)."""
        return self.starts[bisect.bisect_left(self.starts, start):bisect.bisect_left(self.starts, end)]


def _cut(text: str, start: int, end: int, separator: str) -> list[tuple[int, int]]:
    """[start, end) cut after each occurrence of `separator` (kept with the piece before it)."""
    pieces, position = [], start
    while True:
        found = text.find(separator, position, end)
        if found < 0 or found + len(separator) >= end:
            break
        pieces.append((position, found + len(separator)))
        position = found + len(separator)
    pieces.append((position, end))
    return pieces


def _split(text: str, start: int, end: int, counter: TokenCounter, size: int,
           separators: tuple[str, ...]) -> list[tuple[int, int]]:
    """Spans tiling [start, end), each at most `size` tokens (steps 1–3 of the rule)."""
    if counter.count(start, end) <= size:
        return [(start, end)]
    for index, separator in enumerate(separators):
        if separator == "":
            cuts = counter.boundaries(start, end)[size::size]
            edges = [start, *cuts, end]
            return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]
        if text.find(separator, start, end) >= 0:
            pieces = []
            for piece_start, piece_end in _cut(text, start, end, separator):
                pieces.extend(_split(text, piece_start, piece_end, counter, size, separators[index + 1:]))
            return pieces
    raise AssertionError("separators end with the empty separator")


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _overlap_start(text: str, counter: TokenCounter, start: int, end: int, budget: int) -> int | None:
    """Where the next chunk starts: `budget` tokens before `end`, moved forward to a word start;
    None when no word starts there (no overlap rather than half a word)."""
    if budget <= 0:
        return None
    for position in counter.boundaries(start, end)[-budget:]:
        if position > start and text[position - 1].isspace():
            return position
    return None


def chunk_text(text: str, tokenizer, config: ChunkingConfig = ChunkingConfig()) -> list[TextChunk]:
    """The chunks of `text` by the rule in this module's docstring (whitespace-only text gives none)."""
    if not text.strip():
        return []
    counter = TokenCounter(tokenizer, text)
    pieces = _split(text, 0, len(text), counter, config.chunk_size, config.separators)
    sizes = [counter.count(a, b) for a, b in pieces]
    chunks: list[TextChunk] = []
    first, carried_from = 0, None  # first new piece of the chunk being built; where its overlap begins
    while first < len(pieces):
        start = pieces[first][0] if carried_from is None else carried_from
        last, total = first, counter.count(start, pieces[first][1])
        while last + 1 < len(pieces) and total + sizes[last + 1] <= config.chunk_size:
            last += 1
            total += sizes[last]
        trimmed_start, trimmed_end = _trimmed(text, start, pieces[last][1])
        if trimmed_end > trimmed_start:
            chunks.append(TextChunk(text[trimmed_start:trimmed_end], trimmed_start, trimmed_end,
                                    counter.count(trimmed_start, trimmed_end)))
        if last + 1 >= len(pieces):
            break
        # the overlap leaves room for the next piece, so every chunk moves forward
        budget = min(config.chunk_overlap, config.chunk_size - sizes[last + 1])
        carried_from = _overlap_start(text, counter, start, pieces[last][1], budget)
        first = last + 1
    return chunks
