"""One page's WebSocket: its origin, its language and a writer that never blocks a job.

Answers keep their order: one goes out at once when nothing is queued or being written
(``answer``), else it waits behind the others. Job notifications are coalesced per job: while the
page is slow to read, a newer snapshot replaces an unsent older one, so a slow page never slows a
job and always receives the final state.

A notification's WebSocket frame is built once for every page of its origin (``JobUpdate``). A
page that keeps up gets the notifications of one loop round in a single write, made by one plain
callback, neither a task nor an await (``_flush_updates``): the shared progress tick reaches fifty
pages in about half a millisecond, so the pages' requests wait for no long round. A page that is
behind (answers queued, bytes unsent in its socket) gets them through its writer task instead, one
per loop round.

Answers waiting to be sent are bounded (``MAX_QUEUED_BYTES``): past that, the server stops reading
the page's requests (``writable``) until the page reads its answers, so a page that sends requests
and never reads (each ``files.get`` answer is ~700 KB) cannot grow the agent's memory without bound;
TCP back-pressure then slows the page itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import struct
from collections import deque
from typing import Any

from aiohttp import WSMsgType, web

from ..pairing import ConnectionAuth

log = logging.getLogger(__name__)


#: Bytes of answers queued for one connection beyond which its requests are no longer read.
MAX_QUEUED_BYTES = 4 * 1024 * 1024


def dumps(message: Any) -> str:
    """``message`` as one JSON text frame, always encodable as UTF-8.

    A lone surrogate (``"\\ud800"`` is valid JSON, and pages or platforms may send it: a method name,
    a parameter name echoed in ``data.path``, a file or key name in a job snapshot) cannot be sent
    raw in a text frame: that frame is written with ASCII escapes instead, which every JSON parser
    reads back to the same string. (Before, the UTF-8 encoding failed inside the writer task, which
    died, leaving the connection open but mute.)
    """
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(message, ensure_ascii=True, separators=(",", ":"))
    return text


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked WebSocket text frame carrying ``payload`` (RFC 6455 section 5.2: a
    server's frames are never masked, so the same bytes can go to every page). The bridge never
    negotiates compression (``compress=False``), so no frame needs per-connection state."""
    first = 0x80 | WSMsgType.TEXT  # FIN, opcode 1
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", first, length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, 126, length)
    else:
        header = struct.pack("!BBQ", first, 127, length)
    return header + payload


class JobUpdate:
    """One ``jobs.updated`` notification, shared by every connection of the job's origin: its
    JSON and its frame are built once, by the first connection that sends it (not once per page)."""

    __slots__ = ("snapshot", "_payload", "_frame")

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot
        self._payload: bytes | None = None
        self._frame: bytes | None = None

    def payload(self) -> bytes:
        """The notification's JSON text, UTF-8 encoded."""
        if self._payload is None:
            message = {"jsonrpc": "2.0", "method": "jobs.updated", "params": {"job": self.snapshot}}
            self._payload = dumps(message).encode("utf-8")
        return self._payload

    def frame(self) -> bytes:
        """The whole WebSocket frame, header included (``text_frame``)."""
        if self._frame is None:
            self._frame = text_frame(self.payload())
        return self._frame


class Connection:
    def __init__(self, ws: web.WebSocketResponse, origin: str, peer: str,
                 transport: asyncio.Transport | None = None) -> None:
        self.ws = ws
        #: The page's socket, for the notifications written in one go (``_flush_updates``); None:
        #: every notification goes through the writer task.
        self._transport = transport
        self.origin = origin
        self.peer = peer
        self.locale = "fr"
        self.client: dict[str, str] | None = None
        #: What this connection proved (agent.auth or a pairing); nothing privileged before.
        self.auth = ConnectionAuth()
        self._answers: deque[str] = deque()
        self._queued_bytes = 0
        self._job_updates: dict[str, JobUpdate] = {}
        self._flush_scheduled = False
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._closed = False
        #: True while a frame is being written (by the writer task or ``answer``).
        self._sending = False
        self._writer = asyncio.create_task(self._write_loop(), name=f"ws-writer-{peer}")

    def send(self, message: Any) -> None:
        """Queue an answer (sent in order)."""
        if not self._closed:
            frame = dumps(message)
            self._answers.append(frame)
            self._queued_bytes += len(frame)
            if self._queued_bytes > MAX_QUEUED_BYTES:
                self._room.clear()
            self._wake.set()

    async def answer(self, message: Any) -> None:
        """Send an answer now when nothing is queued or being written (one loop round sooner than
        through the writer task), else queue it behind the others: answers keep their order."""
        if self._closed or self._sending or self._answers:
            self.send(message)
            return
        self._sending = True
        try:
            await self.ws.send_str(dumps(message))
        except (ConnectionError, RuntimeError):
            self._closed = True
        finally:
            self._sending = False
            if self._answers or self._job_updates:
                self._wake.set()

    async def writable(self) -> None:
        """Return once the queued answers are under the limit (at once when closed)."""
        await self._room.wait()

    def job_updated(self, update: JobUpdate) -> None:
        """Queue a ``jobs.updated`` notification, replacing any unsent one for the same job; the
        notifications queued in one loop round go out together at its end (``_flush_updates``)."""
        if not self._closed:
            job_id = update.snapshot["id"]
            self._job_updates.pop(job_id, None)
            self._job_updates[job_id] = update
            if not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush_updates)

    def _flush_updates(self) -> None:
        """Write every queued notification in one ``write`` when the page keeps up: nothing being
        written or queued before them, and its socket's buffer empty (so the write goes straight
        to the kernel). Otherwise they stay queued, still coalesced, for the writer task, which
        also waits for a slow page's socket to drain."""
        self._flush_scheduled = False
        if not self._job_updates or self._closed:
            return
        transport = self._transport
        if (transport is None or self._sending or self._answers or self.ws.closed or transport.is_closing()
                or transport.get_write_buffer_size()):
            self._wake.set()
            return
        updates, self._job_updates = self._job_updates, {}
        transport.write(b"".join(update.frame() for update in updates.values()))

    async def _send_next(self) -> bool:
        """Send the oldest queued answer, or else one notification; True if it was a notification."""
        self._sending = True
        try:
            if self._answers:
                frame = self._answers.popleft()
                self._queued_bytes -= len(frame)
                if self._queued_bytes <= MAX_QUEUED_BYTES:
                    self._room.set()
                await self.ws.send_str(frame)
                return False
            job_id = next(iter(self._job_updates))
            await self.ws.send_frame(self._job_updates.pop(job_id).payload(), WSMsgType.TEXT)
            return True
        finally:
            self._sending = False

    async def _write_loop(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while (self._answers or self._job_updates) and not self._sending:
                    if await self._send_next():
                        # One notification per loop round for a page that is behind: the others'
                        # requests are read between them.
                        await asyncio.sleep(0)
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            pass
        except Exception:
            log.exception("websocket writer failed for %s", self.peer)
        finally:
            # Nothing will drain the queue any more: queue nothing more, and never hold the reader.
            self._closed = True
            self._answers.clear()
            self._room.set()

    async def close(self) -> None:
        self.auth.close()
        self._closed = True
        self._room.set()
        self._writer.cancel()
        await asyncio.gather(self._writer, return_exceptions=True)
