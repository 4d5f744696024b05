"""Output names as the reference platform writes them.

``<name> - <YYYYMMDDhhmmss> - Signature <n>.<ext>``, next to the source or in the chosen folder:
``name`` is the source's stem for a PAdES copy (``Lettre - … - Signature 1.pdf``) and its full
name for a detached token (``COMPLEMENT.zip - … - Signature 1.xml``). ``n`` is one more than the
highest signature number already present for that name and extension.
"""

from __future__ import annotations

import re
from datetime import datetime
from collections.abc import Collection
from pathlib import Path


def signature_output_path(source: Path, extension: str, out_dir: Path | None = None, *,
                          keep_extension: bool = True, now: datetime | None = None,
                          reserved: Collection[Path] = ()) -> Path:
    """The next free output name; ``reserved`` are names already promised but not yet written."""
    folder = out_dir or source.parent
    name = source.name if keep_extension else source.stem
    extension = extension.lstrip(".")
    stamp = (now or datetime.now()).strftime("%Y%m%d%H%M%S")
    pattern = re.compile(rf"^{re.escape(name)} - \d{{14}} - Signature (\d+)\.{re.escape(extension)}$")
    names = [p.name for p in folder.glob("*")] if folder.is_dir() else []
    names += [p.name for p in reserved if p.parent == folder]
    taken = [int(m.group(1)) for name in names if (m := pattern.match(name))]
    return folder / f"{name} - {stamp} - Signature {max(taken, default=0) + 1}.{extension}"
