"""Documents from files: .txt, .md, .html and .pdf, found in folders recursively.

A `Document` is a list of `Page`s (one for text files, one per page of a PDF); chunk offsets are
character offsets into a page's text, so a citation names a file and a page. Files that cannot be
read (a binary file, an encrypted or damaged PDF, a PDF without a text layer) are skipped with the
reason, never fatal: the rest of an ingest goes on.
"""
from __future__ import annotations

import hashlib
import html.parser
import os
from dataclasses import dataclass, field
from pathlib import Path

from llm_playground.errors import PlaygroundError

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
"""File kinds that are read; anything else found in a folder is skipped with a reason."""
SKIPPED_FOLDERS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", "venv", ".tox",
                   ".mypy_cache", ".pytest_cache"}
"""Folders never walked into (hidden folders are skipped too)."""


@dataclass
class Page:
    """The text of one page (a whole text file is one page, number 1)."""

    number: int
    """1-based page number (PDF pages; 1 for text files)."""
    text: str


@dataclass
class Document:
    """A file's text, page by page, with the hash that decides whether re-ingesting changes anything."""

    source: str
    """The file's absolute path."""
    kind: str
    """"text", "markdown", "html" or "pdf"."""
    pages: list[Page]
    content_hash: str
    """sha256 of the file's bytes."""

    @property
    def characters(self) -> int:
        return sum(len(page.text) for page in self.pages)


@dataclass
class Skipped:
    """A file that was not ingested, and why."""

    source: str
    reason: str


@dataclass
class Discovery:
    """What a list of paths resolves to: files to read, and what was left out with the reason."""

    files: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


class UnreadableFile(Exception):
    """A file that exists but cannot be turned into text; the message is the reason."""


def discover(paths: list[str | Path]) -> Discovery:
    """The readable files under `paths` (files and folders, recursively, in sorted order).

    A path that does not exist is a PlaygroundError (nothing was ingested yet); an unsupported file
    named directly or found in a folder is listed in `skipped`.
    """
    if not paths:
        raise PlaygroundError("no paths given: name files or folders to ingest (.txt, .md, .html, .pdf)")
    found = Discovery()
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise PlaygroundError(f"{raw} does not exist; check the path (files and folders of .txt, .md, "
                                  ".html or .pdf)")
        candidates = [path] if path.is_file() else _walk(path)
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            if resolved.suffix.lower() in SUFFIXES:
                found.files.append(resolved)
            else:
                found.skipped.append(Skipped(str(resolved), f"unsupported file type {resolved.suffix or '(none)'!r}; "
                                                            f"readable: {', '.join(SUFFIXES)}"))
    return found


def _walk(folder: Path) -> list[Path]:
    files = []
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(f for f in folders if f not in SKIPPED_FOLDERS and not f.startswith("."))
        files.extend(Path(root) / name for name in sorted(names) if not name.startswith("."))
    return files


def load_document(path: str | Path) -> Document:
    """Read one file into pages of text; raises `UnreadableFile` with the reason when it cannot."""
    path = Path(path).resolve()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UnreadableFile(f"cannot read the file ({error.strerror or error})") from None
    content_hash = hashlib.sha256(data).hexdigest()
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        pages = _pdf_pages(path)
        kind = "pdf"
    else:
        text = _decode_text(data)
        if suffix in (".html", ".htm"):
            text, kind = html_to_text(text), "html"
        else:
            kind = "markdown" if suffix in (".md", ".markdown") else "text"
        pages = [Page(1, text)]
    if not any(page.text.strip() for page in pages):
        raise UnreadableFile("no text in it" + (" (a scanned PDF without a text layer?)" if suffix == ".pdf" else ""))
    return Document(source=str(path), kind=kind, pages=pages, content_hash=content_hash)


def _decode_text(data: bytes) -> str:
    """UTF-8 text (a BOM is dropped); NUL bytes or invalid UTF-8 mean a binary file."""
    if b"\x00" in data[:8192]:
        raise UnreadableFile("binary file (it contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"not UTF-8 text (invalid byte at offset {error.start}); a binary file?") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _pdf_pages(path: Path) -> list[Page]:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns on every odd object; we report per file
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # PDFs encrypted with an empty user password open without one
            except Exception:  # noqa: BLE001 - pypdf raises several types for unsupported encryption
                opened = 0
            if not opened:
                raise UnreadableFile("encrypted PDF (it needs a password); decrypt it first, e.g. qpdf --decrypt")
        return [Page(number, (page.extract_text() or "").replace("\r\n", "\n"))
                for number, page in enumerate(reader.pages, start=1)]
    except UnreadableFile:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AttributeError) as error:
        raise UnreadableFile(f"damaged or unreadable PDF ({type(error).__name__}: {error})") from None


class _TextExtractor(html.parser.HTMLParser):
    """Visible text of an HTML page: scripts and styles dropped, block elements end lines."""

    BLOCKS = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "section",
              "article", "header", "footer", "pre", "blockquote", "title", "dt", "dd", "hr"}
    PARAGRAPHS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "section", "pre", "blockquote", "table"}
    HIDDEN = {"script", "style", "noscript", "template", "head"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True
        elif tag in self.HIDDEN:
            self.hidden += 1
        if tag in self.BLOCKS:
            self.parts.append("\n\n" if tag in self.PARAGRAPHS else "\n")

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
            self.parts.append("\n\n")
        elif tag in self.HIDDEN and self.hidden:
            self.hidden -= 1
        if tag in self.PARAGRAPHS:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if self.in_title or not self.hidden:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    """The readable text of an HTML page (title first), whitespace tidied, paragraphs kept.

    >>> html_to_text("<html><head><title>T</title><style>x{}</style></head><body><p>Hello <b>you</b></p></body></html>")
    'T\\n\\nHello you'
    """
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()
