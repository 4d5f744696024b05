"""One page's WebSocket: its origin, its language and a writer that never blocks a job.

Answers are queued in order. Job notifications are coalesced per job: while the page is slow to
read, a newer snapshot replaces an unsent older one, so a slow page never slows a job and always
receives the final state.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


def dumps(message: Any) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


class Connection:
    def __init__(self, ws: web.WebSocketResponse, origin: str, peer: str) -> None:
        self.ws = ws
        self.origin = origin
        self.peer = peer
        self.locale = "fr"
        self.client: dict[str, str] | None = None
        self._answers: deque[str] = deque()
        self._job_updates: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._closed = False
        self._writer = asyncio.create_task(self._write_loop(), name=f"ws-writer-{peer}")

    def send(self, message: Any) -> None:
        """Queue an answer (sent in order)."""
        if not self._closed:
            self._answers.append(dumps(message))
            self._wake.set()

    def job_updated(self, snapshot: dict[str, Any]) -> None:
        """Queue a ``jobs.updated`` notification, replacing any unsent one for the same job."""
        if not self._closed:
            self._job_updates.pop(snapshot["id"], None)
            self._job_updates[snapshot["id"]] = snapshot
            self._wake.set()

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._answers or self._job_updates:
                    if self._answers:
                        frame = self._answers.popleft()
                    else:
                        job_id = next(iter(self._job_updates))
                        snapshot = self._job_updates.pop(job_id)
                        frame = dumps({"jsonrpc": "2.0", "method": "jobs.updated", "params": {"job": snapshot}})
                    await self.ws.send_str(frame)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("websocket writer failed for %s", self.peer)

    async def close(self) -> None:
        self._closed = True
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
