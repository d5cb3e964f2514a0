"""Files → pages: every readable kind, folders recursively, and each unreadable file skipped with its reason."""
from pathlib import Path

import pytest

from conftest import write_corpus
from llm_playground.errors import PlaygroundError
from llm_playground.rag.loaders import UnreadableFile, discover, html_to_text, load_document
from llm_playground.rag.pdf import write_encrypted_pdf, write_pdf


def test_discover_walks_folders_sorted_and_skips_unsupported_and_hidden(tmp_path):
    folder = write_corpus(tmp_path / "docs")
    (folder / "image.png").write_bytes(b"\x89PNG\r\n")
    (folder / ".hidden.md").write_text("secret")
    (folder / ".git").mkdir()
    (folder / ".git" / "notes.md").write_text("not a document")
    found = discover([folder, folder / "refunds.md"])  # the file named twice is read once
    assert [p.name for p in found.files] == ["refunds.md", "security.html", "shipping.txt", "remote.pdf"]
    assert [(Path(s.source).name, s.reason.split(";")[0]) for s in found.skipped] == [
        ("image.png", "unsupported file type '.png'")]


def test_discover_refuses_a_missing_path_and_nothing_at_all(tmp_path):
    with pytest.raises(PlaygroundError, match="does not exist"):
        discover([tmp_path / "nope"])
    with pytest.raises(PlaygroundError, match="no paths given"):
        discover([])


def test_text_markdown_and_html_become_one_page(tmp_path):
    folder = write_corpus(tmp_path / "docs")
    markdown = load_document(folder / "refunds.md")
    assert (markdown.kind, [p.number for p in markdown.pages]) == ("markdown", [1])
    assert markdown.pages[0].text.startswith("# Refunds\n\nYou may return")
    page = load_document(folder / "security.html").pages[0].text
    assert page == "Security\n\nPasswords must be at least 14 characters long.\n\nReport a lost laptop within one hour."
    assert "tracking pixel" not in page
    assert len(markdown.content_hash) == 64


def test_html_to_text_keeps_paragraphs_and_drops_styles():
    assert html_to_text("<style>p{}</style><h1>A</h1><p>b <i>c</i></p><ul><li>d</li><li>e</li></ul>") == "A\n\nb c\n\nd\ne"


def test_a_two_page_pdf_keeps_its_pages(tmp_path):
    write_pdf(tmp_path / "two.pdf", ["First page text.", "Second page (with parentheses) text."])
    document = load_document(tmp_path / "two.pdf")
    assert document.kind == "pdf"
    assert [(p.number, p.text.strip()) for p in document.pages] == [
        (1, "First page text."), (2, "Second page (with parentheses) text.")]


@pytest.mark.parametrize("name, data, reason", [
    ("binary.txt", b"abc\x00\x01\x02", "binary file"),
    ("latin1.md", "caf\xe9 cr\xe8me".encode("latin-1"), "not UTF-8 text"),
    ("empty.md", b"  \n\n", "no text in it"),
    ("broken.pdf", b"%PDF-1.4 this is not a pdf", "damaged or unreadable PDF"),
])
def test_unreadable_files_say_why(tmp_path, name, data, reason):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(UnreadableFile, match=reason):
        load_document(tmp_path / name)


def test_an_encrypted_pdf_is_unreadable_with_the_reason(tmp_path):
    write_encrypted_pdf(tmp_path / "locked.pdf", ["top secret"], password="pw")
    with pytest.raises(UnreadableFile, match="encrypted PDF"):
        load_document(tmp_path / "locked.pdf")
