"""Our Transformer against transformers' LlamaForCausalLM and GPT2LMHeadModel with the same weights."""
from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from llm_playground.errors import PlaygroundError
from llm_playground.models import Transformer, from_hf_model, preset

TOLERANCE = dict(atol=1e-4, rtol=0)  # the acceptance bar: max abs difference of fp32 logits


def _ids(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 97, (batch, length), generator=generator)


def _token_by_token(model: Transformer, idx: torch.Tensor) -> torch.Tensor:
    cache = model.new_cache(batch_size=idx.shape[0], max_length=idx.shape[1])
    steps = [model(idx[:, t:t + 1], cache=cache)[0] for t in range(idx.shape[1])]
    assert cache.length == idx.shape[1]
    return torch.cat(steps, dim=1)


@pytest.mark.parametrize("family", ["llama", "gpt2", "gemma3"])
@pytest.mark.parametrize("length", [1, 2, 17, 64])
def test_full_sequence_logits_equal_transformers(family, length, request):
    hf, ours = request.getfixturevalue(f"{family}_pair")
    idx = _ids(2, length)
    with torch.inference_mode():
        expected = hf(idx).logits
        logits, loss = ours(idx)
    assert loss is None
    assert logits.shape == (2, length, 97)
    assert_close(logits, expected, **TOLERANCE)


@pytest.mark.parametrize("family", ["llama", "gpt2", "gemma3"])
def test_token_by_token_with_cache_equals_full_sequence_of_transformers(family, request):
    hf, ours = request.getfixturevalue(f"{family}_pair")
    idx = _ids(2, 64)  # the whole context: the last step sits at position 63
    with torch.inference_mode():
        expected = hf(idx).logits
        cached = _token_by_token(ours, idx)
    assert_close(cached, expected, **TOLERANCE)


@pytest.mark.parametrize("family", ["llama", "gpt2", "gemma3"])
def test_chunked_prefill_then_decode_equals_transformers(family, request):
    """Several tokens after a filled cache need the shifted causal mask (not SDPA's is_causal);
    for Gemma-3 the sliding window (8) also cuts into the chunks."""
    hf, ours = request.getfixturevalue(f"{family}_pair")
    idx = _ids(1, 40)
    with torch.inference_mode():
        expected = hf(idx).logits
        cache = ours.new_cache(max_length=40)
        pieces = [ours(idx[:, a:b], cache=cache)[0] for a, b in [(0, 13), (13, 14), (14, 31), (31, 40)]]
    assert_close(torch.cat(pieces, dim=1), expected, **TOLERANCE)


def test_untied_llama_head_and_exact_gelu_gpt2(make_llama, make_gpt2):
    idx = _ids(1, 20)
    for hf in (make_llama(tie=False, seed=3), make_gpt2(activation="gelu", seed=3)):
        ours = from_hf_model(hf)
        assert (ours.lm_head.weight is ours.wte.weight) == hf.config.tie_word_embeddings
        with torch.inference_mode():
            assert_close(ours(idx)[0], hf(idx).logits, **TOLERANCE)
    untied = from_hf_model(make_llama(tie=False, seed=3))
    assert not torch.equal(untied.lm_head.weight, untied.wte.weight)


def test_loss_equals_transformers_loss(llama_pair):
    hf, ours = llama_pair
    idx = _ids(2, 30)
    with torch.inference_mode():
        expected = hf(idx, labels=idx).loss  # transformers shifts the labels itself
        _, loss = ours(idx[:, :-1], targets=idx[:, 1:])
    assert_close(loss, expected, atol=1e-5, rtol=0)


def test_ignored_targets_do_not_count(llama_pair):
    _, ours = llama_pair
    idx = _ids(1, 10)
    targets = idx.clone()
    targets[:, 5:] = -100
    with torch.inference_mode():
        _, loss_masked = ours(idx, targets)
        _, loss_prefix = ours(idx[:, :5], targets=idx[:, :5])  # causal: the first 5 logits are the same
    assert_close(loss_masked, loss_prefix)


def test_last_only_returns_the_last_position(gpt2_pair):
    _, ours = gpt2_pair
    idx = _ids(2, 12)
    with torch.inference_mode():
        full, _ = ours(idx)
        last, _ = ours(idx, last_only=True)
    assert last.shape == (2, 1, 97)
    assert_close(last, full[:, -1:])


def test_pieces_compose_to_forward(llama_pair):
    """embed → blocks → final, called one by one, is exactly forward (what `llmpg block` relies on)."""
    _, ours = llama_pair
    idx = _ids(1, 9)
    with torch.inference_mode():
        x = ours.embed(idx)
        rope = ours.rope(0, 9)
        for block in ours.blocks:
            x = block(x, rope=rope)
        assert torch.equal(ours.final(x), ours(idx)[0])


def test_prompt_longer_than_context_is_a_playground_error(gpt2_pair):
    _, ours = gpt2_pair
    with pytest.raises(PlaygroundError, match="65 tokens but .* context holds 64"):
        ours(_ids(1, 65))
    cache = ours.new_cache(max_length=64)
    with torch.inference_mode():
        ours(_ids(1, 60), cache=cache)
        with pytest.raises(PlaygroundError, match="context holds 64"):
            ours(_ids(1, 5), cache=cache)


def test_training_step_reduces_loss_on_a_preset():
    torch.manual_seed(0)
    model = Transformer(preset("llama-tiny", n_layer=2, vocab_size=97, dropout=0.1))
    model.train()
    data = _ids(4, 33)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        _, loss = model(data[:, :-1], data[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(torch.log(torch.tensor(97.0)).item(), abs=0.3)  # uniform at init
    assert losses[-1] < losses[0] - 1.0


def test_tied_weights_and_parameter_count():
    with torch.device("meta"):  # shapes only: no memory, no random init
        model = Transformer(preset("gpt2"))
    assert model.lm_head.weight is model.wte.weight
    assert model.num_params() == 124_439_808  # GPT-2 small, as nanoGPT counts it
    assert model.num_params(non_embedding=True) == 124_439_808 - 50257 * 768 - 1024 * 768


def test_gemma3_config_and_sliding_layers(gemma3_pair):
    _, ours = gemma3_pair
    config = ours.config
    assert config.family == "gemma3"
    assert config.layer_types == ["sliding", "sliding", "sliding", "full"]
    assert (config.rope_local_theta, config.rope_theta, config.sliding_window) == (10_000.0, 1_000_000.0, 8)
    assert config.attn_scale == pytest.approx(24 ** -0.5)
    assert [block.attn.sliding_window for block in ours.blocks] == [8, 8, 8, None]
    assert not torch.equal(ours.rope(0, 5, layer=0)[0], ours.rope(0, 5, layer=3)[0])  # two RoPE bases
