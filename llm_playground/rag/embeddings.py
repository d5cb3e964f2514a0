"""Sentence embeddings with all-MiniLM-L6-v2 through sentence-transformers, held by the model store.

`MiniLMEmbedder` is what ingest and search use: batched, normalised float32 vectors (so the inner
product is the cosine). `mean_pooled_embeddings` is the readable reference (BERT forward pass, mean
over the real tokens, L2 normalisation) that a test proves equal to sentence-transformers.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from llm_playground import zoo

EMBEDDING_MODEL = "minilm-l6"
DIMENSION = 384


class Embedder(Protocol):
    """What ingest and search need from an embedding model."""

    name: str
    dimension: int

    def embed(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """(len(texts), dimension) float32, each row of unit length."""

    def tokenizer(self):
        """The tokenizer whose tokens the chunker counts (a transformers fast tokenizer)."""

    def load(self) -> None:
        """Load the model now (so that timings of later calls leave the one-time load out)."""


def load_sentence_transformer(name: str = EMBEDDING_MODEL):
    """The SentenceTransformer for a zoo encoder: the one copy every capability shares
    (`zoo.load_sentence_transformer`, held by the model store)."""
    return zoo.load_sentence_transformer(name)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) through sentence-transformers."""

    def __init__(self, name: str = EMBEDDING_MODEL) -> None:
        spec = zoo.resolve(name)
        if spec.kind != "encoder":
            from llm_playground.errors import PlaygroundError

            raise PlaygroundError(f"{spec.name} is a {spec.label} model; embeddings need an encoder such as "
                                  f"{EMBEDDING_MODEL}")
        self.name = spec.name
        self.dimension = DIMENSION

    def tokenizer(self):
        return zoo.load_tokenizer(self.name)  # no weights needed to count tokens

    def load(self) -> None:
        load_sentence_transformer(self.name)

    def embed(self, texts: list[str], *, batch_size: int = 32, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = load_sentence_transformer(self.name)
        vectors = model.encode(list(texts), batch_size=batch_size, show_progress_bar=progress,
                               convert_to_numpy=True, normalize_embeddings=True)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def mean_pooled_embeddings(texts: list[str], name: str = EMBEDDING_MODEL, max_length: int = 256) -> np.ndarray:
    """The readable reference: BERT's last hidden states averaged over real tokens, then unit length.

    This is what sentence-transformers' MiniLM pipeline (Transformer → Pooling(mean) → Normalize)
    computes; a test checks the two agree to 1e-5.
    """
    import torch

    tokenizer = zoo.load_tokenizer(name)
    model = zoo.load_hf_model(name)
    batch = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state  # (B, T, 384)
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1): 1 for real tokens
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)  # (B, 384)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy().astype(np.float32)
