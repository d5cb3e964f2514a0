"""The web page's bad-input suite: every handler called as the page calls it, with what a user can
type; each case must show the inline message a user sees (no exception escapes, no model runs).

Grow it with every new tab: add a (name, call, expected message) row to CASES. A call returns the
handler's outputs; the status box is its last output.
"""
from __future__ import annotations

import pytest

from llm_playground.ui import common
from llm_playground.ui.tabs import attention, compare, generate, inspect, next_token, tokenize

GEN = dict(model="smollm2-135m-instruct", strategy="greedy", temperature=0.8, top_k=0, top_p=0.95, min_p=0.0,
           repetition_penalty=1.0, max_new_tokens=8, seed=0, num_beams=4, system="", prompt="hi")
NEXT = ["smollm2-135m-instruct", "The capital of France is", 0.8, 0, 1.0, 0.0, 1.0, 10]


def last(outputs):
    return list(outputs)[-1] if not isinstance(outputs, tuple) else outputs


def gen(**changes):
    return lambda: last(generate.generate(**{**GEN, **changes}))


def nxt(index: int, value):
    args = list(NEXT)
    args[index] = value
    return lambda: last(next_token.show_next_tokens(*args))


def size(position: int, value, start: str = "gpt2"):
    values = inspect.preset_values(start)
    values[position] = value
    return lambda: inspect.size_any_model(start, *values)


