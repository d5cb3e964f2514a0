"""Ingest: files → pages → chunks → embeddings → the vector store, one document at a time.

An unchanged file (same content hash, same chunking settings and embedding model) is left alone; a
changed one has its chunks replaced, and only its own. Each document is written kill-safe (see
`vectordb`): a process killed mid-ingest leaves the documents it finished, and the one it was
writing is rolled back when the collection is next opened.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from llm_playground.errors import PlaygroundError
from llm_playground.rag.chunking import ChunkingConfig, chunk_text
from llm_playground.rag.embeddings import Embedder, MiniLMEmbedder
from llm_playground.rag.loaders import Document, Skipped, UnreadableFile, discover, load_document, SUFFIXES
from llm_playground.rag.vectordb import (MAX_TEXT_BYTES, DocumentRecord, RolledBack, check_collection_name, document_id,
                                         open_store)

DEFAULT_COLLECTION = "default"


@dataclass
class Chunk:
    """A chunk of a document, ready to embed: its page, offsets in that page's text, and index."""

    text: str
    page: int
    char_start: int
    char_end: int
    chunk_index: int
    """Position in the document (0-based, across pages)."""
    tokens: int


def document_chunks(document: Document, tokenizer, config: ChunkingConfig) -> list[Chunk]:
    """Every page chunked by `chunking.chunk_text`; chunks never cross a page (a citation names one page)."""
    chunks: list[Chunk] = []
    for page in document.pages:
        for piece in chunk_text(page.text, tokenizer, config):
            chunks.append(Chunk(piece.text, page.number, piece.start, piece.end, len(chunks), piece.tokens))
    return chunks


@dataclass
class DocumentResult:
    """What ingest did with one file."""

    source: str
    status: str
    """"added", "replaced", "unchanged" or "skipped"."""
    chunks: int = 0
    pages: int = 0
    reason: str = ""
    """Why it was skipped."""

    def to_dict(self) -> dict:
        return {"source": self.source, "status": self.status, "chunks": self.chunks, "pages": self.pages,
                **({"reason": self.reason} if self.reason else {})}


@dataclass
class IngestReport:
    """The outcome of one ingest, per file, with counts and timings."""

    collection: str
    location: str
    documents: list[DocumentResult] = field(default_factory=list)
    rolled_back: list[RolledBack] = field(default_factory=list)
    chunks_in_collection: int = 0
    chunks_written: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0

    def with_status(self, status: str) -> list[DocumentResult]:
        return [result for result in self.documents if result.status == status]

    @property
    def chunks_per_second(self) -> float:
        """Chunks written per second of the whole ingest (reading, chunking and embedding included)."""
        return self.chunks_written / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        parts = [f"{len(self.with_status(s))} {s}" for s in ("added", "replaced", "unchanged", "skipped")
                 if self.with_status(s)]
        return (f"collection {self.collection!r}: {', '.join(parts) or 'nothing to do'}; {self.chunks_written} chunks "
                f"written ({self.chunks_per_second:.1f} chunks/s, embedding {self.embed_seconds:.1f} s of "
                f"{self.seconds:.1f} s); {self.chunks_in_collection} chunks in the collection")

    def to_dict(self) -> dict:
        return {"collection": self.collection, "location": self.location,
                "documents": [result.to_dict() for result in self.documents],
                "rolled_back": [{"source": r.source, "chunks_removed": r.chunks_removed} for r in self.rolled_back],
                "chunks_in_collection": self.chunks_in_collection, "chunks_written": self.chunks_written,
                "chunks_per_second": round(self.chunks_per_second, 2), "embed_seconds": round(self.embed_seconds, 3),
                "seconds": round(self.seconds, 3)}


ProgressCallback = Callable[[int, int, str], None]
"""on_progress(chunks done, chunks to write, current source)."""


