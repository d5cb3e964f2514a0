"""`llmpg bench tokenize`: every tokenizer implementation on the same ≥ 5 MB text, MB/s and the
ratio to tiktoken, plus the time to train a 4096-token vocabulary on that text.

Rows:
- tiktoken's own encodings (gpt2, cl100k_base): the outside reference, ratio 1.00;
- our fast path: the same ranks, and a vocabulary we trained, served by tiktoken's engine;
- our readable reference (pure Python, caches each distinct chunk);
- a minbpe-style baseline (pure Python: per chunk, repeatedly merge the lowest-ranked pair, no
  cache), which lives here only to put the reference's speed in context;
- Hugging Face `tokenizers` serving the same GPT-2 / trained ranks (a ByteLevel BPE), the other
  Rust engine, encoding the text as one string.
Every row's ids are checked against tiktoken's (or, for the trained vocabulary, our fast path's).
"""
from __future__ import annotations

import sysconfig
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import regex

from llm_playground.tokenizers.bpe import BPEVocab, get_stats, merge

MIN_BYTES = 5 * 2**20  # the issue asks for at least 5 MB; we use MiB to be safe


class MinBPEBaseline:
    """minbpe's `RegexTokenizer.encode_ordinary`, for comparison: merges as (id, id) pairs, no cache.

    For GPT-2-style tables whose single bytes are not ranked in byte order, bytes are first mapped
    to their ids (minbpe's GPT4Tokenizer calls this the byte shuffle).
    """

    def __init__(self, vocab: BPEVocab):
        self.byte_ids = vocab.byte_ranks()
        self.merges = {pair: 256 + k for k, pair in enumerate(vocab.merges())}
        self.split = regex.compile(vocab.pattern)

    def _encode_chunk(self, data: bytes) -> list[int]:
        ids = [self.byte_ids[b] for b in data]
        while len(ids) >= 2:
            stats = get_stats(ids)
            pair = min(stats, key=lambda p: self.merges.get(p, float("inf")))
            if pair not in self.merges:
                break
            ids = merge(ids, pair, self.merges[pair])
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk in self.split.findall(text):
            ids.extend(self._encode_chunk(chunk.encode("utf-8")))
        return ids


def benchmark_text(min_bytes: int = MIN_BYTES) -> tuple[str, str]:
    """At least `min_bytes` of text: the Shakespeare corpus, then Python's own standard library
    source (sorted, so the text is the same on every run) until the size is reached."""
    from llm_playground import assets

    parts, sources = [assets.corpus_text("shakespeare")], ["Shakespeare"]
    size = len(parts[0].encode("utf-8"))
    if size < min_bytes:
        sources.append("Python stdlib source")
        for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
            code = path.read_text(encoding="utf-8", errors="replace")
            parts.append(code)
            size += len(code.encode("utf-8"))
            if size >= min_bytes:
                break
    text = "\n".join(parts)
    while len(text.encode("utf-8")) < min_bytes:  # a tiny stdlib: repeat what we have
        text += "\n" + text
    return text, " + ".join(sources)


@dataclass
class Row:
    """One implementation's result on the benchmark text."""

    implementation: str
    vocab_size: int
    seconds: float
    """Best wall time of the repeats (encode_ordinary over the whole text, one thread)."""
    megabytes_per_second: float
    tokens: int
    compared_to: str
    """The tiktoken row this one is compared with."""
    ratio: float
    """This row's MB/s ÷ the compared row's MB/s (1.0 = as fast as tiktoken)."""
    ids_match: bool
    """Whether the ids equal those of the row it is checked against."""


@dataclass
class TokenizeBenchmark:
    text_bytes: int
    source: str
    rows: list[Row]
    train_vocab_size: int
    train_seconds: float
    """Training a `train_vocab_size` vocabulary (256 bytes + merges) on the benchmark text."""
    train_distinct_chunks: int

    def to_dict(self) -> dict:
        return {**asdict(self), "rows": [asdict(row) for row in self.rows]}


