"""The zoo models' tokenizers through our interface give the ids their transformers tokenizers give."""
from __future__ import annotations

import pytest

from llm_playground import zoo
from llm_playground.tokenizers import SpecialTokenError, get_tokenizer
from llm_playground.tokenizers.base import fix_surrogates

from tok_texts import MIXED_TEXTS

ZOO = ["smollm2-135m-instruct", "gemma3-270m", "minilm-l6"]
TEXTS = [t for t in MIXED_TEXTS if "<|endoftext|>" not in t]


@pytest.mark.slow
@pytest.mark.parametrize("model", ZOO)
def test_ids_equal_transformers(model):
    ours, theirs = get_tokenizer(model), zoo.load_tokenizer(model)
    for text in TEXTS:
        assert ours.encode(text) == theirs(text, add_special_tokens=False)["input_ids"], text
    assert ours.vocab_size == len(theirs)


@pytest.mark.slow
@pytest.mark.parametrize("model", ZOO)
def test_spans_are_byte_offsets_of_the_input(model):
    tokenizer = get_tokenizer(model)
    text = "Naïve café 😀 text"
    data = text.encode("utf-8")
    tokens = tokenizer.tokens(text)
    assert [t.id for t in tokens] == tokenizer.encode(text)
    assert all(0 <= t.start_byte <= t.end_byte <= len(data) for t in tokens)
    assert tokens[0].start_byte == 0 and tokens[-1].end_byte == len(data)
    if model != "minilm-l6":  # byte-level and SentencePiece pieces spell the input: spans tile it exactly
        assert all(a.end_byte == b.start_byte for a, b in zip(tokens, tokens[1:]))
        assert b"".join(tokenizer.token_bytes(t.id) for t in tokens) == data


@pytest.mark.slow
def test_a_token_that_holds_part_of_an_emoji_covers_only_its_bytes():
    """SmolLM2 splits " 😀" into ĠðŁĺ (20 F0 9F 98) and Ģ (80): each token's span is its own bytes
    (Hugging Face's character offsets would give both the whole emoji: 9 bytes for a 5-byte text)."""
    tokenizer = get_tokenizer("smollm2-135m-instruct")
    text = "ok 😀 12"
    tokens = tokenizer.tokens(text)
    spans = [t.span_bytes(text) for t in tokens]
    assert [tokenizer.backend.id_to_token(t.id) for t in tokens[1:3]] == ["ĠðŁĺ", "Ģ"]
    assert spans[1:3] == [bytes.fromhex("20F09F98"), bytes.fromhex("80")]
    assert b"".join(spans) == text.encode("utf-8")


@pytest.mark.slow
def test_byte_level_round_trip_and_special_tokens():
    tokenizer = get_tokenizer("smollm2-135m-instruct")
    for text in TEXTS:
        assert tokenizer.decode(tokenizer.encode(text)) == fix_surrogates(text)
    with pytest.raises(SpecialTokenError, match="<\\|im_start\\|>"):
        tokenizer.encode("<|im_start|>user")
    im_start = tokenizer.special_tokens["<|im_start|>"]
    assert tokenizer.encode("<|im_start|>user", allowed_special="all")[0] == im_start
    assert im_start not in tokenizer.encode_ordinary("<|im_start|>user")


@pytest.mark.slow
def test_wordpiece_lowercases_and_marks_unknowns():
    tokenizer = get_tokenizer("minilm-l6")
    tokens = tokenizer.tokens("Hello 😀")
    assert [(t.text, t.start_byte, t.end_byte) for t in tokens] == [("hello", 0, 5), ("[UNK]", 6, 10)]
    assert tokens[1].special


@pytest.mark.parametrize("vocab_name", ["trained", "bpe-gpt2"])
def test_our_vocab_as_hf_bpe_gives_identical_ids(vocab_name, tmp_path):
    from llm_playground.tokenizers import TiktokenTokenizer, train_bpe
    from llm_playground.tokenizers.hf import HFTokenizer, hf_tokenizer_from_vocab
    from llm_playground.tokenizers.registry import published_vocab

    corpus = " ".join(TEXTS) * 5
    vocab = train_bpe(corpus, 400, special_tokens=["<|endoftext|>"]) if vocab_name == "trained" else published_vocab(vocab_name)
    hf, fast = hf_tokenizer_from_vocab(vocab), TiktokenTokenizer.from_vocab(vocab)
    assert hf.vocab_size == fast.vocab_size and hf.special_tokens == fast.special_tokens
    for text in TEXTS:
        assert hf.encode_ordinary(text) == fast.encode_ordinary(text), text
        assert hf.decode(fast.encode_ordinary(text)) == text
    assert hf.encode("a<|endoftext|>b", allowed_special="all") == fast.encode("a<|endoftext|>b", allowed_special="all")
    hf.backend.save(str(tmp_path / "tokenizer.json"))
    assert HFTokenizer.from_file(tmp_path / "tokenizer.json").encode(corpus) == fast.encode(corpus)
    assert get_tokenizer(str(tmp_path)).encode(corpus) == fast.encode(corpus)  # a folder with an HF tokenizer.json


def test_only_the_gpt2_pattern_converts():
    from llm_playground.tokenizers import TokenizerError, train_bpe
    from llm_playground.tokenizers.hf import hf_tokenizer_from_vocab

    with pytest.raises(TokenizerError, match="gpt2 pattern"):
        hf_tokenizer_from_vocab(train_bpe("hello hello", 257, pattern="cl100k"))
