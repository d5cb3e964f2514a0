"""`llmpg bench rag`: ingest throughput and query latency of our Milvus store vs brute-force numpy.

In one process, on the same vectors and queries:

- ingest: real text (Shakespeare, chunked by our chunker, 128 tokens) embedded with MiniLM, then
  stored: Milvus Lite (insert, BM25 analysis, HNSW index) vs numpy (one float32 matrix saved to a
  file). Chunks/s are given with the embedding included, as a user sees them, and the split by stage;
- scale: collections of 1k, 10k and 100k chunks. The 1k row is the real embedded chunks; the larger
  rows add **synthetic** chunks (each a real vector plus Gaussian noise, renormalised, with 40 words
  drawn from the real text), so that 100k rows need no hour of embedding. Each row times 1 search
  per query for Milvus dense (HNSW), BM25 and hybrid (RRF), and numpy's exact cosine top-10
  (matrix-vector product + argpartition), reports p50 and p95, and the recall@10 of HNSW against
  the exact answer.

Question embedding is timed once on its own (it is the same for every store). The scratch
collections live in a temporary folder and are deleted after each row.
"""
from __future__ import annotations

import os
import resource
import shutil
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

NOISE = 0.04
"""Per-dimension noise of the synthetic vectors: cosine to their base vector ≈ 1/√(1 + 384·0.04²) ≈ 0.8."""
TOP = 10
INSERT_BATCH = 2000


@dataclass
class IngestRow:
    """Real text through every stage: chunk, embed, store."""

    chunks: int
    chunk_seconds: float
    embed_seconds: float
    milvus_store_seconds: float
    """Milvus Lite: insert every row (BM25 analysis included), flush, open in a new reader (HNSW built),
    first search answered."""
    numpy_store_seconds: float
    """np.save of the (chunks, 384) float32 matrix."""
    milvus_chunks_per_second: float
    """chunks ÷ (chunk + embed + Milvus store)."""
    numpy_chunks_per_second: float
    """chunks ÷ (chunk + embed + numpy store)."""


@dataclass
class ScaleRow:
    """Query latency at one collection size."""

    chunks: int
    synthetic_chunks: int
    insert_seconds: float
    """Milvus Lite insert of every row, then flush (sealed, indexed segments); no embedding."""
    open_seconds: float
    """Opening the collection in a new reader: Milvus Lite loads the segments and builds their HNSW index."""
    first_search_seconds: float
    latency_ms: dict[str, dict[str, float]]
    """method → {"p50", "p95"} milliseconds per query; methods: milvus-dense, milvus-bm25, milvus-hybrid, numpy."""
    hnsw_recall_at_10: float
    """Share of numpy's exact top-10 that Milvus' HNSW search returns."""
    numpy_over_milvus_dense: float
    """numpy p50 ÷ Milvus dense p50 (above 1: Milvus is faster)."""
    peak_rss_mb: float


@dataclass
class RagBenchmark:
    threads: int
    queries: int
    load_average: list[float]
    """1-minute load average before and after (2 cores: above ~2 means the machine is shared)."""
    question_embed_ms: float
    """Median time to embed one question with MiniLM."""
    ingest: IngestRow
    rows: list[ScaleRow] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _percentiles(seconds: list[float]) -> dict[str, float]:
    values = sorted(seconds)
    p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
    return {"p50": round(1000 * statistics.median(values), 3), "p95": round(1000 * p95, 3)}


def _real_chunks(count: int) -> list[str]:
    """`count` chunks of Shakespeare (128 tokens, our chunker), from the start of the corpus."""
    from llm_playground import assets
    from llm_playground.rag.chunking import ChunkingConfig, chunk_text
    from llm_playground.rag.embeddings import MiniLMEmbedder

    text = assets.corpus_text("shakespeare")
    tokenizer = MiniLMEmbedder().tokenizer()
    chunks: list[str] = []
    position, step = 0, 200_000
    while len(chunks) < count and position < len(text):
        chunks.extend(c.text for c in chunk_text(text[position:position + step], tokenizer, ChunkingConfig(128, 24)))
        position += step
    return chunks[:count]


def _rows(start: int, texts: list[str], vectors: np.ndarray, source: str) -> list[dict]:
    return [{"id": f"{source}-{start + i:07d}", "doc_id": source, "source": source, "page": 1, "char_start": 0,
             "char_end": len(text), "chunk_index": start + i, "tokens": 0, "text": text, "dense": vector.tolist()}
            for i, (text, vector) in enumerate(zip(texts, vectors))]


