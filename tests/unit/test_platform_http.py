"""Promise 6: the agent reaches only the origin of the job, redirects included."""

from __future__ import annotations

import pytest
from aiohttp import web

from agent.errors import ReportedError
from agent.platform_http import OriginBoundClient


async def _serve(routes: web.RouteTableDef) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.add_routes(routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


async def test_same_origin_redirects_are_followed_and_others_refused() -> None:
    other_routes = web.RouteTableDef()
    other_hits = []

    @other_routes.get("/secret")
    async def secret(request: web.Request) -> web.Response:
        other_hits.append(1)
        return web.Response(text="intranet")

    other_runner, other = await _serve(other_routes)
    routes = web.RouteTableDef()

    @routes.get("/ok")
    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    @routes.get("/hop")
    async def hop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    @routes.get("/away")
    async def away(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{other}/secret")

    runner, origin = await _serve(routes)
    try:
        async with OriginBoundClient(origin) as client:
            async with client.request("GET", "/hop") as response:
                assert await response.text() == "ok"
            async with client.request("GET", f"{origin}/ok") as response:
                assert response.status == 200
            for url in (f"{other}/secret", "//evil.example/x", "file:///etc/passwd", "/away",
                        origin.replace("http:", "https:") + "/ok", "http://user@" + origin[7:] + "/ok"):
                with pytest.raises(ReportedError) as err:
                    async with client.request("GET", url):
                        pass
                assert err.value.code.value == "ORIGIN_NOT_ALLOWED", url
        assert other_hits == []
    finally:
        await runner.cleanup()
        await other_runner.cleanup()


async def test_unreachable_platform_is_a_stable_error() -> None:
    async with OriginBoundClient("http://127.0.0.1:9", timeout=2) as client:
        with pytest.raises(ReportedError) as err:
            async with client.request("GET", "/"):
                pass
    assert err.value.code.value == "PLATFORM_UNREACHABLE"
