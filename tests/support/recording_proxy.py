"""A reverse proxy that records the HTTP traffic between the agent and a platform, as on the wire.

The agent talks to the proxy's origin (the page's origin in the test); every request is forwarded
to the platform unchanged (method, path, query, headers but ``Host``, body) and its answer sent
back unchanged, and both are kept in ``exchanges``. ``cut_once`` makes the proxy send only the
first half of one path's first answer and then drop the connection, as a network cut does (the
agent then resumes with ``Range``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

#: Headers that describe one hop, not the message (RFC 9110 section 7.6.1).
HOP = {"host", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, str]
    request_headers: CIMultiDict[str]
    request_body: bytes
    status: int
    response_headers: CIMultiDict[str]
    response_body: bytes
    #: The answer was cut after part of its body (``cut_once``).
    cut: bool = False


@dataclass
class RecordingProxy:
    upstream: str
    exchanges: list[Exchange] = field(default_factory=list)
    cut_once: set[str] = field(default_factory=set)
    origin: str = ""
    _runner: web.AppRunner | None = None
    _session: aiohttp.ClientSession | None = None

    async def start(self) -> RecordingProxy:
        app = web.Application(client_max_size=1024**3)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.origin = f"http://127.0.0.1:{port}"
        self._session = aiohttp.ClientSession(auto_decompress=False)
        return self

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() not in HOP)
        async with self._session.request(request.method, self.upstream + request.path_qs, headers=headers,
                                         data=body or None, allow_redirects=False) as upstream:
            answer = await upstream.read()
            response_headers = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower() not in HOP)
            status = upstream.status
        exchange = Exchange(request.method, request.path, dict(request.query), CIMultiDict(request.headers), body,
                            status, response_headers, answer)
        self.exchanges.append(exchange)
        if request.path in self.cut_once and len(answer) > 1:
            self.cut_once.discard(request.path)
            exchange.cut = True
            response = web.StreamResponse(status=status, headers=response_headers)
            response.content_length = len(answer)
            await response.prepare(request)
            await response.write(answer[: len(answer) // 2])
            assert request.transport is not None
            request.transport.abort()
            return response
        return web.Response(status=status, headers=response_headers, body=answer)
