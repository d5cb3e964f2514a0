"""Grounded answers: retrieved chunks → a prompt with numbered sources → a chat model → cited answer.

The stages a learner can see, each returned in `Answer`:

1. retrieval (the hits, with scores), and the gate: when no chunk's cosine similarity to the
   question reaches `min_similarity`, the answer is "I don't know" and no model runs;
2. the sources: the retrieved chunks whose similarity is within `context_margin` of the best one,
   best first, numbered [1]…[m] (file and page named). A 135M model loses the thread in long
   contexts: given four passages it invents commands, given the one or two that matter it copies
   the right one;
3. the prompt: a system message with the rules, the sources, then the question; the exact
   templated text the model reads is kept;
4. generation through `generation.api` (the one token-yielding generator);
5. citations: every "[n]" in the answer is checked against the sources' numbers; a number that
   names no source is dropped and reported. When the model cites nothing, the answer is attributed
   after the fact to the source that holds most of its words and code (marked "attributed", never
   passed off as the model's own citation).

Constrained decoding (issue 11) plugs in at `constrained_config`: once `GenerationConfig` carries a
regular-expression constraint, answers are generated so that only [1]…[k] can be written.
"""
from __future__ import annotations

import dataclasses
import os
import re
import time
from dataclasses import dataclass, field

from llm_playground import zoo
from llm_playground.errors import PlaygroundError
from llm_playground.generation import GenerationConfig, Message
from llm_playground.rag.embeddings import Embedder, MiniLMEmbedder
from llm_playground.rag.ingest import DEFAULT_COLLECTION
from llm_playground.rag.retrieval import Hit, Retrieval, check_search, retrieve
from llm_playground.rag.vectordb import STOP_WORDS, Mode, check_collection_name, open_store

DEFAULT_MODEL = "smollm2-135m-instruct"
DONT_KNOW = "I don't know: nothing in the collection is close enough to the question."
SYSTEM_PROMPT = ("You answer questions from the numbered sources the user gives. Use only what the sources say, "
                 "quote commands exactly, and cite the source number in brackets like [1]. If the sources do not "
                 "answer the question, reply: I don't know.")
CITATION = re.compile(r"\[(\d{1,3})\]")


@dataclass(frozen=True)
class AskConfig:
    """How a question is answered."""

    k: int = 4
    """Chunks retrieved (1–50); the model reads those within context_margin of the best."""
    mode: Mode = "hybrid"
    """Retrieval: dense (MiniLM cosine), bm25 (full text) or hybrid (both, reciprocal-rank fusion)."""
    min_similarity: float = 0.2
    """Answer "I don't know" without running the model when no retrieved chunk's cosine similarity to
    the question reaches this (-1–1; MiniLM puts unrelated text near 0)."""
    context_margin: float = 0.1
    """The model reads the retrieved chunks whose similarity is at least the best one's minus this
    (0 keeps only the best; 2 keeps all k)."""
    max_new_tokens: int = 96
    """Longest answer in tokens."""

    def __post_init__(self) -> None:
        check_search(self.mode, self.k)
        if not 0.0 <= self.context_margin <= 2.0:
            raise PlaygroundError(f"context_margin must be between 0 and 2 (got {self.context_margin})")
        if not -1.0 <= self.min_similarity <= 1.0:
            raise PlaygroundError(f"min_similarity must be between -1 and 1 (got {self.min_similarity})")
        if not isinstance(self.max_new_tokens, int) or not 1 <= self.max_new_tokens <= 1024:
            raise PlaygroundError(f"max_new_tokens must be between 1 and 1024 (got {self.max_new_tokens})")


@dataclass
class Citation:
    """A source the answer cites."""

    number: int
    """The [n] in the answer (the source's number in the prompt)."""
    rank: int
    """The chunk's rank in the retrieval."""
    source: str
    page: int
    how: str
    """"model" (written by the model) or "attributed" (added after the fact: the model cited nothing)."""

    def label(self, shown_source: str | None = None) -> str:
        """`[1] README.md` or `[2] guide.pdf, page 2 (attributed)`."""
        page = f", page {self.page}" if self.page > 1 or self.source.lower().endswith(".pdf") else ""
        return (f"[{self.number}] {shown_source or self.source}{page}"
                + (" (attributed)" if self.how == "attributed" else ""))

    def to_dict(self) -> dict:
        return {"number": self.number, "rank": self.rank, "source": self.source, "page": self.page, "how": self.how}


