"""A lean page client for the load test: JSON-RPC over a WebSocket (RFC 6455) on a plain
non-blocking socket driven by the event loop's reader callback, without aiohttp's transports,
queues and per-message tasks, so that thousands of ``jobs.updated`` frames a second cost the load
generator little.

* A ``jobs.updated`` frame in the agent's compact form is read from its first bytes (job id and
  job state); every other frame (answers, batches, another layout) is decoded in full, so no final
  state can be missed.
* The latency of a call runs from just before the request is written to the socket to the moment
  the client's reader handles the answer (what a page sees). On Linux the socket also carries the
  kernel's receive timestamp (``SO_TIMESTAMPNS``): the "wire" latency, from just before the
  request is written to the arrival of the bytes holding the answer in the client's socket, leaves
  out the time the generator itself took to get to those bytes. The kernel stamps a read with the
  arrival of its last bytes: a wire latency is exact when the answer ends its read, and errs high
  (never low) when later frames came in before the client read it.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import random
import re
import socket
import struct
import sys
import time
from collections.abc import Iterable
from typing import Any

TERMINAL = ("succeeded", "failed", "cancelled", "interrupted")
_TERMINAL_BYTES = frozenset(state.encode() for state in TERMINAL)

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0

#: ``SO_TIMESTAMPNS`` (Python does not name it; 35 on every Linux architecture but a few).
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
#: Bytes read at most per ready event.
_READ_SIZE = 256 * 1024

#: The first bytes of a ``jobs.updated`` frame as the agent writes it (agent.bridge.connection.dumps:
#: compact separators, the snapshot's keys in agent.jobs.model.Job.snapshot order). Strings are
#: matched only without quotes or escapes, so a match gives the job's id and its own ``state``
#: exactly; a frame that does not match is decoded in full.
_UPDATE_PREFIX = re.compile(
    rb'\{"jsonrpc":"2\.0","method":"jobs\.updated","params":\{"job":\{'
    rb'"id":"([^"\\]*)","kind":"[^"\\]*","state":"([^"\\]*)"'
)


def _mask(payload: bytes, key: int) -> bytes:
    """``payload`` masked with the 32-bit ``key`` (RFC 6455 section 5.3)."""
    size = len(payload)
    if not size:
        return b""
    keys = key.to_bytes(4, "big") * (size // 4 + 1)
    return (int.from_bytes(payload, "big") ^ int.from_bytes(keys[:size], "big")).to_bytes(size, "big")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame."""
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    key = random.getrandbits(32)
    return header + key.to_bytes(4, "big") + _mask(payload, key)


