"""The Kaplan vs Chinchilla picture: how each law spends a FLOP budget, and what loss it predicts."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llm_playground.scaling.allocation import CHINCHILLA_TABLE_3, optimal_allocation
from llm_playground.scaling.fit import save_figure
from llm_playground.scaling.laws import CHINCHILLA, KAPLAN, training_flops


@dataclass(frozen=True)
class KnownModel:
    """A published model: its size and training tokens."""

    name: str
    """Its name."""
    label_offset: tuple[int, int]
    """Where its label sits relative to its marker, in points (keeps neighbours apart)."""
    params: float
    """N."""
    tokens: float
    """D."""


KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel("GPT-3", (-42, 6), 175e9, 300e9),       # Brown et al. 2020
    KnownModel("Gopher", (6, 4), 280e9, 300e9),        # Rae et al. 2021
    KnownModel("Chinchilla", (6, -12), 70e9, 1.4e12),  # Hoffmann et al. 2022
)
"""Models the Chinchilla paper compares (its Figure 1), marked on the plot."""


def _frontiers(flops: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Approach name → (N_opt, D_opt) over a grid of budgets."""
    result = {}
    for approach in ("kaplan", "approach1", "approach3"):
        params = np.array([optimal_allocation(flops=c, approach=approach).params for c in flops])
        result[approach] = (params, flops / (6.0 * params))
    return result


def plot_laws(out: str | os.PathLike, *, min_flops: float = 1e18, max_flops: float = 1e26) -> Path:
    """Three log-log panels over a range of budgets: optimal N, optimal D, and predicted loss.

    Kaplan (N ∝ C^0.73) against Chinchilla Approach 1 (the paper's Table 3, marked) and
    Approach 3 (the parametric fit), with GPT-3, Gopher and Chinchilla placed where they were trained.
    """
    from matplotlib.figure import Figure

    flops = np.geomspace(min_flops, max_flops, 120)
    frontiers = _frontiers(flops)
    style = {
        "kaplan": dict(color="tab:orange", linestyle="--", label="Kaplan 2020: N ∝ C^0.73"),
        "approach1": dict(color="tab:blue", label="Chinchilla Approach 1 (Table 3 fit, ≈20 tok/param)"),
        "approach3": dict(color="tab:green", linestyle="-.", label="Chinchilla Approach 3 (parametric fit)"),
    }
    figure = Figure(figsize=(17, 5.2))
    size_axes, token_axes, loss_axes = figure.subplots(1, 3)

    for approach, (params, tokens) in frontiers.items():
        size_axes.plot(flops, params, **style[approach])
        token_axes.plot(flops, tokens, **style[approach])
    table_flops = [row.flops for row in CHINCHILLA_TABLE_3 if min_flops <= row.flops <= max_flops]
    table_rows = [row for row in CHINCHILLA_TABLE_3 if min_flops <= row.flops <= max_flops]
    size_axes.scatter(table_flops, [r.params for r in table_rows], color="tab:blue", marker="s", s=18,
                      zorder=3, label="Hoffmann et al. Table 3")
    token_axes.scatter(table_flops, [r.tokens for r in table_rows], color="tab:blue", marker="s", s=18,
                       zorder=3, label="Hoffmann et al. Table 3")

    loss_axes.plot(flops, KAPLAN.loss_from_compute(flops), **{**style["kaplan"],
                   "label": "Kaplan L(C) = (C_c/C)^0.050  [WebText2]"})
    loss_axes.plot(flops, [optimal_allocation(flops=c).predicted_loss for c in flops],
                   **{**style["approach1"], "label": "Chinchilla L(N,D) on the Approach 1 frontier"})
    loss_axes.plot(flops, CHINCHILLA.optimal_loss(flops), **{**style["approach3"],
                   "label": "Chinchilla L(N,D) on its own optimum (Approach 3)"})
    kaplan_params, kaplan_tokens = frontiers["kaplan"]
    loss_axes.plot(flops, CHINCHILLA.loss(kaplan_params, kaplan_tokens), color="tab:red", linestyle=":",
                   label="Chinchilla L(N,D) if C is spent Kaplan's way")
    loss_axes.axhline(CHINCHILLA.e, color="grey", linestyle=":", linewidth=1, label=f"Chinchilla E = {CHINCHILLA.e}")

    for model in KNOWN_MODELS:
        c = training_flops(model.params, model.tokens)
        for axes, value in ((size_axes, model.params), (token_axes, model.tokens),
                            (loss_axes, float(CHINCHILLA.loss(model.params, model.tokens)))):
            axes.scatter([c], [value], color="black", marker="*", s=70, zorder=4)
            axes.annotate(model.name, (c, value), textcoords="offset points", xytext=model.label_offset,
                          fontsize=9)

    size_axes.set_title("Compute-optimal model size")
    size_axes.set_ylabel("parameters N")
    token_axes.set_title("Compute-optimal training tokens")
    token_axes.set_ylabel("training tokens D")
    loss_axes.set_title("Predicted loss (different datasets: compare shapes)")
    loss_axes.set_ylabel("loss (nats/token)")
    for axes in (size_axes, token_axes, loss_axes):
        axes.set_xscale("log")
        if axes is not loss_axes:  # losses span < 1 decade: a linear axis reads better
            axes.set_yscale("log")
        axes.set_xlabel("training compute C = 6ND (FLOPs)")
        axes.grid(True, which="major", alpha=0.3)
        axes.legend(fontsize=8, loc="best")
    figure.suptitle("Kaplan et al. 2020 vs Hoffmann et al. 2022 (Chinchilla): where should compute go?")
    return save_figure(figure, out)
