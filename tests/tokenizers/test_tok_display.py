"""Visible whitespace and coloured pieces, shared by the CLI and the web playground."""
from __future__ import annotations

from llm_playground.tokenizers import get_tokenizer, render_ansi, token_pieces, visible_whitespace


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
