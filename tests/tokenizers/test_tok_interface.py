"""The shared interface: special-token rules, tokens() spans, empty text, bad ids — checked on
every kind of tokenizer we have without a zoo model."""
from __future__ import annotations

import pytest

from llm_playground.errors import PlaygroundError, UnknownNameError
from llm_playground.tokenizers import (CharTokenizer, ReferenceBPETokenizer, SpecialTokenError, TiktokenTokenizer,
                                       TokenizerError, WordTokenizer, get_tokenizer, list_tokenizers, train_bpe)
from llm_playground.tokenizers.base import check_special, fix_surrogates, split_on_special

from tok_texts import MIXED_TEXTS, SURROGATE_TEXTS

BYTE_LEVEL = ["gpt2", "bpe-gpt2", "bpe-cl100k", "o200k_base"]


@pytest.fixture(scope="module", params=["gpt2", "bpe-gpt2-reference", "bpe-cl100k", "word", "char", "trained"])
def tokenizer(request):
    if request.param == "bpe-gpt2-reference":
        return get_tokenizer("bpe-gpt2", impl="reference")
    if request.param == "trained":
        return TiktokenTokenizer.from_vocab(train_bpe("hello world " * 5, 260, special_tokens=["<|endoftext|>"]))
    if request.param == "word":
        return WordTokenizer.fit("the cat sat on the mat")
    if request.param == "char":
        return CharTokenizer("abc ")
    return get_tokenizer(request.param)


def test_empty_text_gives_no_tokens(tokenizer):
    assert tokenizer.encode("") == [] and tokenizer.encode_ordinary("") == [] and tokenizer.tokens("") == []
    assert tokenizer.decode([]) == ""


def test_special_token_text_raises_naming_the_token_and_the_option(tokenizer):
    special = sorted(tokenizer.special_tokens)[0]
    with pytest.raises(SpecialTokenError) as caught:
        tokenizer.encode(f"before {special} after")
    assert special in str(caught.value) and "allowed_special" in str(caught.value)
    assert isinstance(caught.value, PlaygroundError)
    with pytest.raises(SpecialTokenError):
        tokenizer.tokens(special)


def test_allowed_special_gives_the_special_id(tokenizer):
    special, special_id = sorted(tokenizer.special_tokens.items())[0]
    ids = tokenizer.encode(f"a{special}a", allowed_special={special})
    assert ids.count(special_id) == 1 and tokenizer.encode(f"a{special}a", allowed_special="all") == ids
    tokens = tokenizer.tokens(f"a{special}a", allowed_special="all")
    assert [t.id for t in tokens] == ids
    assert [t for t in tokens if t.id == special_id][0].special


def test_encode_ordinary_treats_special_text_as_text(tokenizer):
    special, special_id = sorted(tokenizer.special_tokens.items())[0]
    ids = tokenizer.encode_ordinary(special)
    assert special_id not in ids and ids == tokenizer.encode(special, disallowed_special=())


def test_allowing_an_unknown_special_token_is_an_error(tokenizer):
    with pytest.raises(SpecialTokenError, match="not special tokens of this tokenizer: <nope>"):
        tokenizer.encode("x", allowed_special={"<nope>"})


def test_out_of_range_ids_are_a_clear_error(tokenizer):
    for bad in (tokenizer.vocab_size + 5, -1):
        with pytest.raises(TokenizerError, match="out of range|does not have"):
            tokenizer.decode([bad])


@pytest.mark.parametrize("name", BYTE_LEVEL)
@pytest.mark.parametrize("text", MIXED_TEXTS + SURROGATE_TEXTS)
def test_byte_level_spans_tile_the_input(name, text):
    tokenizer = get_tokenizer(name, impl="reference" if name.startswith("bpe-") else "fast")
    tokens = tokenizer.tokens(text, disallowed_special=())
    data = fix_surrogates(text).encode("utf-8")
    assert [t.id for t in tokens] == tokenizer.encode(text, disallowed_special=())
    assert b"".join(data[t.start_byte:t.end_byte] for t in tokens) == data
    assert all(a.end_byte == b.start_byte for a, b in zip(tokens, tokens[1:]))
    assert all(t.text == tokenizer.decode([t.id]) for t in tokens)


def test_a_token_may_split_a_character():
    tokens = get_tokenizer("gpt2").tokens("😀")
    assert [(t.start_byte, t.end_byte) for t in tokens] == [(0, 3), (3, 4)]
    assert [t.span_bytes("😀") for t in tokens] == [b"\xf0\x9f\x98", b"\x80"]


def test_split_on_special_and_check():
    allowed = check_special("x<|a|>y", ["<|a|>", "<|b|>"], "all", "all")
    assert allowed == {"<|a|>", "<|b|>"}
    assert split_on_special("<|a|><|b|>x", allowed) == [("<|a|>", True), ("<|b|>", True), ("x", False)]
    with pytest.raises(SpecialTokenError, match="'<\\|b\\|>'"):
        check_special("x<|b|>", ["<|a|>", "<|b|>"], {"<|a|>"}, "all")
    assert check_special("x<|b|>", ["<|a|>", "<|b|>"], (), ()) == frozenset()


def test_fix_surrogates_is_tiktokens_rule():
    assert fix_surrogates("ok") == "ok"
    assert fix_surrogates("\ud83d\ude00") == "😀"
    assert fix_surrogates("a\ud800b") == "a\ufffdb"


def test_registry_names_and_unknown_name():
    names = list_tokenizers()
    for expected in ("gpt2", "cl100k_base", "o200k_base", "bpe-gpt2", "bpe-cl100k", "word", "char",
                     "smollm2-135m-instruct", "gemma3-270m", "minilm-l6"):
        assert expected in names
    with pytest.raises(UnknownNameError, match="unknown tokenizer 'gtp2'; known: .*bpe-gpt2.*gpt2"):
        get_tokenizer("gtp2")
    with pytest.raises(PlaygroundError, match="unknown implementation 'turbo'"):
        get_tokenizer("gpt2", impl="turbo")


def test_impl_selects_the_engine():
    assert isinstance(get_tokenizer("bpe-gpt2"), TiktokenTokenizer)
    assert isinstance(get_tokenizer("bpe-gpt2", impl="reference"), ReferenceBPETokenizer)
    assert get_tokenizer("bpe-gpt2").encode("hello world") == [31373, 995]