CASES = [
    # Generate
    ("generate-empty-prompt", gen(prompt="   "), "the prompt is empty"),
    ("generate-no-model", gen(model=""), "choose a model"),
    ("generate-unknown-model", gen(model="llama-9000"), "unknown model 'llama-9000'"),
    ("generate-encoder", gen(model="minilm-l6"), "minilm-l6 is an encoder"),
    ("generate-fractional-tokens", gen(max_new_tokens=2.5), "Max new tokens must be a whole number (got 2.5)"),
    ("generate-zero-tokens", gen(max_new_tokens=0), "max_new_tokens must be at least 1"),
    ("generate-too-many-tokens", gen(max_new_tokens=5000), "the playground allows at most 1024"),
    ("generate-empty-tokens", gen(max_new_tokens=None), "Max new tokens is empty"),
    ("generate-negative-temperature", gen(strategy="sample", temperature=-1), "temperature must be ≥ 0"),
    ("generate-nan-temperature", gen(strategy="sample", temperature=float("nan")),
     "Temperature must be a finite number"),
    ("generate-top-p-over-one", gen(strategy="sample", top_p=1.5), "top_p must be in (0, 1]"),
    ("generate-fractional-top-k", gen(strategy="sample", top_k=2.5), "Top-k must be a whole number"),
    ("generate-fractional-seed", gen(strategy="sample", seed=1.5), "Seed must be a whole number"),
    ("generate-too-many-beams", gen(strategy="beam", num_beams=1000), "num_beams must be between 1 and 64"),
    ("generate-zero-beams", gen(strategy="beam", num_beams=0), "num_beams must be between 1 and 64"),
    ("generate-unknown-strategy", gen(strategy="telepathy"), "choose a strategy"),
    ("generate-zero-repetition-penalty", gen(repetition_penalty=0), "repetition_penalty must be > 0"),
    ("generate-prompt-over-context", gen(model="gpt2", prompt="word " * 1100), "context window is 1024 tokens"),
    ("generate-remote-beam", gen(model="openai@http://127.0.0.1:1/v1:m", strategy="beam", num_beams=2),
     "strategy 'beam' (num_beams) is unavailable for remote model openai@http://127.0.0.1:1/v1:m"),
    ("generate-remote-unreachable", gen(model="openai@http://127.0.0.1:1/v1:m"), "cannot reach http://127.0.0.1:1/v1"),
    ("generate-remote-bad-name", gen(model="anthropic@ftp://x:m"), "after 'anthropic@' comes an http(s) URL"),
    ("next-token-remote", nxt(0, "openai:gpt-4o-mini"), "openai:gpt-4o-mini is a remote model"),
    # Compare
    ("compare-no-model", lambda: last(compare.compare("hi", [], ["greedy"], 8, 0)), "at least one model"),
    ("compare-no-strategy", lambda: last(compare.compare("hi", ["gpt2"], [], 8, 0)), "at least one model and one"),
    ("compare-unknown-strategy", lambda: last(compare.compare("hi", ["gpt2"], ["warm"], 8, 0)), "unknown strategy"),
    ("compare-empty-prompt", lambda: last(compare.compare(" ", ["gpt2"], ["greedy"], 8, 0)), "prompt is empty"),
    ("compare-fractional-tokens", lambda: last(compare.compare("hi", ["gpt2"], ["greedy"], 1.5, 0)),
     "Max new tokens must be a whole number"),
    ("compare-too-many-tokens", lambda: last(compare.compare("hi", ["gpt2"], ["greedy"], 2000, 0)), "at most 1024"),
    # Next token
    ("next-token-empty-prompt", nxt(1, ""), "the prompt is empty"),
    ("next-token-top-p", nxt(4, 1.5), "top_p must be in (0, 1]"),
    ("next-token-empty-temperature", nxt(2, None), "Temperature is empty"),
    ("next-token-too-many-candidates", nxt(7, 99), "between 1 and 50"),
    ("next-token-fractional-candidates", nxt(7, 2.5), "Candidates shown must be a whole number"),
    ("next-token-encoder", nxt(0, "minilm-l6"), "minilm-l6 is an encoder"),
    # Tokenize
    ("tokenize-empty-text", lambda: tokenize.tokenize("  ", ["gpt2"], False), "the text is empty"),
    ("tokenize-no-tokenizer", lambda: tokenize.tokenize("hi", [], False), "choose at least one tokenizer"),
    ("tokenize-special-text", lambda: tokenize.tokenize("a <|endoftext|>", ["gpt2"], False), "<|endoftext|>"),
    ("tokenize-untrained-bpe", lambda: tokenize.tokenize("hi", [tokenize.TRAINED], False, None),
     "no BPE was trained yet"),
    ("train-bpe-vocab-100", lambda: tokenize.train("some text", 100, []), "between 257 and 5000"),
    ("train-bpe-vocab-huge", lambda: tokenize.train("some text", 999999, []), "between 257 and 5000"),
    ("train-bpe-empty-text", lambda: tokenize.train("", 300, []), "training text is empty"),
    # Inspect
    ("inspect-no-model", lambda: last(inspect.inspect_zoo_model("", 2048)), "choose a model"),
    ("inspect-zero-context", lambda: last(inspect.inspect_zoo_model("gpt2", 0)),
     "Context length must be between 1 and 10,000,000 tokens (got 0)"),
    ("inspect-fractional-context", lambda: last(inspect.inspect_zoo_model("gpt2", 1.5)),
     "Context length must be a whole number"),
    ("size-heads-do-not-divide", size(2, 7), "not divisible by n_head 7"),
    ("size-empty-layers", size(0, None), "Layers is empty"),
    ("size-unknown-start", lambda: inspect.size_any_model("nope", *inspect.preset_values("gpt2")),
     "choose an architecture"),
    # Attention
    ("attention-empty-prompt", lambda: last(attention.show_attention("gpt2", "", 0, 0, False)), "prompt is empty"),
    ("attention-layer-out-of-range", lambda: last(attention.show_attention("gpt2", "hi", 12, 0, False)),
     "layer 12 is out of range: gpt2 has 12 layers"),
    ("attention-head-out-of-range", lambda: last(attention.show_attention("gpt2", "hi", 0, 12, False)),
     "head 12 is out of range: gpt2 has 12 heads"),
    ("attention-fractional-layer", lambda: last(attention.show_attention("gpt2", "hi", 0.5, 0, False)),
     "Layer must be a whole number"),
    ("attention-no-model", lambda: last(attention.show_attention("", "hi", 0, 0, False)), "choose a model"),
]


def test_the_suite_is_at_least_thirty_cases():
    assert len(CASES) >= 30 and len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_shows_an_inline_message(case, monkeypatch):
    """The handler returns normally, its status is an error box with the message, and no model
    weights were loaded on the way."""
    _, call, expected = case
    from llm_playground import store

    before = {(row.model, row.engine) for row in store.models.held() if row.engine not in ("tokenizer", "architecture")}
    outputs = call()
    status = outputs[-1]
    assert 'class="llmpg-msg llmpg-error"' in status and common.escape(expected) in status, status
    after = {(row.model, row.engine) for row in store.models.held() if row.engine not in ("tokenizer", "architecture")}
    assert after == before
