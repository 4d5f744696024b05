"""The end of a PDF file, checked before any PDF library opens it (ISO 32000-1 section 7.5.5).

A PDF ends with ``startxref``, the offset of the last cross-reference section and ``%%EOF``; the
signer and the verifier both refuse a file without them in its last ``TRAILER_WINDOW`` octets
rather than let pyHanko walk a hostile file backwards one octet at a time.
"""

from __future__ import annotations

import os
import re
from typing import BinaryIO

from ..i18n import Text

__all__ = ["NO_TRAILER", "TRAILER_WINDOW", "pdf_trailer_problem"]

#: How far from the end the trailer is looked for (pyHanko itself gives up after 1 KiB of lines).
TRAILER_WINDOW = 2048
#: ``startxref``, the offset of the last cross-reference section and ``%%EOF`` (ISO 32000-1 section
#: 7.5.5), the keyword at the start of a line, as pyHanko reads them (offset on the same line or not).
_TRAILER = re.compile(rb"[\r\n]startxref[ \t\r\n]*\d+[ \t]*[\r\n]+%%EOF")


NO_TRAILER = Text("fin de fichier PDF absente (startxref et %%EOF attendus à la fin du fichier)",
                  "no end of PDF file (startxref and %%EOF expected at the end of the file)")


def pdf_trailer_problem(stream: BinaryIO) -> str | None:
    """Why the PDF in ``stream`` cannot be opened from its end, or None (position restored).

    ISO 32000-1 section 7.5.5: a PDF ends with ``startxref``, the offset of the last cross-reference
    section and ``%%EOF``, each on a line of its own. pyHanko looks for them reading backwards one
    octet at a time and checks its 1 KiB limit only between lines: a file whose end holds megabytes
    without a line break would be walked octet by octet to its start (about half a second per MiB,
    hours for a few GiB). Checked here in one read of the last ``TRAILER_WINDOW`` octets: when the
    trailer is there, every line pyHanko reads backwards lies inside that window.
    """
    here = stream.tell()
    try:
        size = stream.seek(0, os.SEEK_END)
        stream.seek(max(0, size - TRAILER_WINDOW))
        tail = stream.read(TRAILER_WINDOW)
    finally:
        stream.seek(here)
    if _TRAILER.search(tail) is None:
        return NO_TRAILER.fr
    return None
