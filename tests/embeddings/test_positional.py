"""Positional encodings: the sinusoidal table is the paper's formula; the RoPE plot's angles rotate
vectors exactly as our transformer does."""
from __future__ import annotations

import math

import pytest
import torch

from llm_playground.embeddings.positional import (positional_data, rope_angles, rope_similarity, rotate_pairs,
                                                  sinusoidal_encoding, sinusoidal_formula)
from llm_playground.errors import PlaygroundError
from llm_playground.models import Transformer, preset
from llm_playground.models.transformer import apply_rope


def test_sinusoidal_table_is_the_papers_formula():
    table = sinusoidal_encoding(50, 16)
    for pos in range(50):
        for i in range(8):  # PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
            angle = pos / 10000 ** (2 * i / 16)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-12)
            assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-12)
            assert table[pos, 2 * i].item() == pytest.approx(sinusoidal_formula(pos, 2 * i, 16), abs=1e-12)


def test_sinusoidal_similarity_depends_on_distance_only():
    data = positional_data("sinusoidal", n_positions=40, d_model=64)
    assert data.table.shape == (40, 64)
    for distance in (1, 5, 17):
        values = torch.diagonal(data.similarity, offset=distance)
        assert torch.allclose(values, values[0].expand_as(values), atol=1e-12)
    assert data.similarity[0, 1] > data.similarity[0, 10]


@pytest.mark.parametrize("theta", [10000.0, 100000.0])
def test_rope_plot_data_rotates_exactly_like_our_transformer(theta):
    model = Transformer(preset("llama-tiny", rope_theta=theta)).eval()  # head_dim 32
    T, hs = 24, model.config.head_dim
    cos, sin = model.rope(0, T)  # the tables every attention layer applies
    angles = rope_angles(hs, T, theta)
    assert torch.allclose(torch.cos(angles).float(), cos[:, :hs // 2], atol=1e-5)
    assert torch.allclose(torch.sin(angles).float(), sin[:, hs // 2:], atol=1e-5)
    x = torch.randn(2, 4, T, hs, generator=torch.Generator().manual_seed(0))  # (B, heads, T, hs)
    assert torch.allclose(rotate_pairs(x, angles), apply_rope(x, cos, sin), atol=1e-5)


def test_rope_scores_depend_on_relative_position_only():
    angles = rope_angles(64, 30, 10000.0)
    q = torch.randn(64, dtype=torch.float64)
    k = torch.randn(64, dtype=torch.float64)
    rotated_q, rotated_k = rotate_pairs(q.expand(30, 64), angles), rotate_pairs(k.expand(30, 64), angles)
    scores = rotated_q @ rotated_k.T  # (30, 30): query at m, key at n
    for distance in (0, 3, 11):
        values = torch.diagonal(scores, offset=distance)
        assert torch.allclose(values, values[0].expand_as(values), atol=1e-9)
    similarity = rope_similarity(angles)
    assert torch.allclose(torch.diagonal(similarity), torch.ones(30, dtype=torch.float64))


def test_positional_errors():
    with pytest.raises(PlaygroundError, match="unknown positional encoding 'alibi'; known: sinusoidal, learned, rope"):
        positional_data("alibi")
    with pytest.raises(PlaygroundError, match="positions must be between 1 and"):
        positional_data("sinusoidal", n_positions=0)
    with pytest.raises(PlaygroundError, match="even number"):
        sinusoidal_encoding(4, 7)


@pytest.mark.slow
def test_rope_of_smollm2_uses_its_config_and_minilm_has_a_trained_table(tmp_path):
    from llm_playground.embeddings.positional import plot_positional

    rope = positional_data("rope", n_positions=16)
    assert rope.source.startswith("smollm2-135m-instruct (θ = 100000, hs 64)")
    assert torch.allclose(rope.table, rope_angles(64, 16, 100000.0))
    learned = positional_data("learned", n_positions=32)
    assert learned.source == "minilm-l6" and learned.table.shape == (32, 384)
    assert plot_positional(learned, tmp_path / "p.png").stat().st_size > 10_000
    with pytest.raises(PlaygroundError, match="no rotary positions"):
        positional_data("rope", model="minilm-l6")
