"""Retrieval: a question → the k best chunks, by dense vectors, BM25, or both fused (hybrid).

Every hit carries its mode's score (cosine, BM25, or the reciprocal-rank-fusion score) and, in all
modes, the cosine similarity between the question and the chunk, which is what the "I don't know"
threshold reads: BM25 and RRF scores have no fixed scale to put a threshold on.

`reciprocal_rank_fusion` is the readable reference of the fusion Milvus does in `hybrid_search`
(a test proves the two rank alike).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from llm_playground.errors import PlaygroundError
from llm_playground.rag.embeddings import Embedder
from llm_playground.rag.vectordb import MODES, RRF_K, ChunkRecord, VectorStore

HYBRID_DEPTH = 20
"""Candidates each list (dense, BM25) contributes to the fusion in hybrid mode."""
MAX_K = 50


@dataclass
class Hit:
    """One retrieved chunk."""

    rank: int
    """1 = best."""
    score: float
    """The mode's own score: cosine (dense), BM25 (bm25) or RRF (hybrid); higher is better."""
    similarity: float
    """Cosine similarity between the question and the chunk (all modes)."""
    chunk: ChunkRecord

    def to_dict(self) -> dict:
        return {"rank": self.rank, "score": round(self.score, 6), "similarity": round(self.similarity, 6),
                **self.chunk.to_dict()}


@dataclass
class Retrieval:
    """The hits for one question, and how long the search took."""

    question: str
    mode: str
    k: int
    hits: list[Hit] = field(default_factory=list)
    seconds: float = 0.0
    """Embedding the question plus the search."""

    @property
    def best_similarity(self) -> float:
        return max((hit.similarity for hit in self.hits), default=0.0)

    def to_dict(self) -> dict:
        return {"question": self.question, "mode": self.mode, "k": self.k, "seconds": round(self.seconds, 4),
                "hits": [hit.to_dict() for hit in self.hits]}


def check_search(mode: str, k: int) -> None:
    if mode not in MODES:
        raise PlaygroundError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    if not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise PlaygroundError(f"k must be between 1 and {MAX_K} (got {k})")


def retrieve(store: VectorStore, embedder: Embedder, question: str, *, mode: str = "hybrid", k: int = 4,
             depth: int = HYBRID_DEPTH) -> Retrieval:
    """The `k` best chunks of `store` for `question` by `mode`."""
    check_search(mode, k)
    if not question or not question.strip():
        raise PlaygroundError("the question is empty; type a question")
    embedder.load()  # a one-time model load is not search time
    started = time.perf_counter()
    query = embedder.embed([question])[0]  # (384,), unit length
    if mode == "dense":
        ranked = store.search_dense(query, k)
    elif mode == "bm25":
        ranked = store.search_bm25(question, k)
    else:
        ranked = store.search_hybrid(query, question, k, depth=max(depth, k))
    similarities = _similarities(embedder, query, ranked)
    hits = [Hit(r.rank, r.score, float(s), r.chunk) for r, s in zip(ranked, similarities)]
    return Retrieval(question=question, mode=mode, k=k, hits=hits, seconds=time.perf_counter() - started)


def _similarities(embedder: Embedder, query: np.ndarray, ranked) -> np.ndarray:
    """Cosine of the question with each chunk: from the stored vectors when the search returned them
    (both sides are unit length, so the inner product is the cosine), else by embedding the texts."""
    if not ranked:
        return np.zeros(0, dtype=np.float32)
    if all(r.vector is not None and r.vector.shape == query.shape for r in ranked):
        vectors = np.stack([r.vector for r in ranked])  # (n, 384)
    else:
        vectors = embedder.embed([r.chunk.text for r in ranked])
    return vectors @ query  # (n,)


def reciprocal_rank_fusion(rankings: list[list[str]], *, k: int = RRF_K, limit: int | None = None) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = Σ over lists of 1 / (k + rank), rank from 1; best first.

    >>> [(i, round(s, 5)) for i, s in reciprocal_rank_fusion([["a", "b"], ["b", "c"]])]
    [('b', 0.03252), ('a', 0.01639), ('c', 0.01613)]
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    fused = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return fused[:limit] if limit else fused
