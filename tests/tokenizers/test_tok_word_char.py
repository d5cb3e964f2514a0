"""Word- and character-level tokenizers: vocabulary from a corpus, [PAD]/[UNK], lowercase."""
from __future__ import annotations

import pytest

from llm_playground.tokenizers import CharTokenizer, TokenizerError, WordTokenizer, get_tokenizer


def test_word_vocabulary_is_most_frequent_first():
    tokenizer = WordTokenizer.fit("b a b c b a", max_size=4)
    assert tokenizer.id_to_text == ["[PAD]", "[UNK]", "b", "a"]
    assert tokenizer.special_tokens == {"[PAD]": 0, "[UNK]": 1}
    assert tokenizer.encode("a b c") == [3, 2, 1]  # "c" did not make the cut → [UNK]


def test_unknown_words_lose_their_information():
    tokenizer = WordTokenizer.fit("the cat sat on the mat.")
    ids = tokenizer.encode("The dog sat on the mat.")
    # ids by frequency, then alphabetically: the=2 .=3 cat=4 mat=5 on=6 sat=7
    assert ids == [1, 1, 7, 6, 2, 5, 3]  # "The" (case!) and "dog" are both [UNK]
    assert tokenizer.decode(ids) == "[UNK] [UNK] sat on the mat ."
    tokens = tokenizer.tokens("The dog")
    assert [(t.text, t.start_byte, t.end_byte, t.special) for t in tokens] == [("[UNK]", 0, 3, True), ("[UNK]", 4, 7, True)]


def test_lowercase_option():
    tokenizer = WordTokenizer.fit("The the THE cat", lowercase=True)
    assert tokenizer.id_to_text[2:] == ["the", "cat"]
    assert tokenizer.encode("tHe CAT") == [2, 3]


def test_min_count_and_bad_size():
    assert WordTokenizer.fit("a a b", min_count=2).id_to_text == ["[PAD]", "[UNK]", "a"]
    with pytest.raises(TokenizerError, match="too small"):
        WordTokenizer.fit("a", max_size=2)


def test_word_spans_are_bytes():
    tokenizer = WordTokenizer.fit("café au lait")
    assert [(t.start_byte, t.end_byte) for t in tokenizer.tokens("café au")] == [(0, 5), (6, 8)]


def test_char_from_corpus_and_fixed_alphabet():
    fitted = CharTokenizer.fit("hello")
    assert fitted.id_to_text == ["[PAD]", "[UNK]", "e", "h", "l", "o"]
    assert fitted.decode(fitted.encode("hello")) == "hello"
    assert fitted.encode("help!") == [3, 2, 4, 1, 1]
    fixed = CharTokenizer("abc")
    assert fixed.vocab_size == 5 and fixed.encode("cab") == [4, 2, 3]
    assert [(t.text, t.start_byte, t.end_byte) for t in fixed.tokens("a😀b")] == [("a", 0, 1), ("[UNK]", 1, 5), ("b", 5, 6)]
    with pytest.raises(TokenizerError, match="single characters"):
        CharTokenizer(["ab"])


def test_registry_word_and_char_use_shakespeare():
    word, char = get_tokenizer("word"), get_tokenizer("char")
    assert word.vocab_size == 8192 and word.lowercase
    assert word.decode(word.encode("To be, or not to be")) == "to be , or not to be"
    assert char.decode(char.encode("To be, or not to be")) == "To be, or not to be"
    assert char.encode("😀") == [1]
