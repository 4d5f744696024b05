"""Demo platform (aiohttp): the pages a platform shows around Compagnon.

* ``/``: "État de Compagnon : En ligne / Hors ligne" with the version, "Mes certificats", and
  "Tester la configuration de mon poste" running the ``diagnose`` job with live steps and a table.
* ``/signer``: the bidder's "Signer un document": files with a format each, the certificate list
  with its "Conformité", live progress and the generated files.
* ``/depot``: the bidder's "Déposer une offre": files sealed by the ``encrypt`` job to the buyer's
  registered keys and deposited on consultation ``DEMO-2026-002``.
* ``/cles``: the buyer's "Clés de chiffrement": registered keys, and "Ajouter un bi-clé" running
  the ``keygen`` job, which registers the new certificate with the platform.
* ``/ouverture``: the buyer's "Ouverture et analyse": the plis of a consultation, "Ouvrir en ligne"
  (``bids.open``) and "Télécharger les plis chiffrés" (``bids.download``) with live progress.
* ``/js/compagnon.js`` and ``/js/job-view.js``: the platform kit's browser client and job view, served
  from ``bridge_protocol/js`` (the pages' ``common.js`` imports both).
* ``/demo/autorite-demo.crl``: the CRL of the demo identity's authority, the distribution point its
  certificates name, made fresh at each request by ``DemoState.revocation_list`` (given by
  ``compagnon demo``, which owns the identity; the platform knows no key).

The agent ports the page probes come from ``?agent_ports=`` or, by default, from the app's
state (set by ``compagnon demo``), else the protocol's standard ports. ``?min_version=`` sets the
oldest agent version the page accepts (the client's ``minVersion``: "Mise à jour requise" below
it). The pages refuse to be framed unless the state names the embedding origins
(``frame_ancestors``), as a platform that embeds its signing page in another site would. Every page is its own
sections (``static/<page>.html``) inside the frame all pages share (``static/layout.html``: the
header, the navigation bar, the agent's status).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

import bridge_protocol
from bridge_protocol.messages import ALL_PORTS

from .consultations import add_consultation_routes
from .keys import add_key_routes
from .signatures import add_signature_routes

HERE = Path(__file__).parent
STATIC = HERE / "static"
#: The platform kit's browser files (the client, the job view, their declarations), served under ``/js/``.
JS = Path(bridge_protocol.__file__).parent / "js"

#: The hash (CSP Level 3 "hash-source") of the inline style of the agent's verification report
#: (``agent.validation.report_html.STYLE``): the pages open that report as a ``blob:`` document,
#: which inherits this policy, so the policy must allow its style and nothing else inline.
REPORT_STYLE_HASH = "'sha256-MpMC/kN4FdWySfsAT1OBuGMKdn5sK9OA4auLe78Tb7k='"
#: The pages' policy. IPv6 literals are not valid host-sources (CSP Level 3, section 2.3.1), so
#: the agent is reached on 127.0.0.1 and localhost only.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' " + REPORT_STYLE_HASH + "; img-src 'self' data:; "
    "connect-src 'self' ws://127.0.0.1:* ws://localhost:*; frame-ancestors {ancestors}"
)
#: Where the platform publishes the demo authority's CRL (the certificates' distribution point).
CRL_PATH = "/demo/autorite-demo.crl"
_SEMVER = re.compile(r"^\d{1,6}\.\d{1,6}\.\d{1,6}$")


@dataclass
class DemoState:
    """Mutable settings of a running demo platform."""

    agent_ports: list[int] = field(default_factory=lambda: list(ALL_PORTS))
    #: Origins allowed to show the pages in a frame (CSP frame-ancestors); none by default.
    frame_ancestors: list[str] = field(default_factory=list)
    #: Folder of the platform's files and database (kept across restarts); None: a temporary
    #: folder and a database in memory, gone with the app.
    data_dir: Path | None = None
    #: Makes the demo authority's CRL (DER) that the platform publishes at ``CRL_PATH``.
    revocation_list: Callable[[], bytes] | None = None


STATE_KEY = web.AppKey("state", DemoState)


@web.middleware
async def security_headers(request: web.Request, handler):  # type: ignore[no-untyped-def]
    response = await handler(request)
    ancestors = " ".join(request.app[STATE_KEY].frame_ancestors) or "'none'"
    response.headers.setdefault("Content-Security-Policy", CSP.format(ancestors=ancestors))
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


#: The navigation bar of every page: (path, element id, text key of common.js, French text).
NAV = (
    ("/", "nav-home", "navHome", "Accueil"),
    ("/signer", "nav-sign", "navSign", "Signer"),
    ("/depot", "nav-depot", "navDepot", "Déposer une offre"),
    ("/cles", "nav-keys", "navKeys", "Clés de chiffrement"),
    ("/ouverture", "nav-open", "navOpen", "Ouverture et analyse"),
)
#: The pages: path -> (its sections under ``static/``, its title, its script under ``static/``).
PAGES = {
    "/": ("index.html", "Plateforme de démonstration", "demo.js"),
    "/signer": ("signer.html", "Signer un document", "signer.js"),
    "/depot": ("depot.html", "Déposer une offre", "depot.js"),
    "/cles": ("cles.html", "Clés de chiffrement", "cles.js"),
    "/ouverture": ("ouverture.html", "Ouverture et analyse", "ouverture.js"),
}


def _nav(path: str) -> str:
    """The navigation bar, the current page marked with ``aria-current``."""
    links = []
    for href, element_id, key, text in NAV:
        current = ' aria-current="page"' if href == path else ""
        links.append(f'<a id="{element_id}" href="{href}"{current} data-i18n="{key}">{html.escape(text)}</a>')
    return "<nav>" + " · ".join(links) + "</nav>"


def _page(name: str, title: str, script: str):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        return _render(request, name, title, script)

    return handler


def _render(request: web.Request, name: str, title: str, script: str) -> web.Response:
    """``name``'s sections in the shared frame, with this request's agent ports and navigation."""
    page = (STATIC / "layout.html").read_text(encoding="utf-8")
    page = page.replace("{{TITLE}}", html.escape(title)).replace("{{SCRIPT}}", script)
    page = page.replace("{{CONTENT}}", (STATIC / name).read_text(encoding="utf-8").rstrip("\n"))
    page = page.replace("{{AGENT_PORTS}}", html.escape(json.dumps(_ports(request))))
    min_version = request.query.get("min_version", "")
    page = page.replace("{{MIN_VERSION}}", min_version if _SEMVER.match(min_version) else "")
    page = page.replace("{{NAV}}", _nav(request.path))
    return web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})


async def favicon(request: web.Request) -> web.FileResponse:
    """The demo's icon, for the ``<link rel="icon">`` of its pages and for ``/favicon.ico``."""
    return web.FileResponse(STATIC / "favicon.svg", headers={"Content-Type": "image/svg+xml",
                                                             "Cache-Control": "max-age=86400"})


