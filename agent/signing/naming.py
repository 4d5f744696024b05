"""Output names as the reference platform writes them.

``<name> - <YYYYMMDDhhmmss> - Signature <n>.<ext>``, next to the source or in the chosen folder:
``name`` is the source's stem for a PAdES copy (``Lettre - … - Signature 1.pdf``) and its full
name for a detached token (``COMPLEMENT.zip - … - Signature 1.xml``). ``n`` is one more than the
highest signature number already present for that name and extension.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

_NUMBERED = re.compile(r"^(?P<name>.*) - \d{14} - Signature (?P<n>\d+)\.(?P<ext>[^.]+)$")


class OutputNames:
    """Allocates output names for a batch: each folder is listed once, and every name handed out
    counts as taken (outputs may be renamed into place only at the end of the batch)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now
        #: folder -> {(name, extension): highest signature number}
        self._highest: dict[Path, dict[tuple[str, str], int]] = {}

    def _folder(self, folder: Path) -> dict[tuple[str, str], int]:
        known = self._highest.get(folder)
        if known is None:
            known = {}
            if folder.is_dir():
                for entry in folder.iterdir():
                    if m := _NUMBERED.match(entry.name):
                        key = (m["name"], m["ext"])
                        known[key] = max(known.get(key, 0), int(m["n"]))
            self._highest[folder] = known
        return known

    def next(self, source: Path, extension: str, out_dir: Path | None = None, *, keep_extension: bool = True) -> Path:
        folder = out_dir or source.parent
        name = source.name if keep_extension else source.stem
        extension = extension.lstrip(".")
        known = self._folder(folder)
        number = known.get((name, extension), 0) + 1
        known[(name, extension)] = number
        stamp = (self.now or datetime.now()).strftime("%Y%m%d%H%M%S")
        return folder / f"{name} - {stamp} - Signature {number}.{extension}"


def signature_output_path(source: Path, extension: str, out_dir: Path | None = None, *,
                          keep_extension: bool = True, now: datetime | None = None) -> Path:
    """The next free output name for one file."""
    return OutputNames(now).next(source, extension, out_dir, keep_extension=keep_extension)
