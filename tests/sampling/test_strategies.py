"""Greedy picks the argmax; seeded sampling reproduces and draws only surviving tokens."""
import math

import torch

from llm_playground.sampling.strategies import make_generator, select_greedy, select_sample


def test_greedy_takes_the_argmax_of_each_row():
    scores = torch.tensor([[0.1, 2.0, -1.0], [-math.inf, -math.inf, 0.0], [3.0, 3.0, 1.0]])
    assert select_greedy(scores).tolist() == [1, 2, 0]  # a tie goes to the lowest id


def test_seeded_sampling_reproduces_and_another_seed_differs():
    scores = torch.randn(4, 100, generator=torch.Generator().manual_seed(0))
    draws = lambda seed: [select_sample(scores, g).tolist() for g in [make_generator(seed)] for _ in range(20)]
    assert draws(1234) == draws(1234)
    assert draws(1234) != draws(4321)


def test_sampling_never_draws_a_masked_token():
    scores = torch.tensor([[0.0, -math.inf, 0.0, -math.inf, 5.0]])
    generator = make_generator(0)
    tokens = {select_sample(scores, generator).item() for _ in range(300)}
    assert tokens == {0, 2, 4}


def test_sampling_frequencies_follow_the_softmax():
    probs = torch.tensor([0.6, 0.3, 0.1])
    scores = probs.log().expand(20_000, 3)
    counts = torch.bincount(select_sample(scores, make_generator(7)), minlength=3) / 20_000
    torch.testing.assert_close(counts, probs, atol=0.015, rtol=0)


def test_unseeded_generators_differ():
    scores = torch.zeros(10, 1000)  # uniform: two unseeded generators agree with probability 1e-30
    assert select_sample(scores, make_generator(None)).tolist() != select_sample(scores, make_generator(None)).tolist()
