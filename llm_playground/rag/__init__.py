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
from llm_playground.rag.answer import Answer, AskConfig, ask
from llm_playground.rag.chunking import ChunkingConfig, chunk_text
from llm_playground.rag.evaluation import evaluate, load_questions
from llm_playground.rag.ingest import DEFAULT_COLLECTION, IngestReport, ingest
from llm_playground.rag.retrieval import Hit, Retrieval, retrieve
from llm_playground.rag.vectordb import MODES, VectorStore, drop_collection, list_collections, open_store

__all__ = ["Answer", "AskConfig", "ChunkingConfig", "DEFAULT_COLLECTION", "Hit", "IngestReport", "MODES", "Retrieval",
           "VectorStore", "ask", "chunk_text", "drop_collection", "evaluate", "ingest", "list_collections",
           "load_questions", "open_store", "retrieve"]
