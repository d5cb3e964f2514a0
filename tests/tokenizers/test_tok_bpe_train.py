"""Training: a hand-worked example, equality with the textbook loop, stepping, the fast path
serving a trained vocabulary, save/load, and the errors a user can run into."""
from __future__ import annotations

import json

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_playground.tokenizers import (BPETrainer, BPEVocab, ReferenceBPETokenizer, TiktokenTokenizer, TokenizerError,
                                       get_tokenizer, train_bpe)
from llm_playground.tokenizers.bpe import bpe_chunk, get_stats, merge, merge_steps
from llm_playground.tokenizers.base import fix_surrogates
from llm_playground.tokenizers.patterns import CL100K_PATTERN, GPT2_PATTERN

from tok_texts import MIXED_TEXTS

SMALL_CORPUS = (
    "The quick brown fox jumps over the lazy dog. The dog sleeps; the fox runs away.\n"
    "def tokenize(text):\n    return [t for t in text.split() if t]\n\n"
    "Numbers 1234567 and 2024-11-22, prices $3.50 and €4,99. Ça va? Très bien, merci!\n"
    "日本語の文章と中文句子。 مرحبا بكم 😀😀 emoji twice\n"
) * 20


def textbook_merges(text: str, n_merges: int, pattern: str) -> list[tuple[tuple[int, int], int]]:
    """minbpe's loop: recount every pair of every chunk for every merge (ties: smallest pair)."""
    import regex

    chunks = [list(chunk.encode("utf-8")) for chunk in regex.findall(pattern, text)]
    merges = []
    for k in range(n_merges):
        stats: dict = {}
        for chunk in chunks:
            get_stats(chunk, stats)
        if not stats:
            break
        pair = max(stats, key=lambda p: (stats[p], -p[0], -p[1]))
        merges.append((pair, stats[pair]))
        chunks = [merge(chunk, pair, 256 + k) for chunk in chunks]
    return merges


def test_hand_worked_example():
    # "aaabdaaabac": (a,a) occurs 4 times (overlapping) → 256 = "aa"; the text is now
    # [aa a b d aa a b a c]; (aa,a) and (a,b) both occur twice, the tie goes to the smaller ids
    # (97, 98) → 257 = "ab"; then [aa ab d aa ab a c] → (256, 257) twice → 258 = "aaab".
    trainer = BPETrainer("aaabdaaabac", vocab_size=259)
    merges = [(m.new_id, m.pair, m.count, m.token) for m in trainer.steps()]
    assert merges == [(256, (97, 97), 4, b"aa"), (257, (97, 98), 2, b"ab"), (258, (256, 257), 2, b"aaab")]
    tokenizer = ReferenceBPETokenizer(trainer.vocab())
    assert tokenizer.encode("aaabdaaabac") == [258, 100, 258, 97, 99]
    assert tokenizer.decode([258, 100, 258, 97, 99]) == "aaabdaaabac"


@pytest.mark.parametrize("pattern", ["gpt2", CL100K_PATTERN])
def test_incremental_training_equals_the_textbook_loop(pattern):
    trainer = BPETrainer(SMALL_CORPUS, vocab_size=256 + 120, pattern=pattern)
    ours = [(m.pair, m.count) for m in trainer.steps()]
    assert ours == textbook_merges(SMALL_CORPUS, 120, trainer.pattern)


def test_steps_can_be_taken_one_at_a_time():
    trainer = BPETrainer(SMALL_CORPUS, vocab_size=300)
    first = trainer.step()
    assert first.new_id == 256 and first.token == bytes(first.pair[0:1]) + bytes(first.pair[1:2])
    second = trainer.step()
    assert second.new_id == 257 and second.count <= first.count
    assert len(list(trainer.steps())) == 300 - 258
    vocab = trainer.vocab()
    assert vocab.n_merges == 44 and vocab.merge_counts[0] == first.count


