"""Byte-level BPE, the readable reference: a rank table, the merge loop, save and load.

A byte-level BPE vocabulary is a table of byte strings ranked by when they were learned: the 256
single bytes first, then every merged pair in the order training created it. Encoding one chunk
of text (see `patterns`) starts from its bytes and, again and again, joins the adjacent pair whose
concatenation has the lowest rank, until no adjacent pair is in the table. That is tiktoken's
rule (`tiktoken/_educational.py`); `fast.py` serves the same table with tiktoken's Rust engine and
the tests prove the two give identical ids.

Saved tokenizers are a folder with `tokenizer.json` (versioned; the merges as id pairs) and
`vocab.txt`, a listing that exists only for people to read.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import regex

from llm_playground.assets.files import atomic_write_text
from llm_playground.tokenizers.base import Token, Tokenizer, TokenizerError, fix_surrogates
from llm_playground.tokenizers.patterns import GPT2_PATTERN

FORMAT_NAME = "llm-playground-bpe"
FORMAT_VERSION = 1
CHUNK_CACHE_LIMIT = 200_000  # chunks remembered by the reference encoder before it starts over


# ---- small pure helpers (minbpe style) ---------------------------------------------------------
def get_stats(ids: Sequence[int], counts: dict | None = None, weight: int = 1) -> dict[tuple[int, int], int]:
    """Count adjacent pairs, adding `weight` per occurrence (overlapping pairs count twice).

    >>> get_stats([1, 2, 3, 1, 2])
    {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    """
    counts = {} if counts is None else counts
    for pair in zip(ids, ids[1:]):
        counts[pair] = counts.get(pair, 0) + weight
    return counts


def merge(ids: Sequence[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids`, scanning left to right, by `new_id`.

    >>> merge([97, 97, 97, 98], (97, 97), 256)
    [256, 97, 98]
    """
    merged: list[int] = []
    i = 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


def bpe_chunk(ranks: dict[bytes, int], chunk: bytes, max_rank: int | None = None) -> list[bytes]:
    """Split one chunk into the parts BPE makes of it: join the lowest-ranked adjacent pair until none is left.

    Ties go to the leftmost pair; only ranks below `max_rank` may be used (for recovering merges).

    >>> ranks = {bytes([b]): b for b in range(256)} | {b"aa": 256, b"ab": 257, b"aaab": 258}
    >>> bpe_chunk(ranks, b"aaabdaaabac")
    [b'aaab', b'd', b'aaab', b'a', b'c']
    """
    parts = [chunk[i:i + 1] for i in range(len(chunk))]
    while len(parts) > 1:
        best_rank, best_index = None, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (best_rank is None or rank < best_rank) and (max_rank is None or rank < max_rank):
                best_rank, best_index = rank, i
        if best_rank is None:
            break
        parts[best_index:best_index + 2] = [parts[best_index] + parts[best_index + 1]]
    return parts


def merge_steps(ranks: dict[bytes, int], chunk: bytes) -> list[list[bytes]]:
    """How BPE encodes one chunk, for teaching: the parts before the first merge and after each one.

    >>> ranks = {bytes([b]): b for b in range(256)} | {b"aa": 256, b"ab": 257, b"aaab": 258}
    >>> for parts in merge_steps(ranks, b"aaab"): print(parts)
    [b'a', b'a', b'a', b'b']
    [b'aa', b'a', b'b']
    [b'aa', b'ab']
    [b'aaab']
    """
    steps = [[chunk[i:i + 1] for i in range(len(chunk))]]
    while len(steps[-1]) > 1:
        parts = steps[-1]
        candidates = [(ranks[parts[i] + parts[i + 1]], i) for i in range(len(parts) - 1) if parts[i] + parts[i + 1] in ranks]
        if not candidates:
            break
        _, i = min(candidates)  # lowest rank, leftmost on a tie
        steps.append(parts[:i] + [parts[i] + parts[i + 1]] + parts[i + 2:])
    return steps


def render_token(token: bytes) -> str:
    """A token's bytes as readable text: UTF-8 where it decodes, \\xNN escapes elsewhere, controls escaped.

    >>> render_token(b" the"), render_token(b"\\xe2\\x80"), render_token(b"\\n")
    (' the', '\\\\xe2\\\\x80', '\\\\n')
    """
    text = token.decode("utf-8", errors="backslashreplace")
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
                   for ch in text)


