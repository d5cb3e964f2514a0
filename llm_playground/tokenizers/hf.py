"""The zoo models' own tokenizers (SmolLM2 byte-level BPE, Gemma SentencePiece-style BPE, MiniLM
WordPiece), through Hugging Face `tokenizers`, behind the same interface.

Spans come from the library's offsets, which count characters of the input; we turn them into
byte offsets. A byte-level token that holds half an emoji reports the whole emoji, so two tokens
may share a span.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import tokenizers as hf_tokenizers

from llm_playground.tokenizers.base import Token, Tokenizer, TokenizerError, char_to_byte_offsets, fix_surrogates


class HFTokenizer(Tokenizer):
    """A `tokenizers.Tokenizer` (from a `tokenizer.json`), without padding, truncation or added BOS/CLS."""

    impl = "hf"

    def __init__(self, backend: hf_tokenizers.Tokenizer, *, name: str):
        self.name = name
        # A private copy: the model's own settings (MiniLM pads to 128) are not ours to change in place.
        self.backend = hf_tokenizers.Tokenizer.from_str(backend.to_str())
        self.backend.no_padding()
        self.backend.no_truncation()
        self.backend.encode_special_tokens = True  # encode_ordinary: special-token text is plain text
        self._specials = {added.content: token_id for token_id, added in backend.get_added_tokens_decoder().items()
                          if added.special}

    @classmethod
    def from_file(cls, path: str | os.PathLike, *, name: str | None = None) -> HFTokenizer:
        """Load a `tokenizer.json` written by Hugging Face `tokenizers`."""
        path = Path(path)
        try:
            backend = hf_tokenizers.Tokenizer.from_file(str(path))
        except Exception as error:  # the Rust side raises a plain Exception for every parse problem
            raise TokenizerError(f"cannot read the Hugging Face tokenizer {path}: {error}") from None
        return cls(backend, name=name or path.parent.name)

    @classmethod
    def from_zoo(cls, model: str) -> HFTokenizer:
        """The tokenizer of a zoo model (prepares the model's folder on first use)."""
        from llm_playground import zoo

        path = zoo.model_dir(model) / "tokenizer.json"
        if path.is_file():
            return cls.from_file(path, name=model)
        return cls(zoo.load_tokenizer(model).backend_tokenizer, name=model)

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._specials)

    def encode_ordinary(self, text: str) -> list[int]:
        return self.backend.encode(fix_surrogates(text), add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        ids = list(ids)
        bad = [i for i in ids if not (isinstance(i, int) and 0 <= i < self.vocab_size)]
        if bad:
            raise TokenizerError(f"token id {bad[0]!r} is out of range for {self.name} (ids are 0 … {self.vocab_size - 1})")
        return self.backend.decode(ids, skip_special_tokens=False)

    def _ordinary_tokens(self, text: str, byte_offset: int) -> list[Token]:
        encoding = self.backend.encode(text, add_special_tokens=False)
        offsets = char_to_byte_offsets(text)
        special_ids = set(self._specials.values())
        return [Token(token_id, self.backend.decode([token_id], skip_special_tokens=False),
                      byte_offset + offsets[start], byte_offset + offsets[end], token_id in special_ids)
                for token_id, (start, end) in zip(encoding.ids, encoding.offsets)]