def test_merge_steps_end_where_encoding_ends(gpt2_vocab):
    steps = merge_steps(gpt2_vocab.ranks, " tokenization".encode())
    assert steps[0] == [bytes([b]) for b in b" tokenization"]
    assert steps[-1] == bpe_chunk(gpt2_vocab.ranks, b" tokenization") == [b" token", b"ization"]
    assert all(len(after) == len(before) - 1 for before, after in zip(steps, steps[1:]))


def test_merges_recovered_from_ranks_are_the_trained_merges():
    vocab = train_bpe(SMALL_CORPUS, 256 + 150)
    assert BPEVocab(ranks=vocab.ranks).merges() == vocab.merges() == vocab.merge_pairs


def test_trained_vocab_served_fast_gives_identical_ids():
    vocab = train_bpe(SMALL_CORPUS, 256 + 150, special_tokens=["<|endoftext|>"])
    reference, fast = ReferenceBPETokenizer(vocab), TiktokenTokenizer.from_vocab(vocab)
    assert vocab.special_tokens == {"<|endoftext|>": 406} and fast.vocab_size == reference.vocab_size == 407
    for text in [SMALL_CORPUS, *MIXED_TEXTS, "unseen words: zyxwvut 🦀"]:
        ids = reference.encode_ordinary(text)
        assert fast.encode_ordinary(text) == ids
        assert reference.decode(ids) == text
    text = "one<|endoftext|>two"
    assert reference.encode(text, allowed_special="all") == fast.encode(text, allowed_special="all")
    assert 406 in fast.encode(text, allowed_special="all")


def test_training_compresses_its_own_text():
    vocab = train_bpe(SMALL_CORPUS, 438)  # every distinct chunk of the corpus becomes one token
    tokenizer = TiktokenTokenizer.from_vocab(vocab)
    assert len(tokenizer.encode(SMALL_CORPUS)) == len(regex.findall(vocab.pattern, SMALL_CORPUS))


def test_special_tokens_in_the_corpus_are_not_learned():
    text = "ab<|endoftext|>ab<|endoftext|>ab"
    vocab = train_bpe(text, 257, special_tokens=["<|endoftext|>"])
    assert vocab.token_bytes[256] == b"ab"
    with pytest.raises(TokenizerError, match="supports: at most 257 tokens"):
        train_bpe(text, 258, special_tokens=["<|endoftext|>"])


def test_vocab_size_below_256_is_refused():
    with pytest.raises(TokenizerError, match="at least 256"):
        BPETrainer("hello", vocab_size=255)


def test_vocab_size_beyond_what_the_corpus_supports():
    # "hello world" → chunks "hello", " world": at most 4 + 5 merges make each one a single token.
    with pytest.raises(TokenizerError, match=r"at most 265 tokens.*--vocab-size 265"):
        train_bpe("hello world", 1000)
    assert train_bpe("hello world", 265).n_merges == 9


def test_empty_corpus_trains_to_bytes_only():
    assert train_bpe("", 256).n_merges == 0
    with pytest.raises(TokenizerError, match="supports: at most 256 tokens"):
        train_bpe("", 257)


def test_save_and_load_round_trip(tmp_path):
    vocab = train_bpe(SMALL_CORPUS, 300, special_tokens=["<|endoftext|>"], name="tiny")
    vocab.save(tmp_path / "tok")
    document = json.loads((tmp_path / "tok" / "tokenizer.json").read_text())
    assert document["format"] == "llm-playground-bpe" and document["version"] == 1
    assert document["merges"][0] == list(vocab.merges()[0]) and len(document["merges"]) == 44
    listing = (tmp_path / "tok" / "vocab.txt").read_text()
    first = vocab.token_bytes[256].decode()
    assert f"   256  [{first[0]}] + [{first[1]}] -> [{first}]" in listing and "<|endoftext|>  (special)" in listing
    loaded = BPEVocab.load(tmp_path / "tok")
    assert loaded.ranks == vocab.ranks and loaded.special_tokens == vocab.special_tokens
    assert loaded.pattern == vocab.pattern and loaded.merge_counts == vocab.merge_counts
    for impl in ("fast", "reference"):
        tokenizer = get_tokenizer(str(tmp_path / "tok"), impl=impl)
        assert tokenizer.encode(SMALL_CORPUS) == TiktokenTokenizer.from_vocab(vocab).encode(SMALL_CORPUS)


