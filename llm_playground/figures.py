"""Saving matplotlib figures the same way everywhere."""
from __future__ import annotations

from pathlib import Path


def save_figure(figure, path: str | Path, dpi: int = 110) -> Path:
    """Write `figure` as a PNG at `path` (folders created), close it, and return the path."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return path
