"""The vectorised MoE layer against a per-token loop, and the balancing loss by hand."""
import pytest
import torch

from llm_playground.errors import PlaygroundError
from llm_playground.models.moe import MoEFeedForward, coefficient_of_variation, moe_reference_loop


def _layer(seed=0, **kwargs):
    torch.manual_seed(seed)
    options = dict(d_model=16, d_ff=24, n_experts=6, top_k=2) | kwargs
    return MoEFeedForward(**options).double()


@pytest.mark.parametrize("top_k", [1, 2, 3])
def test_vectorised_equals_per_token_loop(top_k):
    layer = _layer(top_k=top_k)
    x = torch.randn(3, 11, 16, dtype=torch.float64)
    result = layer(x)
    expected, counts = moe_reference_loop(layer, x)
    assert result.output.shape == x.shape
    torch.testing.assert_close(result.output, expected, rtol=1e-10, atol=1e-12)
    assert result.tokens_per_expert.tolist() == counts.tolist()
    assert int(result.tokens_per_expert.sum()) == top_k * 33 and result.dropped == 0


@pytest.mark.parametrize("capacity_factor", [0.5, 1.0, 1.25])
def test_capacity_drops_the_same_assignments_as_the_loop(capacity_factor):
    layer = _layer(seed=2, capacity_factor=capacity_factor)
    with torch.no_grad():
        layer.router.weight[0] += 0.5  # lean towards expert 0 so that it overflows
    x = torch.randn(40, 16, dtype=torch.float64)
    result = layer(x)
    expected, counts = moe_reference_loop(layer, x)
    torch.testing.assert_close(result.output, expected, rtol=1e-10, atol=1e-12)
    capacity = layer.capacity(40)
    assert capacity == -(-int(capacity_factor * 2 * 40) // 6)
    assert result.dropped == int(torch.clamp(counts - capacity, min=0).sum())
    if capacity_factor == 0.5:
        assert result.dropped > 0


def test_gates_are_renormalised_softmax_over_the_chosen_experts():
    layer = _layer(seed=3, top_k=3)
    x = torch.randn(20, 16, dtype=torch.float64)
    probs, chosen, gates = layer.route(x)
    torch.testing.assert_close(gates.sum(-1), torch.ones(20, dtype=torch.float64))
    chosen_logits = layer.router(x).gather(-1, chosen)
    torch.testing.assert_close(gates, torch.softmax(chosen_logits, dim=-1))
    assert torch.all(probs.gather(-1, chosen)[:, 0] == probs.max(-1).values)


def test_balancing_loss_by_hand():
    layer = _layer(n_experts=4, top_k=1)
    with torch.no_grad():
        layer.router.weight.zero_()  # uniform probabilities: P_e = 1/4 for every expert
    x = torch.randn(8, 16, dtype=torch.float64)
    result = layer(x)
    assert sorted(result.tokens_per_expert.tolist()) == [0, 0, 0, 8]  # a four-way tie: one expert wins all
    torch.testing.assert_close(result.aux_loss, torch.tensor(1.0, dtype=torch.float64))  # 4 · (1 · 1/4)
    with torch.no_grad():
        layer.router.weight[0, 0] = 50.0  # expert 0 wins wherever x[0] > 0, with probability ≈ 1
    x = torch.zeros(4, 16, dtype=torch.float64)
    x[:, 0] = 1.0
    collapsed = layer(x)
    assert collapsed.tokens_per_expert.tolist() == [4, 0, 0, 0]
    torch.testing.assert_close(collapsed.aux_loss, torch.tensor(4.0, dtype=torch.float64))  # the maximum, E


def test_balancing_loss_has_gradient_only_through_the_router():
    layer = _layer()
    layer(torch.randn(10, 16, dtype=torch.float64)).aux_loss.backward()
    assert layer.router.weight.grad is not None and layer.router.weight.grad.abs().sum() > 0
    assert layer.w_in.grad is None and layer.w_out.grad is None


def test_coefficient_of_variation():
    assert coefficient_of_variation(torch.tensor([5, 5, 5, 5])) == 0.0
    assert coefficient_of_variation(torch.tensor([4, 0, 0, 0])) == pytest.approx(3 ** 0.5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(top_k=7), "top_k must be between"), (dict(top_k=0), "top_k must be between"),
    (dict(capacity_factor=0.0), "capacity_factor"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(PlaygroundError, match=message):
        MoEFeedForward(**(dict(d_model=8, d_ff=8, n_experts=6, top_k=2) | kwargs))