@dataclass
class Answer:
    """Everything one question went through."""

    question: str
    collection: str
    retrieval: Retrieval
    sources: list[Hit] = field(default_factory=list)
    """The chunks the model read, in the order numbered [1]…[m]."""
    text: str = ""
    """The answer as the model wrote it (or the "I don't know" line)."""
    grounded: bool = True
    """False when the gate said "I don't know" (no model ran)."""
    model: str = ""
    prompt: str = ""
    """The exact text the model read (chat template applied, special tokens written out)."""
    prompt_tokens: int = 0
    citations: list[Citation] = field(default_factory=list)
    invalid_citations: list[int] = field(default_factory=list)
    """Numbers the model wrote in brackets that are not retrieved sources (dropped)."""
    generated_tokens: int = 0
    seconds: float = 0.0
    generation_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"question": self.question, "collection": self.collection, "answer": self.text,
                "grounded": self.grounded, "model": self.model, "mode": self.retrieval.mode, "k": self.retrieval.k,
                "citations": [c.to_dict() for c in self.citations], "invalid_citations": self.invalid_citations,
                "chunks": [dict(hit.to_dict(), source_number=self.source_number(hit)) for hit in self.retrieval.hits],
                "prompt": self.prompt,
                "prompt_tokens": self.prompt_tokens, "generated_tokens": self.generated_tokens,
                "retrieval_seconds": round(self.retrieval.seconds, 4),
                "generation_seconds": round(self.generation_seconds, 4), "seconds": round(self.seconds, 4)}


    def source_number(self, hit: Hit) -> int | None:
        """The [n] a retrieved chunk had in the prompt (None: the model did not read it)."""
        for number, source in enumerate(self.sources, start=1):
            if source.chunk.id == hit.chunk.id:
                return number
        return None


def select_sources(hits: list[Hit], config: AskConfig) -> list[Hit]:
    """The retrieved chunks the model reads: similarity ≥ max(best − context_margin, min_similarity),
    in retrieval order."""
    if not hits:
        return []
    floor = max(max(hit.similarity for hit in hits) - config.context_margin, config.min_similarity)
    return [hit for hit in hits if hit.similarity >= floor]


def source_label(hit: Hit) -> str:
    """`README.md` or `guide.pdf, page 2`: what the prompt and the citations call a source."""
    name = os.path.basename(hit.chunk.source)
    return f"{name}, page {hit.chunk.page}" if name.lower().endswith(".pdf") else name


def build_messages(question: str, sources: list[Hit]) -> list[Message]:
    """The chat messages of a grounded question: rules, sources numbered [1]…[m], the question."""
    sources = "\n\n".join(f"[{number}] ({source_label(hit)})\n{hit.chunk.text}"
                          for number, hit in enumerate(sources, start=1))
    return [Message("system", SYSTEM_PROMPT), Message("user", f"Sources:\n\n{sources}\n\nQuestion: {question}")]


def citation_regex(k: int) -> str:
    """A regular expression for answers whose bracketed numbers are only 1…k (for constrained decoding)."""
    allowed = "|".join(str(n) for n in range(k, 0, -1))
    return rf"[^\[\]]*(\[({allowed})\][^\[\]]*)*"


def constrained_config(config: GenerationConfig, k: int) -> GenerationConfig:
    """The hook for constrained decoding (issue 11): when `GenerationConfig` has a `regex` field, the
    answer is constrained to cite only retrieved ids; until then citations are post-checked."""
    if "regex" in {f.name for f in dataclasses.fields(config)}:
        return config.replace(regex=citation_regex(k))
    return config


def content_words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9_][a-z0-9_.\-/]*[a-z0-9_]|[a-z0-9]", text.lower())
            if w not in STOP_WORDS and len(w) > 2}


def code_spans(text: str) -> set[str]:
    """`inline code` and fenced code lines of a text (what an answer most often copies from a source)."""
    spans = set(re.findall(r"`([^`\n]+)`", text))
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        spans.update(line.strip() for line in block.splitlines() if line.strip())
    return {span.strip() for span in spans if span.strip()}


