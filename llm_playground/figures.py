"""Saving matplotlib figures the same way everywhere."""
from __future__ import annotations

from pathlib import Path


def save_figure(figure, path: str | Path, dpi: int = 110, *, default_name: str = "figure.png") -> Path:
    """Write `figure` as a PNG at `path` (folders created), close it, and return the path written.

    `path` may be a folder (existing, or written with a trailing slash): the file is
    `default_name` inside it; a name without .png gets it. The bounding box is tight, so long tick
    labels (tokens on an attention map's axes) are never clipped.
    """
    import matplotlib.pyplot as plt

    from llm_playground.checks import png_path

    path = png_path(path, default_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    return path
