"""The two published scaling laws, with their constants, as plain functions of N, D and C.

Symbols, as in the papers:
    N  parameters (Kaplan: non-embedding parameters; Chinchilla: all parameters)
    D  training tokens
    C  training compute in FLOPs; for a dense transformer C ≈ 6·N·D
       (2 FLOPs per parameter per token forward, 4 backward: Kaplan et al. 2020, §2.1)
    L  cross-entropy loss in nats per token on the paper's own validation text

The two losses are measured on different text with different tokenizers (Kaplan: WebText2 with
GPT-2's BPE; Chinchilla: MassiveText with a SentencePiece vocabulary), so compare their *shapes*
and their allocations, not their absolute values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from llm_playground.errors import PlaygroundError

FLOPS_PER_PARAM_PER_TOKEN = 6.0
"""Training FLOPs per parameter per token: 2 in the forward pass, 4 in the backward pass."""

PF_DAY = 1e15 * 24 * 3600
"""One petaflop/s-day in FLOPs (8.64e19), the compute unit of Kaplan et al. 2020."""


def training_flops(params: float, tokens: float) -> float:
    """C ≈ 6·N·D: FLOPs to train `params` parameters on `tokens` tokens.

    >>> f"{training_flops(175e9, 300e9):.3g}"
    '3.15e+23'
    """
    return FLOPS_PER_PARAM_PER_TOKEN * params * tokens


def _positive(name: str, value) -> np.ndarray | float:
    array = np.asarray(value, dtype=np.float64)
    if not np.all(array > 0):
        raise PlaygroundError(f"{name} must be positive (got {value!r})")
    return float(array) if array.ndim == 0 else array


@dataclass(frozen=True)
class KaplanLaw:
    """Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (arXiv:2001.08361).

    L(N) = (N_c / N)^α_N for a model trained to convergence (eq. 1.1),
    L(D) = (D_c / D)^α_D for a large model stopped early at D tokens (eq. 1.2),
    L(N, D) = [(N_c / N)^(α_N/α_D) + D_c / D]^α_D (eq. 1.5),
    L(C_min) = (C_c / C_min)^α_C along the compute-efficient frontier (eq. 1.3),
    N_opt(C_min) = 1.3e9 · (C_min / PF-day)^0.73 (Figure 14; the paper's "N ∝ C^0.73").
    """

    n_c: float = 8.8e13
    """N_c: the non-embedding parameter scale of L(N)."""
    alpha_n: float = 0.076
    """α_N: the exponent of L(N)."""
    d_c: float = 5.4e13
    """D_c: the token scale of L(D)."""
    alpha_d: float = 0.095
    """α_D: the exponent of L(D)."""
    c_c_pf_days: float = 3.1e8
    """C_c^min in PF-days: the compute scale of the compute-efficient frontier L(C_min)."""
    alpha_c: float = 0.050
    """α_C^min: the exponent of L(C_min)."""
    optimal_params_at_1_pf_day: float = 1.3e9
    """Compute-optimal non-embedding parameters at C_min = 1 PF-day."""
    optimal_params_exponent: float = 0.73
    """N_opt ∝ C_min^0.73: Kaplan's allocation favours model size over data."""

    def loss_from_params(self, params):
        """L(N): the loss of an N-parameter model trained to convergence (nats/token)."""
        return (self.n_c / _positive("params", params)) ** self.alpha_n

    def loss_from_tokens(self, tokens):
        """L(D): the loss of a large model trained (early-stopped) on D tokens (nats/token)."""
        return (self.d_c / _positive("tokens", tokens)) ** self.alpha_d

    def loss(self, params, tokens):
        """L(N, D): both limits at once (eq. 1.5)."""
        n = _positive("params", params)
        d = _positive("tokens", tokens)
        return ((self.n_c / n) ** (self.alpha_n / self.alpha_d) + self.d_c / d) ** self.alpha_d

    def loss_from_compute(self, flops):
        """L(C_min): the loss on the compute-efficient frontier for a budget of `flops`."""
        pf_days = _positive("flops", flops) / PF_DAY
        return (self.c_c_pf_days / pf_days) ** self.alpha_c

    def optimal_params(self, flops):
        """N_opt(C): Kaplan's compute-optimal (non-embedding) model size for a FLOP budget."""
        pf_days = _positive("flops", flops) / PF_DAY
        return self.optimal_params_at_1_pf_day * pf_days ** self.optimal_params_exponent

    def optimal_tokens(self, flops):
        """D_opt(C) = C / (6 N_opt): the tokens that budget leaves for the optimal model."""
        return _positive("flops", flops) / (FLOPS_PER_PARAM_PER_TOKEN * self.optimal_params(flops))


@dataclass(frozen=True)
class ChinchillaLaw:
    """Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (arXiv:2203.15556).

    Approach 3, the parametric fit (eq. 10): L(N, D) = E + A / N^α + B / D^β, with the constants
    printed in the paper's text (§3.3). Minimising it under C = 6ND gives the closed form (eq. 4)
        N_opt(C) = G (C/6)^a,  D_opt(C) = G⁻¹ (C/6)^b,
        a = β/(α+β),  b = α/(α+β),  G = (αA / βB)^(1/(α+β)).
    Note: with these rounded constants the frontier asks for *more* tokens per parameter than
    the paper's Approaches 1 and 2 (≈ 20); Besiroglu et al. 2024 (arXiv:2404.10102) trace this to
    the rounding and to an unconverged fit. `allocation` offers both.
    """

    e: float = 1.69
    """E: the irreducible loss (entropy of the text)."""
    a: float = 406.4
    """A: the coefficient of the model-size term."""
    b: float = 410.7
    """B: the coefficient of the data term."""
    alpha: float = 0.34
    """α: the exponent of the model-size term."""
    beta: float = 0.28
    """β: the exponent of the data term."""

    def loss(self, params, tokens):
        """L(N, D) in nats/token."""
        n = _positive("params", params)
        d = _positive("tokens", tokens)
        return self.e + self.a / n ** self.alpha + self.b / d ** self.beta

    @property
    def params_exponent(self) -> float:
        """a = β/(α+β): N_opt ∝ C^a."""
        return self.beta / (self.alpha + self.beta)

    @property
    def tokens_exponent(self) -> float:
        """b = α/(α+β): D_opt ∝ C^b."""
        return self.alpha / (self.alpha + self.beta)

    @property
    def g(self) -> float:
        """G = (αA / βB)^(1/(α+β))."""
        return (self.alpha * self.a / (self.beta * self.b)) ** (1.0 / (self.alpha + self.beta))

    def optimal_params(self, flops):
        """N_opt(C) = G (C/6)^a."""
        c = _positive("flops", flops)
        return self.g * (c / FLOPS_PER_PARAM_PER_TOKEN) ** self.params_exponent

    def optimal_tokens(self, flops):
        """D_opt(C) = G⁻¹ (C/6)^b  (so that 6·N_opt·D_opt = C)."""
        c = _positive("flops", flops)
        return (c / FLOPS_PER_PARAM_PER_TOKEN) ** self.tokens_exponent / self.g

    def optimal_flops_for_params(self, params):
        """The budget C for which `params` is the compute-optimal size: inverts N_opt(C)."""
        n = _positive("params", params)
        return FLOPS_PER_PARAM_PER_TOKEN * (n / self.g) ** (1.0 / self.params_exponent)

    def optimal_loss(self, flops):
        """L(N_opt(C), D_opt(C)): the lowest loss the fit predicts for a budget."""
        return self.loss(self.optimal_params(flops), self.optimal_tokens(flops))


KAPLAN = KaplanLaw()
"""Kaplan et al. 2020 with the published constants."""
CHINCHILLA = ChinchillaLaw()
"""Hoffmann et al. 2022, Approach 3, with the published constants."""


def tokens_per_param(params: float, tokens: float) -> float:
    """D / N: the ratio Chinchilla's Approaches 1 and 2 put near 20 at the optimum."""
    return tokens / params


def bits(nats: float) -> float:
    """Convert a loss in nats to bits (divide by ln 2)."""
    return nats / math.log(2.0)