async def client_js(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"]
    if name not in ("compagnon.js", "compagnon.d.ts", "protocol.d.ts", "job-view.js", "job-view.d.ts"):
        raise web.HTTPNotFound()
    return web.FileResponse(JS / name, headers={"Content-Type": "text/javascript; charset=utf-8"})


async def authority_crl(request: web.Request) -> web.Response:
    """The demo authority's CRL (RFC 5280 section 5), issued now: revocation checked, nothing revoked."""
    make = request.app[STATE_KEY].revocation_list
    if make is None:
        raise web.HTTPNotFound()
    return web.Response(body=make(), content_type="application/pkix-crl",
                        headers={"Cache-Control": "no-store"})


def create_demo_app(state: DemoState | None = None) -> web.Application:
    """The demo platform: its pages, the browser client, and the platform endpoints
    (consultations, sealed deposits, opened results, encryption keys, signed files)."""
    app = web.Application(middlewares=[security_headers])
    app[STATE_KEY] = state = state or DemoState()
    for path, (name, title, script) in PAGES.items():
        app.router.add_get(path, _page(name, title, script))
    app.router.add_get("/js/{name}", client_js)
    app.router.add_get("/favicon.svg", favicon)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get(CRL_PATH, authority_crl)
    app.router.add_static("/static/", STATIC)
    add_consultation_routes(app, data_dir=state.data_dir)
    add_key_routes(app)
    add_signature_routes(app)
    return app
