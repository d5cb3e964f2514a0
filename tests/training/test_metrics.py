"""Cross-entropy and perplexity: our readable version equals torch's; the explainer's numbers."""
import math

import numpy as np
import pytest
import torch

from llm_playground.errors import PlaygroundError
from llm_playground.training.metrics import (
    cross_entropy, explain_loss, log_softmax, loss_from_target_probabilities, perplexity,
)
from llm_playground.training.ngram import NGramModel


def test_cross_entropy_equals_torch():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 5, 40, generator=generator) * 4
    targets = torch.randint(0, 40, (3, 5), generator=generator)
    expected = torch.nn.functional.cross_entropy(logits.double().reshape(-1, 40), targets.reshape(-1)).item()
    assert cross_entropy(logits, targets) == pytest.approx(expected, rel=1e-12)


def test_log_softmax_is_stable_for_huge_logits():
    logits = torch.tensor([[1000.0, 0.0, -1000.0], [5e4, 5e4, 5e4]], dtype=torch.float64)
    np.testing.assert_allclose(log_softmax(logits), torch.log_softmax(logits, -1).numpy(), atol=1e-12)
    assert cross_entropy(logits, [0, 2]) == pytest.approx(math.log(3) / 2)


def test_uniform_logits_give_loss_ln_v_and_perplexity_v():
    loss = cross_entropy(np.zeros((10, 65)), np.arange(10))
    assert loss == pytest.approx(math.log(65))
    assert perplexity(loss) == pytest.approx(65)


def test_loss_from_target_probabilities():
    assert loss_from_target_probabilities([0.5, 0.25]) == pytest.approx(1.5 * math.log(2))
    assert perplexity(loss_from_target_probabilities([0.5, 0.25])) == pytest.approx(2 ** 1.5)
    assert loss_from_target_probabilities([0.0, 0.5]) == math.inf
    with pytest.raises(PlaygroundError):
        loss_from_target_probabilities([1.5])


def test_ngram_loss_is_the_same_cross_entropy():
    ids = [0, 1, 2, 0, 1, 2, 1, 0, 2, 2, 1]
    model = NGramModel(2).fit(ids)
    probabilities = np.exp(model.target_logprobs(ids))
    assert model.cross_entropy(ids) == pytest.approx(loss_from_target_probabilities(probabilities))


def test_explanation_numbers_and_text():
    explanation = explain_loss(1.47, vocab_size=65, tokens=1000, baselines={"trigram": 2.03},
                               examples=[("e", 0.5)])
    assert explanation.perplexity == pytest.approx(math.exp(1.47))
    assert explanation.bits_per_token == pytest.approx(1.47 / math.log(2))
    assert explanation.uniform_loss == pytest.approx(math.log(65))
    assert explanation.examples[0].loss == pytest.approx(math.log(2))
    text = explanation.text()
    assert "1.4700 nats/token" in text and "4.349" in text and "ln V = 4.1744" in text
    assert "−ln p = 0.6931" in text and "trigram: loss 2.0300" in text and "higher" in text
    assert explanation.to_dict()["uniform_loss"] == pytest.approx(math.log(65))


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, "1.2"])
def test_explain_rejects_impossible_losses(bad):
    with pytest.raises(PlaygroundError, match="loss"):
        explain_loss(bad)
