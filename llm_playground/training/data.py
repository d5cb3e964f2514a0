"""Training data: read and check a text file, tokenize it once, split it, and draw batches.

    corpus = read_corpus("input.txt")                    # PlaygroundError if missing/empty/binary
    data = prepare_data(config, out_dir)                 # tokenizer + ids, cached in out_dir/data
    batches = Batches(data.train, block_size=64, batch_size=16, seed=1337)
    x, y = batches.next()                                # (B, T) ids and the ids one to the right

The split is `ngram.train_val_split`'s (first 90% train, last 10% validate), so the neural model's
val loss and the n-gram baselines are measured on the same tokens.

Batches are windows of block_size + 1 tokens at random offsets, drawn from a seeded
`torch.Generator` whose state is saved in checkpoints (so a resumed run draws the same batches).
With several processes, every process draws the same global batch of batch_size × world_size
offsets and keeps its own slice: the batches do not depend on how many processes share them.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from llm_playground.assets import atomic_write_bytes, atomic_write_text
from llm_playground.errors import PlaygroundError
from llm_playground.training.config import TrainConfig
from llm_playground.training.ngram import train_val_split
from llm_playground.training.tokenizing import TrainingTokenizer, build_tokenizer

CACHE_FORMAT = 1


@dataclass(frozen=True)
class Corpus:
    text: str
    source: str
    """Where the text came from, for messages ("the Shakespeare corpus" or the path)."""


def read_corpus(path: str | None) -> Corpus:
    """The text of `path` (None: the Shakespeare corpus), refusing what cannot be trained on.

    Missing, unreadable, empty, binary (NUL bytes) or not-UTF-8 files raise PlaygroundError with
    what to do instead.
    """
    if path is None:
        from llm_playground import assets

        return Corpus(assets.corpus_text("shakespeare"), "the Shakespeare corpus")
    file = Path(path).expanduser()
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise PlaygroundError(f"no such file: {file}; give --data a UTF-8 text file "
                              "(or leave --data out to train on the Shakespeare corpus)") from None
    except IsADirectoryError:
        raise PlaygroundError(f"{file} is a folder; give --data one UTF-8 text file "
                              "(concatenate several with: cat *.txt > corpus.txt)") from None
    except OSError as error:
        raise PlaygroundError(f"cannot read {file}: {error.strerror}") from None
    if not data.strip():
        raise PlaygroundError(f"{file} is empty (or only whitespace); there is nothing to learn from")
    nul = data.find(b"\x00", 0, 1 << 20)
    if nul >= 0:
        raise PlaygroundError(f"{file} looks binary (it contains NUL bytes, the first at offset {nul}); "
                              "train on plain UTF-8 text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PlaygroundError(f"{file} is not UTF-8 text (first invalid byte at offset {error.start}); "
                              f"convert it, e.g. iconv -f latin1 -t utf-8 {file} > corpus.txt") from None
    return Corpus(text, str(file))


@dataclass
class PreparedData:
    tokenizer: TrainingTokenizer
    train: torch.Tensor
    """Training ids, int64, (N_train,)."""
    val: torch.Tensor
    """Validation ids, int64, (N_val,)."""
    source: str
    text_chars: int

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size


def _cache_key(text: str, config: TrainConfig) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return hashlib.sha256(f"{CACHE_FORMAT}|{digest}|{config.tokenizer}".encode()).hexdigest()[:16]


def prepare_data(config: TrainConfig, cache_dir: Path | None = None, *, tokenizer: TrainingTokenizer | None = None,
                 progress: bool = False, write_cache: bool = True) -> PreparedData:
    """Read, tokenize (once: ids are cached in `cache_dir` as .npy), split and check the corpus.

    `tokenizer` (e.g. from a checkpoint) is used instead of building one from `config.tokenizer`.
    Raises PlaygroundError when a split is shorter than one block.
    """
    corpus = read_corpus(config.data)
    key = _cache_key(corpus.text, config)
    ids_file = cache_dir / f"ids-{key}.npy" if cache_dir else None
    tokenizer_dir = cache_dir / f"tokenizer-{key}" if cache_dir else None
    ids = None
    if ids_file is not None and ids_file.is_file() and (tokenizer_dir / "spec.json").is_file():
        cached_tokenizer = TrainingTokenizer.load(tokenizer_dir)
        if tokenizer is None or _same_tokenizer(tokenizer, cached_tokenizer):
            tokenizer = tokenizer or cached_tokenizer
            ids = np.load(ids_file, allow_pickle=False)
    if ids is None:
        tokenizer = tokenizer or build_tokenizer(config.tokenizer, corpus.text, progress=progress)
        ids = np.asarray(tokenizer.encode(corpus.text), dtype=np.int64)
        if ids_file is not None and write_cache:
            tokenizer.save(tokenizer_dir)
            _save_npy(ids_file, ids)
    if ids.size and int(ids.max()) >= tokenizer.vocab_size:
        raise PlaygroundError(f"the cached ids in {ids_file} do not fit the tokenizer; delete {cache_dir}")
    needed = config.block_size + 1
    if ids.size < 4:
        raise PlaygroundError(f"{corpus.source} has only {ids.size} tokens; it needs at least two blocks of "
                              f"{needed} tokens (one to train on, one to validate)")
    train, val = train_val_split(ids, config.val_fraction)
    for name, part in (("training", train), ("validation", val)):
        if part.size < needed:
            longest = min(train.size, val.size) - 1
            raise PlaygroundError(
                f"{corpus.source} is too short for one block: its {name} split has {part.size} tokens but a "
                f"block of {config.block_size} needs {needed}; use a longer text"
                + (f", or --block-size {longest} or less" if longest >= 1 else ""))
    return PreparedData(tokenizer, torch.from_numpy(train.copy()), torch.from_numpy(val.copy()), corpus.source,
                        len(corpus.text))


def _same_tokenizer(a: TrainingTokenizer, b: TrainingTokenizer) -> bool:
    return (a.kind, a.spec, a.vocab_size, a.alphabet) == (b.kind, b.spec, b.vocab_size, b.alphabet)


def _save_npy(path: Path, ids: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, ids, allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())
    atomic_write_text(path.with_suffix(".json"), json.dumps({"tokens": int(ids.size)}))


class Batches:
    """Random windows of a token stream, from a seeded generator (whose state checkpoints keep)."""

    def __init__(self, ids: torch.Tensor, *, block_size: int, batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1) -> None:
        if ids.numel() < block_size + 1:
            raise PlaygroundError(f"{ids.numel()} tokens are fewer than one block of {block_size} + 1")
        self.ids = ids
        self.block_size, self.batch_size = block_size, batch_size
        self.rank, self.world_size = rank, world_size
        self.generator = torch.Generator().manual_seed(seed)
        self.offsets = torch.arange(block_size + 1)  # (T + 1,) one window, relative to its start

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T) and y (B, T) = x shifted left by one token: the targets."""
        starts = torch.randint(self.ids.numel() - self.block_size, (self.batch_size * self.world_size,),
                               generator=self.generator)                 # (B · world,) the global batch
        starts = starts[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]  # (B,) this process's slice
        windows = self.ids[starts[:, None] + self.offsets]              # (B, T + 1) one gather, no Python loop
        return windows[:, :-1], windows[:, 1:]

    def fixed(self, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """`count` batches drawn now (used as the same evaluation batches at every evaluation)."""
        return [self.next() for _ in range(count)]

    def state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)