def _synthetic(real_vectors: np.ndarray, words: list[str], count: int, rng: np.random.Generator):
    """Batches of (texts, vectors): real vectors plus noise, renormalised; 40 random real words each."""
    for begin in range(0, count, INSERT_BATCH):
        size = min(INSERT_BATCH, count - begin)
        base = real_vectors[rng.integers(0, len(real_vectors), size)]
        vectors = base + rng.normal(0.0, NOISE, base.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        texts = [" ".join(rng.choice(words, 40)) for _ in range(size)]
        yield texts, vectors.astype(np.float32)


def _numpy_top(matrix: np.ndarray, query: np.ndarray, k: int = TOP) -> np.ndarray:
    """Exact cosine top-k (rows are unit length): one matrix-vector product and a partial sort."""
    scores = matrix @ query  # (N,)
    top = np.argpartition(-scores, k)[:k] if len(scores) > k else np.arange(len(scores))
    return top[np.argsort(-scores[top])]


def run_benchmark(*, scales: tuple[int, ...] = (1_000, 10_000, 100_000), queries: int = 100,
                  real_chunks: int = 1_000, progress: bool = True, seed: int = 0) -> RagBenchmark:
    """Run every row (see the module docstring); the largest scale decides the memory (~1.5 GB at 100k)."""
    import torch

    from llm_playground.rag.embeddings import MiniLMEmbedder
    from llm_playground.rag.vectordb import open_store

    log = (lambda text: print(text, flush=True)) if progress else (lambda text: None)
    rng = np.random.default_rng(seed)
    load_before = os.getloadavg()[0]
    embedder = MiniLMEmbedder()
    embedder.load()

    started = time.perf_counter()
    texts = _real_chunks(real_chunks + queries)
    chunk_seconds = (time.perf_counter() - started) * real_chunks / len(texts)
    if len(texts) < real_chunks + queries:
        from llm_playground.errors import PlaygroundError

        raise PlaygroundError(f"the corpus gave only {len(texts)} chunks; ask for fewer real_chunks")
    chunk_texts, query_texts = texts[:real_chunks], [" ".join(t.split()[:12]) for t in texts[real_chunks:]]
    log(f"embedding {real_chunks} real chunks with {embedder.name}…")
    started = time.perf_counter()
    real_vectors = embedder.embed(chunk_texts, batch_size=32, progress=progress)
    embed_seconds = time.perf_counter() - started
    question_seconds = []
    for text in query_texts[:20]:
        t0 = time.perf_counter()
        embedder.embed([text])
        question_seconds.append(time.perf_counter() - t0)
    query_vectors = embedder.embed(query_texts)
    words = sorted({w for t in chunk_texts for w in t.split() if w.isalpha()})

    scratch = Path(tempfile.mkdtemp(prefix="llmpg-bench-rag-"))
    rows: list[ScaleRow] = []
    ingest_row = None
    try:
        started = time.perf_counter()
        np.save(scratch / "vectors.npy", real_vectors)
        numpy_store_seconds = time.perf_counter() - started
        for scale in scales:
            if scale < real_chunks:
                raise ValueError(f"scales must be at least real_chunks={real_chunks} (got {scale})")
            log(f"scale {scale:,}: inserting into Milvus Lite…")
            name = f"bench_{scale}"
            matrix = np.empty((scale, real_vectors.shape[1]), dtype=np.float32)  # the numpy baseline's store
            matrix[:real_chunks] = real_vectors
            with open_store(name, create=True, home=scratch) as store:
                started = time.perf_counter()
                for begin in range(0, real_chunks, INSERT_BATCH):
                    end = min(begin + INSERT_BATCH, real_chunks)
                    store.client.insert(store.chunks_collection,
                                        _rows(begin, chunk_texts[begin:end], real_vectors[begin:end], "real"))
                filled = real_chunks
                for batch_texts, batch_vectors in _synthetic(real_vectors, words, scale - real_chunks, rng):
                    store.client.insert(store.chunks_collection, _rows(filled, batch_texts, batch_vectors, "synthetic"))
                    matrix[filled:filled + len(batch_texts)] = batch_vectors
                    filled += len(batch_texts)
                store.flush()  # seal the rows into segments, as ingest does
                insert_seconds = time.perf_counter() - started
            started = time.perf_counter()
            with open_store(name, home=scratch) as store:  # a new reader, as `llmpg rag ask` is: loading builds HNSW
                open_seconds = time.perf_counter() - started
                started = time.perf_counter()
                store.search_dense(query_vectors[0], TOP)
                first_search = time.perf_counter() - started
                if ingest_row is None and scale == real_chunks:
                    milvus_store = insert_seconds + open_seconds + first_search
                    ingest_row = IngestRow(
                        chunks=real_chunks, chunk_seconds=round(chunk_seconds, 3), embed_seconds=round(embed_seconds, 3),
                        milvus_store_seconds=round(milvus_store, 3), numpy_store_seconds=round(numpy_store_seconds, 4),
                        milvus_chunks_per_second=round(real_chunks / (chunk_seconds + embed_seconds + milvus_store), 2),
                        numpy_chunks_per_second=round(real_chunks / (chunk_seconds + embed_seconds + numpy_store_seconds), 2))
                log(f"scale {scale:,}: {queries} queries × 4 methods…")
                timings: dict[str, list[float]] = {"milvus-dense": [], "milvus-bm25": [], "milvus-hybrid": [], "numpy": []}
                recalls = []
                for text, vector in zip(query_texts, query_vectors):
                    t0 = time.perf_counter()
                    dense = store.search_dense(vector, TOP)
                    t1 = time.perf_counter()
                    store.search_bm25(text, TOP)
                    t2 = time.perf_counter()
                    store.search_hybrid(vector, text, TOP, depth=20)
                    t3 = time.perf_counter()
                    exact = _numpy_top(matrix, vector)
                    t4 = time.perf_counter()
                    timings["milvus-dense"].append(t1 - t0)
                    timings["milvus-bm25"].append(t2 - t1)
                    timings["milvus-hybrid"].append(t3 - t2)
                    timings["numpy"].append(t4 - t3)
                    found = {int(hit.chunk.chunk_index) for hit in dense}
                    recalls.append(len(found & {int(i) for i in exact}) / TOP)
            shutil.rmtree(scratch / f"{name}.db", ignore_errors=True)
            latency = {method: _percentiles(values) for method, values in timings.items()}
            rows.append(ScaleRow(
                chunks=scale, synthetic_chunks=scale - real_chunks, insert_seconds=round(insert_seconds, 3),
                open_seconds=round(open_seconds, 3), first_search_seconds=round(first_search, 3), latency_ms=latency,
                hnsw_recall_at_10=round(statistics.fmean(recalls), 4),
                numpy_over_milvus_dense=round(latency["numpy"]["p50"] / latency["milvus-dense"]["p50"], 3),
                peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)))
            del matrix
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RagBenchmark(threads=torch.get_num_threads(), queries=queries,
                        load_average=[round(load_before, 2), round(os.getloadavg()[0], 2)],
                        question_embed_ms=round(1000 * statistics.median(question_seconds), 2),
                        ingest=ingest_row, rows=rows)


