"""`llmpg rag …`: ingest documents, see their chunks, search, ask with citations, measure retrieval."""
from __future__ import annotations

import os
import sys
from typing import Literal

from llm_playground.cli.render import dim, print_json, table
from llm_playground.rag.answer import DEFAULT_MODEL, AskConfig
from llm_playground.rag.ingest import DEFAULT_COLLECTION

Mode = Literal["dense", "bm25", "hybrid"]


def _short(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[:width - 1] + "…"


def _name(path: str) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def ingest(paths: list[str], *, collection: str = DEFAULT_COLLECTION, uri: str | None = None,
           chunk_size: int = 128, chunk_overlap: int = 24, json: bool = False) -> int:
    """Ingest .txt, .md, .html and .pdf files (folders recursively) into a collection.

    Files are cut into chunks (recursive separators, sizes in MiniLM tokens; see `llmpg rag chunks`),
    embedded with minilm-l6 and stored in Milvus: embedded Milvus Lite in $LLMPG_HOME/rag/ by default,
    a Milvus server with --uri. Unchanged files are skipped; a changed file has its chunks replaced.

    Args:
        paths: files and folders to ingest.
        collection: collection name (letters, digits, underscores).
        uri: a Milvus server, e.g. http://localhost:19530 (default: the embedded store).
        chunk_size: most tokens in a chunk (1-254).
        chunk_overlap: tokens a chunk repeats from the previous one.
        json: print the report as JSON.
    """
    from llm_playground.errors import PlaygroundError
    from llm_playground.rag.chunking import ChunkingConfig
    from llm_playground.rag.ingest import ingest as run_ingest

    chunking = ChunkingConfig(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    report = run_ingest(paths, collection, uri=uri, chunking=chunking, progress=not json)
    if json:
        print_json(report.to_dict())
    else:
        for rolled in report.rolled_back:
            print(f"rolled back   {_name(rolled.source)}: an earlier ingest was interrupted while writing it "
                  f"({rolled.chunks_removed} partial chunks removed); it is ingested again if named here")
        for result in report.documents:
            detail = result.reason if result.status == "skipped" else (
                f"{result.chunks} chunks" + (f", {result.pages} pages" if result.pages > 1 else ""))
            print(f"{result.status:<10}  {_name(result.source)}  {dim(detail)}")
        print(report.summary(), file=sys.stderr)
    if all(result.status == "skipped" for result in report.documents):
        raise PlaygroundError("nothing was ingested: every file was skipped (reasons above)")
    return 0


def chunks(path: str, *, chunk_size: int = 128, chunk_overlap: int = 24, json: bool = False) -> int:
    """Show how one file is cut into chunks: boundaries (page, character offsets), token counts, text.

    Args:
        path: a .txt, .md, .html or .pdf file.
        chunk_size: most tokens in a chunk (1-254).
        chunk_overlap: tokens a chunk repeats from the previous one.
        json: print JSON.
    """
    from llm_playground.errors import PlaygroundError
    from llm_playground.rag.chunking import ChunkingConfig
    from llm_playground.rag.embeddings import MiniLMEmbedder
    from llm_playground.rag.ingest import document_chunks
    from llm_playground.rag.loaders import UnreadableFile, discover, load_document

    config = ChunkingConfig(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    found = discover([path])
    if not found.files:
        raise PlaygroundError(f"{path}: {found.skipped[0].reason if found.skipped else 'no readable file'}")
    try:
        document = load_document(found.files[0])
    except UnreadableFile as error:
        raise PlaygroundError(f"{path}: {error}") from None
    pieces = document_chunks(document, MiniLMEmbedder().tokenizer(), config)
    if json:
        print_json({"source": document.source, "chunk_size": chunk_size, "chunk_overlap": chunk_overlap,
                    "chunks": [vars(piece) for piece in pieces]})
        return 0
    print(dim(f"{_name(document.source)}: {len(document.pages)} page(s), {document.characters:,} characters → "
              f"{len(pieces)} chunks of at most {chunk_size} tokens, overlap {chunk_overlap}"))
    for piece in pieces:
        print(f"── chunk {piece.chunk_index}  page {piece.page}  chars {piece.char_start}–{piece.char_end}  "
              f"{piece.tokens} tokens " + "─" * 10)
        print(piece.text)
    return 0


def _print_hits(retrieval, collection: str, source_numbers: dict[str, int] | None = None) -> None:
    score_name = {"dense": "cosine", "bm25": "BM25", "hybrid": "RRF"}[retrieval.mode]
    print(dim(f"retrieved {len(retrieval.hits)} chunks from {collection!r} ({retrieval.mode}, "
              f"{retrieval.seconds * 1000:.0f} ms):"), file=sys.stderr)
    for hit in retrieval.hits:
        number = (source_numbers or {}).get(hit.chunk.id)
        tag = f"[{number}]" if number else "   "
        print(f"  {tag} #{hit.rank}  {score_name} {hit.score:.4f}  similarity {hit.similarity:.3f}  "
              f"{_name(hit.chunk.source)} p.{hit.chunk.page} chars {hit.chunk.char_start}–{hit.chunk.char_end}",
              file=sys.stderr)
        print(dim(f"        {_short(hit.chunk.text)}"), file=sys.stderr)


def search(question: str, *, collection: str = DEFAULT_COLLECTION, k: int = 4, mode: Mode = "hybrid",
           uri: str | None = None, json: bool = False) -> int:
    """Retrieve the k best chunks for a question (no model): ranks, scores, sources, text.

    Args:
        question: what to search for.
        collection: collection name.
        k: chunks to retrieve.
        mode: dense (MiniLM cosine), bm25 (full text) or hybrid (reciprocal-rank fusion of both).
        uri: a Milvus server (default: the embedded store).
        json: print JSON.
    """
    from llm_playground.rag.embeddings import MiniLMEmbedder
    from llm_playground.rag.retrieval import check_search, retrieve
    from llm_playground.rag.vectordb import open_store

    check_search(mode, k)
    with open_store(collection, uri=uri) as store:
        retrieval = retrieve(store, MiniLMEmbedder(), question, mode=mode, k=k)
    if json:
        print_json(retrieval.to_dict())
        return 0
    _print_hits(retrieval, collection)
    for hit in retrieval.hits:
        print(f"\n── #{hit.rank} {_name(hit.chunk.source)} page {hit.chunk.page} "
              f"(chars {hit.chunk.char_start}–{hit.chunk.char_end}) " + "─" * 10)
        print(hit.chunk.text)
    return 0


def ask(question: str, *, collection: str = DEFAULT_COLLECTION, config: AskConfig, model: str = DEFAULT_MODEL,
        uri: str | None = None, show_prompt: bool = False, json: bool = False) -> int:
    """Answer a question from a collection, citing sources as [1], [2] mapped to file and page.

    Retrieves the k best chunks (shown with scores), gives the model those nearly as close to the
    question as the best one, numbered, and checks the answer's citations. When nothing retrieved is
    similar enough, answers "I don't know" without running the model.

    Args:
        question: the question.
        collection: collection name.
        model: a chat model (llmpg models).
        uri: a Milvus server (default: the embedded store).
        show_prompt: print the exact prompt the model reads.
        json: print one JSON object: the answer, citations, each retrieved chunk with source, page, score and rank.
    """
    from llm_playground.rag.answer import ask as run_ask

    def on_retrieved(retrieval, messages) -> None:
        if json:
            return
        numbers = {}
        if messages:
            from llm_playground.rag.answer import select_sources

            numbers = {hit.chunk.id: n for n, hit in enumerate(select_sources(retrieval.hits, config), start=1)}
        _print_hits(retrieval, collection, numbers)
        if show_prompt and messages:
            print(dim("── prompt (messages; the exact templated text follows the answer with --json) ──"),
                  file=sys.stderr)
            for message in messages:
                print(dim(f"<{message.role}>\n{message.content}"), file=sys.stderr)
        if messages:
            print(dim(f"── answer ({model}) ──"), file=sys.stderr)

    def stream(text: str) -> None:
        if not json:
            print(text, end="", flush=True)

    answer = run_ask(question, collection, config=config, model=model, uri=uri, on_retrieved=on_retrieved,
                     stream=stream)
    if json:
        print_json(answer.to_dict())
        return 0
    if not answer.grounded:
        print(answer.text)
        print(dim(f"(best similarity {answer.retrieval.best_similarity:.3f} < min_similarity "
                  f"{config.min_similarity}; no model ran)"), file=sys.stderr)
        return 0
    print()
    if show_prompt:
        print(dim("── exact model input ──\n" + answer.prompt), file=sys.stderr)
    print("\nsources:")
    for citation in answer.citations:
        print(f"  {citation.label(_name(citation.source))}" + (dim("  — the model cited no source; this one holds the answer's words")
                                          if citation.how == "attributed" else ""))
    if not answer.citations:
        print(dim("  (none: the answer matches no retrieved source)"))
    if answer.invalid_citations:
        print(dim(f"  dropped citations that name no source: {', '.join(f'[{n}]' for n in answer.invalid_citations)}"))
    print(dim(f"[{answer.generated_tokens} tokens, retrieval {answer.retrieval.seconds:.2f} s, "
              f"generation {answer.generation_seconds:.1f} s]"), file=sys.stderr)
    return 0


def evaluate(*, collection: str | None = None, questions: str | None = None, k: int = 4, depth: int = 10,
             uri: str | None = None, chunk_size: int = 128, chunk_overlap: int = 24, json: bool = False) -> int:
    """Measure retrieval: recall@1, recall@k, recall@depth, MRR and nDCG@k for dense, BM25 and hybrid.

    Without --questions it runs the built-in demo: a fictional company handbook (10 documents:
    Markdown, text, HTML and a two-page PDF) written to $LLMPG_HOME/rag/handbook/ and ingested into
    the collection "handbook", with 60 questions and the passage that answers each.

    Args:
        collection: collection to search (default: "handbook" for the demo, "default" otherwise).
        questions: JSON Lines file, one {"question", "source", "evidence"[, "page"]} per line.
        k: the cut-off of recall@k and nDCG@k.
        depth: chunks retrieved per question (MRR and recall@depth look this deep).
        uri: a Milvus server (default: the embedded store).
        chunk_size: the demo's chunk size in tokens (a new size re-chunks the handbook).
        chunk_overlap: the demo's chunk overlap in tokens.
        json: print JSON.
    """
    from llm_playground.rag.chunking import ChunkingConfig
    from llm_playground.rag.evaluation import demo_folder, evaluate as run_evaluate, load_questions

    if questions is None:
        from llm_playground.rag.handbook import DOCUMENTS_FOLDER, write_handbook
        from llm_playground.rag.ingest import ingest as run_ingest

        collection = collection or "handbook"
        question_file = write_handbook(demo_folder())
        chunking = ChunkingConfig(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        report = run_ingest([question_file.parent / DOCUMENTS_FOLDER], collection, uri=uri, chunking=chunking,
                            progress=not json)
        if not json:
            print(dim(f"demo: the handbook in {demo_folder()}; {report.summary()}"), file=sys.stderr)
    else:
        collection = collection or DEFAULT_COLLECTION
        question_file = questions
    result = run_evaluate(load_questions(question_file), collection, k=k, depth=depth, uri=uri, progress=not json)
    if json:
        print_json(result.to_dict())
        return 0
    ks = sorted({1, k, depth})
    rows = [{"mode": s.mode, **{f"recall@{kk}": f"{s.recall[kk]:.3f}" for kk in ks}, "MRR": f"{s.mrr:.3f}",
             f"nDCG@{k}": f"{s.ndcg:.3f}", "ms/query": f"{s.mean_ms:.0f}"} for s in result.scores]
    columns = ["mode", *[f"recall@{kk}" for kk in ks], "MRR", f"nDCG@{k}", "ms/query"]
    print(f"{result.questions} questions, collection {collection!r}, depth {depth}")
    print(table(rows, columns))
    for score in result.scores:
        misses = result.misses(score.mode)
        if misses:
            print(dim(f"\n{score.mode}: answering passage not in the top {k} for {len(misses)} question(s):"))
            for miss in misses[:8]:
                where = f"rank {miss.first_relevant_rank}" if miss.first_relevant_rank else f"not in the top {depth}"
                print(dim(f"  {miss.question}  ({where})"))
    return 0


def list_(*, uri: str | None = None, json: bool = False) -> int:
    """List collections with their document and chunk counts.

    Args:
        uri: a Milvus server (default: the embedded collections in $LLMPG_HOME/rag/).
        json: print JSON.
    """
    from llm_playground.rag.vectordb import list_collections

    infos = list_collections(uri)
    if json:
        print_json([info.to_dict() for info in infos])
    elif not infos:
        print("no collections yet: llmpg rag ingest PATH… --collection NAME")
    else:
        print(table([info.to_dict() for info in infos], ["name", "documents", "chunks", "location"]))
    return 0


def drop(*, collection: str, uri: str | None = None) -> int:
    """Delete a collection: every chunk and document record in it.

    Args:
        collection: collection name.
        uri: a Milvus server (default: the embedded store).
    """
    from llm_playground.rag.vectordb import drop_collection

    where = drop_collection(collection, uri=uri)
    print(f"dropped collection {collection!r} ({where})")
    return 0


COMMANDS: dict = {
    "rag": ("RAG lab: ingest documents into Milvus, retrieve, answer with citations, measure retrieval",
            {"ingest": ingest, "chunks": chunks, "search": search, "ask": ask, "eval": evaluate, "list": list_,
             "drop": drop}),
}
