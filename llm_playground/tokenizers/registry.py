"""Tokenizers by name: `get_tokenizer("gpt2")`, `list_tokenizers()`.

Names: tiktoken's encodings (gpt2, cl100k_base, o200k_base); our byte-level BPE loaded from the
same published ranks (bpe-gpt2, bpe-cl100k, bpe-o200k: tiktoken's engine by default, the
pure-Python reference with `impl="reference"`); word and char (fitted on the Shakespeare corpus);
the zoo models' own tokenizers by model name; and any folder written by `llmpg tokenizer train`
(or holding a Hugging Face `tokenizer.json`).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from llm_playground.errors import unknown_name
from llm_playground.tokenizers.base import Tokenizer, TokenizerError
from llm_playground.tokenizers.bpe import FORMAT_NAME, BPEVocab, ReferenceBPETokenizer
from llm_playground.tokenizers.fast import TiktokenTokenizer
from llm_playground.tokenizers.patterns import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN

Impl = Literal["fast", "reference"]

# Special tokens of the published encodings (tiktoken_ext/openai_public.py).
ENDOFTEXT, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, ENDOFPROMPT = (
    "<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>")
PUBLISHED = {  # our name → (tiktoken encoding, split pattern, special tokens)
    "bpe-gpt2": ("gpt2", GPT2_PATTERN, {ENDOFTEXT: 50256}),
    "bpe-cl100k": ("cl100k_base", CL100K_PATTERN, {ENDOFTEXT: 100257, FIM_PREFIX: 100258, FIM_MIDDLE: 100259,
                                                   FIM_SUFFIX: 100260, ENDOFPROMPT: 100276}),
    "bpe-o200k": ("o200k_base", O200K_PATTERN, {ENDOFTEXT: 199999, ENDOFPROMPT: 200018}),
}
WORD_VOCAB_SIZE = 8192  # the registry's word tokenizer: the most frequent words of Shakespeare


@dataclass(frozen=True)
class TokenizerEntry:
    """A registered name: what it is, and how to build it."""

    name: str
    description: str
    build: Callable[[Impl], Tokenizer]
    has_reference: bool = False
    """True when `impl="reference"` selects a pure-Python implementation; others ignore `impl`."""


@lru_cache(maxsize=None)
def published_vocab(name: str) -> BPEVocab:
    """GPT-2's / cl100k_base's / o200k_base's ranks as our `BPEVocab` (from the offline assets)."""
    from llm_playground import assets

    encoding, pattern, specials = PUBLISHED[name]
    return BPEVocab.from_tiktoken_file(assets.tiktoken_ranks_file(encoding), pattern=pattern,
                                       special_tokens=specials, name=name)


def bpe_tokenizer(vocab: BPEVocab, impl: Impl = "fast", *, name: str | None = None) -> Tokenizer:
    """Serve `vocab` with tiktoken's engine (`fast`) or the pure-Python `reference`."""
    if impl == "fast":
        return TiktokenTokenizer.from_vocab(vocab, name=name)
    if impl == "reference":
        return ReferenceBPETokenizer(vocab, name=name)
    raise unknown_name("implementation", impl, ("fast", "reference"))


@lru_cache(maxsize=1)
def _shakespeare() -> str:
    from llm_playground import assets

    return assets.corpus_text("shakespeare")


