"""The Chinchilla calculator against the paper's published Table 3, and GPT-3 against the frontier."""
import math

import pytest

from llm_playground.errors import PlaygroundError, UnknownNameError
from llm_playground.scaling import (
    APPROACHES, CHINCHILLA, CHINCHILLA_TABLE_3, all_allocations, check_model, optimal_allocation,
    training_flops,
)
from llm_playground.scaling.allocation import APPROACH1_EXPONENT

# Hoffmann et al. 2022, Table 3 (typed in again here, independently of the module's copy):
# parameters → (compute-optimal FLOPs, compute-optimal tokens).
PAPER = {
    1e9: (1.21e20, 20.2e9),
    10e9: (1.23e22, 205.1e9),
    67e9: (5.76e23, 1.5e12),
    175e9: (3.85e24, 3.7e12),
}


def within(value, expected, tolerance=0.10):
    return abs(value / expected - 1.0) <= tolerance


def test_the_module_holds_the_published_table():
    rows = {row.params: (row.flops, row.tokens) for row in CHINCHILLA_TABLE_3}
    for params, published in PAPER.items():
        assert rows[params] == published
    assert len(rows) == 9 and rows[10e12] == (1.30e28, 216.2e12)


@pytest.mark.parametrize("params", sorted(PAPER))
def test_optimal_tokens_and_flops_match_table_3_within_10_percent(params):
    paper_flops, paper_tokens = PAPER[params]
    allocation = optimal_allocation(params=params)
    assert allocation.approach == "approach1"
    assert allocation.params == params
    assert within(allocation.tokens, paper_tokens), (allocation.tokens, paper_tokens)
    assert within(allocation.flops, paper_flops), (allocation.flops, paper_flops)
    assert allocation.flops == pytest.approx(6 * params * allocation.tokens)  # C = 6ND
    # The 6ND FLOPs of the published (N, D) pairs agree with the published FLOPs too.
    assert within(training_flops(params, paper_tokens), paper_flops)


@pytest.mark.parametrize("params", sorted(PAPER))
def test_twenty_tokens_per_parameter_rule_also_lands_near_the_table(params):
    paper_flops, paper_tokens = PAPER[params]
    allocation = optimal_allocation(params=params, approach="tokens20")
    assert allocation.tokens == pytest.approx(20 * params)
    assert within(allocation.flops, paper_flops, 0.10)


def test_table_exponent_matches_the_papers_approach_1_exponent():
    # Table 2 of the paper: Approach 1 gives N_opt ∝ C^a with a = 0.50 (CI 0.488–0.502).
    assert 0.488 <= APPROACH1_EXPONENT <= 0.502


def test_budget_and_size_are_inverse_directions():
    for approach in APPROACHES:
        by_size = optimal_allocation(params=7e9, approach=approach)
        by_budget = optimal_allocation(flops=by_size.flops, approach=approach)
        assert by_budget.params == pytest.approx(7e9, rel=1e-9)
        assert by_budget.tokens == pytest.approx(by_size.tokens, rel=1e-9)


def test_gopher_budget_gives_chinchilla_sized_model():
    # The paper spends Gopher's 5.76e23 FLOPs on a ~70B model with ~1.4T tokens.
    allocation = optimal_allocation(flops=5.76e23)
    assert within(allocation.params, 67e9, 0.05)
    assert within(allocation.tokens, 1.4e12, 0.05)


def test_approach3_closed_form_is_the_minimum_of_the_parametric_loss():
    flops = 1e22
    best = optimal_allocation(flops=flops, approach="approach3")
    assert best.params == pytest.approx(CHINCHILLA.optimal_params(flops))
    for factor in (0.8, 0.95, 1.05, 1.25):  # any other split of the same budget is worse
        params = best.params * factor
        assert CHINCHILLA.loss(params, flops / (6 * params)) > best.predicted_loss
    # With the paper's rounded constants it asks for more data per parameter than Approach 1.
    assert best.tokens_per_param > 2 * optimal_allocation(flops=flops).tokens_per_param


def test_kaplan_puts_extra_compute_into_model_size():
    small, large = (optimal_allocation(flops=c, approach="kaplan") for c in (1e21, 1e23))
    assert large.params / small.params == pytest.approx(100 ** 0.73)
    chinchilla_small, chinchilla_large = optimal_allocation(flops=1e21), optimal_allocation(flops=1e23)
    assert large.params / small.params > chinchilla_large.params / chinchilla_small.params


def test_gpt3_check():
    check = check_model(175e9, 300e9)
    assert check.tokens_per_param == pytest.approx(1.714, abs=1e-3)
    assert check.flops == pytest.approx(3.15e23)
    # GPT-3 by Chinchilla's fit: 1.69 + 406.4/175e9^0.34 + 410.7/300e9^0.28
    assert check.predicted_loss == pytest.approx(1.69 + 406.4 / 175e9 ** 0.34 + 410.7 / 300e9 ** 0.28)
    headline = check.same_compute[0]
    assert headline.approach == "approach1"
    assert 45e9 < headline.params < 55e9 and 0.95e12 < headline.tokens < 1.15e12
    assert headline.predicted_loss < check.predicted_loss  # same compute, better split, lower loss
    assert within(check.same_params.tokens, 3.7e12)
    text = check.summary()
    assert "1.7 tokens/param" in text and "Approach 1" in text and "12.3× fewer tokens" in text and "under-trained" in text
    assert "over-trained" in check_model(7e9, 2e12).summary()


def test_all_allocations_lists_every_approach_once_headline_first():
    names = [a.approach for a in all_allocations(params=1e9)]
    assert names[0] == "approach1" and sorted(names) == sorted(APPROACHES)


def test_bad_requests_are_user_errors():
    with pytest.raises(PlaygroundError, match="exactly one"):
        optimal_allocation(params=1e9, flops=1e20)
    with pytest.raises(PlaygroundError, match="exactly one"):
        optimal_allocation()
    with pytest.raises(UnknownNameError, match="approach1"):
        optimal_allocation(params=1e9, approach="nope")
    with pytest.raises(PlaygroundError):
        check_model(-1, 10)
    assert math.isfinite(optimal_allocation(flops=1e18).predicted_loss)
