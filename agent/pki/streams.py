"""What the engines stream: the progress callback and the read size of every engine."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["CHUNK", "Progress"]

#: ``progress(done, total)`` in bytes.
Progress = Callable[[int, int], None]

#: Bytes read (hashed, copied) at a time: 1 MiB.
CHUNK = 1024 * 1024
