"""Attention from scratch against torch's scaled_dot_product_attention and nn.MultiheadAttention."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llm_playground.errors import PlaygroundError
from llm_playground.models.scratch_attention import (
    FusedMultiHeadAttention, MultiHeadAttentionFromHeads, attention_numpy, attention_torch, attention_weights_numpy,
    attention_weights_torch, causal_mask_numpy, softmax_numpy,
)

SHAPES = [  # (leading dims, T_q, T_k, d, d_v)
    ((), 5, 5, 8, 8), ((2,), 7, 7, 4, 6), ((2, 3), 6, 6, 16, 16), ((1, 2), 3, 9, 8, 5), ((4,), 1, 1, 2, 2),
]


def _qkv(lead, t_q, t_k, d, d_v, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(*lead, t_q, d, generator=generator, dtype=torch.float64),
            torch.randn(*lead, t_k, d, generator=generator, dtype=torch.float64),
            torch.randn(*lead, t_k, d_v, generator=generator, dtype=torch.float64))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_numpy_and_torch_equal_sdpa(shape, causal):
    q, k, v = _qkv(*shape)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    torch.testing.assert_close(attention_torch(q, k, v, causal), expected, rtol=1e-10, atol=1e-12)
    ours = attention_numpy(q.numpy(), k.numpy(), v.numpy(), causal)
    np.testing.assert_allclose(ours, expected.numpy(), rtol=1e-10, atol=1e-12)


def test_float32_matches_sdpa_to_float_tolerance():
    q, k, v = (t.float() for t in _qkv((2, 4), 16, 16, 32, 32, seed=3))
    torch.testing.assert_close(attention_torch(q, k, v, True), F.scaled_dot_product_attention(q, k, v, is_causal=True))


def test_weights_rows_sum_to_one_and_causal_zeros_above_diagonal():
    q, k, _ = _qkv((3,), 6, 6, 8, 8)
    causal = attention_weights_torch(q, k, causal=True)
    full = attention_weights_torch(q, k, causal=False)
    torch.testing.assert_close(causal.sum(-1), torch.ones(3, 6, dtype=torch.float64))
    assert torch.all(causal.triu(diagonal=1) == 0)
    assert torch.all(full > 0)
    assert torch.all(causal[:, 0, 0] == 1)  # the first token can only look at itself
    np.testing.assert_allclose(attention_weights_numpy(q.numpy(), k.numpy(), True), causal.numpy(), rtol=1e-12)


def test_worked_example_by_hand():
    # One query equally similar to two keys: weights 1/2 each, output = mean of the values.
    q = np.array([[1.0, 0.0]])
    k = np.array([[1.0, 0.0], [1.0, 0.0]])
    v = np.array([[2.0, 0.0], [0.0, 4.0]])
    np.testing.assert_allclose(attention_numpy(q, k, v), [[1.0, 2.0]])
    assert causal_mask_numpy(2, 3).tolist() == [[True, False, False], [True, True, False]]
    np.testing.assert_allclose(softmax_numpy(np.array([1000.0, 1000.0, -np.inf])), [0.5, 0.5, 0.0])


def test_bad_shapes_are_refused():
    with pytest.raises(PlaygroundError, match="same width"):
        attention_numpy(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros((2, 4)))
    with pytest.raises(PlaygroundError, match="same number of tokens"):
        attention_torch(torch.zeros(2, 3), torch.zeros(4, 3), torch.zeros(5, 3))
    with pytest.raises(PlaygroundError, match="divisible"):
        MultiHeadAttentionFromHeads(10, 3)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_heads_loop_equals_fused_and_torch_multihead(causal, bias):
    torch.manual_seed(0)
    from_heads = MultiHeadAttentionFromHeads(32, 4, causal=causal, bias=bias).double()
    fused = FusedMultiHeadAttention.from_heads(from_heads).double()
    reference = fused.to_torch().double()
    x = torch.randn(3, 10, 32, dtype=torch.float64)
    expected = from_heads(x)
    torch.testing.assert_close(fused(x), expected, rtol=1e-10, atol=1e-12)
    mask = torch.ones(10, 10, dtype=torch.bool).triu(1) if causal else None  # True = not allowed
    torch_out, _ = reference(x, x, x, attn_mask=mask, need_weights=False)
    torch.testing.assert_close(torch_out, expected, rtol=1e-10, atol=1e-12)


def test_one_head_is_attention_over_its_own_projections():
    torch.manual_seed(1)
    mha = MultiHeadAttentionFromHeads(12, 3)
    head = mha.heads[1]
    x = torch.randn(2, 5, 12)
    expected = F.scaled_dot_product_attention(head.query(x), head.key(x), head.value(x), is_causal=True)
    torch.testing.assert_close(head(x), expected)
    # Causality end to end: changing the last token leaves the outputs at earlier positions alone.
    changed = x.clone()
    changed[:, -1] += 1.0
    torch.testing.assert_close(mha(changed)[:, :-1], mha(x)[:, :-1])


def test_scratch_weights_equal_gpt2_attention_probabilities():
    """Our attention_weights_torch on GPT-2's own queries and keys gives transformers' attention maps."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=16, vocab_size=50, attn_implementation="eager")
    model = GPT2LMHeadModel(config).eval()
    ids = torch.randint(0, 50, (2, 9))
    with torch.no_grad():
        outputs = model(ids, output_attentions=True)
        block = model.transformer.h[0]
        hidden = model.transformer.wte(ids) + model.transformer.wpe(torch.arange(9))  # (B, T, C)
        q, k, v = block.attn.c_attn(block.ln_1(hidden)).split(32, dim=-1)
        q, k, v = (t.view(2, 9, 4, 8).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        ours = attention_weights_torch(q, k, causal=True)
    torch.testing.assert_close(ours, outputs.attentions[0])
