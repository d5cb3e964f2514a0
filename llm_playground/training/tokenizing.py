"""The tokenizer a training run uses: built from a spec, saved inside every checkpoint, and adapted
to what the generation engine calls.

Specs (the `--tokenizer` flag):
- `char`: the alphabet of the training corpus itself (plus [PAD], [UNK]); saved as JSON.
- `bpe:N`: a byte-level BPE of N ids (256 bytes + merges) trained on the corpus; saved in our
  tokenizer folder format.
- a registered name (`gpt2`, `word`, `bpe-gpt2`, …) or the folder of a saved tokenizer.

A checkpoint holds its tokenizer in `tokenizer/` so that `llmpg sample` needs nothing else.
"""
from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

from llm_playground.assets import atomic_write_text
from llm_playground.errors import PlaygroundError
from llm_playground.tokenizers import CharTokenizer, Tokenizer, get_tokenizer, load_tokenizer, train_bpe
from llm_playground.tokenizers.registry import bpe_tokenizer, list_tokenizers

SPEC_FILE = "spec.json"
BPE_SPEC = re.compile(r"^bpe:(\d+)$")


class TrainingTokenizer:
    """A `Tokenizer` plus what it takes to rebuild it: `kind` (char, bpe, named, folder) and data."""

    def __init__(self, tokenizer: Tokenizer, *, spec: str, kind: str, alphabet: list[str] | None = None,
                 vocab=None, source: Path | None = None) -> None:
        self.tokenizer = tokenizer
        self.spec = spec
        self.kind = kind
        self.alphabet = alphabet    # char: the characters, in id order after [PAD], [UNK]
        self.vocab = vocab          # bpe: the trained BPEVocab
        self.source = source        # folder: where tokenizer.json came from

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def encode(self, text: str) -> list[int]:
        """Ids of `text`; special-token text in a corpus is ordinary text."""
        return self.tokenizer.encode_ordinary(text)

    def decode(self, ids: Iterable[int]) -> str:
        return self.tokenizer.decode([int(i) for i in ids])

    def for_generation(self) -> "GenerationTokenizer":
        return GenerationTokenizer(self.tokenizer)

    # --- save / load ---------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        """Write `folder/spec.json` (+ the vocabulary files the kind needs)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        document: dict = {"spec": self.spec, "kind": self.kind, "vocab_size": self.vocab_size}
        if self.kind == "char":
            document["alphabet"] = self.alphabet
        elif self.kind == "bpe":
            self.vocab.save(folder)
        elif self.kind == "folder":
            shutil.copyfile(self.source / "tokenizer.json", folder / "tokenizer.json")
        atomic_write_text(folder / SPEC_FILE, json.dumps(document, ensure_ascii=False, indent=1))
        return folder

    @classmethod
    def load(cls, folder: Path) -> "TrainingTokenizer":
        """Rebuild the tokenizer saved by `save`."""
        folder = Path(folder)
        try:
            document = json.loads((folder / SPEC_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise PlaygroundError(f"{folder} holds no readable tokenizer ({error}); the checkpoint is incomplete") from None
        kind, spec = document.get("kind"), document.get("spec", "")
        if kind == "char":
            alphabet = document["alphabet"]
            return cls(CharTokenizer(alphabet), spec=spec, kind=kind, alphabet=alphabet)
        if kind == "bpe":
            from llm_playground.tokenizers import BPEVocab

            vocab = BPEVocab.load(folder)
            return cls(bpe_tokenizer(vocab), spec=spec, kind=kind, vocab=vocab)
        if kind == "folder":
            return cls(load_tokenizer(folder), spec=spec, kind=kind, source=folder)
        if kind == "named":
            return cls(get_tokenizer(spec), spec=spec, kind=kind)
        raise PlaygroundError(f"{folder / SPEC_FILE} names an unknown tokenizer kind {kind!r}")


def build_tokenizer(spec: str, text: str, *, progress: bool = False) -> TrainingTokenizer:
    """The tokenizer for `spec` (see the module docstring), fitted or trained on `text` if it needs to be."""
    if spec == "char":
        alphabet = sorted(set(text))
        return TrainingTokenizer(CharTokenizer(alphabet), spec=spec, kind="char", alphabet=alphabet)
    match = BPE_SPEC.match(spec)
    if match:
        size = int(match.group(1))
        vocab = train_bpe(text, size, special_tokens=["<|endoftext|>"], name=f"bpe-{size}", progress=progress)
        return TrainingTokenizer(bpe_tokenizer(vocab), spec=spec, kind="bpe", vocab=vocab)
    if spec.startswith("bpe:"):
        raise PlaygroundError(f"--tokenizer {spec!r}: write bpe:N with N the vocabulary size, e.g. bpe:512")
    if spec in list_tokenizers():
        return TrainingTokenizer(get_tokenizer(spec), spec=spec, kind="named")
    path = Path(spec).expanduser()
    folder = path.parent if path.name == "tokenizer.json" else path
    if (folder / "tokenizer.json").is_file():
        return TrainingTokenizer(load_tokenizer(folder), spec=spec, kind="folder", source=folder)
    known = ", ".join(["char", "bpe:N", *list_tokenizers(), "<folder of a saved tokenizer>"])
    raise PlaygroundError(f"unknown tokenizer {spec!r}; known: {known}")


class GenerationTokenizer:
    """What `generate_steps` and the detokenizer call, on top of one of our tokenizers.

    They use the Hugging Face calling convention: `decode(ids, skip_special_tokens=…,
    clean_up_tokenization_spaces=…)`, `encode(text, add_special_tokens=…)` and `eos_token_id`.
    Our models trained on plain text have no end-of-sequence token, so `eos_token_id` is None.
    """

    eos_token_id = None

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return self.tokenizer.encode_ordinary(text)

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False,
               clean_up_tokenization_spaces: bool = False) -> str:
        ids = [int(i) for i in ids]
        if skip_special_tokens:
            special = set(self.tokenizer.special_tokens.values())
            ids = [i for i in ids if i not in special]
        return self.tokenizer.decode(ids)
