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

The API (JSON): ``GET state?since=N`` (long poll: status, pending prompts, jobs of every origin),
``POST prompts/{id}`` (answer; the PIN is wrapped in ``Secret`` at once and never logged),
``GET pairings`` / ``POST pairings/revoke``, ``GET audit`` (entries and verification),
``GET certificates?purpose=``, ``POST jobs`` (the same job kinds, origin ``console:``, local paths
allowed as on the command line), ``POST jobs/{id}/cancel``, ``POST bye`` (the page closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import json
import logging
import secrets
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

import bridge_protocol
from bridge_protocol.errors import ProtocolError

from .. import __version__
from ..bridge.guards import host_refusal
from ..config import ConfigError, normalize_origin
from ..errors import ReportedError
from ..fsutil import is_disk_full
from ..secret import Secret
from .consent import AnswerError, ConsoleConsent

if TYPE_CHECKING:
    from ..update.scheduler import UpdateScheduler
    from ..service import AgentService

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
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
#: The console's own origin for its jobs and prompts (never a web origin: normalize_origin refuses it).
CONSOLE_ORIGIN = "console:"
#: Sections the console opens at (tray menu, handover); the page falls back to "accueil".
SECTIONS = ("accueil", "applications", "traitements", "sites", "journal", "about")
#: Job kinds the console's "Applications" start.
CONSOLE_KINDS = ("sign", "verify", "decrypt", "keygen", "diagnose")

CODE_TTL = 120.0
MAX_CODES = 16
MAX_SESSIONS = 32
#: A long poll is answered after this long without change.
POLL_SECONDS = 20.0
#: A page that polled within this many seconds is taken as open.
OPEN_GRACE = POLL_SECONDS + 10.0
#: Minimum interval between two answers to one page's polls (progress comes every 250 ms per job).
MIN_POLL_INTERVAL = 0.25
#: Jobs the console lists (newest first).
MAX_JOBS = 40
#: Audit entries the journal section shows (newest).
MAX_AUDIT_ENTRIES = 200
#: Succeeded operations the journal view always shows, whatever came after them.
MAX_AUDIT_SUCCEEDED = 200

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
        self.updates = updates
        self.consent = consent
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
        r.add_post("/console/api/prompts/{id}", self._api_answer)
        r.add_get("/console/api/pairings", self._api_pairings)
        r.add_post("/console/api/pairings/revoke", self._api_revoke)
        r.add_get("/console/api/audit", self._api_audit)
        r.add_get("/console/api/audit/export", self._api_audit_export)
        r.add_get("/console/api/certificates", self._api_certificates)
        r.add_post("/console/api/jobs", self._api_start_job)
        r.add_post("/console/api/jobs/{id}/cancel", self._api_cancel_job)
        r.add_post("/console/api/update/check", self._api_update_check)
        r.add_post("/console/api/diagnostic-bundle", self._api_diagnostic_bundle)
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
            return web.json_response({"error": exc.code.value, "message": exc.message(_locale(request))}, status=400)

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
        body = await _json(request)
        action = body.get("action")
        if not isinstance(action, str):
            raise web.HTTPBadRequest(text="action")
        return web.json_response(await self.control(action, body))

    # -- API --------------------------------------------------------------------------------------
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
        return web.json_response(self.state())

    def status(self) -> dict[str, Any]:
        """Accueil: version, state, bridge, and the automatic updates (agent.update.scheduler)."""
        prompts = self.consent.count if self.consent is not None else 0
        active = self.service.jobs.active()
        state = "attention" if prompts else "busy" if active else "ready"
        settings = self.service.settings
        return {
            "product": "compagnon",
            "version": __version__,
            "state": state,
            "prompts": prompts,
            "active_jobs": active,
            "bridge": f"ws://127.0.0.1:{self.service.port}/bridge",
            "allowed_origins": list(settings.allowed_origins),
            "consent_policy": settings.consent_policy,
            "consent_timeout": settings.consent_timeout,
            "update": self._update_view(),
        }

    def state(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "status": self.status(),
            "prompts": self.consent.pending() if self.consent is not None else [],
            "jobs": [job_view(job.snapshot(), job.origin) for job in self.service.jobs.all_jobs(MAX_JOBS)],
        }

    async def _api_answer(self, request: web.Request) -> web.Response:
        if self.consent is None:
            raise web.HTTPNotFound()
        body = await _json(request)
        # The PIN is wrapped at once; the body (and its text) goes out of scope here.
        raw_pin = body.pop("pin", None)
        pin = Secret(raw_pin) if isinstance(raw_pin, str) and raw_pin else None
        raw_confirm = body.pop("pin_confirm", None)
        confirm = Secret(raw_confirm) if isinstance(raw_confirm, str) and raw_confirm else None
        del raw_pin, raw_confirm
        prompt_id = request.match_info["id"]
        try:
            if "paths" in body:
                paths = body["paths"]
                if paths is not None and (not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)):
                    raise web.HTTPBadRequest(text="paths")
                self.consent.answer_pick(prompt_id, paths[:1000] if paths is not None else None)
            else:
                approved = body.get("approved")
                if not isinstance(approved, bool):
                    raise web.HTTPBadRequest(text="approved")
                self.consent.answer(prompt_id, approved, pin, confirm)
        except AnswerError as exc:
            return web.json_response({"error": exc.reason, "detail": exc.detail},
                                     status=404 if exc.reason == "gone" else 400)
        return web.json_response({"ok": True})

    async def _api_pairings(self, request: web.Request) -> web.Response:
        return web.json_response({"pairings": self.service.pairings.list()})

    async def _api_revoke(self, request: web.Request) -> web.Response:
        from ..pairing import PreapprovedSite

        body = await _json(request)
        try:
            origin = normalize_origin(str(body.get("origin", "")))
        except ConfigError:
            raise web.HTTPBadRequest(text="origin") from None
        try:
            revoked = await asyncio.to_thread(self.service.pairings.revoke, origin)
        except PreapprovedSite:
            return web.json_response({"error": "preapproved"}, status=409)
        self.changed()
        return web.json_response({"revoked": revoked, "pairings": self.service.pairings.list()})

    async def _api_audit(self, request: web.Request) -> web.Response:
        def read() -> dict[str, Any]:
            audit = self.service.audit
            verification = audit.verify()
            entries, hidden = journal_selection(audit.entries())
            return {"verification": verification.to_json(), "entries": [audit_view(e) for e in entries],
                    "hidden": hidden}

        return web.json_response(await asyncio.to_thread(read))

    async def _api_audit_export(self, request: web.Request) -> web.StreamResponse:
        """"Exporter le journal": the journal's exact bytes (JSON Lines), copied while its chain is
        verified (AuditLog.export); ``X-Compagnon-Audit`` says ``intact`` or ``broken``."""
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
        try:
            verification = await asyncio.to_thread(
                self.service.audit.export, Path("journal"), lambda _target: contextlib.nullcontext(spool))
            spool.seek(0)
            day = time.strftime("%Y-%m-%d")
            response = web.StreamResponse(headers={
                "Content-Type": "application/x-ndjson",
                "Content-Disposition": f'attachment; filename="journal-compagnon-{day}.jsonl"',
                "X-Compagnon-Audit": "intact" if verification.intact else "broken",
            })
            await response.prepare(request)
            while chunk := await asyncio.to_thread(spool.read, 256 * 1024):
                await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            spool.close()

    async def _api_certificates(self, request: web.Request) -> web.Response:
        purpose = request.query.get("purpose", "signing")
        if purpose not in ("signing", "decryption"):
            raise web.HTTPBadRequest(text="purpose")
        infos = await asyncio.to_thread(self.service.keystores.certificate_infos, purpose, _locale(request))
        from bridge_protocol.typed import to_json

        return web.json_response({"certificates": to_json(infos)})

    async def _api_update_check(self, request: web.Request) -> web.Response:
        """"Rechercher une mise à jour": check and stage now; the new update view."""
        if self.updates is None:
            return web.json_response(self._update_view())
        view = await self.updates.run_now()
        self.changed()
        return web.json_response(view)

    def _update_view(self) -> dict[str, Any]:
        """The automatic updates as Accueil shows them (off without a scheduler: tests, tools)."""
        return self.updates.view() if self.updates is not None else {"status": "disabled", "enabled": False}

    async def _api_diagnostic_bundle(self, request: web.Request) -> web.Response:
        """"Créer le fichier de diagnostic": the workstation test, then the ZIP for IT support
        (agent.doctor: no key, PIN, token or personal data) in the user's Documents folder."""
        from ..doctor import default_bundle_path, write_diagnostic_bundle

        job = self.start_job("diagnose", {}, _locale(request))
        done = await self.service.jobs.wait(job.id)
        target = default_bundle_path()
        try:
            members = await asyncio.to_thread(write_diagnostic_bundle, self.service.settings, target, done.snapshot())
        except OSError as exc:
            log.warning("diagnostic bundle not written: %s", exc)
            # Stable codes: the console says it in the user's language (texts.json, bundleNotWritten).
            return web.json_response({"error": "not_written", "reason": _write_failure(exc),
                                      "code": errno.errorcode.get(exc.errno or 0, "?"), "folder": str(target.parent)},
                                     status=500)
        log.info("diagnostic bundle written (%d parts)", len(members))
        return web.json_response({"path": str(target), "members": members})

    async def _api_start_job(self, request: web.Request) -> web.Response:
        body = await _json(request)
        kind = body.get("kind")
        params = body.get("params", {})
        if kind not in CONSOLE_KINDS or not isinstance(params, dict):
            raise web.HTTPBadRequest(text="kind")
        job = self.start_job(str(kind), params, _locale(request))
        return web.json_response(job_view(job.snapshot(), job.origin))

    def start_job(self, kind: str, params: dict[str, Any], locale: str = "fr"):  # type: ignore[no-untyped-def]
        """Start ``kind`` for the console (origin ``console:``) with local paths allowed."""
        services = replace(self.service.services, local=True)
        job = self.service.jobs.start(CONSOLE_ORIGIN, kind, params, locale, services=services)
        log.info("console started job %s (%s)", job.id, kind)
        return job

    async def _api_cancel_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["id"]
        for job in self.service.jobs.all_jobs(10_000):
            if job.id == job_id:
                self.service.jobs.cancel(job.origin, job_id)
                return web.json_response(job_view(job.snapshot(), job.origin))
        raise web.HTTPNotFound()


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="JSON expected") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="JSON object expected")
    return body


