"""Which file a detached signature signs, from names alone: ``x.pdf.p7s`` signs ``x.pdf``, and
Compagnon's own output ``x.pdf - 20240311091502 - Signature 1.p7s`` too.

Apart from the CAdES validator (agent.validation.cades) so that pairing the files of a set (the
agent's process, before a worker verifies them) loads no validator."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["DETACHED_SUFFIXES", "detached_content_name", "find_detached_content"]

DETACHED_SUFFIXES = (".p7s", ".xp7s", ".pkcs7", ".sig")
_OUTPUT_NAME = re.compile(r"^(?P<name>.+) - \d{14} - Signature \d+\.(?:p7s|xp7s|pkcs7|sig)$", re.IGNORECASE)


def detached_content_name(token_name: str) -> str | None:
    """The name of the file a detached token signs: ``x.pdf.p7s`` -> ``x.pdf``, and our output
    names ``x.pdf - 20240311091502 - Signature 1.p7s`` -> ``x.pdf``; None for any other name."""
    match = _OUTPUT_NAME.match(token_name)
    if match:
        name = match.group("name")
    elif Path(token_name).suffix.lower() in DETACHED_SUFFIXES:
        name = Path(token_name).stem
    else:
        return None
    return None if name in ("", ".", "..") or "/" in name or name == token_name else name


def find_detached_content(token: Path) -> Path | None:
    """The signed file next to a detached token (named by :func:`detached_content_name`). Never
    anything outside the folder."""
    name = detached_content_name(token.name)
    if name is None:
        return None
    candidate = token.with_name(name)
    return candidate if candidate.is_file() else None
