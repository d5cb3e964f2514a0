"""Fit a power law to your own (compute or params, loss) points, and plot it with the fit.

    L(x) = E + A · x^(−α)        (E = 0 for a pure power law)

A pure power law is a straight line in log-log space, so it is fitted by least squares on
(log x, log L). With an irreducible term E, for each trial E the rest is again a straight line in
(log x, log(L − E)); E is chosen by a golden-section search on the squared error of log L
(relative errors, so small losses count as much as large ones). Only numpy is needed.

`llmpg scaling fit` trains a sweep of tiny models and calls `fit_power_law` and
`plot_power_law_fit` on their final validation losses.
"""
from __future__ import annotations

import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from llm_playground.errors import PlaygroundError


@dataclass(frozen=True)
class PowerLawFit:
    """L(x) = irreducible + coefficient · x^(−exponent), fitted to `points` points."""

    coefficient: float
    """A."""
    exponent: float
    """α (> 0 when the loss falls as x grows)."""
    irreducible: float
    """E: the loss no amount of x removes (0 for a pure power law)."""
    rmse_log: float
    """Root-mean-square error of log L over the points (≈ relative error)."""
    points: int
    """How many points were fitted."""

    def predict(self, x):
        """L(x) for a number or an array."""
        return self.irreducible + self.coefficient * np.asarray(x, dtype=np.float64) ** (-self.exponent)

    def formula(self, variable: str = "C") -> str:
        """The fit as text, e.g. 'L = 1.52 + 31.7·C^-0.112'."""
        law = f"{self.coefficient:.4g}·{variable}^-{self.exponent:.4g}"
        return f"L = {self.irreducible:.4g} + {law}" if self.irreducible else f"L = {law}"

    def to_dict(self) -> dict:
        """Plain JSON-ready values."""
        return asdict(self)


def _line_fit(log_x: np.ndarray, log_y: np.ndarray) -> tuple[float, float]:
    slope, intercept = np.polyfit(log_x, log_y, 1)
    return float(slope), float(intercept)


def _fit_with_floor(x: np.ndarray, y: np.ndarray, floor: float) -> tuple[float, float, float]:
    """(A, α, squared error of log L) for a fixed E = floor."""
    slope, intercept = _line_fit(np.log(x), np.log(y - floor))
    coefficient, exponent = math.exp(intercept), -slope
    predicted = floor + coefficient * x ** (-exponent)
    return coefficient, exponent, float(np.sum((np.log(predicted) - np.log(y)) ** 2))


def fit_power_law(x, loss, *, irreducible: bool = True) -> PowerLawFit:
    """Fit L = E + A·x^(−α) (or L = A·x^(−α) with `irreducible=False`) to points (x, loss).

    `x` is compute in FLOPs, parameters or tokens (any positive scale); `loss` in nats/token.
    Needs 2 points for a pure power law, 3 with an irreducible term.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(loss, dtype=np.float64).ravel()
    needed = 3 if irreducible else 2
    if x.shape != y.shape or x.size < needed:
        raise PlaygroundError(f"a power-law fit needs at least {needed} (x, loss) pairs of equal length "
                              f"(got {x.size} x values and {y.size} losses)")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise PlaygroundError("power-law fits need positive, finite x values and losses")
    if np.unique(x).size < 2:
        raise PlaygroundError("a power-law fit needs at least two different x values")
    if not irreducible:
        coefficient, exponent, error = _fit_with_floor(x, y, 0.0)
        return PowerLawFit(coefficient, exponent, 0.0, math.sqrt(error / x.size), int(x.size))

    # Golden-section search for E in [0, min L): the log-space error is smooth and, for data
    # that do follow a power law, unimodal in E.
    low, high = 0.0, float(y.min()) * (1.0 - 1e-9)
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    error_a, error_b = _fit_with_floor(x, y, a)[2], _fit_with_floor(x, y, b)[2]
    for _ in range(200):
        if high - low < 1e-12 * max(1.0, high):
            break
        if error_a < error_b:
            high, b, error_b = b, a, error_a
            a = high - ratio * (high - low)
            error_a = _fit_with_floor(x, y, a)[2]
        else:
            low, a, error_a = a, b, error_b
            b = low + ratio * (high - low)
            error_b = _fit_with_floor(x, y, b)[2]
    candidates = [(low + high) / 2.0, 0.0]  # the pure law is a candidate too (E at the boundary)
    best = min(candidates, key=lambda floor: _fit_with_floor(x, y, floor)[2])
    coefficient, exponent, error = _fit_with_floor(x, y, best)
    return PowerLawFit(coefficient, exponent, best, math.sqrt(error / x.size), int(x.size))


def save_figure(figure, out: str | os.PathLike) -> Path:
    """Write a matplotlib Figure as PNG atomically (temp file + rename); return the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    handle, temp = tempfile.mkstemp(suffix=".png", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            figure.savefig(file, format="png", dpi=120, bbox_inches="tight")
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def plot_power_law_fit(x, loss, fit: PowerLawFit, out: str | os.PathLike, *,
                       x_label: str = "training compute C (FLOPs)",
                       y_label: str = "validation loss (nats/token)",
                       title: str = "Your models and the power law fitted to them",
                       point_labels: list[str] | None = None, variable: str = "C") -> Path:
    """Plot the measured points and the fitted curve (log x axis) to a PNG at `out`."""
    from matplotlib.figure import Figure

    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(loss, dtype=np.float64).ravel()
    figure = Figure(figsize=(7.5, 5))
    axes = figure.add_subplot()
    grid = np.geomspace(x.min() / 1.5, x.max() * 1.5, 200)
    axes.plot(grid, fit.predict(grid), color="tab:blue", label=f"fit: {fit.formula(variable)}")
    if fit.irreducible:
        axes.axhline(fit.irreducible, color="tab:blue", linestyle=":", linewidth=1,
                     label=f"irreducible loss E = {fit.irreducible:.3g}")
    axes.scatter(x, y, color="tab:red", zorder=3, label="measured runs")
    for i, text in enumerate(point_labels or []):
        axes.annotate(text, (x[i], y[i]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    axes.set_xscale("log")  # losses span less than a decade: a linear loss axis reads better
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    return save_figure(figure, out)
