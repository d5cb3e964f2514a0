"""2-D pictures of embeddings: PCA (ours, proved equal to scikit-learn's) and t-SNE (scikit-learn).

384 numbers per sentence cannot be drawn; two can. PCA keeps the two directions along which the
vectors vary most (a linear map: distances along them are real); t-SNE moves points so that
neighbours stay neighbours (clusters are meaningful, distances between clusters are not).

UMAP is left out on purpose: its maintained package (umap-learn) pulls numba and llvmlite (an LLVM
compiler, ~45 MB of wheels) and compiles its kernels on first use, tens of seconds on this CPU;
t-SNE from scikit-learn (already installed) shows the same kind of picture.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.figures import save_figure

ProjectionMethod = Literal["pca", "tsne"]
PROJECTION_METHODS = ("pca", "tsne")

EXAMPLE_SENTENCES: dict[str, tuple[str, ...]] = {
    "animals": ("The cat slept on the warm windowsill.", "A dog barked at the mail carrier.",
                "The kitten chased a ball of yarn.", "Wolves hunt together in packs.",
                "My puppy loves long walks in the park."),
    "money": ("The bank raised its interest rates.", "She paid off her credit card debt.",
              "Stock prices fell sharply this morning.", "He deposited his salary into savings.",
              "Inflation makes groceries more expensive."),
    "sport": ("The striker scored in the final minute.", "She won the marathon in record time.",
              "The team trained hard before the match.", "He hit a home run in the ninth inning.",
              "The tennis final went to five sets."),
    "food": ("Fresh bread smells wonderful in the morning.", "I cooked pasta with tomato sauce.",
             "The soup needs a little more salt.", "We baked chocolate cookies for the party.",
             "This curry is spicy and delicious."),
}
"""Twenty sentences in four topics: the default set for `llmpg embed project`."""


@dataclass
class Projection:
    """Points in 2-D, one per text, and how they were made."""

    model: str
    method: str
    texts: list[str]
    groups: list[str]
    """A group (colour) per text; "" when none was given."""
    points: torch.Tensor
    """(N, 2) float64."""
    explained_variance_ratio: list[float] = field(default_factory=list)
    """PCA: share of the total variance along each of the two axes."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self, decimals: int = 5) -> dict:
        return {"model": self.model, "method": self.method, "texts": self.texts, "groups": self.groups,
                "points": torch.round(self.points, decimals=decimals).tolist(),
                "explained_variance_ratio": self.explained_variance_ratio, "notes": self.notes}


def pca(vectors: torch.Tensor, n_components: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """(points (N, k), explained variance ratio (k,)) of vectors (N, D), by SVD of the centred data.

    Sign convention as scikit-learn's PCA (`svd_flip` on Vᵀ: the largest |entry| of each direction
    is positive), so the points equal `sklearn.decomposition.PCA(k).fit_transform` (tests)."""
    x = vectors.double()
    if x.ndim != 2 or x.shape[0] < 2:
        raise PlaygroundError(f"PCA needs at least 2 vectors (got {x.shape[0] if x.ndim == 2 else 0})")
    k = min(n_components, x.shape[0], x.shape[1])
    centred = x - x.mean(dim=0, keepdim=True)
    u, s, vt = torch.linalg.svd(centred, full_matrices=False)  # centred = U diag(s) Vᵀ
    signs = torch.sign(vt[torch.arange(vt.shape[0]), vt.abs().argmax(dim=1)])  # (k,) one sign per direction
    signs[signs == 0] = 1.0
    u = u * signs
    variance = s ** 2 / (x.shape[0] - 1)
    return u[:, :k] * s[:k], variance[:k] / variance.sum()


def tsne(vectors: torch.Tensor, *, perplexity: float | None = None, seed: int = 0) -> torch.Tensor:
    """(N, 2) t-SNE points (scikit-learn, cosine distances, PCA initialisation, fixed seed)."""
    from sklearn.manifold import TSNE

    n = vectors.shape[0]
    if n < 4:
        raise PlaygroundError(f"t-SNE needs at least 4 texts (got {n}); use PCA for fewer")
    perplexity = perplexity if perplexity is not None else max(2.0, min(30.0, (n - 1) / 3))
    if not 0 < perplexity < n:
        raise PlaygroundError(f"perplexity must be between 0 and the number of texts ({n}); got {perplexity}")
    points = TSNE(n_components=2, perplexity=perplexity, metric="cosine", init="pca", random_state=seed,
                  max_iter=1000).fit_transform(vectors.double().numpy())
    return torch.from_numpy(points).double()


def project_texts(texts: list[str] | None = None, *, groups: list[str] | None = None, method: str = "pca",
                  model: str = "minilm-l6") -> Projection:
    """Embed texts with the sentence encoder and project them to 2-D (default: the 20 example
    sentences in four topics)."""
    from llm_playground.embeddings.sentences import check_texts, encode

    if method not in PROJECTION_METHODS:
        raise PlaygroundError(f"unknown projection {method!r}; known: {', '.join(PROJECTION_METHODS)}")
    if not texts:
        groups = [topic for topic, items in EXAMPLE_SENTENCES.items() for _ in items]
        texts = [text for items in EXAMPLE_SENTENCES.values() for text in items]
    texts = check_texts(texts)
    groups = list(groups) if groups else [""] * len(texts)
    if len(groups) != len(texts):
        raise PlaygroundError(f"{len(groups)} groups for {len(texts)} texts: give one group per text, or none")
    if len(texts) < 3:
        raise PlaygroundError("a projection of fewer than 3 texts says nothing: give at least 3")
    encoded = encode(texts, model)
    notes = encoded.truncation_notes
    ratios: list[float] = []
    if method == "pca":
        points, ratio = pca(encoded.vectors)
        ratios = [float(r) for r in ratio]
        notes.append(f"the two axes keep {100 * sum(ratios):.0f}% of the variance of the "
                     f"{encoded.vectors.shape[1]}-dimensional vectors")
    else:
        points = tsne(encoded.vectors)
        notes.append("t-SNE keeps neighbours together; distances between clusters mean little")
    return Projection(model=encoded.model, method=method, texts=texts, groups=groups, points=points,
                      explained_variance_ratio=ratios, notes=notes)


def plot_projection(result: Projection, path: str | Path) -> Path:
    """A PNG scatter plot, one colour per group, each point labelled with the start of its text."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from llm_playground.embeddings.sentences import short_label

    figure, axis = plt.subplots(figsize=(10, 7.5))
    names = list(dict.fromkeys(result.groups))
    colours = plt.get_cmap("tab10")
    for index, name in enumerate(names):
        chosen = [i for i, group in enumerate(result.groups) if group == name]
        axis.scatter(result.points[chosen, 0].numpy(), result.points[chosen, 1].numpy(), s=60,
                     color=colours(index % 10), label=name or None)
    for i, text in enumerate(result.texts):
        axis.annotate(short_label(text, 28), (float(result.points[i, 0]), float(result.points[i, 1])), fontsize=7,
                      xytext=(4, 3), textcoords="offset points")
    if any(result.groups):
        axis.legend()
    if result.method == "pca":
        axis.set_xlabel(f"PC 1 ({100 * result.explained_variance_ratio[0]:.0f}% of variance)")
        axis.set_ylabel(f"PC 2 ({100 * result.explained_variance_ratio[1]:.0f}% of variance)")
    axis.set_title(f"{result.model} sentence embeddings, {result.method.upper()} to 2-D")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return save_figure(figure, path)
