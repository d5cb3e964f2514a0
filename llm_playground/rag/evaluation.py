"""Retrieval measured: recall@k, MRR and nDCG@k for dense, BM25 and hybrid, side by side.

A question file is JSON Lines, one object per line:

    {"question": "When is shipping free?", "source": "documents/shipping.md", "evidence": "It is free on orders over $75"}

`source` is the file that answers it (relative to the question file's folder, or absolute),
`evidence` an exact quote of the answering passage (whitespace may differ), `page` (optional) the
page of a PDF. A retrieved chunk is *relevant* when it comes from that file and page and covers at
least half of the evidence's characters. With that:

- recall@k: 1 if a relevant chunk is among the first k, else 0 (one answering passage per question,
  so this is also the hit rate), averaged over questions;
- MRR: 1 / rank of the first relevant chunk within the first `depth` (0 if none), averaged;
- nDCG@k: binary gains, DCG = Σ_{rank ≤ k} rel / log2(rank + 1), divided by the DCG of the ideal
  ranking (all relevant chunks of the collection first), averaged.
"""
from __future__ import annotations

import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from llm_playground.errors import PlaygroundError
from llm_playground.rag.embeddings import Embedder, MiniLMEmbedder
from llm_playground.rag.ingest import DEFAULT_COLLECTION
from llm_playground.rag.loaders import UnreadableFile, load_document
from llm_playground.rag.retrieval import check_search, retrieve
from llm_playground.rag.vectordb import MODES, ChunkRecord, document_id, open_store

MIN_EVIDENCE_COVERAGE = 0.5
"""A chunk is relevant when it holds at least this fraction of the evidence's characters."""


@dataclass
class Question:
    """One evaluation question with the passage that answers it."""

    question: str
    source: str
    """Absolute path of the answering file."""
    evidence: str
    page: int | None = None
    line: int = 0
    """Line of the question file (for messages)."""


@dataclass(frozen=True)
class EvidenceSpan:
    """Where a question's evidence lies: file, page, character offsets in that page's text."""

    source: str
    page: int
    start: int
    end: int

    def covered_by(self, chunk: ChunkRecord) -> bool:
        """Whether `chunk` holds at least MIN_EVIDENCE_COVERAGE of this span's characters."""
        if chunk.source != self.source or chunk.page != self.page:
            return False
        overlap = min(chunk.char_end, self.end) - max(chunk.char_start, self.start)
        return overlap >= MIN_EVIDENCE_COVERAGE * (self.end - self.start)


def load_questions(path: str | Path) -> list[Question]:
    """Questions from a JSON Lines file (see the module docstring); bad lines are PlaygroundErrors."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise PlaygroundError(f"question file {path} does not exist; give a JSON Lines file with question, source "
                              "and evidence on each line (or use the built-in demo)")
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise PlaygroundError(f"{path.name} line {number} is not JSON ({error.msg})") from None
        missing = [key for key in ("question", "source", "evidence") if not str(item.get(key, "")).strip()]
        if missing:
            raise PlaygroundError(f"{path.name} line {number} lacks {', '.join(missing)}; each line needs question, "
                                  "source and evidence")
        source = Path(item["source"]).expanduser()
        source = (source if source.is_absolute() else path.parent / source).resolve()
        page = item.get("page")
        questions.append(Question(item["question"], str(source), item["evidence"],
                                  int(page) if page is not None else None, number))
    if not questions:
        raise PlaygroundError(f"{path} holds no questions")
    return questions


def locate_evidence(question: Question, pages_of: dict[str, list]) -> EvidenceSpan:
    """The evidence's span in its source (whitespace-insensitive match; the given page, else the first)."""
    if question.source not in pages_of:
        try:
            pages_of[question.source] = load_document(question.source).pages
        except UnreadableFile as error:
            raise PlaygroundError(f"question on line {question.line}: cannot read {question.source} ({error})") from None
        except FileNotFoundError:
            raise PlaygroundError(f"question on line {question.line}: {question.source} does not exist") from None
    pattern = re.compile(r"\s+".join(re.escape(word) for word in question.evidence.split()))
    for page in pages_of[question.source]:
        if question.page is not None and page.number != question.page:
            continue
        match = pattern.search(page.text)
        if match:
            return EvidenceSpan(question.source, page.number, match.start(), match.end())
    where = f"page {question.page} of " if question.page else ""
    raise PlaygroundError(f"question on line {question.line}: its evidence {question.evidence[:60]!r} is not in "
                          f"{where}{question.source}")


def recall_at_k(relevant: list[bool], k: int) -> float:
    """1.0 when a relevant item is among the first k.

    >>> recall_at_k([False, True, False], 1), recall_at_k([False, True, False], 2)
    (0.0, 1.0)
    """
    return 1.0 if any(relevant[:k]) else 0.0


def reciprocal_rank(relevant: list[bool]) -> float:
    """1 / rank of the first relevant item (0.0 if none).

    >>> reciprocal_rank([False, False, True])
    0.3333333333333333
    """
    return next((1.0 / rank for rank, hit in enumerate(relevant, start=1) if hit), 0.0)


