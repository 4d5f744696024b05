"""The local console: an aiohttp app on its own loopback port, for the user of this session only.

Where it is served: ``http://127.0.0.1:PORT/console/`` on a port of its own (``[console] port``,
by default one the system picks at each launch), not on the bridge's port. The bridge port is the
platforms' door: its paths, guards and limits are the protocol's (PROTOCOL.md), and every site
allowed there can reach it. The console is the user's door: a different origin (so no page of a
platform ever shares an origin, a storage or a service worker with it), its own guards, and no
change to what the bridge exposes.

Who may use it (the secret scheme):

* At each launch the agent has no console session. To open the console, the tray (or a second
  launch, or a prompt arriving while no console is open) asks ``ConsoleServer.url()``: a new
  **one-time code** (256 random bits, valid 2 minutes, spent on first use) in the fragment,
  ``http://127.0.0.1:PORT/console/#k=CODE``. A fragment never goes to a server, a log or a
  ``Referer``.
* The page swaps the code (``POST /console/api/session``, header ``X-Compagnon-Code``) for a
  **session token** (256 random bits, in memory, gone when the agent stops), keeps it in
  ``sessionStorage`` (scoped to the console's origin, port included, and to the tab) and sends
  it as the ``X-Compagnon-Console`` header on every API call; it removes the code from the
  address bar. A header, not a cookie: cookies are not isolated by port, so a cookie for
  ``127.0.0.1`` would also be sent to every other web server on ``127.0.0.1``.
* Every API call without a valid token: HTTP 403. Any request whose ``Origin`` is not the
  console's own: 403 (state-changing calls must carry the console's ``Origin``); a
  ``Sec-Fetch-Site`` other than ``same-origin``/``none``: 403; ``OPTIONS`` (CORS preflight):
  403. No CORS header is ever sent, so no other origin can read an answer. ``Host`` must be a
  loopback literal with the console's port (DNS rebinding), as on the bridge.
* Every answer carries ``Content-Security-Policy: default-src 'self'; frame-ancestors 'none'``
  (plus ``base-uri``/``form-action``/``object-src`` restrictions), ``X-Frame-Options: DENY``,
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer`` and ``Cache-Control:
  no-store``.
* ``POST /console/control`` is the single-instance handover (agent.desktop.instance): a second
  launch of the same user asks the running agent to open its console. It needs the control token
  of ``state_dir/desktop.json`` (0600) and refuses any request that has an ``Origin`` at all
  (browsers always send one on POST). It can open the console, start a diagnosis, report the
  state and quit — never read anything from the console.

Here: the app, its routes, the guards above and the session calls (``POST /console/api/session``,
``GET /console/api/state?since=N``, the long poll answering with status, pending prompts and jobs
of every origin, and ``POST /console/api/bye``, the page closes). The other JSON calls are in
agent.desktop.console.api, what they show of jobs and of the journal in agent.desktop.console.views.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

import bridge_protocol
from bridge_protocol.errors import ProtocolError

from ...errors import ReportedError
from ...loopback_guards import host_refusal
from ..consent import ConsoleConsent
from .api import ConsoleApi, read_json, request_locale

if TYPE_CHECKING:
    from ...service import AgentService
    from ...update.scheduler import UpdateScheduler

log = logging.getLogger(__name__)

STATIC = Path(__file__).parents[1] / "static"
#: The platform kit's browser files (bridge_protocol/js): the console draws its jobs with the kit's
#: job view, the same one the demo pages use.
KIT = Path(bridge_protocol.__file__).parent / "js"
#: The files the page is made of: name -> (where it is, its type). Nothing else is served.
STATIC_FILES = {
    "console.js": (STATIC / "console.js", "text/javascript"),
    "console.css": (STATIC / "console.css", "text/css"),
    "texts.json": (STATIC / "texts.json", "application/json"),
    "job-view.js": (KIT / "job-view.js", "text/javascript"),
}
#: Sections the console opens at (tray menu, handover); the page falls back to "accueil".
SECTIONS = ("accueil", "applications", "traitements", "sites", "journal", "about")

CODE_TTL = 120.0
MAX_CODES = 16
MAX_SESSIONS = 32
#: A long poll is answered after this long without change.
POLL_SECONDS = 20.0
#: A page that polled within this many seconds is taken as open.
OPEN_GRACE = POLL_SECONDS + 10.0
#: Minimum interval between two answers to one page's polls (progress comes every 250 ms per job).
MIN_POLL_INTERVAL = 0.25

CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

SESSION_HEADER = "X-Compagnon-Console"
CODE_HEADER = "X-Compagnon-Code"
CONTROL_HEADER = "X-Compagnon-Control"

CONSOLE_KEY = web.AppKey("console", object)

ControlHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _forbidden(request: web.Request, reason: str) -> web.Response:
    # Never the query string or a header value that could hold a secret: method, path, reason.
    log.warning("console: refused %s %s: %s", request.method, request.path[:200], reason)
    return web.json_response({"error": "forbidden"}, status=403)


class ConsoleServer:
    """The console's HTTP server, bound to one agent service and its console consent."""

    def __init__(self, service: AgentService, consent: ConsoleConsent | None, *,
                 control: ControlHandler | None = None, port: int = 0, updates: UpdateScheduler | None = None) -> None:
        self.service = service
        self.control = control
        self.requested_port = port
        self.port = 0
        self.control_token = secrets.token_urlsafe(32)
        self._codes: dict[str, float] = {}
        self._sessions: dict[str, float] = {}
        self._polling: dict[str, int] = {}
        self._last_answer: dict[str, float] = {}
        self.version = 0
        self._tick = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._runner: web.AppRunner | None = None
        #: The JSON calls other than the session's.
        self.api = ConsoleApi(service, consent, updates, self.changed)
        service.jobs.add_listener(lambda origin, snapshot: self.changed())
        if consent is not None:
            consent.add_listener(self.changed)

    # -- life -----------------------------------------------------------------------------------
    @property
    def origins(self) -> frozenset[str]:
        return frozenset({f"http://127.0.0.1:{self.port}", f"http://localhost:{self.port}"})

    async def start(self) -> int:
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.requested_port, reuse_port=False).start()
        self.port = int(self._runner.addresses[0][1])  # the port the system chose when 0
        log.info("console listening on http://127.0.0.1:%d/console/", self.port)
        return self.port

    async def stop(self) -> None:
        self._tick.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def add_listener(self, listener: Callable[[], None]) -> None:
        """``listener()`` after each change the console shows (jobs, prompts, pairings)."""
        self._listeners.append(listener)

    def changed(self) -> None:
        self.version += 1
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:
                log.exception("console listener failed")

    # -- codes and sessions -----------------------------------------------------------------------
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/console/"

    def url(self, section: str | None = None) -> str:
        """A console URL with a fresh one-time code (and the section to show)."""
        now = time.monotonic()
        self._codes = {c: t for c, t in self._codes.items() if t > now}
        while len(self._codes) >= MAX_CODES:
            self._codes.pop(next(iter(self._codes)))
        code = secrets.token_urlsafe(32)
        self._codes[code] = now + CODE_TTL
        fragment = f"k={code}"
        if section in SECTIONS:
            fragment += f"&s={section}"
        return f"{self.base_url()}#{fragment}"

    def _spend_code(self, code: str) -> bool:
        now = time.monotonic()
        for known, expires in list(self._codes.items()):
            if _equal(known, code):
                del self._codes[known]
                return expires > now
        return False

    def _new_session(self) -> str:
        while len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions, key=self._sessions.__getitem__)
            self._sessions.pop(oldest)
            self._last_answer.pop(oldest, None)
        token = secrets.token_urlsafe(32)
        self._sessions[token] = time.monotonic()
        return token

    def _session(self, request: web.Request) -> str | None:
        given = request.headers.get(SESSION_HEADER, "")
        if not given:
            return None
        for token in self._sessions:
            if _equal(token, given):
                return token
        return None

    @property
    def page_open(self) -> bool:
        """Whether a console page is open (polling now or a moment ago)."""
        now = time.monotonic()
        return any(self._polling.values()) or any(now - seen < OPEN_GRACE for seen in self._sessions.values())

    # -- the app ----------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._guard], client_max_size=1024 * 1024)
        app[CONSOLE_KEY] = self
        r = app.router
        r.add_get("/console", self._redirect)
        r.add_get("/console/", self._page)
        r.add_get("/console/static/{name}", self._static)
        r.add_post("/console/control", self._control)
        r.add_post("/console/api/session", self._api_session)
        r.add_get("/console/api/state", self._api_state)
        r.add_post("/console/api/bye", self._api_bye)
        self.api.add_routes(r)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        try:
            response = await self._checked(request, handler)
        except web.HTTPException as exc:  # 400, 404, redirects: the same headers
            for name, value in SECURITY_HEADERS.items():
                exc.headers[name] = value
            raise
        for name, value in SECURITY_HEADERS.items():
            response.headers[name] = value
        return response

    async def _checked(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        reason = host_refusal(request.headers, self.port, request.raw_path)
        if reason is not None:
            return _forbidden(request, reason)
        if request.method == "OPTIONS":
            return _forbidden(request, "no CORS")
        origins = request.headers.getall("Origin", [])
        path = request.path
        if path == "/console/control":
            if origins:
                return _forbidden(request, "control from a browser")
            return await handler(request)
        if len(origins) > 1 or (origins and origins[0] not in self.origins):
            return _forbidden(request, "foreign Origin")
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if fetch_site is not None and fetch_site not in ("same-origin", "none"):
            return _forbidden(request, f"Sec-Fetch-Site {fetch_site[:20]}")
        if path.startswith("/console/api/"):
            if request.method != "GET" and not origins:
                return _forbidden(request, "missing Origin")
            if path != "/console/api/session":
                token = self._session(request)
                if token is None:
                    return _forbidden(request, "no console session")
                request["session"] = token
        try:
            return await handler(request)
        except (ProtocolError, ReportedError) as exc:
            return web.json_response({"error": exc.code.value, "message": exc.message(request_locale(request))}, status=400)

    # -- page -------------------------------------------------------------------------------------
    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/console/")

    async def _page(self, request: web.Request) -> web.Response:
        """The page's shell: it shows nothing of the agent until it has a session."""
        return web.Response(body=(STATIC / "console.html").read_bytes(), content_type="text/html", charset="utf-8")

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        served = STATIC_FILES.get(name)
        if served is None:
            raise web.HTTPNotFound()
        path, kind = served
        return web.Response(body=path.read_bytes(), content_type=kind, charset="utf-8")

    # -- control (second launch) ------------------------------------------------------------------
    async def _control(self, request: web.Request) -> web.Response:
        if self.control is None or not _equal(request.headers.get(CONTROL_HEADER, "") or "-", self.control_token):
            return _forbidden(request, "bad control token")
        body = await read_json(request)
        action = body.get("action")
        if not isinstance(action, str):
            raise web.HTTPBadRequest(text="action")
        return web.json_response(await self.control(action, body))

    # -- session calls (the rest of the API: agent.desktop.console.api) ------------------------
    async def _api_session(self, request: web.Request) -> web.Response:
        code = request.headers.get(CODE_HEADER, "")
        if not code or not self._spend_code(code):
            return _forbidden(request, "unknown or spent console code")
        token = self._new_session()
        log.info("console session opened")
        return web.json_response({"token": token})

    async def _api_bye(self, request: web.Request) -> web.Response:
        self._sessions[request["session"]] = 0.0
        return web.json_response({"ok": True})

    async def _api_state(self, request: web.Request) -> web.Response:
        session = request["session"]
        try:
            since = int(request.query.get("since", "-1"))
        except ValueError:
            since = -1
        self._sessions[session] = time.monotonic()
        self._polling[session] = self._polling.get(session, 0) + 1
        try:
            if since == self.version:
                tick = self._tick
                try:
                    await asyncio.wait_for(tick.wait(), POLL_SECONDS)
                except TimeoutError:
                    pass
            wait = MIN_POLL_INTERVAL - (time.monotonic() - self._last_answer.get(session, 0.0))
            if wait > 0:
                await asyncio.sleep(wait)
        finally:
            self._polling[session] -= 1
            if not self._polling[session]:
                del self._polling[session]
            if session in self._sessions:
                self._sessions[session] = time.monotonic()
        self._last_answer[session] = time.monotonic()
        return web.json_response(self.api.state(self.version))
