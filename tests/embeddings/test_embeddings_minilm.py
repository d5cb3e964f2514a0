"""Token, contextual and sentence embeddings on the real models (MiniLM; SmolLM2 for the decoder)."""
from __future__ import annotations

import pytest
import torch

from llm_playground.embeddings.contextual import DEFAULT_SENTENCES, contextual_embeddings, plot_contextual
from llm_playground.embeddings.sentences import encode, encode_reference, similarity_matrix
from llm_playground.embeddings.tokens import analogy, nearest_tokens
from llm_playground.errors import PlaygroundError

pytestmark = pytest.mark.slow


def test_bank_by_the_river_is_less_like_bank_account_than_two_money_banks(tmp_path):
    result = contextual_embeddings("minilm-l6", "bank", list(DEFAULT_SENTENCES))  # river, account, interest rates
    assert result.layers == ["embeddings"] + [f"layer {i}" for i in range(1, 7)]
    river_vs_money, money_vs_money = result.pair(0, 1), result.pair(1, 2)
    assert river_vs_money[-1] < money_vs_money[-1] - 0.05  # 0.759 vs 0.845 after layer 6
    assert all(r < m for r, m in zip(river_vs_money[1:], money_vs_money[1:]))  # at every layer
    assert river_vs_money[0] > 0.99  # the same token row before any layer (only the position differs)
    png = plot_contextual(result, tmp_path / "bank.png")
    assert png.stat().st_size > 20_000


def test_bank_in_a_decoder_too():
    result = contextual_embeddings("smollm2-135m-instruct", "bank", list(DEFAULT_SENTENCES))
    assert result.causal and len(result.layers) == 31
    assert result.pair(0, 1)[0] == pytest.approx(1.0, abs=1e-6)  # RoPE adds nothing to the token row
    assert result.pair(0, 1)[-1] < result.pair(1, 2)[-1]


def test_contextual_errors():
    with pytest.raises(PlaygroundError, match="the word 'bank' is not in the sentence 'I like tea.'"):
        contextual_embeddings("minilm-l6", "bank", ["I like tea.", "The bank is closed."])
    with pytest.raises(PlaygroundError, match="at least two sentences"):
        contextual_embeddings("minilm-l6", "bank", ["The bank is closed."])


def test_sentence_transformers_equals_our_mean_pooling():
    texts = ["A cat sleeps on the sofa.", "Stocks fell sharply today.", "Short."]
    ours = encode_reference(texts)
    theirs = encode(texts).vectors
    assert torch.allclose(ours.float(), theirs, atol=1e-5)
    matrix = similarity_matrix(["A cat sleeps.", "A kitten naps.", "Stocks fell today."]).matrix
    assert matrix[0, 1] > 0.6 > 0.2 > matrix[0, 2]


def test_a_long_text_is_cut_and_the_cut_is_stated():
    long_text = "word " * 600
    encoded = encode(["short text", long_text])
    assert encoded.truncated == [1] and encoded.max_tokens == 256
    assert encoded.truncation_notes == ["text 2 is 602 tokens; minilm-l6 reads the first 256 (the rest was cut before "
                                        "embedding)"]


def test_token_neighbours_and_an_analogy_that_works():
    cat = nearest_tokens("minilm-l6", "cat", k=5)
    assert [n.token for n in cat.neighbours[:3]] == ["cats", "kitten", "kitty"]
    queen = analogy("minilm-l6", "man", "king", "woman", k=3, expected="queen")
    assert queen.neighbours[0].token == "queen" and queen.expected_rank == 1
