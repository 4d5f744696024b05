"""The console's JSON calls, over the agent service and the console consent.

They are reached only through the server (agent.desktop.console.server), whose middleware has
checked the ``Host``, the ``Origin`` and the session token first. Besides the session calls of the
server (``POST session``, ``GET state?since=N``, the long poll, and ``POST bye``), the API under
``/console/api/`` is: ``POST prompts/{id}`` (answer; the PIN is wrapped in ``Secret`` at once and
never logged), ``GET pairings`` / ``POST pairings/revoke``, ``GET audit`` (entries and
verification) and ``GET audit/export``, ``GET certificates?purpose=``, ``POST jobs`` (the same job
kinds, origin ``console:``, local paths allowed as on the command line), ``POST jobs/{id}/cancel``,
``POST update/check`` and ``POST diagnostic-bundle``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ... import __version__
from ...config import ConfigError, normalize_origin
from ...fsutil import is_disk_full
from ...secret import Secret
from ..consent import AnswerError, ConsoleConsent
from .views import audit_view, job_view, journal_selection

if TYPE_CHECKING:
    from ...service import AgentService
    from ...update.scheduler import UpdateScheduler

log = logging.getLogger(__name__)

#: The console's own origin for its jobs and prompts (never a web origin: normalize_origin refuses it).
CONSOLE_ORIGIN = "console:"
#: Job kinds the console's "Applications" start.
CONSOLE_KINDS = ("sign", "verify", "decrypt", "keygen", "diagnose")
#: Jobs the console lists (newest first).
MAX_JOBS = 40


class ConsoleApi:
    """The JSON handlers of the console, and the state its long poll answers with."""

    def __init__(self, service: AgentService, consent: ConsoleConsent | None, updates: UpdateScheduler | None,
                 changed: Callable[[], None]) -> None:
        self.service = service
        self.consent = consent
        self.updates = updates
        #: Called after a change the console shows (the server wakes its long polls).
        self.changed = changed

    def add_routes(self, router: web.UrlDispatcher) -> None:
        router.add_post("/console/api/prompts/{id}", self._answer)
        router.add_get("/console/api/pairings", self._pairings)
        router.add_post("/console/api/pairings/revoke", self._revoke)
        router.add_get("/console/api/audit", self._audit)
        router.add_get("/console/api/audit/export", self._audit_export)
        router.add_get("/console/api/certificates", self._certificates)
        router.add_post("/console/api/jobs", self._start_job)
        router.add_post("/console/api/jobs/{id}/cancel", self._cancel_job)
        router.add_post("/console/api/update/check", self._update_check)
        router.add_post("/console/api/diagnostic-bundle", self._diagnostic_bundle)

    # -- state ------------------------------------------------------------------------------------
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

    def state(self, version: int) -> dict[str, Any]:
        """What a poll gets: the change counter ``version``, the status, pending prompts and jobs."""
        return {
            "version": version,
            "status": self.status(),
            "prompts": self.consent.pending() if self.consent is not None else [],
            "jobs": [job_view(job.snapshot(), job.origin) for job in self.service.jobs.all_jobs(MAX_JOBS)],
        }

    def _update_view(self) -> dict[str, Any]:
        """The automatic updates as Accueil shows them (off without a scheduler: tests, tools)."""
        return self.updates.view() if self.updates is not None else {"status": "disabled", "enabled": False}

    # -- prompts and pairings ---------------------------------------------------------------------
    async def _answer(self, request: web.Request) -> web.Response:
        if self.consent is None:
            raise web.HTTPNotFound()
        body = await read_json(request)
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

    async def _pairings(self, request: web.Request) -> web.Response:
        return web.json_response({"pairings": self.service.pairings.list()})

    async def _revoke(self, request: web.Request) -> web.Response:
        from ...pairing import PreapprovedSite

        body = await read_json(request)
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

    # -- journal ----------------------------------------------------------------------------------
    async def _audit(self, request: web.Request) -> web.Response:
        def read() -> dict[str, Any]:
            audit = self.service.audit
            verification = audit.verify()
            entries, hidden = journal_selection(audit.entries())
            return {"verification": verification.to_json(), "entries": [audit_view(e) for e in entries],
                    "hidden": hidden}

        return web.json_response(await asyncio.to_thread(read))

    async def _audit_export(self, request: web.Request) -> web.StreamResponse:
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

    # -- certificates, updates, diagnosis ---------------------------------------------------------
    async def _certificates(self, request: web.Request) -> web.Response:
        purpose = request.query.get("purpose", "signing")
        if purpose not in ("signing", "decryption"):
            raise web.HTTPBadRequest(text="purpose")
        infos = await asyncio.to_thread(self.service.keystores.certificate_infos, purpose, request_locale(request))
        from bridge_protocol.typed import to_json

        return web.json_response({"certificates": to_json(infos)})

    async def _update_check(self, request: web.Request) -> web.Response:
        """"Rechercher une mise à jour": check and stage now; the new update view."""
        if self.updates is None:
            return web.json_response(self._update_view())
        view = await self.updates.run_now()
        self.changed()
        return web.json_response(view)

    async def _diagnostic_bundle(self, request: web.Request) -> web.Response:
        """"Créer le fichier de diagnostic": the workstation test, then the ZIP for IT support
        (agent.doctor: no key, PIN, token or personal data) in the user's Documents folder."""
        from ...doctor import default_bundle_path, write_diagnostic_bundle

        job = self.start_job("diagnose", {}, request_locale(request))
        done = await self.service.jobs.wait(job.id)
        target = default_bundle_path()
        try:
            members = await asyncio.to_thread(write_diagnostic_bundle, self.service.settings, target, done.snapshot())
        except OSError as exc:
            log.warning("diagnostic bundle not written: %s", exc)
            # Stable codes: the console says it in the user's language (texts.json, bundleNotWritten).
            return web.json_response({"error": "not_written", "reason": write_failure(exc),
                                      "code": errno.errorcode.get(exc.errno or 0, "?"), "folder": str(target.parent)},
                                     status=500)
        log.info("diagnostic bundle written (%d parts)", len(members))
        return web.json_response({"path": str(target), "members": members})

    # -- jobs -------------------------------------------------------------------------------------
    async def _start_job(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        kind = body.get("kind")
        params = body.get("params", {})
        if kind not in CONSOLE_KINDS or not isinstance(params, dict):
            raise web.HTTPBadRequest(text="kind")
        job = self.start_job(str(kind), params, request_locale(request))
        return web.json_response(job_view(job.snapshot(), job.origin))

    def start_job(self, kind: str, params: dict[str, Any], locale: str = "fr"):  # type: ignore[no-untyped-def]
        """Start ``kind`` for the console (origin ``console:``) with local paths allowed."""
        services = replace(self.service.services, local=True)
        job = self.service.jobs.start(CONSOLE_ORIGIN, kind, params, locale, services=services)
        log.info("console started job %s (%s)", job.id, kind)
        return job

    async def _cancel_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["id"]
        for job in self.service.jobs.all_jobs(10_000):
            if job.id == job_id:
                self.service.jobs.cancel(job.origin, job_id)
                return web.json_response(job_view(job.snapshot(), job.origin))
        raise web.HTTPNotFound()


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object, or HTTP 400."""
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(text="JSON expected") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="JSON object expected")
    return body


def request_locale(request: web.Request) -> str:
    """The language the console answers a request in: English when the browser asks for it, else French."""
    return "en" if request.headers.get("Accept-Language", "").lower().startswith("en") else "fr"


def write_failure(exc: OSError) -> str:
    """Why a file could not be written, as the console names it: disk_full, denied or other."""
    if is_disk_full(exc):
        return "disk_full"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "denied"
    return "other"