def _write_failure(exc: OSError) -> str:
    """Why a file could not be written, as the console names it: disk_full, denied or other."""
    if is_disk_full(exc):
        return "disk_full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "denied"
    return "other"


def _locale(request: web.Request) -> str:
    return "en" if request.headers.get("Accept-Language", "").lower().startswith("en") else "fr"


#: Result members the console shows of a finished job's files.
_FILE_FIELDS = ("source", "status", "output", "folder", "name", "format", "extracted", "uploaded", "error", "pli")


def job_view(snapshot: dict[str, Any], origin: str) -> dict[str, Any]:
    """A job as the console shows it: the snapshot without its full result, the owner, and the
    result's essentials (consultation reference, outputs, verdict, key location)."""
    view = {k: v for k, v in snapshot.items() if k != "result"}
    view["origin"] = origin
    result = snapshot.get("result")
    summary: dict[str, Any] = {}
    if isinstance(result, dict):
        for key in ("reference", "title", "consultation", "indication", "report_name", "location", "store",
                    "signed", "decrypted", "opened", "failed", "uploaded", "envelopes", "folder", "status", "message"):
            value = result.get(key)
            if key in result and (value is None or isinstance(value, (str, int, float, bool))):
                summary[key] = value
        files = result.get("files")
        if isinstance(files, list):
            summary["files"] = [{k: f.get(k) for k in _FILE_FIELDS if k in f} for f in files[:50] if isinstance(f, dict)]
            summary["files_total"] = len(files)
        checks = result.get("checks")
        if isinstance(checks, list):
            summary["checks"] = checks[:20]
    subject = snapshot.get("subject")
    if isinstance(subject, dict):  # known while the job runs; the result may say more at its end
        for key in ("reference", "title"):
            if isinstance(subject.get(key), str):
                summary.setdefault(key, subject[key])
    view["summary"] = summary
    return view


