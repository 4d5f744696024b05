"""A platform on loopback that serves a consultation (PLATFORM.md) and misbehaves on request.

Per file it can cut the connection after N bytes of a response, ignore ``Range``, stall at an
offset until the test releases it, announce a wrong SHA-256 or size, and it throttles all file
responses to ``rate`` bytes per second when set. It records every file request (with its
``Range`` header, status and the bytes sent) and requires a bearer token when ``token`` is set.

It runs its own event loop in a thread, so one server can outlive the tests' event loops
(module-scoped fixtures) and the tests can drive it from any thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field

from aiohttp import web

_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")
CHUNK = 64 * 1024


@dataclass
class FlakyFile:
    id: str
    name: str
    data: bytes
    #: Stored in blocks of this size (each served at .../blocks/<index>).
    block_size: int | None = None
    #: Cut the connection after this many bytes of a response body, for the first ``cuts`` responses
    #: (for a file in blocks: the responses for block ``cut_block``).
    cut_after: int | None = None
    cuts: int = 1
    cut_block: int = 0
    #: Answer 200 with the whole body even when asked for a Range.
    honour_range: bool = True
    #: Stop sending at this offset of the file (not of a block) until ``FlakyServer.release`` is set.
    stall_at: int | None = None
    #: What the descriptor says, when it must lie.
    advertised_sha256: str | None = None
    advertised_size: int | None = None
    #: A URL to put in the descriptor instead of ours (another origin, for the SSRF tests).
    url_override: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def blocks(self) -> list[bytes]:
        if not self.block_size:
            return [self.data]
        return [self.data[i:i + self.block_size] for i in range(0, len(self.data), self.block_size)] or [b""]


@dataclass
class FlakyEnvelope:
    label: str
    files: list[FlakyFile] = field(default_factory=list)


@dataclass
class FlakyPli:
    id: str
    label: str
    company: str | None = None
    envelopes: list[FlakyEnvelope] = field(default_factory=list)


@dataclass
class Hit:
    """One request for a file or a block."""

    consultation: str
    file: str
    block: int | None
    range: str | None
    authorization: str | None
    status: int = 0
    sent: int = 0
    cut: bool = False


class FlakyServer:
    def __init__(self, token: str | None = None) -> None:
        self.token = token
        self.rate: float | None = None
        self.port = 0
        self.consultations: dict[str, tuple[str, list[FlakyPli]]] = {}
        self.hits: list[Hit] = []
        self.descriptor_hits = 0
        #: Set: stalled responses go on. Cleared by ``stall``.
        self.release = threading.Event()
        self.release.set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._cuts_done: dict[tuple[str, str], int] = {}

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- content ------------------------------------------------------------------------------
    def publish(self, consultation_id: str, plis: list[FlakyPli], title: str = "Consultation de test") -> str:
        """Serve a consultation; returns its descriptor URL (a path of this origin)."""
        self.consultations[consultation_id] = (title, plis)
        return f"/api/consultations/{consultation_id}"

    def file(self, consultation_id: str, file_id: str) -> FlakyFile:
        for pli in self.consultations[consultation_id][1]:
            for envelope in pli.envelopes:
                for f in envelope.files:
                    if f.id == file_id:
                        return f
        raise KeyError(file_id)

    def hits_for(self, file_id: str, consultation: str | None = None) -> list[Hit]:
        return [h for h in self.hits if h.file == file_id and (consultation is None or h.consultation == consultation)]

    def bytes_sent(self, consultation: str | None = None) -> int:
        return sum(h.sent for h in self.hits if consultation is None or h.consultation == consultation)

    def descriptor(self, consultation_id: str) -> dict:
        title, plis = self.consultations[consultation_id]
        base = f"/api/consultations/{consultation_id}"

        def entry(f: FlakyFile) -> dict:
            size = f.advertised_size if f.advertised_size is not None else len(f.data)
            item = {"id": f.id, "name": f.name, "size": size,
                    "sha256": f.advertised_sha256 or f.sha256, "x-platform-extra": "ignored by the agent"}
            if f.block_size:
                item["blocks"] = [{"index": i, "size": len(b), "sha256": hashlib.sha256(b).hexdigest(),
                                   "url": f"{base}/files/{f.id}/blocks/{i}"} for i, b in enumerate(f.blocks())]
            else:
                item["url"] = f.url_override or f"{base}/files/{f.id}"
            return item

        return {"id": consultation_id, "title": title, "plis": [
            {"id": p.id, "label": p.label, "company": p.company, "envelopes": [
                {"id": f"e{i}", "label": e.label, "files": [entry(f) for f in e.files]}
                for i, e in enumerate(p.envelopes, 1)]} for p in plis]}

    # -- handlers -----------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        return self.token is None or request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _descriptor(self, request: web.Request) -> web.Response:
        self.descriptor_hits += 1
        if not self._authorised(request):
            return web.Response(status=401)
        cid = request.match_info["cid"]
        if cid not in self.consultations:
            return web.Response(status=404)
        return web.Response(text=json.dumps(self.descriptor(cid)), content_type="application/json")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        cid, fid = request.match_info["cid"], request.match_info["fid"]
        block = int(request.match_info["index"]) if "index" in request.match_info else None
        hit = Hit(cid, fid, block, request.headers.get("Range"), request.headers.get("Authorization"))
        self.hits.append(hit)
        if not self._authorised(request):
            hit.status = 401
            return web.Response(status=401)
        try:
            f = self.file(cid, fid)
            blocks = f.blocks()
            data = blocks[block] if block is not None else f.data
            if block is None and f.block_size:
                raise IndexError
        except (KeyError, IndexError):
            hit.status = 404
            return web.Response(status=404)
        base = sum(len(b) for b in blocks[:block]) if block is not None else 0
        start, end, status = 0, len(data), 200
        match = _RANGE.match(hit.range or "")
        if match and f.honour_range:
            start = int(match.group(1))
            end = min(len(data), int(match.group(2)) + 1) if match.group(2) else len(data)
            if start >= len(data):
                hit.status = 416
                return web.Response(status=416, headers={"Content-Range": f"bytes */{len(data)}"})
            status = 206
        response = web.StreamResponse(status=status, headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(end - start), "Accept-Ranges": "bytes"})
        if status == 206:
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        hit.status = status
        await response.prepare(request)
        key = (cid, f"{fid}/{block}")
        cutting = (f.cut_after is not None and self._cuts_done.get(key, 0) < f.cuts
                   and (block is None or block == f.cut_block))
        position = start
        while position < end:
            if f.stall_at is not None and base + position >= f.stall_at:
                while not self.release.is_set():
                    await asyncio.sleep(0.02)
            limit = end
            if f.stall_at is not None and base + position < f.stall_at and not self.release.is_set():
                limit = min(limit, f.stall_at - base)
            if cutting:
                limit = min(limit, start + f.cut_after)  # type: ignore[operator]
            piece = data[position:min(limit, position + CHUNK)]
            if not piece:
                if cutting:
                    break
                continue
            await response.write(piece)
            position += len(piece)
            hit.sent += len(piece)
            if self.rate:
                await asyncio.sleep(len(piece) / self.rate)
        if cutting and position < end:
            self._cuts_done[key] = self._cuts_done.get(key, 0) + 1
            hit.cut = True
            assert request.transport is not None
            request.transport.close()  # what was written still goes out; then the connection is cut
            return response
        await response.write_eof()
        return response

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> FlakyServer:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            app = web.Application()
            app.router.add_get("/api/consultations/{cid}", self._descriptor)
            app.router.add_get("/api/consultations/{cid}/files/{fid}", self._file)
            app.router.add_get("/api/consultations/{cid}/files/{fid}/blocks/{index}", self._file)
            self._runner = web.AppRunner(app, shutdown_timeout=0.5, handle_signals=False, access_log=None)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", self.port)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name="flaky-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("flaky server did not start")
        return self

    def stop(self) -> None:
        self.release.set()
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> FlakyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
