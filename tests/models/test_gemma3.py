"""Our engine with Gemma-3-270m's real weights against transformers (fp32), sliding window included."""
from __future__ import annotations

import pytest
import torch

from llm_playground import zoo
from llm_playground.models import load_native

pytestmark = pytest.mark.slow
MODEL = "gemma3-270m"


@pytest.fixture(scope="module")
def models():
    return zoo.load_hf_model(MODEL), load_native(MODEL)


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    """A real prompt, then seeded random ids up to 600 tokens: past the 512-token sliding window."""
    prompt = torch.tensor([zoo.load_tokenizer(MODEL).encode("The capital of France is")])
    extra = torch.randint(0, 262144, (1, 600 - prompt.shape[1]), generator=torch.Generator().manual_seed(0))
    return torch.cat([prompt, extra], dim=1)


def test_config_reads_gemma3(models):
    _, ours = models
    config = ours.config
    assert config.family == "gemma3"
    assert (config.n_layer, config.n_head, config.n_kv_head, config.head_dim, config.sliding_window) == (18, 4, 1, 256, 512)
    assert config.layer_types.count("full") == 3
    assert ours.num_params() == 268_098_176


def test_short_prompt_logits_equal_transformers(models, ids):
    hf, ours = models
    with torch.inference_mode():
        expected = hf(ids[:, :17]).logits
        logits, _ = ours(ids[:, :17])
    assert float((logits - expected).abs().max()) <= 1e-4
    assert int(logits[0, 5].argmax()) == int(expected[0, 5].argmax())  # after "The capital of France is"


def test_600_tokens_with_the_sliding_window_equal_transformers(models, ids):
    """A 590-token prefill (full-sequence path: the sliding layers see only the last 512 tokens),
    compared at its last position, then 10 cached single-token steps (positions 590…599).
    The cached steps get 2e-4: transformers' own cached decoding of this prompt differs from its
    full-sequence logits by 8e-5 (fp32 summation order; |logits| reach 51)."""
    hf, ours = models
    with torch.inference_mode():
        expected = hf(ids, logits_to_keep=11).logits  # (1, 11, V): positions 589…599
        cache = ours.new_cache(max_length=600)
        prefill, _ = ours(ids[:, :590], cache=cache, last_only=True)  # the head over 262144 × 590 would dominate
        assert float((prefill - expected[:, :1]).abs().max()) <= 1e-4
        steps = torch.cat([ours(ids[:, t:t + 1], cache=cache)[0] for t in range(590, 600)], dim=1)
    assert float((steps - expected[:, 1:]).abs().max()) <= 2e-4
