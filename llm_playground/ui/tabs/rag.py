"""RAG: ingest files into a Milvus collection, ask questions, see every stage and measure retrieval.

Upload files (or name files and folders on this computer), ingest them with a progress bar, then
ask: the retrieved chunks appear with their scores, each highlighted inside its document, then the
exact prompt, then the answer with its citations mapped to file and page. The metrics view runs the
built-in handbook question set and shows recall, MRR and nDCG for dense, BM25 and hybrid retrieval.
Every number comes from `llm_playground.rag`.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import gradio as gr

from llm_playground.errors import PlaygroundError
from llm_playground.generation.cancel import StopSignal
from llm_playground.rag.answer import DEFAULT_MODEL, AskConfig, Answer, ask as library_ask, select_sources
from llm_playground.rag.loaders import UnreadableFile, load_document
from llm_playground.rag.retrieval import Hit
from llm_playground.rag.vectordb import MODES, check_collection_name, local_collections, rag_home
from llm_playground.ui.common import (DEFAULT_CHAT_MODEL, MODEL_CONCURRENCY, escape, inline_errors, message,
                                      model_choices, require_number, require_text)
from llm_playground.ui.tabs.generate import REQUEST_SECONDS

TITLE = "RAG"
DEFAULT_COLLECTION = "default"
CONTEXT_CHARS = 400
"""Characters of the document shown before and after a highlighted chunk."""
SCORE_NAMES = {"dense": "cosine", "bm25": "BM25", "hybrid": "RRF"}


def collection_choices() -> list[str]:
    names = local_collections()
    return names if DEFAULT_COLLECTION in names else [DEFAULT_COLLECTION, *names]


def upload_folder(collection: str) -> Path:
    """Where uploaded files are kept, so that citations name a stable path: `<rag home>/uploads/<collection>/`."""
    return rag_home() / "uploads" / collection


def gather_paths(files, paths_text: str, collection: str) -> list[str]:
    """Uploaded files (copied under `upload_folder`) plus the paths typed one per line."""
    paths: list[str] = []
    for item in files or []:
        source = Path(item if isinstance(item, str) else getattr(item, "name", str(item)))
        target = upload_folder(collection) / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        paths.append(str(target))
    paths.extend(line.strip() for line in (paths_text or "").splitlines() if line.strip())
    if not paths:
        raise PlaygroundError("nothing to ingest: upload files or type paths of files or folders, one per line")
    return paths


def ingest_table(report) -> str:
    """The ingest report as a Markdown table, one row per file."""
    rows = ["| file | status | chunks | detail |", "|---|---|---|---|"]
    for result in report.documents:
        detail = result.reason if result.status == "skipped" else (f"{result.pages} pages" if result.pages > 1 else "")
        rows.append(f"| `{Path(result.source).name}` | {result.status} | {result.chunks} | {detail} |")
    for rolled in report.rolled_back:
        rows.append(f"| `{Path(rolled.source).name}` | rolled back | {rolled.chunks_removed} | an earlier ingest was "
                    "interrupted while writing it |")
    return "\n".join(rows) + "\n\n" + report.summary()


@inline_errors(3)
def ingest(files, paths_text: str, collection: str, chunk_size, chunk_overlap, progress=gr.Progress()):
    """Handler → (report markdown, collection dropdown update, status)."""
    from llm_playground.rag.chunking import ChunkingConfig
    from llm_playground.rag.ingest import ingest as library_ingest

    collection = check_collection_name((collection or "").strip() or DEFAULT_COLLECTION)
    chunking = ChunkingConfig(chunk_size=require_number(chunk_size, "Chunk size", integer=True),
                              chunk_overlap=require_number(chunk_overlap, "Overlap", integer=True))
    paths = gather_paths(files, paths_text, collection)

    def on_progress(done: int, total: int, source: str) -> None:
        progress(done / max(total, 1), desc=f"embedding and storing {Path(source).name}" if source else "done")

    report = library_ingest(paths, collection, chunking=chunking, on_progress=on_progress)
    status = message(f"{len(report.with_status('skipped'))} file(s) skipped: see the reasons in the table",
                     "info") if report.with_status("skipped") else ""
    return ingest_table(report), gr.update(choices=collection_choices(), value=collection), status


def highlighted_in_document(hit: Hit, pages: dict[str, dict[int, str]]) -> str:
    """The chunk marked inside its page, with CONTEXT_CHARS of text around it."""
    chunk = hit.chunk
    if chunk.source not in pages:
        try:
            pages[chunk.source] = {p.number: p.text for p in load_document(chunk.source).pages}
        except (UnreadableFile, OSError):
            pages[chunk.source] = {}
    text = pages[chunk.source].get(chunk.page, "")
    if text[chunk.char_start:chunk.char_end] != chunk.text:  # the file changed since it was ingested
        return f'<div class="rag-doc"><mark>{escape(chunk.text)}</mark></div>'
    start, end = max(0, chunk.char_start - CONTEXT_CHARS), min(len(text), chunk.char_end + CONTEXT_CHARS)
    before = ("…" if start else "") + text[start:chunk.char_start]
    after = text[chunk.char_end:end] + ("…" if end < len(text) else "")
    return (f'<div class="rag-doc">{escape(before)}<mark>{escape(chunk.text)}</mark>{escape(after)}</div>')


def hits_html(hits: list[Hit], mode: str, source_numbers: dict[str, int] | None = None) -> str:
    """Every retrieved chunk: rank, scores, file and page, and the chunk highlighted in its document."""
    pages: dict[str, dict[int, str]] = {}
    blocks = []
    for hit in hits:
        number = (source_numbers or {}).get(hit.chunk.id)
        read = f"read by the model as [{number}]" if number else "not given to the model"
        blocks.append(
            f'<details class="rag-hit" data-rank="{hit.rank}" {"open" if hit.rank == 1 else ""}>'
            f"<summary><b>#{hit.rank}</b> {escape(Path(hit.chunk.source).name)}, page {hit.chunk.page}, "
            f"characters {hit.chunk.char_start}–{hit.chunk.char_end} · {SCORE_NAMES[mode]} {hit.score:.4f} · "
            f"similarity {hit.similarity:.3f} · {read}</summary>"
            f"{highlighted_in_document(hit, pages)}</details>")
    return "".join(blocks)


def answer_markdown(answer: Answer) -> str:
    """The answer, then its sources mapped to file and page."""
    lines = [answer.text, ""]
    if answer.grounded:
        lines.append("**Sources**")
        for citation in answer.citations:
            note = " — the model cited no source; this one holds the answer's words" if citation.how == "attributed" else ""
            lines.append(f"- {citation.label(Path(citation.source).name)}{note}")
        if not answer.citations:
            lines.append("- none: the answer matches no retrieved source")
        if answer.invalid_citations:
            lines.append(f"- dropped citations that name no source: "
                         f"{', '.join(f'[{n}]' for n in answer.invalid_citations)}")
    return "\n".join(lines)


def parse_config(mode: str, k, max_new_tokens) -> AskConfig:
    if mode not in MODES:
        raise PlaygroundError(f"choose a retrieval mode: {', '.join(MODES)}")
    return AskConfig(k=require_number(k, "k", integer=True), mode=mode,
                     max_new_tokens=require_number(max_new_tokens, "Max new tokens", integer=True))


@inline_errors(4)
def search(question: str, collection: str, mode: str, k):
    """Handler (retrieval only, no model) → (answer, chunks HTML, prompt, status)."""
    from llm_playground.rag.embeddings import MiniLMEmbedder
    from llm_playground.rag.retrieval import retrieve
    from llm_playground.rag.vectordb import open_store

    question = require_text(question, "question")
    config = parse_config(mode, k, 1)
    collection = check_collection_name((collection or "").strip() or DEFAULT_COLLECTION)
    with open_store(collection) as store:
        retrieval = retrieve(store, MiniLMEmbedder(), question, mode=config.mode, k=config.k)
    note = f"retrieved {len(retrieval.hits)} chunks in {retrieval.seconds * 1000:.0f} ms (no model ran)"
    return "", hits_html(retrieval.hits, config.mode), "", message(note, "info")


@inline_errors(4)
def ask(question: str, collection: str, mode: str, k, max_new_tokens, model: str):
    """Handler, streaming → (answer markdown, chunks HTML, exact prompt, status)."""
    import queue
    import threading

    question = require_text(question, "question")
    config = parse_config(mode, k, max_new_tokens)
    collection = check_collection_name((collection or "").strip() or DEFAULT_COLLECTION)
    events: "queue.Queue[tuple]" = queue.Queue()
    signal = StopSignal(time_limit=REQUEST_SECONDS)  # stopped too when the page stops listening (below)

    def on_retrieved(retrieval, prompt_messages) -> None:
        numbers = {hit.chunk.id: n for n, hit in enumerate(select_sources(retrieval.hits, config), start=1)} \
            if prompt_messages else {}
        events.put(("retrieved", hits_html(retrieval.hits, config.mode, numbers)))

    def run() -> None:
        try:
            events.put(("done", library_ask(question, collection, config=config, model=model or DEFAULT_MODEL,
                                            on_retrieved=on_retrieved, stream=lambda text: events.put(("text", text)),
                                            signal=signal)))
        except PlaygroundError as error:  # GenerationStopped too
            events.put(("error", error))

    threading.Thread(target=run, daemon=True).start()
    try:
        yield "", "", "", message("retrieving…", "busy")
        text, chunks = "", ""
        while True:
            kind, value = events.get()
            if kind == "error":
                raise value
            if kind == "retrieved":
                chunks = value
                yield "", chunks, "", message(f"writing the answer with {model or DEFAULT_MODEL}…", "busy")
            elif kind == "text":
                text += value
                yield text, gr.skip(), gr.skip(), gr.skip()
            else:
                answer: Answer = value
                status = (f"retrieval {answer.retrieval.seconds * 1000:.0f} ms · {answer.generated_tokens} tokens in "
                          f"{answer.generation_seconds:.1f} s" if answer.grounded else
                          f"best similarity {answer.retrieval.best_similarity:.3f} is below {config.min_similarity}: "
                          "no model ran")
                yield answer_markdown(answer), chunks, answer.prompt, message(status, "info")
                return
    finally:
        signal.stop("the page stopped listening")


@inline_errors(3)
def evaluate_demo(k, progress=gr.Progress()):
    """Handler: the built-in handbook question set → (score rows, plot, status)."""
    from llm_playground.rag.evaluation import demo_folder, evaluate, load_questions
    from llm_playground.rag.handbook import DOCUMENTS_FOLDER, write_handbook
    from llm_playground.rag.ingest import ingest as library_ingest

    k = require_number(k, "k", integer=True)
    question_file = write_handbook(demo_folder())
    progress(0.05, desc="ingesting the handbook")
    library_ingest([question_file.parent / DOCUMENTS_FOLDER], "handbook")
    progress(0.3, desc="retrieving for every question, in every mode")
    report = evaluate(load_questions(question_file), "handbook", k=k, depth=max(10, k))
    rows = [[s.mode, round(s.recall[1], 3), round(s.recall[k], 3), round(s.recall[report.depth], 3), round(s.mrr, 3),
             round(s.ndcg, 3), round(s.mean_ms, 1)] for s in report.scores]
    return rows, metrics_plot(report), message(f"{report.questions} questions on the handbook's documents "
                                               "(collection 'handbook'); misses: llmpg rag eval", "info")


def metrics_plot(report):
    """Grouped bars: recall@1, recall@k, MRR, nDCG@k for each mode."""
    from matplotlib.figure import Figure  # no pyplot: no global state shared between requests

    names = ["recall@1", f"recall@{report.k}", "MRR", f"nDCG@{report.k}"]
    figure = Figure(figsize=(7, 3.2))
    axis = figure.subplots()
    width = 0.8 / len(report.scores)
    for index, score in enumerate(report.scores):
        values = [score.recall[1], score.recall[report.k], score.mrr, score.ndcg]
        axis.bar([i + index * width for i in range(len(names))], values, width, label=score.mode)
    axis.set_xticks([i + width * (len(report.scores) - 1) / 2 for i in range(len(names))], names)
    axis.set_ylim(0, 1.05)
    axis.set_title(f"Retrieval on the handbook ({report.questions} questions)")
    axis.legend(loc="lower right")
    figure.tight_layout()
    return figure


def build() -> None:
    gr.Markdown("Chunk → embed (MiniLM) → store (Milvus Lite, in `$LLMPG_HOME/rag/`) → retrieve (dense, BM25 or "
                "hybrid) → prompt → answer with citations. Every stage is shown.")
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            collection = gr.Dropdown(collection_choices(), value=DEFAULT_COLLECTION, label="Collection",
                                     allow_custom_value=True)
            files = gr.File(label="Upload files", file_count="multiple",
                            file_types=[".txt", ".md", ".html", ".htm", ".pdf"])
            paths = gr.Textbox(label="Or paths on this computer", lines=2,
                               placeholder="one file or folder per line, e.g. docs/")
            with gr.Row():
                chunk_size = gr.Number(label="Chunk size", value=128, precision=0, info="tokens, 1–254", min_width=90)
                chunk_overlap = gr.Number(label="Overlap", value=24, precision=0, info="tokens", min_width=90)
            ingest_button = gr.Button("Ingest", variant="primary")
            ingest_report = gr.Markdown(elem_id="rag-ingest-report")
        with gr.Column(scale=2):
            question = gr.Textbox(label="Question", value="How do I run the tests?", lines=1)
            with gr.Row():
                mode = gr.Radio(list(MODES), value="hybrid", label="Retrieval")
                k = gr.Number(label="k", value=4, precision=0, info="chunks retrieved", min_width=80)
                max_new_tokens = gr.Number(label="Max new tokens", value=96, precision=0, min_width=80)
                model = gr.Dropdown(model_choices(("chat",)), value=DEFAULT_CHAT_MODEL, label="Model")
            with gr.Row():
                ask_button = gr.Button("Ask", variant="primary")
                search_button = gr.Button("Search only")
            status = gr.HTML()
            answer = gr.Markdown(label="Answer", elem_id="rag-answer")
            gr.Markdown("**Retrieved chunks**, each highlighted in its document:")
            chunks = gr.HTML(elem_id="rag-chunks")
            with gr.Accordion("Exact prompt (chat template applied, special tokens visible)", open=False):
                prompt = gr.Textbox(label="Prompt", lines=8, interactive=False, buttons=["copy"])
    with gr.Accordion("Retrieval metrics: the built-in handbook (60 questions)", open=False):
        eval_k = gr.Number(label="k for recall@k and nDCG@k", value=4, precision=0)
        eval_button = gr.Button("Measure dense, BM25 and hybrid")
        scores = gr.Dataframe(headers=["mode", "recall@1", "recall@k", "recall@10", "MRR", "nDCG@k", "ms/query"],
                              label="Scores", interactive=False)
        plot = gr.Plot(label="Retrieval scores")

    ingest_button.click(ingest, [files, paths, collection, chunk_size, chunk_overlap], [ingest_report, collection, status],
                        concurrency_id=MODEL_CONCURRENCY, api_name="rag_ingest")
    ask_button.click(ask, [question, collection, mode, k, max_new_tokens, model], [answer, chunks, prompt, status],
                     concurrency_id=MODEL_CONCURRENCY, api_name="rag_ask")
    search_button.click(search, [question, collection, mode, k], [answer, chunks, prompt, status],
                        concurrency_id=MODEL_CONCURRENCY, api_name="rag_search")
    question.submit(ask, [question, collection, mode, k, max_new_tokens, model], [answer, chunks, prompt, status],
                    concurrency_id=MODEL_CONCURRENCY)
    eval_button.click(evaluate_demo, [eval_k], [scores, plot, status], concurrency_id=MODEL_CONCURRENCY,
                      api_name="rag_eval")