def _entries() -> dict[str, TokenizerEntry]:
    from llm_playground.tokenizers.hf import HFTokenizer
    from llm_playground.tokenizers.word import CharTokenizer, WordTokenizer

    entries = [
        TokenizerEntry("gpt2", "tiktoken's gpt2 encoding (GPT-2, 50,257 ids)", lambda impl: TiktokenTokenizer.from_name("gpt2")),
        TokenizerEntry("cl100k_base", "tiktoken's cl100k_base (GPT-3.5/GPT-4, 100,277 ids)",
                       lambda impl: TiktokenTokenizer.from_name("cl100k_base")),
        TokenizerEntry("o200k_base", "tiktoken's o200k_base (GPT-4o, 200,019 ids)",
                       lambda impl: TiktokenTokenizer.from_name("o200k_base")),
        *(TokenizerEntry(name, f"our byte-level BPE with {encoding}'s ranks (fast: tiktoken engine; reference: pure Python)",
                         lambda impl, name=name: bpe_tokenizer(published_vocab(name), impl), has_reference=True)
          for name, (encoding, _, _) in PUBLISHED.items()),
        TokenizerEntry("word", f"word-level, the {WORD_VOCAB_SIZE:,} most frequent Shakespeare words, lowercased; others → [UNK]",
                       lambda impl: WordTokenizer.fit(_shakespeare(), max_size=WORD_VOCAB_SIZE, lowercase=True)),
        TokenizerEntry("char", "character-level, the alphabet of the Shakespeare corpus; others → [UNK]",
                       lambda impl: CharTokenizer.fit(_shakespeare())),
    ]
    from llm_playground import zoo

    for spec in zoo.list_models():
        if spec.kind != "architecture" and spec.name not in {e.name for e in entries}:
            entries.append(TokenizerEntry(spec.name, f"the tokenizer of zoo model {spec.name} (Hugging Face tokenizers)",
                                          lambda impl, model=spec.name: zoo_tokenizer(model)))
    return {entry.name: entry for entry in entries}


def zoo_tokenizer(model: str):
    """A zoo model's tokenizer behind our interface, held by the model store next to the model's
    transformers tokenizer (the generation side's special-text encoding uses this one too)."""
    from llm_playground import store, zoo
    from llm_playground.tokenizers.hf import HFTokenizer

    spec = zoo.resolve(model)
    return store.models.get(spec.name, "tokenizer", "ours", lambda: HFTokenizer.from_zoo(spec.name),
                            extra_bytes=lambda _: zoo.loading.tokenizer_bytes(spec))


def list_tokenizers() -> list[str]:
    """Every registered name (a saved tokenizer folder works too, by its path)."""
    return list(_entries())


def describe_tokenizers() -> dict[str, str]:
    """Name → one-line description, for listings."""
    return {name: entry.description for name, entry in _entries().items()}


def get_tokenizer(name: str, *, impl: Impl = "fast") -> Tokenizer:
    """The tokenizer called `name`, or the one saved in folder `name`.

    `impl` picks the implementation for our byte-level BPE (`bpe-*` names and saved folders);
    other tokenizers have one implementation and ignore it. An unknown name raises an error that
    lists the known ones.
    """
    if impl not in ("fast", "reference"):
        raise unknown_name("implementation", impl, ("fast", "reference"))
    entries = _entries()
    if name in entries:
        from llm_playground import zoo

        if name in zoo.MODELS:  # held by the model store, not cached here
            return entries[name].build("fast")
        return _build(name, impl if entries[name].has_reference else "fast")
    path = Path(name).expanduser()
    if path.is_dir() or path.name == "tokenizer.json" or "/" in name:
        return load_tokenizer(path, impl=impl)
    raise unknown_name("tokenizer", name, [*entries, "<folder of a saved tokenizer>"])


@lru_cache(maxsize=32)
def _build(name: str, impl: Impl) -> Tokenizer:
    return _entries()[name].build(impl)


def load_tokenizer(path: str | Path, *, impl: Impl = "fast") -> Tokenizer:
    """Load a saved tokenizer: our BPE folder (`tokenizer.json` in our format) or a Hugging Face one."""
    path = Path(path)
    folder = path.parent if path.name == "tokenizer.json" else path
    file = folder / "tokenizer.json"
    if file.is_file():
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise TokenizerError(f"{file} is corrupt (not JSON: {error}); train or save it again") from None
        if isinstance(document, dict) and document.get("format") != FORMAT_NAME and "model" in document:
            from llm_playground.tokenizers.hf import HFTokenizer

            return HFTokenizer.from_file(file, name=folder.name)
    return bpe_tokenizer(BPEVocab.load(folder), impl, name=str(folder))
