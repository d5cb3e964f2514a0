"""RAG lab: documents → chunks → embeddings → Milvus → retrieval → grounded answers with citations.

    from llm_playground import rag
    report = rag.ingest(["docs/", "README.md"], "default")
    answer = rag.ask("How do I run the tests?", "default")

Stages, one module each: `loaders` (files → pages), `chunking` (recursive, in tokens), `embeddings`
(MiniLM through sentence-transformers, held by the model store), `vectordb` (Milvus Lite embedded
or a Milvus server; kill-safe writes), `ingest`, `retrieval` (dense, BM25, hybrid RRF), `answer`
(prompt, generation, citations), `evaluation` (recall@k, MRR, nDCG) and `handbook` (the built-in
demo documents and questions).
"""
# Loaded on first use: `answer` pulls in the generation stack (torch, transformers), which a process
# that only ingests or searches (a test's child process, `llmpg rag search`) should not pay for.
_EXPORTS = {
    "Answer": "answer", "AskConfig": "answer", "ask": "answer",
    "ChunkingConfig": "chunking", "chunk_text": "chunking",
    "evaluate": "evaluation", "load_questions": "evaluation",
    "DEFAULT_COLLECTION": "ingest", "IngestReport": "ingest", "ingest": "ingest",
    "Hit": "retrieval", "Retrieval": "retrieval", "retrieve": "retrieval",
    "MODES": "vectordb", "VectorStore": "vectordb", "drop_collection": "vectordb", "list_collections": "vectordb",
    "open_store": "vectordb",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"llm_playground.rag.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'llm_playground.rag' has no attribute {name!r}")
