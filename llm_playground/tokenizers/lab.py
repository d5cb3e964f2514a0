"""What the faces ask for: the same text through several tokenizers, and training from a file.

The CLI (`llmpg tokenize`, `llmpg tokenizer train`) and the web playground call these and only
render what comes back.
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from llm_playground.errors import PlaygroundError
from llm_playground.tokenizers.base import SpecialTokenError, Token, Tokenizer
from llm_playground.tokenizers.bpe import BPEVocab, render_token
from llm_playground.tokenizers.bpe_train import BPETrainer
from llm_playground.tokenizers.registry import Impl, get_tokenizer
from llm_playground.tokenizers.textfile import read_text_file


@dataclass
class Tokenization:
    """One tokenizer's view of one text."""

    name: str
    """The name it was asked for (registry name or folder)."""
    kind: str
    """Which implementation ran: fast (tiktoken engine), reference (pure Python), hf, or the class name."""
    text: str
    tokens: list[Token] = field(repr=False)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]

    @property
    def count(self) -> int:
        return len(self.tokens)

    @property
    def chars_per_token(self) -> float:
        """Characters (code points) of the text per token: higher means the tokenizer compresses more."""
        return len(self.text) / self.count if self.count else 0.0

    def to_dict(self) -> dict:
        """`{"ids": [...], "tokens": [...], "count": n}` for `--json`."""
        return {"ids": self.ids, "tokens": [t.text for t in self.tokens], "count": self.count}


def implementation_of(tokenizer: Tokenizer) -> str:
    return getattr(tokenizer, "impl", type(tokenizer).__name__.removesuffix("Tokenizer").lower())


def tokenize_text(text: str, names: Sequence[str], *, impl: Impl = "fast", allow_special: bool = False,
                  ordinary: bool = False) -> list[Tokenization]:
    """Tokenize `text` with each tokenizer in `names`.

    Special-token text raises (naming the token) unless `allow_special` (encode it as the special
    token) or `ordinary` (encode it as plain text).
    """
    if not names:
        raise PlaygroundError("give at least one tokenizer, e.g. --tokenizer gpt2,cl100k_base")
    if allow_special and ordinary:
        raise PlaygroundError("--allow-special and --ordinary contradict each other; give one")
    options = {"allowed_special": "all"} if allow_special else {"disallowed_special": ()} if ordinary else {}
    results = []
    for name in names:
        tokenizer = get_tokenizer(name, impl=impl)
        try:
            tokens = tokenizer.tokens(text, **options)
        except SpecialTokenError as error:  # say which of the tokenizers objected
            raise SpecialTokenError(f"{name}: {error}") from None
        results.append(Tokenization(name, implementation_of(tokenizer), text, tokens))
    return results


@dataclass
class TrainingReport:
    """What `train_from_file` did."""

    vocab: BPEVocab
    out: Path
    seconds: float
    """Wall time of counting + merging."""
    text_bytes: int
    chunks: int
    """Pre-split chunks in the text."""
    distinct_chunks: int
    """Distinct chunks: what training actually works on."""
    warning: str | None = None
    """Set when the file was not valid UTF-8 (decoded with U+FFFD replacement)."""


def train_from_file(data: str | os.PathLike, *, vocab_size: int, out: str | os.PathLike, pattern: str = "gpt2",
                    special_tokens: Sequence[str] = ("<|endoftext|>",), progress: bool = True) -> TrainingReport:
    """Train a byte-level BPE on the text of `data` and save it in folder `out`."""
    text, warning = read_text_file(data)
    start = time.perf_counter()
    trainer = BPETrainer(text, vocab_size=vocab_size, pattern=pattern, special_tokens=special_tokens,
                         name=Path(out).name)
    vocab = trainer.train(progress=progress)
    seconds = time.perf_counter() - start
    vocab.save(out)
    return TrainingReport(vocab, Path(out), seconds, len(text.encode("utf-8")), trainer.n_chunks,
                          len(trainer.words), warning)


def merge_lines(vocab: BPEVocab, count: int) -> list[str]:
    """The first `count` merges, one line each: `256  ' ' + 't' → ' t'   103,266×`."""
    merges = vocab.merges()[:count]
    lines = []
    for k, (left, right) in enumerate(merges):
        seen = f"   {vocab.merge_counts[k]:,}×" if vocab.merge_counts and k < len(vocab.merge_counts) else ""
        lines.append(f"{256 + k:>6}  [{render_token(vocab.token_bytes[left])}] + [{render_token(vocab.token_bytes[right])}]"
                     f" → [{render_token(vocab.token_bytes[256 + k])}]{seen}")
    return lines
