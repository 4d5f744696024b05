"""Test PDFs written by hand (ISO 32000-1 section 7.5: header, objects, xref table, trailer).

``write_pdf`` streams a document of any number of A4 pages to a binary file, each page showing
"Page n" in Helvetica; ``target_size`` pads the pages with incompressible grey images so that
benchmarks get a file of about the size they ask for without holding it in memory.
"""

from __future__ import annotations

import random
from io import BytesIO
from pathlib import Path
from typing import BinaryIO

A4 = (595, 842)
_IMAGE_WIDTH = 1024
_CHUNK = 1024 * 1024


class _Out:
    """A binary sink that knows its offset (for the xref table)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.offset = 0

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.offset += len(data)


def _page_text(number: int, title: str) -> bytes:
    safe = title.encode("latin-1", "replace").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return (b"BT /F1 24 Tf 72 770 Td (" + safe + b") Tj ET\n"
            b"BT /F1 18 Tf 72 730 Td (Page " + str(number).encode() + b") Tj ET\n")


def write_pdf(stream: BinaryIO, *, pages: int = 1, target_size: int = 0, title: str = "Document de test",
              seed: int = 0) -> None:
    """Write a valid PDF with ``pages`` pages; pad to about ``target_size`` bytes with image data."""
    if pages < 1:
        raise ValueError("pages must be >= 1")
    out = _Out(stream)
    rng = random.Random(seed)
    padding = max(0, target_size - 600 - 450 * pages)
    per_page = padding // pages
    rows = per_page // _IMAGE_WIDTH
    # Object numbers: 1 catalog, 2 page tree, 3 font; page i uses 4+3i (page), 5+3i (content), 6+3i (image).
    offsets: dict[int, int] = {}

    def obj(number: int, body: bytes) -> None:
        offsets[number] = out.offset
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")

    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    kids = b" ".join(b"%d 0 R" % (4 + 3 * i) for i in range(pages))
    obj(1, b"<< /Type /Catalog /Pages 2 0 R >>")
    obj(2, b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % pages)
    obj(3, b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i in range(pages):
        page, content, image = 4 + 3 * i, 5 + 3 * i, 6 + 3 * i
        xobject = b" /XObject << /Im0 %d 0 R >>" % image if rows else b""
        obj(page, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 3 0 R >>%s >>"
            b" /Contents %d 0 R >>" % (A4[0], A4[1], xobject, content))
        draw = _page_text(i + 1, title)
        if rows:
            draw += b"q 200 0 0 100 72 72 cm /Im0 Do Q\n"
        obj(content, b"<< /Length %d >>\nstream\n" % len(draw) + draw + b"\nendstream")
        if rows:
            offsets[image] = out.offset
            length = rows * _IMAGE_WIDTH
            out.write(b"%d 0 obj\n<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
                      b" /BitsPerComponent 8 /Length %d >>\nstream\n" % (image, _IMAGE_WIDTH, rows, length))
            left = length
            while left:
                n = min(left, _CHUNK)
                out.write(rng.randbytes(n))
                left -= n
            out.write(b"\nendstream\nendobj\n")
        else:
            obj(image, b"null")
    size = 4 + 3 * pages
    xref = out.offset
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % size)
    for number in range(1, size):
        out.write(b"%010d 00000 n \n" % offsets[number])
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref))


def make_pdf(pages: int = 1, title: str = "Document de test", target_size: int = 0) -> bytes:
    """A small PDF in memory."""
    buffer = BytesIO()
    write_pdf(buffer, pages=pages, title=title, target_size=target_size)
    return buffer.getvalue()


def make_pdf_file(path: Path, pages: int = 1, target_size: int = 0, title: str = "Document de test") -> Path:
    """A PDF on disk (streamed: fine for files of hundreds of megabytes)."""
    with path.open("wb") as stream:
        write_pdf(stream, pages=pages, target_size=target_size, title=title)
    return path