def format_benchmark(result: RagBenchmark) -> str:
    ingest = result.ingest
    lines = [f"RAG store benchmark · {result.threads} threads · {result.queries} queries per row · load average "
             f"{result.load_average[0]} → {result.load_average[1]}", ""]
    if ingest:
        lines += [f"ingest {ingest.chunks} real chunks (Shakespeare, 128 tokens): chunking {ingest.chunk_seconds:.2f} s, "
                  f"embedding {ingest.embed_seconds:.2f} s, store: Milvus Lite {ingest.milvus_store_seconds:.2f} s vs "
                  f"numpy {ingest.numpy_store_seconds:.3f} s",
                  f"  chunks/s, embedding included: Milvus Lite {ingest.milvus_chunks_per_second:.1f} · numpy "
                  f"{ingest.numpy_chunks_per_second:.1f} · ratio {ingest.milvus_chunks_per_second / ingest.numpy_chunks_per_second:.2f}",
                  f"  embedding one question: {result.question_embed_ms:.1f} ms (not in the latencies below)", ""]
    header = (f"{'chunks':>8} {'synthetic':>9} {'insert s':>9} {'open s':>7} {'dense p50/p95 ms':>17} {'bm25 p50/p95':>14} "
              f"{'hybrid p50/p95':>15} {'numpy p50/p95':>14} {'numpy÷dense':>11} {'HNSW r@10':>9} {'peak RSS':>9}")
    lines.append(header)
    for row in result.rows:
        lat = row.latency_ms
        cell = lambda m: f"{lat[m]['p50']:.2f}/{lat[m]['p95']:.2f}"  # noqa: E731
        lines.append(f"{row.chunks:>8,} {row.synthetic_chunks:>9,} {row.insert_seconds:>9.1f} {row.open_seconds:>7.1f} "
                     f"{cell('milvus-dense'):>17} "
                     f"{cell('milvus-bm25'):>14} {cell('milvus-hybrid'):>15} {cell('numpy'):>14} "
                     f"{row.numpy_over_milvus_dense:>11.2f} {row.hnsw_recall_at_10:>9.3f} {row.peak_rss_mb:>7.0f} MB")
    if len(result.rows) > 1:
        first, last = result.rows[0], result.rows[-1]
        growth = last.chunks / first.chunks
        parts = [f"{method} ×{last.latency_ms[method]['p50'] / first.latency_ms[method]['p50']:.1f}"
                 for method in first.latency_ms]
        lines += ["", f"p50 growth from {first.chunks:,} to {last.chunks:,} chunks (×{growth:.0f} data): " + ", ".join(parts)]
    return "\n".join(lines)
