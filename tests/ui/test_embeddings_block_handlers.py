"""The Embeddings and Block tabs' handlers, called as plain functions."""
from __future__ import annotations

import pytest

from llm_playground.ui import common
from llm_playground.ui.tabs import block, embeddings


def is_error(status: str, text: str) -> bool:
    return 'class="llmpg-msg llmpg-error"' in status and common.escape(text) in status


def last(generator):
    return list(generator)[-1]


def test_sinusoidal_positions_plot_without_a_model(tmp_path):
    path, summary, status = embeddings.positions("sinusoidal", "", 32, 64)
    assert status == "" and path.endswith(".png")
    assert summary.startswith("sinusoidal, formula (d_model 64): table (32, 64)")


def test_embedding_handlers_show_bad_input_inline():
    _, status = embeddings.neighbours("minilm-l6", "", 5, "man", "", "", "")
    assert is_error(status, "an analogy needs all three words")
    _, _, status = embeddings.positions("alibi", "", 16, 64)
    assert is_error(status, "unknown positional encoding 'alibi'")
    _, _, status = last(embeddings.contextual("minilm-l6", "", "a\nb"))
    assert is_error(status, "the word is empty")
    *_, status = embeddings.sentences("one\ntwo", "pca")
    assert is_error(status, "give at least three texts, one per line")


def test_block_tab_lists_t5_and_the_three_families():
    values = [value for _, value in block.model_options()]
    assert {"smollm2-135m-instruct", "minilm-l6", "t5-small", "t5-base"} <= set(values)
    rows = block.family_rows()
    assert [row[1] for row in rows] == ["minilm-l6", "smollm2-135m", "gemma3-270m", "t5-small"]
    assert rows[3][5] == "60,506,624"


def test_block_handler_errors_inline():
    _, status = last(block.walk_block("t5-small", "   ", ""))
    assert is_error(status, "the prompt is empty")
    _, status = last(block.walk_block("", "hello", ""))
    assert is_error(status, "choose a model")


@pytest.mark.slow
def test_block_walk_of_the_encoder_in_the_page():
    markdown, status = last(block.walk_block("minilm-l6", "The river bank", ""))
    assert "**minilm-l6** (encoder-only)" in markdown
    assert "#### encoder layer 0 (bidirectional self-attention, post-norm)" in markdown
    assert "`(1, 12, 5, 5)`" in markdown and "max &#124;difference&#124;" not in markdown
    assert "max |difference| = **" in markdown