class PageClient:
    """A page's WebSocket: JSON-RPC calls (one answer each) and the ``jobs.updated`` it receives."""

    def __init__(self, sock: socket.socket, leftover: bytes, hello: dict[str, Any]) -> None:
        self.sock = sock
        self.hello_params = hello
        self._loop = asyncio.get_running_loop()
        self._ids = itertools.count(1)
        #: Request id -> future of (answer, perf_counter when handled, kernel receive time or None,
        #: whether the answer ended its read).
        self._pending: dict[int, asyncio.Future[tuple[dict[str, Any], float, float | None, bool]]] = {}
        self._buffer = bytearray(leftover)
        self._fragments: list[bytes] = []
        self._outgoing = bytearray()
        self._closed = False
        self._eof = asyncio.Event()
        #: Job id -> the final state this client received.
        self.finals: dict[str, str] = {}
        #: ``jobs.updated`` notifications received, and frames decoded in full (any kind).
        self.updates = 0
        self.decoded = 0
        #: Seconds per ``agent.hello`` of ``poll_hello``: as the client sees it, and on the wire.
        self.latencies: list[float] = []
        self.wire_latencies: list[float] = []
        #: Per wire latency: exact (the answer ended its read) or an upper bound.
        self.wire_exact: list[bool] = []
        self.errors: list[str] = []
        self._loop.add_reader(sock.fileno(), self._on_readable)
        if leftover:
            self._parse(time.perf_counter(), None)

    @classmethod
    async def connect(cls, port: int, origin: str, hello: dict[str, Any], path: str = "/bridge",
                      timeout: float = 10.0, key: bytes | None = None) -> PageClient:
        """Open ``ws://127.0.0.1:<port><path>`` as a page of ``origin``; with the site's pairing
        ``key``, authenticate the connection (``agent.auth``) as a paired page does."""
        client = await cls._open(port, origin, hello, path, timeout)
        if key is not None:
            try:
                await client.authenticate(origin, key)
            except BaseException:
                await client.close()
                raise
        return client

    async def authenticate(self, origin: str, key: bytes) -> None:
        """``agent.auth``: check the agent's proof of ``key``, then prove it (PROTOCOL.md section 2)."""
        from bridge_protocol import pairing

        page_nonce = pairing.new_nonce()
        answer = await self.call("agent.auth", {"step": "challenge", "nonce": base64.b64encode(page_nonce).decode()})
        agent_nonce = base64.b64decode(answer["nonce"])
        if base64.b64decode(answer["proof"]) != pairing.agent_proof(key, origin, page_nonce, agent_nonce):
            raise ConnectionError("the agent did not prove the pairing key")
        proof = pairing.page_proof(key, origin, page_nonce, agent_nonce)
        await self.call("agent.auth", {"step": "prove", "proof": base64.b64encode(proof).decode()})

    @classmethod
    async def _open(cls, port: int, origin: str, hello: dict[str, Any], path: str, timeout: float) -> PageClient:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if sys.platform.startswith("linux"):
                sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
            key = base64.b64encode(os.urandom(16)).decode()
            request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\n"
                       f"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                       f"Sec-WebSocket-Key: {key}\r\n\r\n").encode()
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, ("127.0.0.1", port))
                await loop.sock_sendall(sock, request)
                received = b""
                while b"\r\n\r\n" not in received:
                    chunk = await loop.sock_recv(sock, 65536)
                    if not chunk:
                        raise ConnectionError("connection closed during the WebSocket handshake")
                    received += chunk
            head, leftover = received.split(b"\r\n\r\n", 1)
            status = head.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                raise ConnectionError(f"WebSocket upgrade refused: {status.decode(errors='replace')}")
            return cls(sock, leftover, hello)
        except BaseException:
            sock.close()
            raise

    # -- reading ------------------------------------------------------------------------------
    def _on_readable(self) -> None:
        try:
            data, ancillary, _flags, _address = self.sock.recvmsg(_READ_SIZE, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        handled = time.perf_counter()
        if not data:
            self._lost(None)
            return
        kernel: float | None = None
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(value) >= _TIMESPEC.size:
                seconds, nanoseconds = _TIMESPEC.unpack_from(value)
                kernel = seconds + nanoseconds / 1e9
        self._buffer += data
        self._parse(handled, kernel)

    def _parse(self, handled: float, kernel: float | None) -> None:
        """Handle every complete frame in the buffer."""
        buffer = self._buffer
        start = 0
        while len(buffer) - start >= 2:
            first, second = buffer[start], buffer[start + 1]
            size, offset = second & 0x7F, start + 2
            if size == 126:
                if len(buffer) - offset < 2:
                    break
                size, offset = struct.unpack_from("!H", buffer, offset)[0], offset + 2
            elif size == 127:
                if len(buffer) - offset < 8:
                    break
                size, offset = struct.unpack_from("!Q", buffer, offset)[0], offset + 8
            if second & 0x80:  # a server never masks; unmask anyway
                offset += 4
            if len(buffer) - offset < size:
                break
            payload = bytes(buffer[offset:offset + size])
            if second & 0x80:
                payload = _mask(payload, int.from_bytes(buffer[offset - 4:offset], "big"))
            start = offset + size
            self._frame(first & 0x80 != 0, first & 0x0F, payload, handled, kernel, start == len(buffer))
        del buffer[:start]

    def _frame(self, fin: bool, opcode: int, payload: bytes, handled: float, kernel: float | None,
               last: bool) -> None:
        if opcode == PING:
            self._write(encode_frame(PONG, payload))
            return
        if opcode == CLOSE:
            if not self._closed:
                self._closed = True
                self._write(encode_frame(CLOSE, payload[:2]))
            return
        if opcode in (TEXT, CONTINUATION) and not fin:
            self._fragments.append(payload)
            return
        if opcode == CONTINUATION:
            payload, self._fragments = b"".join(self._fragments) + payload, []
        elif opcode != TEXT:
            return
        self._message(payload, handled, kernel, last)

    def _message(self, payload: bytes, handled: float, kernel: float | None, last: bool) -> None:
        """Account for one text message (``last``: nothing after it in its read)."""
        match = _UPDATE_PREFIX.match(payload)
        if match is not None:  # a jobs.updated notification: its first bytes say all we need
            self.updates += 1
            if match.group(2) in _TERMINAL_BYTES:
                self.finals[match.group(1).decode()] = match.group(2).decode()
            return
        self.decoded += 1
        data = json.loads(payload)
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item, dict):
                continue
            if item.get("method") == "jobs.updated":
                job = item["params"]["job"]
                self.updates += 1
                if job["state"] in TERMINAL:
                    self.finals[job["id"]] = job["state"]
                continue
            future = self._pending.pop(item.get("id"), None)  # type: ignore[arg-type]
            if future is not None and not future.done():
                future.set_result((item, handled, kernel, last))

    def _lost(self, exc: BaseException | None) -> None:
        """The connection is gone: no more reading, every pending call fails."""
        self._closed = True
        self._loop.remove_reader(self.sock.fileno())
        self._loop.remove_writer(self.sock.fileno())
        self._eof.set()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(f"connection closed{f': {exc}' if exc else ''}"))
        self._pending.clear()

    # -- writing ------------------------------------------------------------------------------
    def _write(self, frame: bytes) -> None:
        if self._eof.is_set():
            raise ConnectionError("connection closed")
        if not self._outgoing:
            try:
                sent = self.sock.send(frame)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._lost(exc)
                raise ConnectionError(str(exc)) from exc
            if sent == len(frame):
                return
            frame = frame[sent:]
            self._loop.add_writer(self.sock.fileno(), self._on_writable)
        self._outgoing += frame

    def _on_writable(self) -> None:
        try:
            sent = self.sock.send(self._outgoing)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(exc)
            return
        del self._outgoing[:sent]
        if not self._outgoing:
            self._loop.remove_writer(self.sock.fileno())

    # -- calls --------------------------------------------------------------------------------
    async def timed_call(self, method: str, params: Any,
                         timeout: float = 10.0) -> tuple[Any, float, float | None, bool]:
        """Call ``method``; returns its result, the seconds from just before the request was
        written to the socket until the reader handled the answer, the seconds until the answer's
        bytes arrived in the socket (``None`` without kernel timestamps), and whether that wire
        figure is exact (else an upper bound)."""
        if self._closed:
            raise ConnectionError("connection closed")
        request_id = next(self._ids)
        future: asyncio.Future[tuple[dict[str, Any], float, float | None, bool]] = self._loop.create_future()
        self._pending[request_id] = future
        frame = encode_frame(TEXT, json.dumps(
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).encode())
        sent_wall, sent = time.time(), time.perf_counter()
        self._write(frame)
        try:
            answer, handled, kernel, last = await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"], handled - sent, None if kernel is None else kernel - sent_wall, last

    async def call(self, method: str, params: Any, timeout: float = 10.0) -> Any:
        """Call ``method`` and return its result."""
        return (await self.timed_call(method, params, timeout))[0]

    async def poll_hello(self, rate: float, until: float, offset: float) -> None:
        """``agent.hello`` ``rate`` times a second until ``until`` (monotonic), one call in flight."""
        await asyncio.sleep(offset)
        next_at = time.monotonic()
        while time.monotonic() < until:
            try:
                result, latency, wire, exact = await self.timed_call("agent.hello", self.hello_params)
                if result.get("product") != "compagnon":
                    self.errors.append(f"unexpected hello answer: {result}")
            except (RuntimeError, ConnectionError, TimeoutError) as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                self.latencies.append(latency)
                if wire is not None:
                    self.wire_latencies.append(wire)
                    self.wire_exact.append(exact)
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def close(self, timeout: float = 1.0) -> None:
        """Close handshake (briefly awaited), then the socket."""
        if not self._eof.is_set():
            if not self._closed:
                self._closed = True
                try:
                    self._write(encode_frame(CLOSE, struct.pack("!H", 1000)))
                except ConnectionError:
                    pass
            try:
                await asyncio.wait_for(self._eof.wait(), timeout)
            except TimeoutError:
                pass
            if not self._eof.is_set():
                self._lost(None)
        self.sock.close()


async def wait_for_finals(pages: Iterable[PageClient], jobs: Iterable[str], deadline: float) -> None:
    """Return once every page holds a final state for each of ``jobs``, or at ``deadline``."""
    pages, jobs = list(pages), list(jobs)
    while time.monotonic() < deadline and any(j not in p.finals for p in pages for j in jobs):
        await asyncio.sleep(0.05)
