"""Fixtures of the RAG tests: a private store folder, a small document set, the hash embedder."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fake_embedder import HashEmbedder  # noqa: E402

from llm_playground.rag.pdf import write_pdf  # noqa: E402

HERE = Path(__file__).parent


@pytest.fixture
def rag_home(tmp_path, monkeypatch):
    """Collections go to a private folder ($LLMPG_RAG_HOME); the model cache stays shared."""
    folder = tmp_path / "rag"
    monkeypatch.setenv("LLMPG_RAG_HOME", str(folder))
    return folder


@pytest.fixture
def embedder():
    return HashEmbedder()


def write_corpus(folder: Path) -> Path:
    """Four small documents of every kind, one of them a two-page PDF."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "refunds.md").write_text(
        "# Refunds\n\nYou may return most items within 30 days of delivery for a full refund.\n\n"
        "Gift cards are not refundable. Clearance items are final sale.\n")
    (folder / "shipping.txt").write_text(
        "Standard shipping takes 3 to 5 business days and is free on orders over $75.\n\n"
        "Express shipping costs $15 and arrives in 1 to 2 business days.\n")
    (folder / "security.html").write_text(
        "<html><head><title>Security</title><script>var hidden = 'tracking pixel';</script></head><body>"
        "<p>Passwords must be at least 14 characters long.</p><p>Report a lost laptop within one hour.</p>"
        "</body></html>")
    sub = folder / "policies"
    sub.mkdir(exist_ok=True)
    write_pdf(sub / "remote.pdf", ["Remote work is possible after 90 days at the company. Core hours are 10 to 3.",
                                   "The coworking allowance is 150 dollars per month for remote employees."])
    return folder