def journal_selection(records: Iterable[dict[str, Any]], limit: int = MAX_AUDIT_ENTRIES,
                      kept_succeeded: int = MAX_AUDIT_SUCCEEDED) -> tuple[list[dict[str, Any]], int]:
    """The journal entries the console shows, newest first, and how many older ones it leaves out.

    The newest ``limit`` entries, and in any case the newest ``kept_succeeded`` operations that
    succeeded (signatures, openings, key generations, pairings the user approved): a site that
    makes hundreds of jobs fail can push failures out of view, never the user's own operations.
    The whole journal stays in the file and in its export.
    """
    recent: deque[dict[str, Any]] = deque(maxlen=limit)
    succeeded: deque[dict[str, Any]] = deque(maxlen=kept_succeeded)
    total = 0
    for record in records:
        total += 1
        recent.append(record)
        if record.get("result") == "succeeded":
            succeeded.append(record)
    shown = {id(r): r for r in (*succeeded, *recent)}
    ordered = sorted(shown.values(), key=lambda r: r.get("seq") or 0, reverse=True)
    return ordered, total - len(ordered)


def audit_view(record: dict[str, Any]) -> dict[str, Any]:
    """An audit record for the journal table (names and digests only, as the journal holds)."""
    certificate = record.get("certificate") if isinstance(record.get("certificate"), dict) else None
    return {
        "seq": record.get("seq"),
        "time": record.get("time"),
        "origin": record.get("origin"),
        "action": record.get("action"),
        "result": record.get("result"),
        "error": record.get("error"),
        "job": record.get("job"),
        "inputs": [{"name": i.get("name"), "size": i.get("size"), "sha256": i.get("sha256")}
                   for i in record.get("inputs") or [] if isinstance(i, dict)][:20],
        "outputs": [{"name": o.get("name"), "status": o.get("status")}
                    for o in record.get("outputs") or [] if isinstance(o, dict)][:20],
        "certificate": {"subject": certificate.get("subject"), "sha256": certificate.get("sha256")} if certificate else None,
        "hash": record.get("hash"),
    }
