"""Sentence embeddings and similarity matrices (MiniLM, the zoo's encoder).

all-MiniLM-L6-v2 turns a text into one 384-number vector: BERT's last layer gives a vector per
token; their mean over the real tokens (padding left out) is the sentence vector, scaled to length
1 so a dot product is the cosine similarity. `encode` runs it through sentence-transformers (the
shared copy in the model store); `encode_reference` does the same with transformers' BertModel and
our own `mean_pool`, to show what happens inside (tests prove the two equal).

The encoder reads at most `max_tokens(model)` word pieces (256 for all-MiniLM-L6-v2: the length it
was trained on; its position table has 512). A longer text is cut there, and `Encoded.truncated` says which.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from llm_playground.errors import PlaygroundError
from llm_playground.figures import save_figure

DEFAULT_ENCODER = "minilm-l6"


@dataclass
class Encoded:
    """Sentence vectors and what the encoder saw of each text."""

    model: str
    texts: list[str]
    vectors: torch.Tensor
    """(N, D) float32, each row of length 1."""
    token_counts: list[int]
    """Word pieces in each text, [CLS] and [SEP] included, before any cut."""
    max_tokens: int
    """The most the encoder reads; texts with more tokens were cut."""
    truncated: list[int] = field(default_factory=list)
    """Indices of the texts that were cut to max_tokens."""

    @property
    def truncation_notes(self) -> list[str]:
        """One sentence per cut text, for the user to see."""
        return [f"text {i + 1} is {self.token_counts[i]} tokens; {self.model} reads the first {self.max_tokens} "
                f"(the rest was cut before embedding)" for i in self.truncated]


def check_texts(texts: list[str], what: str = "text") -> list[str]:
    """The texts, or a PlaygroundError when there are none or one is empty."""
    if not texts:
        raise PlaygroundError(f"no {what}s given; give at least one")
    for index, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise PlaygroundError(f"{what} {index + 1} is empty; every {what} needs some words")
    return list(texts)


def max_tokens(model: str = DEFAULT_ENCODER) -> int:
    """How many word pieces the sentence encoder reads (sentence-transformers' max_seq_length)."""
    from llm_playground import zoo

    return int(zoo.load_sentence_transformer(model).max_seq_length)


def token_counts(texts: list[str], model: str = DEFAULT_ENCODER) -> list[int]:
    """Word pieces per text with [CLS] and [SEP], uncut."""
    from llm_playground import zoo

    tokenizer = zoo.load_tokenizer(model)
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]]


@torch.inference_mode()
def encode(texts: list[str], model: str = DEFAULT_ENCODER, *, batch_size: int = 32) -> Encoded:
    """Unit-length sentence vectors (N, D) through sentence-transformers, with the truncation noted."""
    from llm_playground import zoo

    texts = check_texts(texts)
    encoder = zoo.load_sentence_transformer(model)
    counts = token_counts(texts, model)
    limit = int(encoder.max_seq_length)
    vectors = encoder.encode(texts, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=True,
                             show_progress_bar=False).float().cpu()
    return Encoded(model=zoo.resolve(model).name, texts=texts, vectors=vectors, token_counts=counts, max_tokens=limit,
                   truncated=[i for i, n in enumerate(counts) if n > limit])


def mean_pool(token_vectors: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean of each sequence's token vectors over its real tokens: (B, T, C), (B, T) → (B, C).

    >>> mean_pool(torch.tensor([[[1., 2.], [3., 4.], [9., 9.]]]), torch.tensor([[1, 1, 0]])).tolist()
    [[2.0, 3.0]]
    """
    mask = attention_mask.unsqueeze(-1).to(token_vectors.dtype)  # (B, T, 1): 0 on padding
    return (token_vectors * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


@torch.inference_mode()
def encode_reference(texts: list[str], model: str = DEFAULT_ENCODER) -> torch.Tensor:
    """The readable path: transformers' BertModel → last layer (B, T, C) → `mean_pool` → unit length.
    Same vectors as `encode` (tests), cut at the same length."""
    from llm_playground import zoo

    texts = check_texts(texts)
    loaded = zoo.load_model(model)
    batch = loaded.tokenizer(texts, padding=True, truncation=True, max_length=max_tokens(model), return_tensors="pt")
    hidden = loaded.model(**batch).last_hidden_state  # (B, T, C)
    return torch.nn.functional.normalize(mean_pool(hidden, batch["attention_mask"]), dim=-1)


def cosine_matrix(vectors: torch.Tensor) -> torch.Tensor:
    """(N, D) → (N, N) cosine similarities."""
    unit = torch.nn.functional.normalize(vectors.float(), dim=-1)
    return unit @ unit.T


@dataclass
class SimilarityMatrix:
    """Cosine similarity of every pair of texts."""

    model: str
    texts: list[str]
    matrix: torch.Tensor
    """(N, N): matrix[i, j] = cos(text i, text j); 1 on the diagonal."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self, decimals: int = 4) -> dict:
        return {"model": self.model, "texts": self.texts, "notes": self.notes,
                "matrix": torch.round(self.matrix.double(), decimals=decimals).tolist()}

    def most_similar_pairs(self, k: int = 5) -> list[tuple[int, int, float]]:
        """The k most similar pairs (i < j), highest first."""
        n = len(self.texts)
        pairs = [(i, j, float(self.matrix[i, j])) for i in range(n) for j in range(i + 1, n)]
        return sorted(pairs, key=lambda pair: -pair[2])[:k]


def similarity_matrix(texts: list[str], model: str = DEFAULT_ENCODER) -> SimilarityMatrix:
    """Embed the texts and compare every pair (at least two texts)."""
    texts = check_texts(texts)
    if len(texts) < 2:
        raise PlaygroundError("a similarity matrix compares texts with each other: give at least two")
    encoded = encode(texts, model)
    return SimilarityMatrix(model=encoded.model, texts=texts, matrix=cosine_matrix(encoded.vectors),
                            notes=encoded.truncation_notes)


def short_label(text: str, width: int = 32) -> str:
    """A text cut to `width` characters with an ellipsis, for axis labels."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def plot_similarity(result: SimilarityMatrix, path: str | Path) -> Path:
    """A PNG heat map of the similarity matrix with the value in each cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(result.texts)
    labels = [short_label(t) for t in result.texts]
    size = max(4.5, min(14.0, 0.55 * n + 3.0))
    figure, axis = plt.subplots(figsize=(size + 1.5, size))
    image = axis.imshow(result.matrix.numpy(), cmap="viridis", vmin=min(0.0, float(result.matrix.min())), vmax=1.0)
    axis.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=8)
    axis.set_yticks(range(n), labels, fontsize=8)
    if n <= 16:
        for i in range(n):
            for j in range(n):
                value = float(result.matrix[i, j])
                axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                          color="black" if value > 0.6 else "white")
    axis.set_title(f"{result.model}: cosine similarity of sentence embeddings")
    figure.colorbar(image, ax=axis, fraction=0.046, label="cosine similarity")
    figure.tight_layout()
    return save_figure(figure, path)
