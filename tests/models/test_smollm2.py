"""Our engine with SmolLM2-135M-Instruct's real weights against transformers, fp32, max |Δlogit| ≤ 1e-4."""
from __future__ import annotations

import time

import pytest
import torch

from llm_playground import zoo
from llm_playground.models import load_native

pytestmark = pytest.mark.slow
MODEL = "smollm2-135m-instruct"
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def models():
    """(transformers model, our model), loaded once for the module; also how long ours took to load."""
    hf = zoo.load_hf_model(MODEL)
    zoo.model_dir(MODEL)  # converted and hash-checked before we time our loader
    start = time.perf_counter()
    ours = load_native(MODEL)
    return hf, ours, time.perf_counter() - start


@pytest.fixture(scope="module")
def expected(models):
    """transformers' full-sequence logits for prompts of 1, 17 and 512 tokens (each computed once)."""
    hf = models[0]
    with torch.inference_mode():
        return {length: hf(_ids(length)).logits for length in (1, 17, 512)}


def _ids(length: int) -> torch.Tensor:
    """Real text for short prompts; seeded random ids to fill long ones."""
    text = zoo.load_tokenizer(MODEL).encode("The capital of France is Paris. It is known for the Eiffel Tower and")
    ids = torch.tensor([text])
    if length > ids.shape[1]:
        extra = torch.randint(0, 49152, (1, length - ids.shape[1]), generator=torch.Generator().manual_seed(0))
        ids = torch.cat([ids, extra], dim=1)
    return ids[:, :length]


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def test_config_and_weights_are_smollm2(models):
    _, ours, seconds = models
    assert ours.config.family == "llama"
    assert (ours.config.n_layer, ours.config.n_head, ours.config.n_kv_head, ours.config.n_embd) == (30, 9, 3, 576)
    assert ours.num_params() == 134_515_008
    assert ours.lm_head.weight is ours.wte.weight
    print(f"load_native({MODEL!r}) took {seconds:.2f} s")  # the < 2 s target is checked by eye, not asserted


@pytest.mark.parametrize("length", [1, 17, 512])
def test_full_sequence_logits_equal_transformers(models, expected, length):
    ours = models[1]
    with torch.inference_mode():
        logits, _ = ours(_ids(length))
    assert logits.shape == expected[length].shape == (1, length, 49152)
    assert _max_diff(logits, expected[length]) <= TOLERANCE


def test_token_by_token_with_cache_equals_transformers_full_sequence(models, expected):
    ours = models[1]
    idx = _ids(17)
    with torch.inference_mode():
        cache = ours.new_cache(max_length=17)
        steps = torch.cat([ours(idx[:, t:t + 1], cache=cache)[0] for t in range(17)], dim=1)
    assert _max_diff(steps, expected[17]) <= TOLERANCE


def test_512_tokens_through_the_cache_equal_transformers_full_sequence(models, expected):
    """Prefill in two chunks (the second needs the shifted causal mask), then 32 single-token steps
    at positions 480…511 (RoPE far from 0); every one of the 512 positions is compared."""
    ours = models[1]
    idx = _ids(512)
    with torch.inference_mode():
        cache = ours.new_cache(max_length=512)
        pieces = [ours(idx[:, :256], cache=cache)[0], ours(idx[:, 256:480], cache=cache)[0]]
        pieces += [ours(idx[:, t:t + 1], cache=cache)[0] for t in range(480, 512)]
    assert _max_diff(torch.cat(pieces, dim=1), expected[512]) <= TOLERANCE
