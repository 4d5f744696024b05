"""Event-loop probe loaded into the agent by ``load_bridge.py --probe-agent`` (this folder goes first
on the agent's PYTHONPATH, so Python imports this module at start-up). Not part of the agent.

It records, with wall-clock times (``time.time``), while the agent runs:

* each event-loop iteration longer than ``ITERATION_MS`` (from the return of ``select`` to its next
  call): its length and the time of its callbacks by label (a task's coroutine, or a callback's
  qualified name), i.e. what kept the loop from reading the next request;
* each ``select`` that returned more than ``LATE_MS`` after its timeout (with timeout 0: the loop
  thread waited for the GIL or for a CPU after the kernel call);
* each garbage collection longer than ``GC_MS``;
* each task step longer than ``STEP_MS``, with where the task was suspended before the step and
  where after it: the slow code runs between those two points.

At exit it writes them as JSON to ``$LOAD_PROBE_OUT``. The wrappers cost about a microsecond per
callback.
"""

from __future__ import annotations

import asyncio.events
import atexit
import gc
import json
import os
import selectors
import time
from typing import Any

OUT = os.environ.get("LOAD_PROBE_OUT")
ITERATION_MS = 1.0
LATE_MS = 1.0
GC_MS = 0.5
STEP_MS = 2.0
#: Events kept at most per kind (the run stays bounded in memory).
LIMIT = 50_000

iterations: list[tuple[float, float, int, dict[str, list[float]]]] = []
late_selects: list[tuple[float, float | None, float]] = []
collections: list[tuple[float, int, float, int]] = []
slow_steps: list[tuple[float, str, float, str, str]] = []

_current: dict[str, list[float]] = {}
_handles = 0
_select_end: float | None = None
_select_end_wall = 0.0


def _label(callback: Any) -> str:
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        return f"task {getattr(coro, '__qualname__', type(coro).__name__)}"
    return getattr(callback, "__qualname__", type(callback).__name__)


def _where(task: asyncio.Task[Any]) -> str:
    """The innermost frames (at most three) where ``task`` is suspended, innermost last."""
    frames = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            break
        frames.append(f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno} {frame.f_code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return " > ".join(frames[-3:]) if frames else "?"


def _install() -> None:
    handle_run = asyncio.events.Handle._run

    def timed_run(self: asyncio.events.Handle) -> None:
        global _handles
        callback = self._callback  # type: ignore[attr-defined]  # read first: a cancelled handle clears it
        task = getattr(callback, "__self__", None)
        before = _where(task) if isinstance(task, asyncio.Task) else ""
        started = time.perf_counter()
        try:
            handle_run(self)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            if elapsed >= STEP_MS and isinstance(task, asyncio.Task) and len(slow_steps) < LIMIT:
                after = "(done)" if task.done() else _where(task)
                slow_steps.append((time.time(), _label(callback), elapsed, before, after))
            _handles += 1
            entry = _current.get(label := _label(callback))
            if entry is None:
                _current[label] = [1, elapsed]
            else:
                entry[0] += 1
                entry[1] += elapsed

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]

    select = selectors.EpollSelector.select

    def timed_select(self: selectors.EpollSelector, timeout: float | None = None) -> Any:
        global _select_end, _select_end_wall, _handles, _current
        started = time.perf_counter()
        if _select_end is not None:
            length = (started - _select_end) * 1000
            if length >= ITERATION_MS and len(iterations) < LIMIT:
                iterations.append((_select_end_wall, length, _handles, _current))
        _current, _handles = {}, 0
        try:
            return select(self, timeout)
        finally:
            _select_end = time.perf_counter()
            _select_end_wall = time.time()
            waited = (_select_end - started) * 1000
            if (timeout is not None and waited - max(0.0, timeout) * 1000 >= LATE_MS
                    and len(late_selects) < LIMIT):
                late_selects.append((_select_end_wall, timeout, waited))

    selectors.EpollSelector.select = timed_select  # type: ignore[method-assign,assignment]

    gc_started: list[float] = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
            return
        elapsed = (time.perf_counter() - gc_started[0]) * 1000
        if elapsed >= GC_MS and len(collections) < LIMIT:
            collections.append((time.time(), info["generation"], elapsed, info.get("collected", 0)))

    gc.callbacks.append(on_gc)


def _write() -> None:
    if OUT:
        with open(OUT, "w", encoding="utf-8") as out:
            json.dump({"iterations": iterations, "late_selects": late_selects, "collections": collections,
                       "slow_steps": slow_steps}, out)


if OUT:
    _install()
    atexit.register(_write)