def ingest(paths: list[str | Path], collection: str = DEFAULT_COLLECTION, *, uri: str | None = None,
           chunking: ChunkingConfig = ChunkingConfig(), embedder: Embedder | None = None, progress: bool = False,
           on_progress: ProgressCallback | None = None, batch_size: int = 32) -> IngestReport:
    """Ingest files and folders into `collection` (created on first use) and report per file.

    Everything that needs no model is checked first: the paths exist and hold readable files.
    """
    started = time.perf_counter()
    check_collection_name(collection)
    found = discover(paths)
    if not found.files:
        reasons = "; ".join(f"{Path(s.source).name}: {s.reason}" for s in found.skipped[:5])
        raise PlaygroundError(f"nothing to ingest in {', '.join(map(str, paths))}: no {', '.join(SUFFIXES)} files"
                              + (f" ({reasons})" if reasons else " (the folder is empty)"))
    embedder = embedder or MiniLMEmbedder()
    tokenizer = embedder.tokenizer()
    settings = f"{chunking.signature} {embedder.name}"
    with open_store(collection, uri=uri, create=True, dimension=embedder.dimension) as store:
        report = IngestReport(collection=collection, location=store.location, rolled_back=list(store.rolled_back))
        report.documents.extend(DocumentResult(s.source, "skipped", reason=s.reason) for s in found.skipped)
        pending: list[tuple[Document, DocumentRecord, list[Chunk], str]] = []
        for path in found.files:
            try:
                document = load_document(path)
            except UnreadableFile as error:
                report.documents.append(DocumentResult(str(path), "skipped", reason=str(error)))
                continue
            doc_id = document_id(document.source)
            existing = store.document(doc_id)
            if (existing and existing.state == "complete" and existing.content_hash == document.content_hash
                    and existing.settings == settings):
                report.documents.append(DocumentResult(document.source, "unchanged", existing.chunks,
                                                       existing.pages))
                continue
            chunks = document_chunks(document, tokenizer, chunking)
            oversized = [c for c in chunks if len(c.text.encode("utf-8")) > MAX_TEXT_BYTES]
            if not chunks or oversized:
                reason = "no text to chunk" if not chunks else f"a chunk of over {MAX_TEXT_BYTES} bytes (page {oversized[0].page})"
                report.documents.append(DocumentResult(document.source, "skipped", reason=reason))
                continue
            record = DocumentRecord(doc_id=doc_id, source=document.source, content_hash=document.content_hash,
                                    settings=settings, state="writing", chunks=len(chunks), pages=len(document.pages),
                                    characters=document.characters, ingested_at=time.time())
            pending.append((document, record, chunks, "replaced" if existing else "added"))
        total = sum(len(chunks) for _, _, chunks, _ in pending)
        done = 0
        bar = None
        if progress and total:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=f"embedding and storing into {collection!r}", unit="chunk")
        try:
            for document, record, chunks, status in pending:
                if on_progress:
                    on_progress(done, total, document.source)
                embed_started = time.perf_counter()
                vectors = embedder.embed([chunk.text for chunk in chunks], batch_size=batch_size)
                report.embed_seconds += time.perf_counter() - embed_started
                rows = [{"id": f"{record.doc_id}-{record.content_hash[:8]}-{chunk.chunk_index:05d}",
                         "doc_id": record.doc_id, "source": record.source, "page": chunk.page,
                         "char_start": chunk.char_start, "char_end": chunk.char_end,
                         "chunk_index": chunk.chunk_index, "tokens": chunk.tokens, "text": chunk.text,
                         "dense": vector.tolist()} for chunk, vector in zip(chunks, vectors)]
                store.replace_document(record, rows, on_batch=bar.update if bar else None)
                done += len(rows)
                report.chunks_written += len(rows)
                report.documents.append(DocumentResult(document.source, status, len(rows), len(document.pages)))
            if on_progress:
                on_progress(done, total, "")
        finally:
            if bar:
                bar.close()
        if report.chunks_written or report.rolled_back:
            store.flush()
        report.chunks_in_collection = store.count()
    report.seconds = time.perf_counter() - started
    return report
