"""Kaplan and Chinchilla laws with the published constants, computed by hand here."""
import math

import numpy as np
import pytest

from llm_playground.errors import PlaygroundError
from llm_playground.scaling import CHINCHILLA, KAPLAN, training_flops
from llm_playground.scaling.laws import PF_DAY


def test_published_constants():
    assert (KAPLAN.n_c, KAPLAN.alpha_n, KAPLAN.d_c, KAPLAN.alpha_d) == (8.8e13, 0.076, 5.4e13, 0.095)
    assert KAPLAN.optimal_params_exponent == 0.73
    assert (CHINCHILLA.e, CHINCHILLA.a, CHINCHILLA.b, CHINCHILLA.alpha, CHINCHILLA.beta) == (
        1.69, 406.4, 410.7, 0.34, 0.28)


def test_six_nd():
    assert training_flops(70e9, 1.4e12) == pytest.approx(5.88e23)
    assert PF_DAY == pytest.approx(8.64e19)


def test_kaplan_losses():
    assert KAPLAN.loss_from_params(1e9) == pytest.approx((8.8e13 / 1e9) ** 0.076)
    assert KAPLAN.loss_from_params(1e9) == pytest.approx(2.375, abs=1e-3)
    assert KAPLAN.loss_from_tokens(1e10) == pytest.approx((5.4e13 / 1e10) ** 0.095)
    # L(N, D) tends to L(N) when data is unlimited and to L(D) when the model is huge.
    assert KAPLAN.loss(1e9, 1e30) == pytest.approx(KAPLAN.loss_from_params(1e9), rel=1e-6)
    assert KAPLAN.loss(1e30, 1e10) == pytest.approx(KAPLAN.loss_from_tokens(1e10), rel=1e-6)
    assert KAPLAN.loss_from_compute(PF_DAY) == pytest.approx(3.1e8 ** 0.05)


def test_kaplan_allocation_at_one_pf_day():
    assert KAPLAN.optimal_params(PF_DAY) == pytest.approx(1.3e9)
    assert 6 * KAPLAN.optimal_params(1e22) * KAPLAN.optimal_tokens(1e22) == pytest.approx(1e22)


def test_chinchilla_loss_and_closed_form():
    assert CHINCHILLA.loss(70e9, 1.4e12) == pytest.approx(1.69 + 406.4 / 70e9 ** 0.34 + 410.7 / 1.4e12 ** 0.28)
    a, b = 0.28 / 0.62, 0.34 / 0.62
    g = (0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.62)
    assert CHINCHILLA.params_exponent == pytest.approx(a)
    assert CHINCHILLA.optimal_params(1e24) == pytest.approx(g * (1e24 / 6) ** a)
    assert CHINCHILLA.optimal_tokens(1e24) == pytest.approx((1e24 / 6) ** b / g)
    assert CHINCHILLA.optimal_flops_for_params(CHINCHILLA.optimal_params(1e24)) == pytest.approx(1e24)


def test_closed_form_agrees_with_a_brute_force_search():
    flops = 3.15e23
    params = np.geomspace(1e9, 1e12, 20001)
    losses = CHINCHILLA.loss(params, flops / (6 * params))
    assert params[np.argmin(losses)] == pytest.approx(CHINCHILLA.optimal_params(flops), rel=1e-3)


def test_laws_accept_arrays_and_reject_non_positive_values():
    losses = CHINCHILLA.loss(np.array([1e9, 1e10]), np.array([2e10, 2e11]))
    assert losses.shape == (2,) and losses[1] < losses[0]
    with pytest.raises(PlaygroundError, match="params"):
        KAPLAN.loss_from_params(0)
    with pytest.raises(PlaygroundError, match="tokens"):
        CHINCHILLA.loss(1e9, -5)
    assert math.isfinite(KAPLAN.loss_from_compute(1e20))
