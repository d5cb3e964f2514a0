"""Compute-optimal allocation: for a FLOP budget (or a model size), how many parameters and tokens?

Four answers are offered side by side, because the literature gives four:

    approach1   Chinchilla Approach 1: the power law N_opt = G₁·C^a₁ that generated the paper's
                Table 3, recovered here by a least-squares fit to that published table (a₁ ≈ 0.50;
                the paper's Table 2 reports a = 0.50). This is the headline answer, ≈ 20 tokens
                per parameter.
    tokens20    the rule of thumb read off Approaches 1 and 2: D = 20·N.
    approach3   Chinchilla Approach 3: the closed-form optimum of the parametric fit
                L(N, D) = E + A/N^α + B/D^β with the constants printed in the paper. With those
                rounded constants it asks for far more tokens per parameter (≈ 44 at 1B,
                ≈ 190 at 1T) than Approaches 1 and 2 (see `laws.ChinchillaLaw`).
    kaplan      Kaplan et al. 2020: N_opt = 1.3e9·(C / PF-day)^0.73, which puts most extra
                compute into model size (GPT-3's generation of models followed it).

All use C = 6·N·D. Predicted losses come from Chinchilla's parametric fit L(N, D), the only
published law that takes both N and D in the same units as the allocation.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from llm_playground.errors import PlaygroundError, unknown_name
from llm_playground.scaling.laws import (
    CHINCHILLA, FLOPS_PER_PARAM_PER_TOKEN, KAPLAN, PF_DAY, training_flops,
)
from llm_playground.scaling.quantities import format_count, format_flops


@dataclass(frozen=True)
class PublishedOptimum:
    """One row of Hoffmann et al. 2022, Table 3."""

    params: float
    """Model size N."""
    flops: float
    """Compute-optimal training FLOPs for that size."""
    tokens: float
    """Compute-optimal training tokens for that size (printed rounded: 1.5T, 3.7T, …)."""


CHINCHILLA_TABLE_3: tuple[PublishedOptimum, ...] = (
    PublishedOptimum(400e6, 1.92e19, 8.0e9),
    PublishedOptimum(1e9, 1.21e20, 20.2e9),
    PublishedOptimum(10e9, 1.23e22, 205.1e9),
    PublishedOptimum(67e9, 5.76e23, 1.5e12),
    PublishedOptimum(175e9, 3.85e24, 3.7e12),
    PublishedOptimum(280e9, 9.90e24, 5.9e12),
    PublishedOptimum(520e9, 3.43e25, 11.0e12),
    PublishedOptimum(1e12, 1.27e26, 21.2e12),
    PublishedOptimum(10e12, 1.30e28, 216.2e12),
)
"""Hoffmann et al. 2022 ("Training Compute-Optimal Large Language Models", arXiv:2203.15556),
Table 3: "Estimated optimal training FLOPs and training tokens for various model sizes", the
projections of Approach 1. FLOPs ≈ 6·N·tokens in every row (the tokens are rounded)."""


def _fit_table_frontier() -> tuple[float, float]:
    """Least squares of log N on log C over Table 3: returns (G₁, a₁) with N_opt = G₁·C^a₁."""
    log_c = np.log([row.flops for row in CHINCHILLA_TABLE_3])
    log_n = np.log([row.params for row in CHINCHILLA_TABLE_3])
    slope, intercept = np.polyfit(log_c, log_n, 1)
    return float(math.exp(intercept)), float(slope)


APPROACH1_COEFFICIENT, APPROACH1_EXPONENT = _fit_table_frontier()
"""N_opt = G₁·C^a₁ fitted to CHINCHILLA_TABLE_3 (a₁ comes out ≈ 0.50, as the paper's Table 2 says)."""

RULE_OF_THUMB_TOKENS_PER_PARAM = 20.0
"""Chinchilla's ≈ 20 tokens per parameter (Chinchilla itself: 70B parameters on 1.4T tokens)."""

APPROACHES: dict[str, str] = {
    "approach1": "Chinchilla Approach 1 (power law fitted to the paper's Table 3)",
    "tokens20": "Chinchilla rule of thumb: 20 tokens per parameter",
    "approach3": "Chinchilla Approach 3 (parametric fit E + A/N^α + B/D^β, closed form)",
    "kaplan": "Kaplan et al. 2020 (N_opt = 1.3e9·(C/PF-day)^0.73)",
}
"""Allocation rules by name; `approach1` is the headline (the paper's Table 3)."""


def _params_for_flops(approach: str, flops: float) -> float:
    if approach == "approach1":
        return APPROACH1_COEFFICIENT * flops ** APPROACH1_EXPONENT
    if approach == "tokens20":  # C = 6·N·(20·N)
        return math.sqrt(flops / (FLOPS_PER_PARAM_PER_TOKEN * RULE_OF_THUMB_TOKENS_PER_PARAM))
    if approach == "approach3":
        return float(CHINCHILLA.optimal_params(flops))
    if approach == "kaplan":
        return float(KAPLAN.optimal_params(flops))
    raise unknown_name("allocation approach", approach, APPROACHES)


def _flops_for_params(approach: str, params: float) -> float:
    """Invert N_opt(C): the budget for which `params` is the optimal size."""
    if approach == "approach1":
        return (params / APPROACH1_COEFFICIENT) ** (1.0 / APPROACH1_EXPONENT)
    if approach == "tokens20":
        return training_flops(params, RULE_OF_THUMB_TOKENS_PER_PARAM * params)
    if approach == "approach3":
        return float(CHINCHILLA.optimal_flops_for_params(params))
    if approach == "kaplan":
        ratio = params / KAPLAN.optimal_params_at_1_pf_day
        return PF_DAY * ratio ** (1.0 / KAPLAN.optimal_params_exponent)
    raise unknown_name("allocation approach", approach, APPROACHES)


@dataclass(frozen=True)
class Allocation:
    """A (parameters, tokens, FLOPs) triple that one approach calls compute-optimal."""

    approach: str
    """Key in APPROACHES."""
    params: float
    """N: model parameters."""
    tokens: float
    """D: training tokens."""
    flops: float
    """C = 6·N·D."""
    predicted_loss: float
    """Chinchilla's L(N, D) in nats/token (MassiveText; compare values, not absolutes)."""

    @property
    def tokens_per_param(self) -> float:
        """D / N."""
        return self.tokens / self.params

    @property
    def description(self) -> str:
        """The approach in words."""
        return APPROACHES[self.approach]

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {**asdict(self), "tokens_per_param": self.tokens_per_param, "description": self.description}


def optimal_allocation(*, params: float | None = None, flops: float | None = None,
                       approach: str = "approach1") -> Allocation:
    """The compute-optimal (N, D, C) for a FLOP budget or for a model size, by one approach.

    Give exactly one of `params` (then D is the optimal token count for that size) or `flops`.
    """
    if approach not in APPROACHES:
        raise unknown_name("allocation approach", approach, APPROACHES)
    if (params is None) == (flops is None):
        raise PlaygroundError("give exactly one of params (a model size) or flops (a compute budget)")
    if params is not None:
        if not params > 0:
            raise PlaygroundError(f"params must be positive (got {params})")
        flops = _flops_for_params(approach, params)
    else:
        if not flops > 0:
            raise PlaygroundError(f"flops must be positive (got {flops})")
        params = _params_for_flops(approach, flops)
    tokens = flops / (FLOPS_PER_PARAM_PER_TOKEN * params)
    return Allocation(approach, params, tokens, flops, float(CHINCHILLA.loss(params, tokens)))


def all_allocations(*, params: float | None = None, flops: float | None = None) -> list[Allocation]:
    """`optimal_allocation` by every approach, headline (approach1) first."""
    return [optimal_allocation(params=params, flops=flops, approach=name) for name in APPROACHES]


@dataclass(frozen=True)
class ModelCheck:
    """How far a trained model (N params on D tokens) is from compute-optimal."""

    params: float
    """N of the model checked."""
    tokens: float
    """D it was trained on."""
    flops: float
    """Its training compute, 6·N·D."""
    predicted_loss: float
    """Chinchilla's L(N, D) for it."""
    same_compute: list[Allocation] = field(default_factory=list)
    """What each approach would have trained with the same FLOPs."""
    same_params: Allocation | None = None
    """Approach 1's optimal tokens (and FLOPs) for a model of this size."""

    @property
    def tokens_per_param(self) -> float:
        """D / N of the model checked."""
        return self.tokens / self.params

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return {
            "params": self.params, "tokens": self.tokens, "flops": self.flops,
            "tokens_per_param": self.tokens_per_param, "predicted_loss": self.predicted_loss,
            "same_compute": [a.to_dict() for a in self.same_compute],
            "same_params": self.same_params.to_dict() if self.same_params else None,
        }

    def summary(self) -> str:
        """A few lines a person reads: where the model stands and what optimal would be."""
        headline = self.same_compute[0]
        fix = self.same_params
        lines = [
            f"Model: {format_count(self.params)} parameters on {format_count(self.tokens)} tokens "
            f"= {self.tokens_per_param:.1f} tokens/param; C = 6ND = {format_flops(self.flops)} FLOPs; "
            f"predicted loss {self.predicted_loss:.3f} nats/token (Chinchilla L(N, D)).",
            f"Optimal for the same compute, by {headline.description}: "
            f"{format_count(headline.params)} parameters on {format_count(headline.tokens)} tokens "
            f"({headline.tokens_per_param:.1f} tokens/param), predicted loss {headline.predicted_loss:.3f}.",
        ]
        if fix is not None:
            ratio = fix.tokens / self.tokens
            verdict = (f"it saw {ratio:.1f}× fewer tokens than that: under-trained for its size" if ratio > 1.05 else
                       f"it saw {1 / ratio:.1f}× more tokens than that: over-trained for its size "
                       f"(costlier to train than optimal, cheaper to run)" if ratio < 0.95 else
                       "it is about compute-optimal")
            lines.append(f"A {format_count(self.params)} model is compute-optimal on {format_count(fix.tokens)} "
                         f"tokens ({format_flops(fix.flops)} FLOPs); {verdict}.")
        lines.append("Other answers for the same compute:")
        lines += [_allocation_line(a) for a in self.same_compute[1:]]
        return "\n".join(lines)


def check_model(params: float, tokens: float) -> ModelCheck:
    """Compare a model trained on N params × D tokens with the compute-optimal allocations."""
    if not (params > 0 and tokens > 0):
        raise PlaygroundError(f"params and tokens must be positive (got {params}, {tokens})")
    flops = training_flops(params, tokens)
    return ModelCheck(
        params=params, tokens=tokens, flops=flops,
        predicted_loss=float(CHINCHILLA.loss(params, tokens)),
        same_compute=all_allocations(flops=flops),
        same_params=optimal_allocation(params=params, approach="approach1"),
    )


def _allocation_line(allocation: Allocation) -> str:
    return (f"  {allocation.approach:<10} {format_count(allocation.params):>7} params  "
            f"{format_count(allocation.tokens):>7} tokens  {allocation.tokens_per_param:>6.1f} tok/param  "
            f"C {format_flops(allocation.flops)}  loss {allocation.predicted_loss:.3f}  ({allocation.description})")


def allocation_table(allocations: list[Allocation]) -> str:
    """One line per allocation, aligned, with the approach spelled out."""
    return "\n".join(_allocation_line(a) for a in allocations)
