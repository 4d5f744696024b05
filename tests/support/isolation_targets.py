"""Functions the isolation tests run in the worker process (agent.isolation)."""

from __future__ import annotations

import time
from collections.abc import Callable


def add(a: int, b: int, progress: Callable[..., None] | None = None) -> int:
    if progress is not None:
        for step in range(3):
            progress(step, 3)
    return a + b


def hog(megabytes: int) -> int:
    """Hold ``megabytes`` of memory for a while, as a hostile file's parse would."""
    blocks = [bytearray(1024 * 1024) for _ in range(megabytes)]
    for block in blocks:
        block[::4096] = b"x" * len(block[::4096])
    time.sleep(5)
    return len(blocks)


def loop_for(seconds: float) -> None:
    time.sleep(seconds)


def fail(message: str) -> None:
    raise ValueError(message)


_STATE: dict[str, int] = {}


def remember(value: int) -> None:
    _STATE["value"] = value


def recall(progress: Callable[..., None] | None = None) -> int:
    return _STATE["value"]


def mark_teardown(path: str) -> None:
    """Write ``path`` when the worker's interpreter tears down (atexit), which a worker ends without."""
    import atexit
    from pathlib import Path

    atexit.register(Path(path).write_text, "teardown")


def imported(*modules: str) -> list[str]:
    """Which of ``modules`` this worker has imported (a preload's effect)."""
    import sys

    return [m for m in modules if m in sys.modules]


def parsed_anchors() -> int:
    """How many anchors this process has parsed ahead (agent.validation.chain's warm-up)."""
    from agent.validation import chain

    return len(chain._PARSED_ANCHORS)


def where(variable: str) -> tuple[str, str | None]:
    """This worker's working directory and one variable of its environment."""
    import os

    return os.getcwd(), os.environ.get(variable)
