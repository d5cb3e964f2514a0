"""The zoo models' own tokenizers (SmolLM2 byte-level BPE, Gemma SentencePiece-style BPE, MiniLM
WordPiece), through Hugging Face `tokenizers`, behind the same interface.

Spans are true byte spans: where a tokenizer's pieces spell the input's bytes (byte-level BPE,
SentencePiece with byte fallback) each token covers exactly its own bytes, so a token holding half
an emoji covers half of it; for WordPiece the library's character offsets are used.
"""
from __future__ import annotations

import functools
import json
import os
import re
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
        self._byte_level = '"ByteLevel"' in json.dumps(json.loads(self.backend.to_str()).get("decoder"))
        self._token_bytes: dict[int, bytes | None] = {}

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

    def token_bytes(self, token_id: int) -> bytes | None:
        """The input bytes a token stands for, read from its vocabulary entry: GPT-2-style
        byte-level pieces (`ĠðŁĺ` → 20 F0 9F 98), SentencePiece pieces with byte fallback
        (`▁the` → " the", `<0xF0>` → F0); None when the entry is not bytes of the input (WordPiece's
        `##ing`, `[UNK]`, a lowercased piece)."""
        if token_id in self._token_bytes:
            return self._token_bytes[token_id]
        piece = self.backend.id_to_token(token_id)
        data = None
        if piece is not None:
            if self._byte_level:
                decoder = _unicode_to_bytes()
                if all(ch in decoder for ch in piece):
                    data = bytes(decoder[ch] for ch in piece)
            elif _BYTE_FALLBACK.fullmatch(piece):
                data = bytes([int(piece[3:5], 16)])
            else:
                data = piece.replace("\u2581", " ").encode("utf-8")
        self._token_bytes[token_id] = data
        return data

    def _ordinary_tokens(self, text: str, byte_offset: int) -> list[Token]:
        """Tokens with their true byte spans.

        Hugging Face reports each token's span in characters, so a byte-level token that holds
        part of an emoji reports the whole emoji (and two tokens then share it). Where the tokens'
        own bytes spell the input exactly (byte-level BPE, SentencePiece with byte fallback), the
        spans are those bytes, laid end to end: each token covers exactly the bytes it encodes.
        Otherwise (WordPiece lowercases and drops spaces) the library's character spans are used.
        """
        encoding = self.backend.encode(text, add_special_tokens=False)
        special_ids = set(self._specials.values())
        pieces = [self.token_bytes(token_id) for token_id in encoding.ids]
        if all(piece is not None for piece in pieces) and b"".join(pieces) == text.encode("utf-8"):
            starts = [0]
            for piece in pieces:
                starts.append(starts[-1] + len(piece))
            spans = list(zip(starts, starts[1:]))
        else:
            offsets = char_to_byte_offsets(text)
            spans = [(offsets[start], offsets[end]) for start, end in encoding.offsets]
        return [Token(token_id, self.backend.decode([token_id], skip_special_tokens=False),
                      byte_offset + start, byte_offset + end, token_id in special_ids)
                for token_id, (start, end) in zip(encoding.ids, spans)]


def hf_tokenizer_from_vocab(vocab, *, name: str | None = None) -> HFTokenizer:
    """Our byte-level BPE vocabulary as a Hugging Face `tokenizers` BPE (GPT-2 style ByteLevel).

    For comparing engines on one vocabulary, and for handing a trained tokenizer to code that
    expects Hugging Face's format (`.backend.save(path)` writes a `tokenizer.json`). Only the
    GPT-2 split pattern is supported: it is the one HF's ByteLevel pre-tokenizer applies.
    """
    from tokenizers import decoders, models, pre_tokenizers

    from llm_playground.tokenizers.patterns import GPT2_PATTERN

    if vocab.pattern != GPT2_PATTERN:
        raise TokenizerError("only vocabularies split with the gpt2 pattern convert to a Hugging Face "
                             "ByteLevel BPE; train with --pattern gpt2")
    to_text = _bytes_to_unicode()
    spell = lambda token: "".join(to_text[b] for b in token)  # noqa: E731
    hf_vocab = {spell(token): rank for token, rank in vocab.ranks.items()}
    merges = [(spell(vocab.token_bytes[left]), spell(vocab.token_bytes[right])) for left, right in vocab.merges()]
    backend = hf_tokenizers.Tokenizer(models.BPE(vocab=hf_vocab, merges=merges, fuse_unk=False))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([hf_tokenizers.AddedToken(text, special=True, normalized=False)
                                for text, _ in sorted(vocab.special_tokens.items(), key=lambda item: item[1])])
    return HFTokenizer(backend, name=name or vocab.name)


_BYTE_FALLBACK = re.compile(r"<0x[0-9A-Fa-f]{2}>")


@functools.cache
def _unicode_to_bytes() -> dict[str, int]:
    """GPT-2's printable stand-in character of each byte, reversed (Ġ → 0x20)."""
    return {char: byte for byte, char in _bytes_to_unicode().items()}


def _bytes_to_unicode() -> dict[int, str]:
    from llm_playground.assets.tiktoken_vocab import bytes_to_unicode

    return bytes_to_unicode()