def run_benchmark(*, megabytes: float = 5.5, repeats: int = 3, baseline: bool = True, train_vocab_size: int = 4096,
                  progress: bool = True) -> TokenizeBenchmark:
    """Encode one text with every implementation and train a `train_vocab_size` vocabulary on it.

    `megabytes` is the minimum text size in MiB (≥ 5 for the issue's figure); fast rows take the
    best of `repeats` runs, pure-Python rows run once with a fresh (cold) cache.
    """
    from llm_playground.checks import require_range

    require_range("megabytes", megabytes, 0.001, 1024, integer=False)
    require_range("repeats", repeats, 1, 100)
    require_range("train_vocab_size", train_vocab_size, 257, 1_000_000)
    import tiktoken
    from tqdm import tqdm

    from llm_playground import assets
    from llm_playground.tokenizers import BPETrainer, ReferenceBPETokenizer, TiktokenTokenizer
    from llm_playground.tokenizers.hf import hf_tokenizer_from_vocab
    from llm_playground.tokenizers.registry import published_vocab

    assets.ensure_tiktoken_vocabularies()
    text, source = benchmark_text(int(megabytes * 2**20))
    megabytes_of_text = len(text.encode("utf-8")) / 1e6

    start = time.perf_counter()
    trainer = BPETrainer(text, vocab_size=train_vocab_size, special_tokens=["<|endoftext|>"],
                         name=f"trained-{train_vocab_size}")
    trained = trainer.train(progress=progress)
    train_seconds = time.perf_counter() - start

    plans = []  # (label, vocab size, encode function, repeats, reference row label)
    for name, encoding_name in (("bpe-gpt2", "gpt2"), ("bpe-cl100k", "cl100k_base")):
        encoding = tiktoken.get_encoding(encoding_name)
        vocab = published_vocab(name)
        reference = f"tiktoken {encoding_name}"
        plans += [
            (reference, encoding.n_vocab, encoding.encode_ordinary, repeats, reference),
            (f"ours fast, {encoding_name} ranks", vocab.vocab_size,
             TiktokenTokenizer.from_vocab(vocab).encode_ordinary, repeats, reference),
            (f"ours reference, {encoding_name} ranks", vocab.vocab_size,
             lambda t, v=vocab: ReferenceBPETokenizer(v).encode_ordinary(t), 1, reference),
        ]
        if baseline:
            plans.append((f"minbpe-style baseline, {encoding_name}", vocab.vocab_size,
                          MinBPEBaseline(vocab).encode_ordinary, 1, reference))
        if encoding_name == "gpt2":  # HF's ByteLevel pre-tokenizer applies the GPT-2 pattern only
            plans.append((f"HF tokenizers, {encoding_name} ranks", vocab.vocab_size,
                          hf_tokenizer_from_vocab(vocab).encode_ordinary, 1, reference))
    trained_fast = TiktokenTokenizer.from_vocab(trained)
    trained_label = f"trained {train_vocab_size}"
    plans += [
        (f"ours fast, {trained_label}", trained.vocab_size, trained_fast.encode_ordinary, repeats, "tiktoken gpt2"),
        (f"ours reference, {trained_label}", trained.vocab_size,
         lambda t: ReferenceBPETokenizer(trained).encode_ordinary(t), 1, "tiktoken gpt2"),
    ]
    if baseline:
        plans.append((f"minbpe-style baseline, {trained_label}", trained.vocab_size,
                      MinBPEBaseline(trained).encode_ordinary, 1, "tiktoken gpt2"))
    plans.append((f"HF tokenizers, {trained_label}", trained.vocab_size,
                  hf_tokenizer_from_vocab(trained).encode_ordinary, 1, "tiktoken gpt2"))

    # Fast rows run in rounds, one run of each per round, so that a burst of load from other
    # processes on a shared machine hits them alike; each keeps its best time. Ids are checked as
    # they come (against the first row of their group) and then dropped, to keep memory flat.
    best = [float("inf")] * len(plans)
    counts, matches = [0] * len(plans), [True] * len(plans)
    expected_ids: dict[str, list[int]] = {}
    rounds = max(plan[3] for plan in plans)
    with tqdm(total=sum(plan[3] for plan in plans), desc="encoding", unit="run", disable=not progress) as bar:
        for round_index in range(rounds):
            for index, (label, _, encode, runs, compared_to) in enumerate(plans):
                if round_index >= runs:
                    continue
                start = time.perf_counter()
                ids = encode(text)
                best[index] = min(best[index], time.perf_counter() - start)
                group = f"ours fast, {trained_label}" if trained_label in label else compared_to
                counts[index], matches[index] = len(ids), ids == expected_ids.setdefault(group, ids)
                del ids
                bar.update()

    rows: list[Row] = []
    for (label, vocab_size, _, _, compared_to), seconds, count, match in zip(plans, best, counts, matches):
        speed = megabytes_of_text / seconds
        base = next((r for r in rows if r.implementation == compared_to), None)
        rows.append(Row(label, vocab_size, seconds, speed, count, compared_to,
                        speed / base.megabytes_per_second if base else 1.0, match))
    return TokenizeBenchmark(len(text.encode("utf-8")), source, rows, train_vocab_size, train_seconds, len(trainer.words))


def format_benchmark(result: TokenizeBenchmark) -> str:
    """A table for the terminal."""
    lines = [f"Encoding {result.text_bytes / 1e6:.2f} MB ({result.text_bytes / 2**20:.2f} MiB) of {result.source}, "
             "encode_ordinary, one thread:",
             f"{'implementation':<38} {'vocab':>7} {'seconds':>8} {'MB/s':>7} {'tokens':>10}  {'ratio':>6}  vs / ids",
             ]
    for row in result.rows:
        lines.append(f"{row.implementation:<38} {row.vocab_size:>7,} {row.seconds:>8.2f} {row.megabytes_per_second:>7.2f} "
                     f"{row.tokens:>10,}  {row.ratio:>5.2f}×  {row.compared_to} / "
                     f"{'identical' if row.ids_match else 'DIFFERENT'}")
    by_label = {row.implementation: row for row in result.rows}
    for ranks in ("gpt2", "cl100k_base", f"trained {result.train_vocab_size}"):
        reference = by_label.get(f"ours reference, {ranks} ranks") or by_label.get(f"ours reference, {ranks}")
        baseline = by_label.get(f"minbpe-style baseline, {ranks}")
        if reference and baseline:
            lines.append(f"reference vs minbpe-style baseline ({ranks}): "
                         f"{reference.megabytes_per_second / baseline.megabytes_per_second:.2f}× as fast")
    lines.append(f"Training {result.train_vocab_size} tokens ({result.train_vocab_size - 256} merges) on this text: "
                 f"{result.train_seconds:.1f} s "
                 f"({result.train_distinct_chunks:,} distinct chunks)")
    return "\n".join(lines)