# ---- the vocabulary --------------------------------------------------------------------------
@dataclass
class BPEVocab:
    """A byte-level BPE vocabulary: ranks (bytes → id), the split pattern and the special tokens.

    Build one with `from_merges` (what training produces), `from_tiktoken_file` (GPT-2's or
    cl100k_base's published ranks) or `load` (a saved folder).
    """

    ranks: dict[bytes, int]
    """Every mergeable token's bytes → its id; the id is also its rank (lower merges first)."""
    pattern: str = GPT2_PATTERN
    """Regex that cuts text into chunks before merging (see `patterns`)."""
    special_tokens: dict[str, int] = field(default_factory=dict)
    """Special token text → id; ids come after (and never collide with) the ranks."""
    name: str = "bpe"
    """A label for listings and benchmark tables."""
    merge_counts: list[int] | None = None
    """How often each merged pair occurred when it was learned (training only; for reading)."""
    merge_pairs: list[tuple[int, int]] | None = None
    """The merge list when it is known (trained or loaded from merges); else recovered from ranks."""

    def __post_init__(self) -> None:
        if len(self.ranks) < 256 or any(bytes([b]) not in self.ranks for b in range(256)):
            raise TokenizerError("a byte-level BPE vocabulary needs all 256 single bytes")
        ids = sorted(self.ranks.values())
        if ids != list(range(len(ids))):
            raise TokenizerError("BPE ranks must be the ids 0 … n-1, each used once")
        clash = set(self.special_tokens.values()) & set(range(len(ids)))
        if clash:
            raise TokenizerError(f"special token ids {sorted(clash)} collide with merge ranks")
        try:
            regex.compile(self.pattern)
        except regex.error as error:
            raise TokenizerError(f"bad split pattern {self.pattern!r}: {error}") from None
        self.token_bytes: list[bytes] = [b""] * len(self.ranks)  # id → bytes (the decoder)
        for token, rank in self.ranks.items():
            self.token_bytes[rank] = token

    @property
    def n_merges(self) -> int:
        return len(self.ranks) - 256

    @property
    def vocab_size(self) -> int:
        """Ids in use, special tokens included (largest id + 1)."""
        return max([len(self.ranks) - 1, *self.special_tokens.values()]) + 1

    @classmethod
    def from_merges(cls, merges: Sequence[tuple[int, int]], *, byte_ranks: Sequence[int] = range(256),
                    **fields) -> BPEVocab:
        """Rebuild ranks from merges: byte b has id `byte_ranks[b]`; merge k makes id 256 + k."""
        if sorted(byte_ranks) != list(range(256)):
            raise TokenizerError("byte_ranks must give each of the 256 bytes a distinct id below 256")
        token_bytes = [b""] * (256 + len(merges))
        for byte, rank in enumerate(byte_ranks):
            token_bytes[rank] = bytes([byte])
        for k, (left, right) in enumerate(merges):
            new_id = 256 + k
            if not (0 <= left < new_id and 0 <= right < new_id):
                raise TokenizerError(f"merge {k} ({left}, {right}) refers to an id not yet defined")
            token_bytes[new_id] = token_bytes[left] + token_bytes[right]
        ranks = {token: rank for rank, token in enumerate(token_bytes)}
        if len(ranks) != len(token_bytes):
            raise TokenizerError("two merges produce the same bytes; the merge list is corrupt")
        return cls(ranks=ranks, merge_pairs=[(left, right) for left, right in merges], **fields)

    @classmethod
    def from_tiktoken_file(cls, path: str | os.PathLike, **fields) -> BPEVocab:
        """Load a published rank table in tiktoken's format (one `base64-token rank` per line)."""
        from tiktoken.load import load_tiktoken_bpe

        try:
            ranks = load_tiktoken_bpe(str(path))
        except (OSError, ValueError) as error:
            raise TokenizerError(f"cannot read the rank table {path}: {error}") from None
        return cls(ranks=ranks, **fields)

    def byte_ranks(self) -> list[int]:
        """The id of each single byte 0…255 (identity for trained vocabularies, shuffled for GPT-2)."""
        return [self.ranks[bytes([b])] for b in range(256)]

    def merges(self) -> list[tuple[int, int]]:
        """The merge list: as trained or loaded, or recovered from the ranks (token r is the pair
        BPE makes of its bytes using only ranks below r)."""
        if self.merge_pairs is not None:
            return list(self.merge_pairs)
        merges = []
        for rank in range(256, len(self.token_bytes)):
            parts = bpe_chunk(self.ranks, self.token_bytes[rank], max_rank=rank)
            if len(parts) != 2:
                raise TokenizerError(f"token {rank} {self.token_bytes[rank]!r} is not a merge of two "
                                     "earlier tokens; this rank table cannot be written as merges")
            merges.append((self.ranks[parts[0]], self.ranks[parts[1]]))
        return merges

    # ---- save / load ---------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        """Write `tokenizer.json` (versioned, loadable) and `vocab.txt` (for reading) into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        merges = self.merges()
        document = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "name": self.name,
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "byte_ranks": self.byte_ranks(),
            "merges": [list(pair) for pair in merges],
        }
        if self.merge_counts is not None:
            document["merge_counts"] = self.merge_counts
        # Lists of numbers on one line each: one merge per line keeps the file readable and diffable.
        text = json.dumps(document, ensure_ascii=False, indent=1)
        text = regex.sub(r"\[[\d,\s]+\]", lambda m: "[" + ", ".join(regex.findall(r"\d+", m.group())) + "]", text)
        _write_atomic(directory / "tokenizer.json", text + "\n")
        _write_atomic(directory / "vocab.txt", self.listing(merges))
        return directory

    def listing(self, merges: Sequence[tuple[int, int]] | None = None) -> str:
        """One line per token: `id  [left] + [right] -> [token]  (count)`, specials at the end."""
        merges = self.merges() if merges is None else merges
        lines = [f"# {self.name}: {len(self.ranks)} byte-level tokens + {len(self.special_tokens)} special",
                 f"# split pattern: {self.pattern}"]
        for byte in range(256):
            lines.append(f"{self.ranks[bytes([byte])]:>6}  [{render_token(bytes([byte]))}]")
        for k, (left, right) in enumerate(merges):
            count = f"  ({self.merge_counts[k]})" if self.merge_counts and k < len(self.merge_counts) else ""
            lines.append(f"{256 + k:>6}  [{render_token(self.token_bytes[left])}] + "
                         f"[{render_token(self.token_bytes[right])}] -> [{render_token(self.token_bytes[256 + k])}]{count}")
        for text, token_id in sorted(self.special_tokens.items(), key=lambda item: item[1]):
            lines.append(f"{token_id:>6}  {text}  (special)")
        return "\n".join(lines) + "\n"

    @classmethod
    def load(cls, directory: str | os.PathLike) -> BPEVocab:
        """Read a folder written by `save`; any problem raises a `TokenizerError` that says what."""
        path = Path(directory) / "tokenizer.json"
        if not path.is_file():
            raise TokenizerError(f"no saved tokenizer at {directory} (expected {path}); "
                                 "make one with `llmpg tokenizer train --data FILE --vocab-size N --out DIR`")
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise TokenizerError(f"{path} is corrupt (not JSON: {error}); train or save it again") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
            raise TokenizerError(f"{path} is not an llm-playground BPE tokenizer (format field missing or wrong)")
        if document.get("version") != FORMAT_VERSION:
            raise TokenizerError(f"{path} has format version {document.get('version')!r}; this version of "
                                 f"llm-playground reads version {FORMAT_VERSION}")
        try:
            merges = [(int(a), int(b)) for a, b in document["merges"]]
            specials = {str(k): int(v) for k, v in document.get("special_tokens", {}).items()}
            return cls.from_merges(merges, byte_ranks=[int(r) for r in document["byte_ranks"]],
                                   pattern=str(document["pattern"]), special_tokens=specials,
                                   name=str(document.get("name", Path(directory).name)),
                                   merge_counts=document.get("merge_counts"))
        except (KeyError, TypeError, ValueError) as error:
            raise TokenizerError(f"{path} is corrupt ({type(error).__name__}: {error}); train or save it again") from None


