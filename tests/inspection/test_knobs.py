"""The next-token distribution before and after the knobs (inspection/knobs.py)."""
import math

import pytest
import torch

from llm_playground.errors import PlaygroundError
from llm_playground.generation.config import GenerationConfig
from llm_playground.inspection.knobs import knob_effect, knob_rows, processed_probs, sampling_config

LOGITS = torch.tensor([3.0, 2.0, 1.0, 0.5, -1.0])  # ids 0..4, most likely first


def softmax(values):
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_no_knobs_leaves_the_distribution_unchanged():
    rows = knob_rows(LOGITS, [], GenerationConfig(strategy="sample"), 5, str)
    expected = softmax(LOGITS.tolist())
    assert [r.id for r in rows] == [0, 1, 2, 3, 4]
    for row, p in zip(rows, expected):
        assert row.prob_before == pytest.approx(p, abs=1e-6)
        assert row.prob_after == pytest.approx(p, abs=1e-6)


def test_temperature_divides_the_logits():
    rows = knob_rows(LOGITS, [], GenerationConfig(strategy="sample", temperature=0.5), 5, str)
    expected = softmax([v / 0.5 for v in LOGITS.tolist()])
    assert [r.prob_after for r in rows] == pytest.approx(expected, abs=1e-6)
    assert rows[0].prob_after > rows[0].prob_before  # T < 1 sharpens


def test_top_k_keeps_k_tokens_renormalised():
    rows = knob_rows(LOGITS, [], GenerationConfig(strategy="sample", top_k=2), 5, str)
    kept = softmax(LOGITS.tolist()[:2])
    assert [r.prob_after for r in rows] == pytest.approx([*kept, 0.0, 0.0, 0.0], abs=1e-6)
    assert [r.kept for r in rows] == [True, True, False, False, False]


def test_top_p_keeps_the_smallest_set_reaching_p():
    before = softmax(LOGITS.tolist())  # 0.61, 0.22, 0.08, … : the first two reach 0.83
    rows = knob_rows(LOGITS, [], GenerationConfig(strategy="sample", top_p=0.8), 5, str)
    assert [r.kept for r in rows] == [True, True, False, False, False]
    assert rows[0].prob_after == pytest.approx(before[0] / (before[0] + before[1]), abs=1e-6)


def test_temperature_zero_is_greedy_one_hot():
    probs, processors = processed_probs(LOGITS, [], GenerationConfig(strategy="sample", temperature=0))
    assert probs.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert processors == []


def test_repetition_penalty_reads_the_context():
    rows = knob_rows(LOGITS, [0], GenerationConfig(strategy="sample", repetition_penalty=2.0), 5, str)
    expected = softmax([1.5, 2.0, 1.0, 0.5, -1.0])  # token 0 was seen: its positive logit is halved
    by_id = {r.id: r.prob_after for r in rows}
    assert [by_id[i] for i in range(5)] == pytest.approx(expected, abs=1e-6)


def test_rows_add_tokens_the_knobs_promote():
    # Penalising token 0 hard makes token 1 the favourite after; with top_n=1 both are listed.
    rows = knob_rows(LOGITS, [0], GenerationConfig(strategy="sample", repetition_penalty=10.0), 1, str)
    assert [r.id for r in rows] == [0, 1]


def test_greedy_and_beam_configs_become_sampling_configs():
    assert sampling_config(GenerationConfig()).strategy == "sample"
    assert sampling_config(GenerationConfig(strategy="beam", num_beams=3)).num_beams == 1
    with pytest.raises(PlaygroundError, match="at least 1"):
        knob_rows(LOGITS, [], GenerationConfig(), 0, str)


@pytest.mark.slow
def test_knob_effect_on_smollm2_matches_the_next_token_table():
    from llm_playground.inspection.next_token import next_token_table

    effect = knob_effect("smollm2-135m-instruct", "The capital of France is",
                         GenerationConfig(strategy="sample", top_k=3), top_n=5)
    table = next_token_table("smollm2-135m-instruct", "The capital of France is", top_k=5)
    assert [r.id for r in effect.rows] == [r.id for r in table.rows]
    assert [r.prob_before for r in effect.rows] == pytest.approx([r.prob for r in table.rows], abs=1e-5)
    assert effect.kept == 3 and sum(r.kept for r in effect.rows) == 3
    assert sum(r.prob_after for r in effect.rows) == pytest.approx(1.0, abs=1e-5)
    assert effect.processors == ["TopK(top_k=3)"]
