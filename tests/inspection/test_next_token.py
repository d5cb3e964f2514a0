"""Next-token tables: the top-k arithmetic on a hand-made tensor, and our engine == transformers on SmolLM2."""
from __future__ import annotations

import json
import math

import pytest
import torch

from llm_playground.cli import main
from llm_playground.errors import PlaygroundError
from llm_playground.inspection.next_token import next_token_table, top_k_rows


def test_top_k_rows_by_hand():
    logits = torch.tensor([1.0, 3.0, 2.0, 3.0])
    rows = top_k_rows(logits, 3, decode=lambda i: "abcd"[i])
    total = math.e ** 1 + 2 * math.e ** 3 + math.e ** 2
    assert [(r.rank, r.id, r.token) for r in rows] == [(1, 1, "b"), (2, 3, "d"), (3, 2, "c")]  # tie: lower id first
    assert [r.logit for r in rows] == [3.0, 3.0, 2.0]
    assert rows[0].prob == pytest.approx(math.e ** 3 / total, abs=1e-7)
    assert rows[2].prob == pytest.approx(math.e ** 2 / total, abs=1e-7)
    assert rows[2].cumulative_prob == pytest.approx((2 * math.e ** 3 + math.e ** 2) / total, abs=1e-7)


def test_top_k_is_clipped_to_the_vocabulary_and_must_be_positive():
    rows = top_k_rows(torch.zeros(3), 10, decode=str)
    assert [r.id for r in rows] == [0, 1, 2]
    assert rows[-1].cumulative_prob == pytest.approx(1.0)
    with pytest.raises(PlaygroundError, match=r"top_k must be between 1 and 200 \(got 0\)"):
        top_k_rows(torch.zeros(3), 0, decode=str)
    with pytest.raises(PlaygroundError, match=r"top_k must be between 1 and 200 \(got 999999\)"):
        top_k_rows(torch.zeros(3), 999999, decode=str)


@pytest.mark.slow
def test_native_and_hf_tables_agree_on_smollm2():
    prompt = "The capital of France is"
    native = next_token_table("smollm2-135m-instruct", prompt, top_k=5, backend="native")
    hf = next_token_table("smollm2-135m-instruct", prompt, top_k=5, backend="hf")
    assert native.prompt_ids == hf.prompt_ids
    assert [r.id for r in native.rows] == [r.id for r in hf.rows]
    assert native.rows[0].token == " Paris"
    for ours, theirs in zip(native.rows, hf.rows):
        assert abs(ours.prob - theirs.prob) <= 1e-4
        assert abs(ours.logit - theirs.logit) <= 1e-4
        assert abs(ours.cumulative_prob - theirs.cumulative_prob) <= 1e-4


@pytest.mark.slow
def test_cli_json_is_the_same_for_both_backends(capsys):
    tables = {}
    for backend in ("native", "hf"):
        assert main(["next-token", "--model", "smollm2-135m-instruct", "--prompt", "The capital of France is",
                     "--top-k", "5", "--backend", backend, "--json"]) == 0
        tables[backend] = json.loads(capsys.readouterr().out)
    native, hf = tables["native"]["rows"], tables["hf"]["rows"]
    assert len(native) == 5
    assert [r["id"] for r in native] == [r["id"] for r in hf]
    assert max(abs(a["prob"] - b["prob"]) for a, b in zip(native, hf)) <= 1e-4


@pytest.mark.slow
def test_prompt_longer_than_the_context_is_refused(capsys):
    with pytest.raises(PlaygroundError, match="context window is 8192 tokens"):
        next_token_table("smollm2-135m-instruct", "word " * 9000, backend="native")
    assert main(["next-token", "--model", "minilm-l6", "--prompt", "hi"]) == 1
    assert "is an encoder" in capsys.readouterr().err