def ndcg_at_k(relevant: list[bool], k: int, total_relevant: int) -> float:
    """Binary-gain nDCG@k; the ideal ranking puts min(total_relevant, k) relevant items first.

    >>> round(ndcg_at_k([False, True], 2, 1), 4)
    0.6309
    """
    dcg = sum(1.0 / math.log2(rank + 1) for rank, hit in enumerate(relevant[:k], start=1) if hit)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(total_relevant, k) + 1))
    return dcg / ideal if ideal > 0 else 0.0


@dataclass
class QuestionResult:
    """How one mode did on one question."""

    question: str
    mode: str
    first_relevant_rank: int | None
    """Rank of the first relevant chunk within the depth (None: not found)."""
    retrieved: list[str]
    """Sources of the top k, as `file:page`."""


@dataclass
class ModeScores:
    """One retrieval mode's averages."""

    mode: str
    recall: dict[int, float]
    """k → recall@k, for k = 1, the chosen k, and the depth."""
    mrr: float
    ndcg: float
    """nDCG at the chosen k."""
    mean_ms: float
    """Mean time per question: embedding the question plus the search."""

    def to_dict(self) -> dict:
        return {"mode": self.mode, "recall": {f"@{k}": round(v, 4) for k, v in self.recall.items()},
                "mrr": round(self.mrr, 4), "ndcg": round(self.ndcg, 4), "mean_ms": round(self.mean_ms, 2)}


@dataclass
class EvalReport:
    """Every mode's scores on one question set."""

    collection: str
    questions: int
    k: int
    depth: int
    scores: list[ModeScores] = field(default_factory=list)
    results: list[QuestionResult] = field(default_factory=list)

    def misses(self, mode: str) -> list[QuestionResult]:
        """Questions whose answering passage `mode` did not put in the top k."""
        return [r for r in self.results if r.mode == mode and (r.first_relevant_rank or self.depth + 1) > self.k]

    def to_dict(self) -> dict:
        return {"collection": self.collection, "questions": self.questions, "k": self.k, "depth": self.depth,
                "scores": [s.to_dict() for s in self.scores],
                "results": [vars(r) for r in self.results]}


def evaluate(questions: list[Question], collection: str = DEFAULT_COLLECTION, *, k: int = 4, depth: int = 10,
             modes: tuple[str, ...] = MODES, uri: str | None = None, embedder: Embedder | None = None,
             progress: bool = False) -> EvalReport:
    """Score each mode on `questions` against `collection` (their sources must be ingested)."""
    for mode in modes:
        check_search(mode, k)
    if depth < k:
        raise PlaygroundError(f"depth must be at least k={k} (got {depth})")
    pages_of: dict[str, list] = {}
    spans = [locate_evidence(question, pages_of) for question in questions]  # checks the file before any model
    embedder = embedder or MiniLMEmbedder()
    report = EvalReport(collection=collection, questions=len(questions), k=k, depth=depth)
    with open_store(collection, uri=uri) as store:
        total_relevant: dict[int, int] = {}
        chunks_by_doc: dict[str, list[ChunkRecord]] = {}
        for index, (question, span) in enumerate(zip(questions, spans)):
            doc_id = document_id(question.source)
            if doc_id not in chunks_by_doc:
                record = store.document(doc_id)
                if record is None or record.state != "complete":
                    raise PlaygroundError(f"{question.source} (question on line {question.line}) is not in collection "
                                          f"{collection!r}; ingest it first (llmpg rag ingest PATH --collection "
                                          f"{collection})")
                chunks_by_doc[doc_id] = store.chunks_of(doc_id)
            total_relevant[index] = sum(span.covered_by(chunk) for chunk in chunks_by_doc[doc_id])
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(modes) * len(questions), desc="retrieving", unit="question")
        for mode in modes:
            ranks, seconds = [], []
            recalls = {kk: [] for kk in sorted({1, k, depth})}
            ndcgs = []
            for index, (question, span) in enumerate(zip(questions, spans)):
                retrieval = retrieve(store, embedder, question.question, mode=mode, k=depth)
                relevant = [span.covered_by(hit.chunk) for hit in retrieval.hits]
                for kk in recalls:
                    recalls[kk].append(recall_at_k(relevant, kk))
                ranks.append(reciprocal_rank(relevant))
                ndcgs.append(ndcg_at_k(relevant, k, total_relevant[index]))
                seconds.append(retrieval.seconds)
                first = next((rank for rank, hit in enumerate(relevant, start=1) if hit), None)
                report.results.append(QuestionResult(question.question, mode, first, [
                    f"{Path(hit.chunk.source).name}:{hit.chunk.page}" for hit in retrieval.hits[:k]]))
                if bar:
                    bar.update(1)
            report.scores.append(ModeScores(mode, {kk: statistics.fmean(v) for kk, v in recalls.items()},
                                            statistics.fmean(ranks), statistics.fmean(ndcgs),
                                            1000 * statistics.fmean(seconds)))
        if bar:
            bar.close()
    return report


def demo_folder() -> Path:
    """Where the built-in handbook is written: `$LLMPG_HOME/rag/handbook/`."""
    from llm_playground.rag.vectordb import rag_home

    return rag_home() / "handbook"
