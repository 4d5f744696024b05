"""A stand-in platform origin whose answers the test controls (delay them, count them)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class PlatformServer:
    """GET / answers 200 once ``gate`` is open; tests close it to keep diagnose jobs running."""

    port: int = 0
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    hits: int = 0
    date_header: str | None = None
    _runner: web.AppRunner | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _root(self, request: web.Request) -> web.Response:
        self.hits += 1
        await self.gate.wait()
        headers = {"Date": self.date_header} if self.date_header else {}
        return web.Response(text="plateforme", headers=headers)

    async def start(self) -> PlatformServer:
        self.gate.set()
        app = web.Application()
        app.router.add_get("/", self._root)
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
