"""The loss curve of a fine-tuning run (PNG), from its metrics history."""
from __future__ import annotations

from pathlib import Path


def loss_points(history: list[dict]) -> tuple[list[int], list[float]]:
    """(steps, losses) of the training steps in a run's history."""
    points = [(h["step"], h["loss"]) for h in history if "loss" in h and h.get("kind") != "eval"]
    return [s for s, _ in points], [l for _, l in points]


def loss_plot(history: list[dict], path: Path, title: str = "fine-tuning loss") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from llm_playground.assets.files import atomic_write_bytes

    steps, losses = loss_points(history)
    figure, axis = plt.subplots(figsize=(6, 3.5), dpi=110)
    axis.plot(steps, losses, marker="o", markersize=3, label="training loss (completion tokens)")
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("loss (nats / token)")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return atomic_write_bytes(Path(path), buffer.getvalue())
