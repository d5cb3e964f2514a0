"""The RAG tab's handlers as plain functions: inline messages for bad input, and (slow) upload → ingest →
search → ask → metrics with the real models."""
from pathlib import Path

import pytest

from llm_playground.ui.tabs import rag


def is_error(status: str, text: str) -> bool:
    return 'class="llmpg-msg llmpg-error"' in status and rag.escape(text) in status


@pytest.fixture
def rag_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMPG_RAG_HOME", str(tmp_path / "rag"))
    return tmp_path / "rag"


def last(generator):
    return list(generator)[-1]


@pytest.mark.parametrize("call, text", [
    (lambda: rag.ingest(None, "", "default", 128, 24)[2], "nothing to ingest: upload files or type paths"),
    (lambda: rag.ingest(None, "README.md", "bad name", 128, 24)[2], "collection name 'bad name' is not allowed"),
    (lambda: rag.ingest(None, "README.md", "default", 999, 24)[2], "chunk_size must be between 1 and 254"),
    (lambda: rag.ingest(None, "/no/such/dir", "default", 128, 24)[2], "/no/such/dir does not exist"),
    (lambda: rag.search("  ", "default", "hybrid", 4)[3], "the question is empty"),
    (lambda: rag.search("hello", "ghost", "hybrid", 4)[3], "there is no collection 'ghost' yet"),
    (lambda: rag.search("hello", "default", "hybrid", None)[3], "k is empty"),
    (lambda: last(rag.ask("hello", "ghost", "dense", 4, 32, "smollm2-135m-instruct"))[3],
     "there is no collection 'ghost' yet"),
])
def test_bad_input_is_an_inline_message(rag_home, call, text):
    assert is_error(call(), text)


@pytest.mark.slow
def test_upload_ingest_search_ask_and_metrics(rag_home, tmp_path):
    upload = tmp_path / "upload" / "guide.md"
    upload.parent.mkdir()
    upload.write_text("# Guide\n\nRun `make test` to run the whole test suite.\n\nRefunds take 30 days.\n")
    report, dropdown, status = rag.ingest([str(upload)], "", "kb", 64, 16)
    assert "| `guide.md` | added | 1 |" in report and status == ""
    assert dropdown["value"] == "kb" and "kb" in dropdown["choices"]
    assert (rag_home / "uploads" / "kb" / "guide.md").read_text() == upload.read_text()  # a stable path to cite

    _, chunks, _, status = rag.search("how do I run the tests", "kb", "dense", 2)
    assert 'data-rank="1"' in chunks and "<mark># Guide" in chunks and "retrieved 1 chunks" in status

    answer, chunks, prompt, status = last(rag.ask("How do I run the tests?", "kb", "hybrid", 4, 24,
                                                  "smollm2-135m-instruct"))
    assert "**Sources**" in answer and "guide.md" in answer
    assert "read by the model as [1]" in chunks and "Question: How do I run the tests?" in prompt
    assert "tokens in" in status

    rows, figure, status = rag.evaluate_demo(4)
    assert [row[0] for row in rows] == ["dense", "bm25", "hybrid"] and all(0 <= v <= 1 for r in rows for v in r[1:6])
    heights = [bar.get_height() for bar in figure.axes[0].patches]  # the plot shows the table's numbers
    assert heights[:4] == pytest.approx([rows[0][1], rows[0][2], rows[0][4], rows[0][5]], abs=1e-3)
    assert "60 questions" in status
