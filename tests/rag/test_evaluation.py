"""Retrieval metrics by hand and against scikit-learn, question files, evidence spans, the handbook."""
import json

import numpy as np
import pytest

from conftest import write_corpus
from llm_playground.errors import PlaygroundError
from llm_playground.rag.chunking import ChunkingConfig
from llm_playground.rag.evaluation import (EvidenceSpan, Question, evaluate, load_questions, locate_evidence, ndcg_at_k,
                                           recall_at_k, reciprocal_rank)
from llm_playground.rag.handbook import DOCUMENTS, QUESTIONS, write_handbook
from llm_playground.rag.ingest import ingest
from llm_playground.rag.loaders import load_document
from llm_playground.rag.vectordb import ChunkRecord


def test_metrics_by_hand():
    ranking = [False, False, True, False, True]
    assert [recall_at_k(ranking, k) for k in (1, 2, 3, 5)] == [0.0, 0.0, 1.0, 1.0]
    assert reciprocal_rank(ranking) == pytest.approx(1 / 3)
    assert reciprocal_rank([False] * 4) == 0.0
    # DCG@5 = 1/log2(4) + 1/log2(6); ideal with 2 relevant = 1 + 1/log2(3)
    assert ndcg_at_k(ranking, 5, 2) == pytest.approx((0.5 + 1 / np.log2(6)) / (1 + 1 / np.log2(3)))
    assert ndcg_at_k([True], 4, 1) == 1.0 and ndcg_at_k([False, False], 2, 0) == 0.0


def test_ndcg_equals_scikit_learn():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        relevance = (rng.random(12) < 0.25).astype(float)  # over every item of a collection
        if not relevance.any():
            relevance[3] = 1
        scores = rng.random(12)
        order = np.argsort(-scores)
        ranked = [bool(relevance[i]) for i in order]
        for k in (1, 4, 10):
            assert ndcg_at_k(ranked, k, int(relevance.sum())) == pytest.approx(
                ndcg_score(relevance[None], scores[None], k=k))


def test_evidence_coverage_rule():
    span = EvidenceSpan("/a.md", 1, 100, 140)  # 40 characters
    chunk = lambda start, end, page=1, source="/a.md": ChunkRecord("x", "d", source, page, start, end, 0, 10, "")  # noqa: E731
    assert chunk(90, 200).source and span.covered_by(chunk(90, 200))
    assert span.covered_by(chunk(120, 300)) and not span.covered_by(chunk(121, 300))  # 20 of 40 is half
    assert not span.covered_by(chunk(90, 200, page=2)) and not span.covered_by(chunk(90, 200, source="/b.md"))


def test_question_files_and_evidence(tmp_path):
    folder = write_corpus(tmp_path / "docs")
    lines = [{"question": "q1", "source": "docs/refunds.md", "evidence": "within 30 days   of\ndelivery"},
             {"question": "q2", "source": "docs/policies/remote.pdf", "evidence": "coworking allowance", "page": 2}]
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    questions = load_questions(path)
    assert [(q.question, q.source, q.page, q.line) for q in questions] == [
        ("q1", str(folder / "refunds.md"), None, 1), ("q2", str(folder / "policies" / "remote.pdf"), 2, 2)]
    pages = {}
    span = locate_evidence(questions[0], pages)
    text = load_document(folder / "refunds.md").pages[0].text
    assert text[span.start:span.end] == "within 30 days of delivery" and span.page == 1
    assert locate_evidence(questions[1], pages).page == 2
    with pytest.raises(PlaygroundError, match="is not in page 1 of"):
        locate_evidence(Question("q", questions[1].source, "coworking allowance", page=1, line=7), pages)

    path.write_text('{"question": "q"}\n')
    with pytest.raises(PlaygroundError, match="line 1 lacks source, evidence"):
        load_questions(path)
    path.write_text("not json\n")
    with pytest.raises(PlaygroundError, match="line 1 is not JSON"):
        load_questions(path)
    with pytest.raises(PlaygroundError, match="does not exist"):
        load_questions(tmp_path / "missing.jsonl")


def test_the_handbook_has_50_questions_each_answered_in_its_document(tmp_path):
    assert len(QUESTIONS) >= 50 and len(DOCUMENTS) == 10
    assert {name.rsplit(".", 1)[1] for name in DOCUMENTS} == {"md", "txt", "html", "pdf"}
    question_file = write_handbook(tmp_path / "handbook")
    questions = load_questions(question_file)
    pages = {}
    spans = [locate_evidence(question, pages) for question in questions]  # raises if any evidence is missing
    assert len(spans) == len(QUESTIONS)
    pdf_pages = {span.page for span, q in zip(spans, QUESTIONS) if q["source"].endswith(".pdf")}
    assert pdf_pages == {1, 2}
    assert sorted(p.name for p in (tmp_path / "handbook" / "documents").iterdir()) == sorted(DOCUMENTS)


def test_evaluate_reports_every_mode_and_refuses_sources_not_ingested(tmp_path, rag_home, embedder):
    question_file = write_handbook(tmp_path / "handbook")
    questions = load_questions(question_file)[:12]
    with pytest.raises(PlaygroundError, match="there is no collection 'hb' yet"):
        evaluate(questions, "hb", embedder=embedder)
    ingest([tmp_path / "handbook" / "documents" / "refund-policy.md"], "hb", embedder=embedder,
           chunking=ChunkingConfig(64, 16))
    with pytest.raises(PlaygroundError, match="shipping.md .* is not in collection 'hb'"):
        evaluate(questions, "hb", embedder=embedder)
    ingest([tmp_path / "handbook" / "documents"], "hb", embedder=embedder, chunking=ChunkingConfig(64, 16))
    report = evaluate(questions, "hb", k=4, depth=10, embedder=embedder)
    assert [s.mode for s in report.scores] == ["dense", "bm25", "hybrid"]
    for score in report.scores:
        assert set(score.recall) == {1, 4, 10}
        assert 0 <= score.recall[1] <= score.recall[4] <= score.recall[10] <= 1 and 0 <= score.ndcg <= 1
        assert score.mrr >= score.recall[1]
        hits_at_4 = [r for r in report.results if r.mode == score.mode and r.first_relevant_rank
                     and r.first_relevant_rank <= 4]
        assert score.recall[4] == pytest.approx(len(hits_at_4) / 12)
        assert len(report.misses(score.mode)) == 12 - len(hits_at_4)
    assert report.scores[1].recall[10] > 0.8  # BM25 on shared words is strong even with the hash embedder
