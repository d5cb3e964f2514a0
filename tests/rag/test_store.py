"""The Milvus store through ingest: idempotent re-ingest, per-document replacement, search modes
against readable references, stability across a process restart, and kill -9 mid-ingest."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_corpus
from llm_playground.errors import PlaygroundError
from llm_playground.rag.chunking import ChunkingConfig
from llm_playground.rag.ingest import ingest
from llm_playground.rag.retrieval import reciprocal_rank_fusion, retrieve
from llm_playground.rag.vectordb import (RRF_K, document_id, drop_collection, list_collections, open_store)

DRIVER = Path(__file__).parent / "driver.py"
SMALL = ChunkingConfig(32, 8)


def chunk_ids_by_source(collection: str) -> dict[str, list[str]]:
    with open_store(collection) as store:
        return {Path(r.source).name: [c.id for c in store.chunks_of(r.doc_id)] for r in store.documents()}


def test_reingest_adds_nothing_and_a_changed_file_replaces_only_its_chunks(tmp_path, rag_home, embedder):
    folder = write_corpus(tmp_path / "docs")
    first = ingest([folder], "kb", embedder=embedder, chunking=SMALL)
    assert [d.status for d in first.documents] == ["added"] * 4
    assert first.chunks_in_collection == first.chunks_written == sum(d.chunks for d in first.documents) > 4
    before = chunk_ids_by_source("kb")

    again = ingest([folder], "kb", embedder=embedder, chunking=SMALL)
    assert [d.status for d in again.documents] == ["unchanged"] * 4
    assert (again.chunks_written, again.chunks_in_collection) == (0, first.chunks_in_collection)
    assert chunk_ids_by_source("kb") == before

    (folder / "shipping.txt").write_text("Standard shipping now takes 2 business days.\n\nPickup is free.\n")
    changed = ingest([folder], "kb", embedder=embedder, chunking=SMALL)
    assert {Path(d.source).name: d.status for d in changed.documents} == {
        "refunds.md": "unchanged", "security.html": "unchanged", "shipping.txt": "replaced", "remote.pdf": "unchanged"}
    after = chunk_ids_by_source("kb")
    assert {name: ids for name, ids in after.items() if name != "shipping.txt"} == {
        name: ids for name, ids in before.items() if name != "shipping.txt"}
    assert not set(after["shipping.txt"]) & set(before["shipping.txt"])
    with open_store("kb") as store:
        texts = [c.text for c in store.chunks_of(document_id(str(folder / "shipping.txt")))]
        assert texts == ["Standard shipping now takes 2 business days.\n\nPickup is free."]
        assert store.count() == sum(len(ids) for ids in after.values())

    # new chunking settings re-chunk every file
    resized = ingest([folder], "kb", embedder=embedder, chunking=ChunkingConfig(16, 4))
    assert {d.status for d in resized.documents} == {"replaced"}
    assert [c.name for c in list_collections()] == ["kb"]


def test_stored_chunks_carry_source_page_and_offsets_of_their_text(tmp_path, rag_home, embedder):
    folder = write_corpus(tmp_path / "docs")
    ingest([folder], "kb", embedder=embedder, chunking=SMALL)
    from llm_playground.rag.loaders import load_document

    with open_store("kb") as store:
        for record in store.documents():
            pages = {p.number: p.text for p in load_document(record.source).pages}
            for chunk in store.chunks_of(record.doc_id):
                assert pages[chunk.page][chunk.char_start:chunk.char_end] == chunk.text
        pdf = store.chunks_of(document_id(str(folder / "policies" / "remote.pdf")))
        assert [c.page for c in pdf] == [1, 2] and "coworking" in pdf[1].text


def test_search_modes_match_their_references(tmp_path, rag_home, embedder):
    folder = write_corpus(tmp_path / "docs")
    ingest([folder], "kb", embedder=embedder, chunking=SMALL)
    question = "how many days do I have to return items for a refund"
    with open_store("kb") as store:
        chunks = [c for r in store.documents() for c in store.chunks_of(r.doc_id)]
        vectors = embedder.embed([c.text for c in chunks])  # (n, 384)
        query = embedder.embed([question])[0]
        exact = np.argsort(-(vectors @ query), kind="stable")[:5]  # brute force cosine
        dense = retrieve(store, embedder, question, mode="dense", k=5)
        assert [h.chunk.id for h in dense.hits] == [chunks[i].id for i in exact]
        assert [round(h.score, 5) for h in dense.hits] == [round(float(vectors[i] @ query), 5) for i in exact]
        assert all(abs(h.score - h.similarity) < 1e-5 for h in dense.hits)

        bm25 = retrieve(store, embedder, question, mode="bm25", k=5)
        assert bm25.hits and all(h.score > 0 for h in bm25.hits)  # Milvus Lite's negative distance, flipped
        assert bm25.hits[0].chunk.text.startswith("# Refunds")
        assert [h.score for h in bm25.hits] == sorted((h.score for h in bm25.hits), reverse=True)

        depth = 20
        fused = reciprocal_rank_fusion([[h.chunk.id for h in store.search_dense(query, depth)],
                                        [h.chunk.id for h in store.search_bm25(question, depth)]], k=RRF_K, limit=5)
        hybrid = retrieve(store, embedder, question, mode="hybrid", k=5, depth=depth)
        assert [round(h.score, 6) for h in hybrid.hits] == [round(score, 6) for _, score in fused]
        assert {h.chunk.id for h in hybrid.hits} == {key for key, _ in fused}


def test_results_are_stable_across_a_process_restart(tmp_path, rag_home, embedder):
    folder = write_corpus(tmp_path / "docs")
    environment = {**os.environ, "LLMPG_RAG_HOME": str(rag_home)}
    questions = ["refund for gift cards", "password length", "coworking allowance"]
    runs = [subprocess.run([sys.executable, str(DRIVER), "search", "kb", source, *questions], env=environment,
                           capture_output=True, text=True, timeout=300) for source in (str(folder), "-")]
    assert [run.returncode for run in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    first, second = (json.loads(run.stdout) for run in runs)  # ingest + search, then search in a new process
    assert first == second and len(first) == 9
    assert all(first[f"dense:{q}"] for q in questions) and first["bm25:refund for gift cards"]
    with open_store("kb") as store:  # and this process sees the same
        hits = retrieve(store, embedder, "coworking allowance", mode="hybrid", k=5).hits
        assert [[h.chunk.id, round(h.score, 6)] for h in hits] == first["hybrid:coworking allowance"]


def start_paused_ingest(folder: Path, rag_home: Path, point: str, document: int) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, str(DRIVER), "ingest", str(folder), "kb", point, str(document)],
                               env={**os.environ, "LLMPG_RAG_HOME": str(rag_home)}, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line.startswith("PAUSED"):
        process.kill()
        pytest.fail(f"the ingest did not pause: {line}{process.stderr.read()}")
    return process, line.split(" ", 1)[1].strip()


@pytest.mark.parametrize("point, document, replacing", [
    ("mid_insert", 1, False),        # a new document: some of its chunks are in, its record says "writing"
    ("after_delete", 1, True),       # a changed document: old chunks deleted, new ones not yet written
])
def test_kill_9_mid_ingest_leaves_only_complete_documents(tmp_path, rag_home, embedder, point, document, replacing):
    folder = write_corpus(tmp_path / "docs")
    clean = ingest([folder], "reference", embedder=embedder, chunking=SMALL)
    if replacing:
        ingest([folder], "kb", embedder=embedder, chunking=SMALL)
        (folder / "refunds.md").write_text("# Refunds\n\nReturns are accepted for 60 days now. " * 3)
    process, source = start_paused_ingest(folder, rag_home, point, document)
    try:
        with pytest.raises(PlaygroundError, match="open in another process"):
            with open_store("kb"):
                pass
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    with open_store("kb") as store:
        assert [r.source for r in store.rolled_back] == [source]
        assert store.rolled_back[0].chunks_removed == (0 if point == "after_delete" else
                                                      (1 if point == "mid_insert" else
                                                       next(d.chunks for d in clean.documents if d.source == source)))
        records = store.documents()
        assert all(r.state == "complete" for r in records) and source not in [r.source for r in records]
        complete = {r.doc_id: r.chunks for r in records}
        ids = store.all_chunk_ids()
        assert len(ids) == store.count() == sum(complete.values())
        assert {i.split("-")[0] for i in ids} == set(complete)

    resumed = ingest([folder], "kb", embedder=embedder, chunking=SMALL)
    assert {d.source: d.status for d in resumed.documents}[source] == "added"
    final = chunk_ids_by_source("kb")
    if not replacing:
        assert final == chunk_ids_by_source("reference")
    assert resumed.chunks_in_collection == sum(len(v) for v in final.values())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_server_uri_that_does_not_answer_is_a_clear_error(rag_home):
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(PlaygroundError, match=f"no Milvus server answers at {uri}"):
        with open_store("kb", uri=uri):
            pass
    with pytest.raises(PlaygroundError, match="is not a Milvus server address"):
        with open_store("kb", uri="localhost:19530"):
            pass


def test_missing_collection_bad_names_and_drop(tmp_path, rag_home, embedder):
    with pytest.raises(PlaygroundError, match="there is no collection 'nope' yet"):
        with open_store("nope"):
            pass
    with pytest.raises(PlaygroundError, match="collection name '../x' is not allowed"):
        with open_store("../x"):
            pass
    ingest([write_corpus(tmp_path / "docs")], "kb", embedder=embedder, chunking=SMALL)
    with pytest.raises(PlaygroundError, match="collections here: kb"):
        with open_store("other"):
            pass
    drop_collection("kb")
    assert list_collections() == []
