"""The fast path: a rank table served by tiktoken's Rust engine.

`tiktoken.Encoding` takes exactly what a `BPEVocab` holds (pattern, ranks, special tokens), so our
trained vocabularies and the published GPT-2 / cl100k_base tables run at tiktoken's speed. The
same class wraps tiktoken's own named encodings (gpt2, cl100k_base, o200k_base).
"""
from __future__ import annotations

from collections.abc import Iterable

import tiktoken

from llm_playground.tokenizers.base import AllowedSpecial, Token, Tokenizer, TokenizerError, check_special
from llm_playground.tokenizers.bpe import BPEVocab


class TiktokenTokenizer(Tokenizer):
    """A `tiktoken.Encoding` behind the `Tokenizer` interface."""

    impl = "fast"

    def __init__(self, encoding: tiktoken.Encoding, *, name: str | None = None):
        self.encoding = encoding
        self.name = name or encoding.name
        self._special_ids = set(encoding._special_tokens.values())

    @classmethod
    def from_vocab(cls, vocab: BPEVocab, *, name: str | None = None) -> TiktokenTokenizer:
        """Serve `vocab` (ours, trained or loaded) with tiktoken's engine."""
        encoding = tiktoken.Encoding(name=name or vocab.name, pat_str=vocab.pattern,
                                     mergeable_ranks=vocab.ranks, special_tokens=vocab.special_tokens)
        return cls(encoding, name=name or vocab.name)

    @classmethod
    def from_name(cls, name: str) -> TiktokenTokenizer:
        """One of tiktoken's encodings, offline (the asset files are put in tiktoken's cache first)."""
        from llm_playground import assets

        assets.ensure_tiktoken_vocabularies()
        return cls(tiktoken.get_encoding(name))

    @property
    def vocab_size(self) -> int:
        return self.encoding.n_vocab

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self.encoding._special_tokens)

    def encode_ordinary(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def encode(self, text: str, *, allowed_special: AllowedSpecial = (),
               disallowed_special: AllowedSpecial = "all") -> list[int]:
        allowed = check_special(text, self.special_tokens, allowed_special, disallowed_special)
        return self.encoding.encode(text, allowed_special=allowed, disallowed_special=())

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The raw bytes of `ids` (may end inside a multi-byte character)."""
        ids = list(ids)
        try:
            return self.encoding.decode_bytes(ids)
        except (KeyError, OverflowError, TypeError, ValueError):
            raise TokenizerError(f"token ids {ids[:10]}… include one that {self.name} does not have "
                                 f"(ids are 0 … {self.vocab_size - 1})") from None

    def decode(self, ids: Iterable[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def _ordinary_tokens(self, text: str, byte_offset: int) -> list[Token]:
        tokens = []
        for token_id in self.encoding.encode_ordinary(text):
            data = self.encoding.decode_single_token_bytes(token_id)
            tokens.append(Token(token_id, data.decode("utf-8", errors="replace"), byte_offset, byte_offset + len(data),
                                token_id in self._special_ids))
            byte_offset += len(data)
        return tokens
