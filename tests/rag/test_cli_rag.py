"""`llmpg rag` as a user runs it: real subprocesses for bad input (exit 1, one line, no traceback),
and (slow) an ingest of a folder where some files cannot be read."""
import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import write_corpus
from llm_playground.cli import main
from llm_playground.rag.pdf import write_encrypted_pdf


def llmpg(*argv, home, timeout=300):
    return subprocess.run([sys.executable, "-m", "llm_playground", *argv], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "LLMPG_RAG_HOME": str(home), "NO_COLOR": "1"})


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("case", ["empty folder", "missing collection", "uri not answering", "missing path"])
def test_bad_input_is_one_line_and_exit_1(tmp_path, case):
    (tmp_path / "empty").mkdir()
    argv, message = {
        "empty folder": (["rag", "ingest", str(tmp_path / "empty")],
                         f"llmpg: error: nothing to ingest in {tmp_path / 'empty'}: no .txt, .md, .markdown, .html, "
                         ".htm, .pdf files (the folder is empty)"),
        "missing collection": (["rag", "ask", "How do I run the tests?", "--collection", "nothing_here"],
                               "llmpg: error: there is no collection 'nothing_here' yet; ingest documents into it "
                               "first (llmpg rag ingest PATH --collection nothing_here)"),
        "uri not answering": (["rag", "search", "refunds", "--uri", f"http://127.0.0.1:{closed_port()}"],
                              "llmpg: error: no Milvus server answers at http://127.0.0.1:"),
        "missing path": (["rag", "ingest", str(tmp_path / "nope.md")],
                         f"llmpg: error: {tmp_path / 'nope.md'} does not exist"),
    }[case]
    result = llmpg(*argv, home=tmp_path / "rag")
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


@pytest.mark.parametrize("argv, message", [
    (["rag", "ask", "q", "--k", "0"], "k must be between 1 and 50 (got 0)"),
    (["rag", "ingest", "README.md", "--chunk-size", "300"], "chunk_size must be between 1 and 254 tokens (got 300)"),
    (["rag", "ingest", "README.md", "--collection", "my-docs"], "collection name 'my-docs' is not allowed"),
    (["rag", "eval", "--questions", "/no/such/file.jsonl"], "question file /no/such/file.jsonl does not exist"),
    (["rag", "drop", "--collection", "ghost"], "there is no collection 'ghost'"),
])
def test_more_bad_input_in_process(argv, message, rag_home, capsys):
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith(f"llmpg: error: {message}")


def test_list_with_no_collections(rag_home, capsys):
    assert main(["rag", "list"]) == 0
    assert "no collections yet" in capsys.readouterr().out


@pytest.mark.slow
def test_ingest_skips_unreadable_files_with_reasons_and_keeps_the_rest(tmp_path, monkeypatch):
    folder = write_corpus(tmp_path / "docs")
    write_encrypted_pdf(folder / "locked.pdf", ["secret plans"])
    (folder / "data.txt").write_bytes(b"\x00\x01binary\x02")
    (folder / "photo.png").write_bytes(b"\x89PNG")
    result = llmpg("rag", "ingest", str(folder), "--collection", "kb", "--json", home=tmp_path / "rag")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    status = {os.path.basename(d["source"]): (d["status"], d.get("reason", "")) for d in report["documents"]}
    assert status["locked.pdf"][0] == "skipped" and "encrypted PDF" in status["locked.pdf"][1]
    assert status["data.txt"][0] == "skipped" and "binary file" in status["data.txt"][1]
    assert status["photo.png"][0] == "skipped" and "unsupported file type" in status["photo.png"][1]
    assert {name for name, (s, _) in status.items() if s == "added"} == {
        "refunds.md", "shipping.txt", "security.html", "remote.pdf"}
    assert report["chunks_in_collection"] == sum(d["chunks"] for d in report["documents"])

    from llm_playground.rag.embeddings import MiniLMEmbedder
    from llm_playground.rag.retrieval import retrieve
    from llm_playground.rag.vectordb import open_store

    monkeypatch.setenv("LLMPG_RAG_HOME", str(tmp_path / "rag"))  # the same store, read from this process
    with open_store("kb") as store:
        top = retrieve(store, MiniLMEmbedder(), "coworking allowance per month", mode="dense", k=3).hits[0]
    assert (os.path.basename(top.chunk.source), top.chunk.page, top.rank) == ("remote.pdf", 2, 1)
