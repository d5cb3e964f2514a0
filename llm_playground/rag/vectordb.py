"""The vector store: Milvus through `pymilvus`, embedded (Milvus Lite) by default, a server with `uri`.

Embedded: each collection is a Milvus Lite data folder `$LLMPG_HOME/rag/<collection>.db` (no server
to start; Milvus Lite serves it from a thread of this process and locks the folder while open).
Server: `uri="http://host:19530"` reaches Milvus Standalone or Distributed with the very same calls.

Two Milvus collections make one of ours:

- the chunks: text (analysed for BM25), a 384-d dense vector (HNSW, cosine), a sparse BM25 vector
  that Milvus computes from the text (a BM25 `Function`), and where the chunk came from (source
  path, page, character offsets, chunk index, token count);
- the documents: one record per ingested file: its content hash, chunking settings, chunk count and
  a `state`, "writing" or "complete".

Writing a document is ordered so that a kill at any instant leaves only complete documents:
(1) its record becomes "writing", (2) its old chunks are deleted, (3) its new chunks are inserted,
(4) its record becomes "complete". Opening an embedded collection (Milvus Lite locks its folder,
so a "writing" record found on open belongs to a process that died) and opening any collection for
writing first roll back every document still marked "writing": its chunks, then its record, are
deleted, and the caller is told (`VectorStore.rolled_back`). On a server, run one ingest at a time
per collection: a second writer would roll back the first one's document in progress.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal

import numpy as np

from llm_playground import runtime
from llm_playground.errors import PlaygroundError

Mode = Literal["dense", "bm25", "hybrid"]
MODES: tuple[str, ...] = ("dense", "bm25", "hybrid")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
REGISTRY_SUFFIX = "__documents"
LOCAL_REGISTRY = "documents"
CHUNKS = "chunks"
INSERT_BATCH = 512
"""Rows per insert call (a bounded message size for a server)."""
RRF_K = 60
"""Reciprocal-rank fusion constant: score = Σ 1 / (RRF_K + rank), rank from 1 (Cormack et al. 2009)."""
HNSW_PARAMS = {"M": 16, "efConstruction": 200}
HNSW_SEARCH_EF = 128
CHUNK_FIELDS = ["doc_id", "source", "page", "char_start", "char_end", "chunk_index", "tokens", "text"]
SEARCH_FIELDS = [*CHUNK_FIELDS, "dense"]
MAX_TEXT_BYTES = 65_535
STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with i you we he she do does did how what which who whom when where why can could should "
    "would my your our me us from has have had about so than too very just also any all some".split())
"""English function words BM25 leaves out (Lucene's English stop set plus question words): without them
"How do I run the tests?" matches every "how", "do" and "the" in the collection."""
BM25_ANALYZER = {"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOP_WORDS)}]}
"""The text analyser, in the form both Milvus Lite and a Milvus server read."""

_path_locks: dict[str, threading.Lock] = {}
_path_locks_guard = threading.Lock()


def rag_home() -> Path:
    """Where embedded collections live: `$LLMPG_RAG_HOME`, default `$LLMPG_HOME/rag/`."""
    value = os.environ.get("LLMPG_RAG_HOME", "").strip()
    return Path(value).expanduser() if value else runtime.home() / "rag"


def check_collection_name(name: str) -> str:
    """A name Milvus accepts and that is safe as a folder name: letters, digits, underscores."""
    if not isinstance(name, str) or not NAME.match(name) or name.endswith(REGISTRY_SUFFIX):
        raise PlaygroundError(f"collection name {name!r} is not allowed: use 1–63 letters, digits or underscores, "
                              f"starting with a letter (and not ending in {REGISTRY_SUFFIX})")
    return name


def document_id(source: str) -> str:
    """A document's id: the first 16 hex digits of sha256 of its absolute path."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


@dataclass
class DocumentRecord:
    """What the store knows about one ingested file."""

    doc_id: str
    source: str
    content_hash: str
    settings: str
    """Chunking settings and embedding model the chunks were made with: `"128/24 minilm-l6"`."""
    state: str
    """"writing" while its chunks are being replaced, "complete" once all are in."""
    chunks: int
    pages: int
    characters: int
    ingested_at: float
    """time.time() of the last write."""

    def to_row(self) -> dict:
        return {"doc_id": self.doc_id, "source": self.source, "content_hash": self.content_hash,
                "settings": self.settings, "state": self.state, "chunks": self.chunks, "pages": self.pages,
                "characters": self.characters, "ingested_at": self.ingested_at, "placeholder": [1.0, 0.0]}

    @classmethod
    def from_row(cls, row: dict) -> "DocumentRecord":
        return cls(**{key: row[key] for key in ("doc_id", "source", "content_hash", "settings", "state", "chunks",
                                                 "pages", "characters", "ingested_at")})


@dataclass
class ChunkRecord:
    """One stored chunk (what a search returns, without its vectors)."""

    id: str
    doc_id: str
    source: str
    page: int
    char_start: int
    char_end: int
    chunk_index: int
    tokens: int
    text: str

    @classmethod
    def from_entity(cls, key: str, entity: dict) -> "ChunkRecord":
        return cls(id=key, **{name: entity[name] for name in CHUNK_FIELDS})

    def to_dict(self) -> dict:
        return {"id": self.id, "doc_id": self.doc_id, "source": self.source, "page": self.page,
                "char_start": self.char_start, "char_end": self.char_end, "chunk_index": self.chunk_index,
                "tokens": self.tokens, "text": self.text}


@dataclass
class RankedChunk:
    """A chunk at a rank of one search, with that search's score."""

    chunk: ChunkRecord
    rank: int
    """1 = best."""
    score: float
    """dense: cosine similarity; bm25: BM25 score (higher is better); hybrid: RRF score."""
    vector: np.ndarray | None = None
    """The chunk's dense vector (384,), when the search returned it."""


@dataclass
class RolledBack:
    """A document whose ingest was interrupted and has been removed on open."""

    source: str
    chunks_removed: int


def _silence_milvus_lite() -> None:
    # Milvus Lite logs a full traceback itself when it cannot start (a locked folder); we raise a
    # one-line PlaygroundError instead. Its gRPC server also logs a traceback each time pymilvus asks
    # for a method it does not serve (AllocTimestamp, on flush), which pymilvus then does without.
    for name in ("milvus_lite", "milvus_lite.server_manager", "pymilvus", "grpc._server"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _lock_held_elsewhere(folder: Path) -> bool:
    """Whether another process holds Milvus Lite's lock on `folder` (probe and release at once)."""
    lock_file = folder / "LOCK"
    if not lock_file.exists():
        return False
    with open(lock_file, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def _path_lock(key: str) -> threading.Lock:
    with _path_locks_guard:
        return _path_locks.setdefault(key, threading.Lock())


def local_collections() -> list[str]:
    """Names of the embedded collections under `$LLMPG_HOME/rag/`."""
    folder = rag_home()
    if not folder.is_dir():
        return []
    return sorted(path.name[:-3] for path in folder.glob("*.db") if path.is_dir() and NAME.match(path.name[:-3]))


class VectorStore:
    """One of our collections (chunks + document records) in Milvus. Use `open_store` to get one."""

    def __init__(self, client, name: str, *, location: str, local: bool, dimension: int) -> None:
        self.client = client
        self.name = name
        self.location = location
        """The data folder (embedded) or the server's URI."""
        self.local = local
        self.dimension = dimension
        self.chunks_collection = CHUNKS if local else name
        self.registry_collection = LOCAL_REGISTRY if local else name + REGISTRY_SUFFIX
        self.rolled_back: list[RolledBack] = []
        """Interrupted documents removed when this store was opened for writing."""

    # ---- schema -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.client.has_collection(self.chunks_collection)
                and self.client.has_collection(self.registry_collection))

    def create(self) -> None:
        """Create both Milvus collections with their indexes (a no-op when they exist)."""
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        if not self.client.has_collection(self.chunks_collection):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                                description="llm-playground RAG chunks")
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
            schema.add_field("doc_id", DataType.VARCHAR, max_length=32)
            schema.add_field("source", DataType.VARCHAR, max_length=4096)
            schema.add_field("page", DataType.INT64)
            schema.add_field("char_start", DataType.INT64)
            schema.add_field("char_end", DataType.INT64)
            schema.add_field("chunk_index", DataType.INT64)
            schema.add_field("tokens", DataType.INT64)
            schema.add_field("text", DataType.VARCHAR, max_length=MAX_TEXT_BYTES, enable_analyzer=True,
                             analyzer_params=BM25_ANALYZER)
            schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.dimension)
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                         input_field_names=["text"], output_field_names=["sparse"]))
            index = self.client.prepare_index_params()
            index.add_index("dense", index_type="HNSW", metric_type="COSINE", params=HNSW_PARAMS)
            index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
            self.client.create_collection(self.chunks_collection, schema=schema, index_params=index,
                                          consistency_level="Strong")
        if not self.client.has_collection(self.registry_collection):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False,
                                                description="llm-playground RAG documents")
            schema.add_field("doc_id", DataType.VARCHAR, is_primary=True, max_length=32)
            schema.add_field("source", DataType.VARCHAR, max_length=4096)
            schema.add_field("content_hash", DataType.VARCHAR, max_length=64)
            schema.add_field("settings", DataType.VARCHAR, max_length=512)
            schema.add_field("state", DataType.VARCHAR, max_length=16)
            schema.add_field("chunks", DataType.INT64)
            schema.add_field("pages", DataType.INT64)
            schema.add_field("characters", DataType.INT64)
            schema.add_field("ingested_at", DataType.DOUBLE)
            schema.add_field("placeholder", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
            index = self.client.prepare_index_params()
            index.add_index("placeholder", index_type="FLAT", metric_type="L2")
            self.client.create_collection(self.registry_collection, schema=schema, index_params=index,
                                          consistency_level="Strong")

    # ---- documents ----------------------------------------------------------------------------
    def documents(self, state: str | None = None) -> list[DocumentRecord]:
        """Every document record (of one state when given), sorted by source path."""
        rows = self._query_all(self.registry_collection, f'state == "{state}"' if state else 'doc_id != ""',
                               ["doc_id", "source", "content_hash", "settings", "state", "chunks", "pages",
                                "characters", "ingested_at"])
        return sorted((DocumentRecord.from_row(row) for row in rows), key=lambda record: record.source)

    def document(self, doc_id: str) -> DocumentRecord | None:
        rows = self.client.query(self.registry_collection, filter=f'doc_id == "{doc_id}"',
                                 output_fields=["doc_id", "source", "content_hash", "settings", "state", "chunks",
                                                "pages", "characters", "ingested_at"])
        return DocumentRecord.from_row(rows[0]) if rows else None

    def replace_document(self, record: DocumentRecord, rows: list[dict], *, on_batch=None) -> None:
        """Write one document's chunks in place of its old ones, kill-safe (see the module docstring).

        `rows` hold the chunk fields and `dense`; ids are made here from the document id, its content
        hash and the chunk index, so a new version never collides with the old one.
        """
        started = dict(record.to_row(), state="writing", chunks=0, ingested_at=time.time())
        self.client.upsert(self.registry_collection, [started])                      # (1)
        self.client.delete(self.chunks_collection, filter=f'doc_id == "{record.doc_id}"')  # (2)
        for begin in range(0, len(rows), INSERT_BATCH):                              # (3)
            batch = rows[begin:begin + INSERT_BATCH]
            self.client.insert(self.chunks_collection, batch)
            if on_batch:
                on_batch(len(batch))
        self._mark_complete(record, len(rows))                                       # (4)

    def _mark_complete(self, record: DocumentRecord, chunk_count: int) -> None:
        done = dict(record.to_row(), state="complete", chunks=chunk_count, ingested_at=time.time())
        self.client.upsert(self.registry_collection, [done])

    def remove_document(self, doc_id: str) -> int:
        """Delete a document's chunks, then its record; returns the chunks removed."""
        removed = self.client.delete(self.chunks_collection, filter=f'doc_id == "{doc_id}"')
        self.client.delete(self.registry_collection, filter=f'doc_id == "{doc_id}"')
        return _deleted_count(removed)

    def roll_back_interrupted(self) -> list[RolledBack]:
        """Remove every document an interrupted ingest left in state "writing" (chunks, then record)."""
        rolled = []
        for record in self.documents(state="writing"):
            rolled.append(RolledBack(record.source, self.remove_document(record.doc_id)))
        self.rolled_back.extend(rolled)
        return rolled

    def flush(self) -> None:
        """Seal what was written into indexed segments. Milvus (Lite and server) keeps new rows in a
        growing segment that is searched without the HNSW index (brute force, in Python for Milvus
        Lite: 0.2 s a query at 1k rows on a busy laptop); sealing makes searches use the index."""
        self.client.flush(self.chunks_collection)
        self.client.flush(self.registry_collection)

    # ---- counts -------------------------------------------------------------------------------
    def count(self) -> int:
        """Chunks stored."""
        rows = self.client.query(self.chunks_collection, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def chunks_of(self, doc_id: str) -> list[ChunkRecord]:
        """A document's chunks in order."""
        rows = self._query_all(self.chunks_collection, f'doc_id == "{doc_id}"', ["id", *CHUNK_FIELDS])
        return sorted((ChunkRecord.from_entity(row["id"], row) for row in rows),
                      key=lambda chunk: (chunk.page, chunk.chunk_index))

    def all_chunk_ids(self) -> list[str]:
        return sorted(row["id"] for row in self._query_all(self.chunks_collection, 'id != ""', ["id"]))

    def _query_all(self, collection: str, expression: str, fields: list[str], page: int = 4096) -> list[dict]:
        """Every row matching `expression`, read in pages (a server caps one query's rows)."""
        rows: list[dict] = []
        offset = 0
        while True:
            batch = self.client.query(collection, filter=expression, output_fields=fields, limit=page, offset=offset)
            rows.extend(dict(row) for row in batch)
            if len(batch) < page:
                return rows
            offset += page

    # ---- search -------------------------------------------------------------------------------
    def search_dense(self, vector: np.ndarray, limit: int) -> list[RankedChunk]:
        """Nearest chunks by cosine similarity (HNSW)."""
        result = self.client.search(self.chunks_collection, data=[np.asarray(vector, dtype=np.float32).tolist()],
                                    anns_field="dense", limit=limit, output_fields=SEARCH_FIELDS,
                                    search_params={"metric_type": "COSINE", "params": {"ef": max(HNSW_SEARCH_EF, limit)}})
        return self._ranked(result[0], sign=1.0)

    def search_bm25(self, text: str, limit: int) -> list[RankedChunk]:
        """Best chunks by BM25 over the analysed text. Milvus Lite returns BM25 as a negative distance
        (smaller is better); we flip it so that every mode's score is "higher is better"."""
        result = self.client.search(self.chunks_collection, data=[text], anns_field="sparse", limit=limit,
                                    output_fields=SEARCH_FIELDS, search_params={"metric_type": "BM25"})
        hits = result[0]
        sign = -1.0 if hits and min(hit["distance"] for hit in hits) < 0 else 1.0
        return self._ranked(hits, sign=sign)

    def search_hybrid(self, vector: np.ndarray, text: str, limit: int, depth: int) -> list[RankedChunk]:
        """Milvus' hybrid search: the dense and BM25 lists (`depth` each) fused by reciprocal rank."""
        from pymilvus import AnnSearchRequest, RRFRanker

        requests = [
            AnnSearchRequest(data=[np.asarray(vector, dtype=np.float32).tolist()], anns_field="dense",
                             param={"metric_type": "COSINE", "params": {"ef": max(HNSW_SEARCH_EF, depth)}}, limit=depth),
            AnnSearchRequest(data=[text], anns_field="sparse", param={"metric_type": "BM25"}, limit=depth),
        ]
        result = self.client.hybrid_search(self.chunks_collection, requests, RRFRanker(RRF_K), limit=limit,
                                           output_fields=SEARCH_FIELDS)
        return self._ranked(result[0], sign=1.0)

    @staticmethod
    def _ranked(hits, sign: float) -> list[RankedChunk]:
        return [RankedChunk(ChunkRecord.from_entity(hit["id"], hit["entity"]), rank, sign * float(hit["distance"]),
                            _vector(hit["entity"].get("dense")))
                for rank, hit in enumerate(hits, start=1)]

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.local:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(self.location)  # frees the folder's lock for other processes


def _vector(value) -> np.ndarray | None:
    if value is None:
        return None
    return np.frombuffer(value, dtype=np.float32) if isinstance(value, bytes) else np.asarray(value, dtype=np.float32)


def _deleted_count(result) -> int:
    if isinstance(result, dict):
        return int(result.get("delete_count", 0))
    try:
        return len(result)
    except TypeError:
        return 0


def _connect_server(uri: str):
    from pymilvus import MilvusClient
    from pymilvus.exceptions import MilvusException

    if not re.match(r"^(https?|tcp|grpc)://", uri):
        raise PlaygroundError(f"uri {uri!r} is not a Milvus server address; give one like http://localhost:19530 "
                              "(or leave it empty for the embedded store)")
    try:
        return MilvusClient(uri, timeout=10)
    except MilvusException as error:
        raise PlaygroundError(f"no Milvus server answers at {uri} ({error.message}); start Milvus Standalone there "
                              "(see docs/rag.md) or leave uri empty to use the embedded store") from None


@contextlib.contextmanager
def open_store(collection: str, *, uri: str | None = None, create: bool = False, dimension: int = 384,
               home: Path | None = None) -> Iterator[VectorStore]:
    """Open one of our collections; `create` makes it (and rolls back interrupted documents).

    Reading a collection that does not exist is a PlaygroundError that lists the known ones.
    `home` puts embedded collections somewhere else than `rag_home()` (the benchmark's scratch folder).
    """
    check_collection_name(collection)
    _silence_milvus_lite()
    if uri:
        client = _connect_server(uri)
        store = VectorStore(client, collection, location=uri, local=False, dimension=dimension)
        try:
            _prepare(store, collection, create)
            yield store
        finally:
            store.close()
        return
    folder = (home or rag_home()) / f"{collection}.db"
    if not create and not (folder / "collections" / CHUNKS).is_dir():
        known = local_collections()
        raise PlaygroundError(f"there is no collection {collection!r} yet; ingest documents into it first "
                              f"(llmpg rag ingest PATH --collection {collection})"
                              + (f"; collections here: {', '.join(known)}" if known else ""))
    with _path_lock(str(folder)):  # one user of a data folder at a time within this process
        if _lock_held_elsewhere(folder):
            raise PlaygroundError(f"collection {collection!r} is open in another process (an ingest, or a running "
                                  "llmpg ui that is using it); wait for it to finish and try again")
        folder.parent.mkdir(parents=True, exist_ok=True)
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException

        try:
            client = MilvusClient(str(folder))
        except MilvusException as error:
            raise PlaygroundError(f"could not open the embedded store at {folder} ({error.message}); if another "
                                  "process is using it, wait for it to finish") from None
        store = VectorStore(client, collection, location=str(folder), local=True, dimension=dimension)
        try:
            _prepare(store, collection, create)
            yield store
        finally:
            store.close()


def _prepare(store: VectorStore, collection: str, create: bool) -> None:
    if create:
        store.create()
    elif not store.exists():
        raise PlaygroundError(f"there is no collection {collection!r} at {store.location}; ingest documents into "
                              f"it first (llmpg rag ingest PATH --collection {collection})")
    store.client.load_collection(store.chunks_collection)
    store.client.load_collection(store.registry_collection)
    if create or store.local:
        store.roll_back_interrupted()


@dataclass
class CollectionInfo:
    """One of our collections, as `llmpg rag list` shows it."""

    name: str
    location: str
    documents: int
    chunks: int

    def to_dict(self) -> dict:
        return vars(self).copy()


def list_collections(uri: str | None = None) -> list[CollectionInfo]:
    """Our collections (embedded ones under `$LLMPG_HOME/rag/`, or those on the server at `uri`)."""
    if uri:
        client = _connect_server(uri)
        try:
            names = set(client.list_collections())
        finally:
            with contextlib.suppress(Exception):
                client.close()
        ours = sorted(name[:-len(REGISTRY_SUFFIX)] for name in names
                      if name.endswith(REGISTRY_SUFFIX) and name[:-len(REGISTRY_SUFFIX)] in names)
    else:
        ours = local_collections()
    infos = []
    for name in ours:
        with open_store(name, uri=uri) as store:
            infos.append(CollectionInfo(name, store.location, len(store.documents("complete")), store.count()))
    return infos


def drop_collection(collection: str, *, uri: str | None = None) -> str:
    """Delete a collection with all its chunks and records; returns where it was."""
    check_collection_name(collection)
    if uri:
        client = _connect_server(uri)
        try:
            names = [collection, collection + REGISTRY_SUFFIX]
            if not any(client.has_collection(name) for name in names):
                raise PlaygroundError(f"there is no collection {collection!r} at {uri}")
            for name in names:
                if client.has_collection(name):
                    client.drop_collection(name)
        finally:
            with contextlib.suppress(Exception):
                client.close()
        return uri
    import shutil

    folder = rag_home() / f"{collection}.db"
    if not folder.is_dir():
        known = local_collections()
        raise PlaygroundError(f"there is no collection {collection!r}" + (f"; collections here: {', '.join(known)}"
                                                                             if known else ""))
    with _path_lock(str(folder)):
        if _lock_held_elsewhere(folder):
            raise PlaygroundError(f"collection {collection!r} is open in another process; wait for it to finish")
        retired = folder.with_name(f".{folder.name}.dropped")
        if retired.exists():
            shutil.rmtree(retired)
        folder.rename(retired)  # one rename: a kill mid-delete leaves no half collection under the real name
        shutil.rmtree(retired)
    return str(folder)