def _write_atomic(path: Path, text: str) -> None:
    """Write atomically (a reader never sees half a file), readable by others like any saved file."""
    atomic_write_text(path, text)
    path.chmod(0o644)


# ---- the reference tokenizer -------------------------------------------------------------------
class ReferenceBPETokenizer(Tokenizer):
    """Byte-level BPE in plain Python: split with the pattern, merge each chunk by rank.

    Readable rather than fast; remembering each distinct chunk's ids makes natural text, where
    the same words come back again and again, cheap enough to use.
    """

    impl = "reference"

    def __init__(self, vocab: BPEVocab, *, name: str | None = None):
        self.vocab = vocab
        self.name = name or vocab.name
        self._split = regex.compile(vocab.pattern)
        self._cache: dict[str, list[int]] = {}
        self._decoder = vocab.token_bytes + [b""] * (vocab.vocab_size - len(vocab.token_bytes))
        for text, token_id in vocab.special_tokens.items():
            self._decoder[token_id] = text.encode("utf-8")

    @property
    def vocab_size(self) -> int:
        return self.vocab.vocab_size

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self.vocab.special_tokens)

    def encode_chunk(self, chunk: str) -> list[int]:
        """The ids of one pre-split chunk (cached)."""
        ids = self._cache.get(chunk)
        if ids is None:
            data = chunk.encode("utf-8")
            whole = self.vocab.ranks.get(data)  # tiktoken's shortcut: a chunk that is one token
            ids = [whole] if whole is not None else [self.vocab.ranks[part] for part in bpe_chunk(self.vocab.ranks, data)]
            if len(self._cache) >= CHUNK_CACHE_LIMIT:
                self._cache.clear()
            self._cache[chunk] = ids
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk in self._split.findall(fix_surrogates(text)):
            ids.extend(self.encode_chunk(chunk))
        return ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The raw bytes of `ids` (may end inside a multi-byte character)."""
        ids = list(ids)
        bad = [i for i in ids if not (isinstance(i, int) and 0 <= i < len(self._decoder))]
        if bad:
            raise TokenizerError(f"token id {bad[0]!r} is out of range for {self.name} "
                                 f"(ids are 0 … {len(self._decoder) - 1})")
        return b"".join(self._decoder[i] for i in ids)

    def decode(self, ids: Iterable[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def _ordinary_tokens(self, text: str, byte_offset: int) -> list[Token]:
        tokens = []
        for token_id in self.encode_ordinary(text):
            data = self._decoder[token_id]
            tokens.append(Token(token_id, data.decode("utf-8", errors="replace"), byte_offset, byte_offset + len(data)))
            byte_offset += len(data)
        return tokens
