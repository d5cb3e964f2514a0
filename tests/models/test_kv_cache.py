"""The static KV cache: positions, crop, reorder for beam search, and its limits."""
from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from llm_playground.errors import PlaygroundError
from llm_playground.models import KVCache


def _ids(batch: int, length: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 97, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_cache_is_preallocated_with_kv_heads_only(llama_pair):
    _, model = llama_pair
    cache = model.new_cache(batch_size=3, max_length=20)
    assert cache.keys.shape == (3, 3, 2, 20, 16)  # (layers, batch, kv heads: 2 of 4, positions, head_dim)
    assert (cache.length, cache.max_length, cache.batch_size) == (0, 20, 3)
    assert cache.nbytes == 2 * 3 * 3 * 2 * 20 * 16 * 4


def test_crop_rewinds_to_an_earlier_position(llama_pair):
    _, model = llama_pair
    idx = _ids(1, 12, seed=2)
    other = _ids(1, 4, seed=3)
    with torch.inference_mode():
        cache = model.new_cache(max_length=12)
        model(idx[:, :8], cache=cache)
        model(other, cache=cache)            # a continuation we then throw away
        cache.crop(8)
        resumed, _ = model(idx[:, 8:], cache=cache)
        full, _ = model(idx)
    assert cache.length == 12
    assert_close(resumed, full[:, 8:], atol=1e-5, rtol=0)


def test_reorder_picks_batch_rows_like_beam_search(gpt2_pair):
    _, model = gpt2_pair
    prompts = _ids(2, 6, seed=4)
    step = _ids(2, 1, seed=5)
    with torch.inference_mode():
        cache = model.new_cache(batch_size=2, max_length=8)
        model(prompts, cache=cache)
        cache.reorder(torch.tensor([1, 1]))  # both beams continue sequence 1
        logits, _ = model(step, cache=cache)
        for row in range(2):
            alone, _ = model(torch.cat([prompts[1:2], step[row:row + 1]], dim=1))
            assert_close(logits[row], alone[0, -1:], atol=1e-5, rtol=0)


def test_cache_limits_are_playground_errors(llama_pair):
    _, model = llama_pair
    cache = model.new_cache(batch_size=2, max_length=5)
    with torch.inference_mode(), pytest.raises(PlaygroundError, match="holds 5 tokens; 0 are filled and 6 more"):
        model(_ids(2, 6, seed=1), cache=cache)
    with pytest.raises(PlaygroundError, match="cannot crop a KV cache of length 0 to 3"):
        cache.crop(3)
    with pytest.raises(PlaygroundError, match="reorder needs 2 beam indices"):
        cache.reorder([0, 1, 1])
    with pytest.raises(PlaygroundError, match="context holds 64"):
        model.new_cache(max_length=65)
    with pytest.raises(PlaygroundError):
        KVCache(n_layer=1, batch_size=0, n_kv_head=1, head_dim=2, max_length=4)
