"""The reference BPE and the fast path, fed GPT-2's and cl100k_base's ranks, give exactly
tiktoken's ids; decode(encode(x)) == x."""
from __future__ import annotations

import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_playground.tokenizers import ReferenceBPETokenizer, TiktokenTokenizer, fix_surrogates
from llm_playground.tokenizers.patterns import CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN
from llm_playground.tokenizers.registry import published_vocab

from tok_texts import MIXED_TEXTS, SURROGATE_TEXTS

ENCODINGS = {"bpe-gpt2": "gpt2", "bpe-cl100k": "cl100k_base", "bpe-o200k": "o200k_base"}


@pytest.fixture(scope="module", params=list(ENCODINGS))
def trio(request):
    """(reference, fast, tiktoken's own encoding) for one published rank table."""
    vocab = published_vocab(request.param)
    return ReferenceBPETokenizer(vocab), TiktokenTokenizer.from_vocab(vocab), tiktoken.get_encoding(ENCODINGS[request.param])


def test_patterns_are_tiktokens_own():
    assert GPT2_PATTERN == tiktoken.get_encoding("gpt2")._pat_str
    assert CL100K_PATTERN == tiktoken.get_encoding("cl100k_base")._pat_str
    assert O200K_PATTERN == tiktoken.get_encoding("o200k_base")._pat_str


def test_published_ranks_are_tiktokens(trio):
    reference, _, encoding = trio
    assert reference.vocab.ranks == encoding._mergeable_ranks
    assert reference.special_tokens == encoding._special_tokens
    assert reference.vocab_size == encoding.n_vocab


@pytest.mark.parametrize("text", MIXED_TEXTS + SURROGATE_TEXTS)
def test_ids_identical_to_tiktoken(trio, text):
    reference, fast, encoding = trio
    expected = encoding.encode_ordinary(text)
    assert reference.encode_ordinary(text) == expected
    assert fast.encode_ordinary(text) == expected
    assert reference.encode(text, disallowed_special=()) == expected
    assert fast.encode(text, disallowed_special=()) == expected


@pytest.mark.parametrize("text", MIXED_TEXTS)
def test_round_trip(trio, text):
    reference, fast, _ = trio
    assert reference.decode(reference.encode_ordinary(text)) == text
    assert fast.decode(fast.encode_ordinary(text)) == text


@pytest.mark.parametrize("text", SURROGATE_TEXTS)
def test_surrogates_become_what_tiktoken_makes_of_them(trio, text):
    reference, fast, encoding = trio
    fixed = fix_surrogates(text)
    assert "\ufffd" in fixed or "😀" in fixed
    assert reference.decode(reference.encode_ordinary(text)) == fixed == encoding.decode(encoding.encode_ordinary(text))
    assert fast.decode(fast.encode_ordinary(text)) == fixed


def test_allowed_special_matches_tiktoken(trio):
    reference, fast, encoding = trio
    text = "a<|endoftext|>b <|endoftext|>"
    expected = encoding.encode(text, allowed_special="all")
    assert expected.count(encoding.eot_token) == 2
    assert reference.encode(text, allowed_special="all") == expected
    assert fast.encode(text, allowed_special={"<|endoftext|>"}) == expected


def test_a_whole_file(trio):
    """A real source file: code, docstrings, unicode in comments."""
    reference, fast, encoding = trio
    text = open(tiktoken.core.__file__, encoding="utf-8").read()
    expected = encoding.encode_ordinary(text)
    assert reference.encode_ordinary(text) == expected == fast.encode_ordinary(text)
    assert reference.decode(expected) == text


_TOKENIZERS: dict = {}  # one reference + fast pair per rank table, shared by the hypothesis examples


def _cached(name):
    if name not in _TOKENIZERS:
        vocab = published_vocab(name)
        _TOKENIZERS[name] = (ReferenceBPETokenizer(vocab), TiktokenTokenizer.from_vocab(vocab))
    return _TOKENIZERS[name]


# Any assigned Unicode character, surrogates included (st.text() leaves them out by default).
# Unassigned code points (category Cn in Python's Unicode 14 tables) are left out: the `regex`
# module and tiktoken's Rust regex use different Unicode versions and may disagree on whether a
# newly assigned code point is a letter (see patterns.py).
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=["Cn"]), max_size=60)
LONG_TEXT = st.text(st.characters(exclude_categories=["Cs", "Cn"]), max_size=200)  # assigned, no surrogates
MIXED_PIECES = st.lists(st.sampled_from(["  ", "\n", "\t", "don't", "😀", "你好", "é", "e\u0301", "123456",
                                         "<|endoftext|>", " x", "ÄÖÜ", "\r\n", "مرحبا", "()", "'S"]), max_size=12).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(ANY_TEXT, MIXED_PIECES, LONG_TEXT))
@pytest.mark.parametrize("name", list(ENCODINGS))
def test_property_identical_and_round_trip(name, text):
    reference, fast = _cached(name)
    expected = tiktoken.get_encoding(ENCODINGS[name]).encode_ordinary(text)
    assert reference.encode_ordinary(text) == expected
    assert fast.encode_ordinary(text) == expected
    assert reference.decode(expected) == fix_surrogates(text)

