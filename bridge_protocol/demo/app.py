"""Demo platform (aiohttp): the pages a platform shows around Compagnon.

* ``/``: "État de Compagnon : En ligne / Hors ligne" with the version, "Mes certificats", and
  "Tester la configuration de mon poste" running the ``diagnose`` job with live steps and a table.
* ``/signer``: the bidder's "Signer un document": files with a format each, the certificate list
  with its "Conformité", live progress and the generated files.
* ``/static/compagnon.js``: the browser client, served from ``bridge_protocol/js``.

The agent ports the page probes come from ``?agent_ports=`` or, by default, from the app's
state (set by ``compagnon demo``), else the protocol's standard ports.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from ..messages import PORTS
from .consultations import add_consultation_routes

HERE = Path(__file__).parent
STATIC = HERE / "static"
JS = HERE.parent / "js"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self' ws://127.0.0.1:* ws://localhost:* ws://[::1]:*; frame-ancestors 'none'"
)


@dataclass
class DemoState:
    """Mutable settings of a running demo platform."""

    agent_ports: list[int] = field(default_factory=lambda: list(PORTS))


STATE_KEY = web.AppKey("state", DemoState)


@web.middleware
async def security_headers(request: web.Request, handler):  # type: ignore[no-untyped-def]
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def _ports(request: web.Request) -> list[int]:
    raw = request.query.get("agent_ports", "")
    try:
        ports = [int(p) for p in raw.split(",") if p.strip()]
    except ValueError:
        ports = []
    ports = [p for p in ports if 1 <= p <= 65535][:8]
    return ports or request.app[STATE_KEY].agent_ports


def _page(name: str):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        return _render(request, name)

    return handler


def _render(request: web.Request, name: str) -> web.Response:
    page = (STATIC / name).read_text(encoding="utf-8")
    page = page.replace("{{AGENT_PORTS}}", html.escape(json.dumps(_ports(request))))
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})


async def client_js(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in ("compagnon.js", "compagnon.d.ts"):
        raise web.HTTPNotFound()
    return web.FileResponse(JS / name, headers={"Content-Type": "text/javascript; charset=utf-8"})


def create_demo_app(state: DemoState | None = None) -> web.Application:
    app = web.Application(middlewares=[security_headers])
    app[STATE_KEY] = state or DemoState()
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/signer", _page("signer.html"))
    app.router.add_get("/js/{name}", client_js)
    app.router.add_static("/static/", STATIC)
    add_consultation_routes(app)
    return app
