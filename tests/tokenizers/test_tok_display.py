"""Visible whitespace and coloured pieces, shared by the CLI and the web playground."""
from __future__ import annotations

import pytest

from llm_playground.tokenizers import get_tokenizer, render_ansi, token_pieces, visible_whitespace
from llm_playground.tokenizers.base import fix_surrogates
from llm_playground.tokenizers.display import SHARED_SPAN


def test_visible_whitespace():
    assert visible_whitespace(" a\nb\tc\r") == "·a↵b→c␍"


def test_pieces_follow_tokens_and_show_split_characters():
    text = "hi 😀\n"
    tokens = get_tokenizer("gpt2").tokens(text)
    pieces = token_pieces(text, tokens)
    assert [p.index for p in pieces] == list(range(len(tokens)))
    assert [p.text for p in pieces] == ["hi", "·<F0 9F 98>", "<80>", "↵"]


def test_hf_style_shared_spans_draw_once():
    from llm_playground.tokenizers import Token

    tokens = [Token(1, "\ufffd", 0, 4), Token(2, "\ufffd", 0, 4)]
    assert [p.text for p in token_pieces("😀", tokens)] == ["😀", "⋯"]


def test_render_ansi():
    text = "a b\nc"
    tokens = get_tokenizer("gpt2").tokens(text)
    assert render_ansi(text, tokens, color=False) == "a|·b|↵\n|c|"
    coloured = render_ansi(text, tokens, color=True)
    assert coloured.count("\x1b[0m") == 4 and "↵" in coloured and "\n" in coloured


TRICKY = "ok 😀 12 naïve 日本語 e\u0301 x\ud800y \U0001F469\u200D\U0001F4BB"
"""Emoji (one split across tokens, one ZWJ sequence), CJK, a precomposed and a combining accent, a lone surrogate."""


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "o200k_base", "bpe-gpt2", "word", "char"])
def test_the_pieces_drawn_spell_exactly_the_texts_bytes(name):
    """For every tokenizer kind, the bytes of the pieces drawn (tokens and the gaps between them),
    in order, are the text's UTF-8 bytes: nothing drawn twice, nothing lost."""
    tokens = get_tokenizer(name).tokens(TRICKY)
    pieces = token_pieces(TRICKY, tokens)
    assert b"".join(p.data for p in pieces) == fix_surrogates(TRICKY).encode("utf-8")
    assert all(p.text != SHARED_SPAN for p in pieces)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "gemma3-270m", "minilm-l6"])
def test_the_pieces_of_transformers_tokenizers_spell_the_texts_bytes(name):
    """Byte-level BPE (SmolLM2), SentencePiece-style with byte fallback (Gemma) and WordPiece (MiniLM)."""
    tokens = get_tokenizer(name).tokens(TRICKY)
    pieces = token_pieces(TRICKY, tokens)
    assert b"".join(p.data for p in pieces) == fix_surrogates(TRICKY).encode("utf-8")
    if name != "minilm-l6":  # WordPiece drops what it cannot spell; the others draw each token's own bytes
        assert [p.index for p in pieces] == list(range(len(tokens)))
