"""A stand-in platform origin whose answers the test controls (delay them, count them)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class PlatformServer:
    """GET / answers 200 once ``gate`` is open; tests close it to keep diagnose jobs running."""

    port: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    hits: int = 0
    date_header: str | None = None
    #: Documents served at /documents/<name>; when ``token`` is set, a Bearer header is required.
    documents: dict[str, bytes] = field(default_factory=dict)
    token: str | None = None
    #: What POST /signatures received: {"name", "data", "fields"}.
    received: list[dict[str, object]] = field(default_factory=list)
    #: What POST /keys (key registration) received: {"body": raw bytes, "json": parsed body}.
    keys: list[dict[str, object]] = field(default_factory=list)
    #: The status POST /keys answers with (tests set an error status to see a refusal).
    keys_status: int = 201
    #: Any method on /redirect/<name> answers ``redirect_status`` with ``Location: redirects[name]``
    #: (or, for a ``(status, location)`` pair, that status).
    redirects: dict[str, str | tuple[int, str]] = field(default_factory=dict)
    redirect_status: int = 302
    #: Every request received, as "METHOD /path?query" (to prove a request was, or was not, made).
    requests: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _root(self, request: web.Request) -> web.Response:
        self.hits += 1
        await self.gate.wait()
        headers = {"Date": self.date_header} if self.date_header else {}
        return web.Response(text="plateforme", headers=headers)

    def _authorised(self, request: web.Request) -> bool:
        return self.token is None or request.headers.get("Authorization") == f"Bearer {self.token}"

    async def _document(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not self._authorised(request):
            return web.Response(status=401)
        if name not in self.documents:
            return web.Response(status=404)
        return web.Response(body=self.documents[name], content_type="application/octet-stream",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def _signatures(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401)
        fields: dict[str, str] = {}
        entry: dict[str, object] = {}
        async for part in await request.multipart():
            if part.name == "file":
                entry = {"name": part.filename, "data": await part.read()}
            else:
                fields[str(part.name)] = await part.text()
        entry["fields"] = fields
        self.received.append(entry)
        return web.json_response({"ok": True}, status=201)

    async def _keys(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.Response(status=401)
        body = await request.read()
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        self.keys.append({"body": body, "json": parsed})
        return web.json_response({"ok": self.keys_status < 300}, status=self.keys_status)

    async def _redirect(self, request: web.Request) -> web.Response:
        target = self.redirects.get(request.match_info["name"])
        if target is None:
            return web.Response(status=404)
        status, location = target if isinstance(target, tuple) else (self.redirect_status, target)
        return web.Response(status=status, headers={"Location": location})

    @web.middleware
    async def _record(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        self.requests.append(f"{request.method} {request.path_qs}")
        return await handler(request)

    async def start(self) -> PlatformServer:
        self.gate.set()
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[self._record])
        app.router.add_get("/", self._root)
        app.router.add_get("/documents/{name}", self._document)
        app.router.add_post("/signatures", self._signatures)
        app.router.add_post("/keys", self._keys)
        app.router.add_route("*", "/redirect/{name}", self._redirect)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        self.gate.set()
        if self._runner:
            await self._runner.cleanup()
