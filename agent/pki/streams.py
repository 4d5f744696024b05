"""What the engines stream: the progress callback, the read size of every engine, and a writer
that hashes what it passes on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, BinaryIO

__all__ = ["CHUNK", "HashingWriter", "Progress"]

#: ``progress(done, total)`` in bytes.
Progress = Callable[[int, int], None]

#: Bytes read (hashed, copied) at a time: 1 MiB.
CHUNK = 1024 * 1024


class HashingWriter:
    """Passes writes to ``out`` and hashes them into ``digest`` (a ``hashlib`` object): the SHA-256
    of what an engine writes costs no extra read."""

    def __init__(self, out: BinaryIO, digest: Any) -> None:
        self.out, self.digest = out, digest

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()
