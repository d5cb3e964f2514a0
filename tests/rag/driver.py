"""Runs ingest or search in a process of its own, for tests that kill it or restart it.

    python driver.py ingest FOLDER COLLECTION [POINT N]   # POINT: after_delete, mid_insert, before_complete
    python driver.py search COLLECTION FOLDER|- QUESTION…  # ingest FOLDER first unless "-"; prints JSON:
                                                          # per question and mode, ids and scores

With POINT, the N-th document written (1-based) stops at that point of its write, prints
"PAUSED <source>" and sleeps, waiting to be killed. Uses the hash embedder ($LLMPG_RAG_HOME decides
where the collection lives).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from fake_embedder import HashEmbedder  # noqa: E402

from llm_playground.rag import vectordb  # noqa: E402


def pause_at(point: str, target: int) -> None:
    from pymilvus import MilvusClient

    state = {"doc": 0, "source": "", "inserts": 0}
    original_upsert, original_insert, original_delete = MilvusClient.upsert, MilvusClient.insert, MilvusClient.delete

    def pause() -> None:
        print("PAUSED", state["source"], flush=True)
        time.sleep(600)

    def upsert(self, collection_name, data, **kwargs):
        if collection_name == vectordb.LOCAL_REGISTRY and data[0]["state"] == "writing":
            state.update(doc=state["doc"] + 1, source=data[0]["source"], inserts=0)
        if collection_name == vectordb.LOCAL_REGISTRY and data[0]["state"] == "complete":
            if point == "before_complete" and state["doc"] == target:
                pause()
        return original_upsert(self, collection_name, data, **kwargs)

    def delete(self, collection_name, **kwargs):
        result = original_delete(self, collection_name, **kwargs)
        if collection_name == vectordb.CHUNKS and point == "after_delete" and state["doc"] == target:
            pause()
        return result

    def insert(self, collection_name, data, **kwargs):
        result = original_insert(self, collection_name, data, **kwargs)
        if collection_name == vectordb.CHUNKS:
            state["inserts"] += 1
            if point == "mid_insert" and state["doc"] == target and state["inserts"] == 1:
                pause()
        return result

    MilvusClient.upsert, MilvusClient.insert, MilvusClient.delete = upsert, insert, delete
    vectordb.INSERT_BATCH = 1  # one insert per chunk, so "mid_insert" leaves a document half written


def main(argv: list[str]) -> None:
    from llm_playground.rag.chunking import ChunkingConfig
    from llm_playground.rag.ingest import ingest
    from llm_playground.rag.retrieval import retrieve

    if argv[0] == "ingest":
        folder, collection = argv[1], argv[2]
        if len(argv) > 3:
            pause_at(argv[3], int(argv[4]))
        report = ingest([folder], collection, embedder=HashEmbedder(), chunking=ChunkingConfig(32, 8))
        print(json.dumps(report.to_dict()))
    else:
        collection, folder, questions = argv[1], argv[2], argv[3:]
        if folder != "-":
            ingest([folder], collection, embedder=HashEmbedder(), chunking=ChunkingConfig(32, 8))
        results = {}
        with vectordb.open_store(collection) as store:
            for question in questions:
                for mode in vectordb.MODES:
                    hits = retrieve(store, HashEmbedder(), question, mode=mode, k=5).hits
                    results[f"{mode}:{question}"] = [(h.chunk.id, round(h.score, 6)) for h in hits]
        print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
