"""Loss curves as PNG (matplotlib, Agg; written atomically).

- `plot_training_curves`: one run — the loss of every step (faint) and its moving average, the
  train and val losses of each evaluation, and the n-gram baselines as horizontal lines.
- `plot_curves`: several named curves on one plot (the optimizer and overfitting experiments).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from llm_playground.scaling.fit import save_figure


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over up to `window` values (shorter at the start), same length as `values`.

    >>> moving_average([1, 2, 3, 4], 2).tolist()
    [1.0, 1.5, 2.5, 3.5]
    """
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(0, ends - window)
    return (sums[ends] - sums[starts]) / (ends - starts)


def plot_training_curves(result, out: str | os.PathLike) -> Path:
    """PNG of one training run (`TrainResult`): per-step loss, evaluations, baselines."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5))
    axes = figure.add_subplot()
    if result.step_losses:
        steps, losses = np.asarray(result.step_losses, dtype=np.float64).T
        axes.plot(steps, losses, color="tab:blue", alpha=0.25, linewidth=0.8, label="train loss (each step)")
        window = max(1, len(losses) // 50)
        axes.plot(steps, moving_average(losses, window), color="tab:blue", linewidth=1.2,
                  label=f"train loss (mean of {window} steps)")
    if result.evaluations:
        eval_steps = [e.step for e in result.evaluations]
        axes.plot(eval_steps, [e.train_loss for e in result.evaluations], "o-", color="tab:green", markersize=4,
                  label="train loss (evaluation)")
        axes.plot(eval_steps, [e.val_loss for e in result.evaluations], "o-", color="tab:red", markersize=4,
                  label="val loss (evaluation)")
    styles = iter(["--", ":", "-."] * 4)
    for name, loss in result.baselines.items():
        axes.axhline(loss, color="gray", linestyle=next(styles), linewidth=1, label=f"{name}: {loss:.3f}")
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("cross-entropy loss (nats/token)")
    axes.set_title(f"{result.config.preset}: {result.params:,} parameters, tokenizer {result.config.tokenizer}")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    return save_figure(figure, out)


def plot_curves(curves: Mapping[str, Sequence[Sequence[float]]], out: str | os.PathLike, *, title: str,
                x_label: str = "optimizer step", y_label: str = "loss (nats/token)",
                styles: Mapping[str, str] | None = None, colors: Mapping[str, str] | None = None,
                smooth: int = 1, hlines: Mapping[str, float] | None = None) -> Path:
    """PNG with one line per named curve; each curve is a list of [x, y] points.

    `styles` / `colors` map a curve's name to a matplotlib line style / colour (e.g. the train and
    val curves of one variant in one colour, train dashed)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 5))
    axes = figure.add_subplot()
    for name, points in curves.items():
        if not len(points):
            continue
        xs, ys = np.asarray(points, dtype=np.float64).T
        axes.plot(xs, moving_average(ys, smooth), (styles or {}).get(name, "-"), linewidth=1.3, label=name,
                  color=(colors or {}).get(name))
    for name, value in (hlines or {}).items():
        axes.axhline(value, color="gray", linestyle="--", linewidth=1, label=f"{name}: {value:.3f}")
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8)
    return save_figure(figure, out)