def test_published_ranks_save_as_merges_and_load_back(tmp_path, gpt2_vocab):
    gpt2_vocab.save(tmp_path / "gpt2")
    loaded = BPEVocab.load(tmp_path / "gpt2")
    assert loaded.ranks == gpt2_vocab.ranks and loaded.byte_ranks() == gpt2_vocab.byte_ranks()
    assert loaded.byte_ranks() != list(range(256))  # GPT-2 ranks printable bytes first


def test_missing_saved_tokenizer(tmp_path):
    with pytest.raises(TokenizerError, match="no saved tokenizer at .*llmpg tokenizer train"):
        get_tokenizer(str(tmp_path / "nothing-here"))


@pytest.mark.parametrize("content, message", [
    ("{not json", "corrupt \\(not JSON"),
    ('{"format": "something-else"}', "not an llm-playground BPE tokenizer"),
    ('{"format": "llm-playground-bpe", "version": 99}', "format version 99"),
    ('{"format": "llm-playground-bpe", "version": 1, "pattern": "x", "byte_ranks": []}', "corrupt"),
    ('{"format": "llm-playground-bpe", "version": 1, "pattern": "x", "byte_ranks": [], "merges": []}', "byte_ranks"),
    ('{"format": "llm-playground-bpe", "version": 1, "pattern": "x", "byte_ranks": %s, "merges": [[1, 999]]}'
     % list(range(256)), "refers to an id not yet defined"),
])
def test_corrupt_saved_tokenizer(tmp_path, content, message):
    (tmp_path / "tokenizer.json").write_text(content)
    with pytest.raises(TokenizerError, match=message):
        BPEVocab.load(tmp_path)


# ---- properties ---------------------------------------------------------------------------------
_TRAINED = train_bpe(SMALL_CORPUS, 256 + 150, special_tokens=["<|endoftext|>"])
_REFERENCE, _FAST = ReferenceBPETokenizer(_TRAINED), TiktokenTokenizer.from_vocab(_TRAINED)
ASSIGNED_TEXT = st.text(st.characters(codec=None, exclude_categories=["Cn"]), max_size=80)
LONG_TEXT = st.text(st.characters(exclude_categories=["Cs", "Cn"]), max_size=200)  # assigned, no surrogates
SMALL_ALPHABET = st.text(st.sampled_from("ab c\n'sé😀1"), max_size=60)


@settings(max_examples=150, deadline=None)
@given(text=st.one_of(ASSIGNED_TEXT, SMALL_ALPHABET, LONG_TEXT))
def test_property_trained_reference_equals_fast_and_round_trips(text):
    ids = _REFERENCE.encode_ordinary(text)
    assert _FAST.encode_ordinary(text) == ids
    assert _REFERENCE.decode(ids) == _FAST.decode(ids) == fix_surrogates(text)


@settings(max_examples=60, deadline=None)
@given(corpus=SMALL_ALPHABET, n_merges=st.integers(0, 12))
def test_property_incremental_training_equals_textbook(corpus, n_merges):
    expected = textbook_merges(corpus, n_merges, GPT2_PATTERN)
    trainer = BPETrainer(corpus, vocab_size=256 + n_merges)
    got = []
    try:
        got = [(m.pair, m.count) for m in trainer.steps()]
    except TokenizerError:  # the corpus ran out of pairs: the textbook loop stopped early too
        got = [(m.pair, m.count) for m in trainer.merges]
        assert len(got) < n_merges
    assert got == expected
