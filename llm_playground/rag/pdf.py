"""A minimal PDF writer for text pages (the demo handbook's PDF, and test files).

One Helvetica text object per line, 11 pt on A4, lines wrapped at `width` characters; enough for
pypdf (and any PDF reader) to extract the text page by page. Not a general PDF library.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

from llm_playground.assets.files import atomic_write_bytes

PAGE_WIDTH, PAGE_HEIGHT = 595, 842  # A4 in points
MARGIN, LEADING, FONT_SIZE = 56, 15, 11


def _escape(text: str) -> str:
    """A PDF string literal's body: backslash and parentheses escaped, Latin-1 only."""
    text = text.encode("latin-1", "replace").decode("latin-1")
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _page_lines(text: str, width: int) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines.extend(textwrap.wrap(paragraph, width) or [""])
    return lines


def pdf_bytes(pages: list[str], *, width: int = 90) -> bytes:
    """A PDF with one page per string of `pages` (too many lines for a page are an error)."""
    objects: list[bytes] = []
    page_ids = [3 + 2 * index for index in range(len(pages))]
    font_id = 3 + 2 * len(pages)
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    for index, text in enumerate(pages):
        lines = _page_lines(text, width)
        if len(lines) * LEADING > PAGE_HEIGHT - 2 * MARGIN:
            raise ValueError(f"page {index + 1} has {len(lines)} lines; at most {(PAGE_HEIGHT - 2 * MARGIN) // LEADING} fit")
        commands = [f"BT /F1 {FONT_SIZE} Tf {LEADING} TL {MARGIN} {PAGE_HEIGHT - MARGIN} Td"]
        commands += [f"({_escape(line)}) Tj T*" for line in lines]
        commands.append("ET")
        stream = "\n".join(commands).encode("latin-1")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH} {PAGE_HEIGHT}] "
                       f"/Resources << /Font << /F1 {font_id} 0 R >> >> /Contents {page_ids[index] + 1} 0 R >>".encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def write_pdf(path: str | Path, pages: list[str], *, width: int = 90) -> Path:
    """Write `pages` as a PDF at `path` (atomically)."""
    return atomic_write_bytes(Path(path), pdf_bytes(pages, width=width))


def write_encrypted_pdf(path: str | Path, pages: list[str], password: str = "secret") -> Path:
    """The same PDF, encrypted with a user password (for tests of the skip-with-reason path)."""
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(pages))))
    writer.encrypt(user_password=password, owner_password=password, algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return atomic_write_bytes(Path(path), buffer.getvalue())