def attribute(answer: str, hits: list[Hit]) -> Hit | None:
    """The retrieved chunk that best supports `answer`: most of its code spans, then of its content
    words, found in the chunk; None when no chunk holds any of them."""
    words, spans = content_words(answer), code_spans(answer)
    best, best_score = None, 0.0
    for hit in hits:
        text = hit.chunk.text
        code = sum(1 for span in spans if span in text)
        overlap = len(words & content_words(text)) / max(1, len(words))
        score = code + overlap
        if score > best_score:
            best, best_score = hit, score
    return best if best_score >= 0.3 else None


def check_citations(text: str, sources: list[Hit]) -> tuple[list[Citation], list[int]]:
    """The valid citations of `text` (in order of first use) and the bracketed numbers that name no
    source; with no valid citation, one attributed to the best-supporting source."""
    by_number = {number: hit for number, hit in enumerate(sources, start=1)}
    citations: list[Citation] = []
    invalid: list[int] = []
    for match in CITATION.finditer(text):
        number = int(match.group(1))
        hit = by_number.get(number)
        if hit is None:
            if number not in invalid:
                invalid.append(number)
        elif all(c.number != number for c in citations):
            citations.append(Citation(number, hit.rank, hit.chunk.source, hit.chunk.page, "model"))
    if not citations and not text.lower().lstrip().startswith("i don't know"):
        hit = attribute(text, sources)
        if hit is not None:
            number = next(n for n, source in by_number.items() if source is hit)
            citations.append(Citation(number, hit.rank, hit.chunk.source, hit.chunk.page, "attributed"))
    return citations, invalid


def ask(question: str, collection: str = DEFAULT_COLLECTION, *, config: AskConfig = AskConfig(),
        model: str = DEFAULT_MODEL, uri: str | None = None, embedder: Embedder | None = None,
        on_retrieved=None, stream=None, signal=None) -> Answer:
    """Retrieve, gate, prompt, generate, check citations. `on_retrieved(retrieval, prompt_messages)` is
    called before the model runs (faces show the chunks while the answer is written); `stream(text)`
    receives each piece of the answer as it is generated; `signal` (a `generation.StopSignal`) stops
    the generation from another thread."""
    from llm_playground.generation.api import start_generation

    if not question or not question.strip():
        raise PlaygroundError("the question is empty; type a question")
    check_collection_name(collection)
    spec = zoo.resolve(model)
    if spec.kind != "chat":
        raise PlaygroundError(f"{spec.name} is a {spec.label} model; answers need a chat model such as {DEFAULT_MODEL}")
    started = time.perf_counter()
    embedder = embedder or MiniLMEmbedder()
    with open_store(collection, uri=uri) as store:
        if store.count() == 0:
            raise PlaygroundError(f"collection {collection!r} is empty; ingest documents into it first "
                                  f"(llmpg rag ingest PATH --collection {collection})")
        retrieval = retrieve(store, embedder, question, mode=config.mode, k=config.k)
    answer = Answer(question=question, collection=collection, retrieval=retrieval, model=spec.name)
    if retrieval.best_similarity < config.min_similarity:
        answer.text, answer.grounded = DONT_KNOW, False
        answer.seconds = time.perf_counter() - started
        if on_retrieved:
            on_retrieved(retrieval, [])
        return answer
    answer.sources = select_sources(retrieval.hits, config)
    messages = build_messages(question, answer.sources)
    if on_retrieved:
        on_retrieved(retrieval, messages)
    generation = constrained_config(GenerationConfig(max_new_tokens=config.max_new_tokens), len(answer.sources))
    run = start_generation(spec.name, messages, generation, signal=signal)
    answer.prompt, answer.prompt_tokens = run.prompt.text, len(run.prompt.ids)
    generation_started = time.perf_counter()
    for step in run.steps:
        answer.text += step.text
        answer.generated_tokens += 1
        if stream:
            stream(step.text)
    answer.generation_seconds = time.perf_counter() - generation_started
    answer.text = answer.text.strip()
    answer.citations, answer.invalid_citations = check_citations(answer.text, answer.sources)
    answer.seconds = time.perf_counter() - started
    return answer
