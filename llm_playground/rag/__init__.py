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
