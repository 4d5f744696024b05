"""The running agent: settings, consent, pairings, jobs and the bridge server, wired together.

Binding (docs/SECURITY.md promise 1): the bridge listens on 127.0.0.1 and, when the system has IPv6, on
::1, never on a wildcard address. The port is the configured one or, when it is taken and
fallback is on, the next free one up to 47233, then the shared range 47234-47329 from this user's
own place in it (many users' agents on one host).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bridge_protocol.messages import ALL_PORTS, PORTS, user_port_order

from . import __version__
from .bridge.connection import Connection, JobUpdate
from .bridge.rpc import Dispatcher
from .bridge.server import create_app
from .config import Settings
from bridge_protocol.errors import ErrorCode, ProtocolError

from .audit import AuditLog
from .consent import ConsentProvider, ConsentRequest, PolicyConsent
from .consent.limits import RateLimitedConsent
from .consent.terminal import TerminalConsent
from .files import FileRegistry
from .fork_channel import connector
from .fork_server import ForkServer
from .bridge.admission import Admission, admitting_runner, listen, raise_open_files_limit
from .fsutil import atomic_write_bytes, private_folder
from .isolation import use_fork_server
from .jobs.context import JobServices
from .jobs.kind import KindRegistry
from .jobs.manager import JobManager
from .i18n import Text
from .jobs.store import JobStore
from .keystores.registry import KeyStoreRegistry
from .kinds.registry import KINDS, platform_client
from .pairing import Pairings, test_codes_folder
from .update.runtime import clear_ready, write_ready

log = logging.getLogger(__name__)

_CERTIFICATES_SUMMARY = Text(
    fr="Ce site demande la liste de vos certificats (nom, organisation, émetteur, validité). "
    "Aucune clé privée n'est transmise.",
    en="This site asks for the list of your certificates (name, organisation, issuer, validity). "
    "No private key is sent.",
)

LOOPBACK_HOSTS = ("127.0.0.1", "::1")


class PortsUnavailable(OSError):
    """None of the ports the agent may use is free."""


def _user_key() -> int:
    """A number that is this user's, the same in every session: the uid, else a hash of the name."""
    if hasattr(os, "getuid"):
        return os.getuid()
    import getpass
    import hashlib

    return int.from_bytes(hashlib.sha256(getpass.getuser().lower().encode()).digest()[:4], "big")


def _settle_memory(kinds: KindRegistry) -> None:
    """Before listening: import every job kind now (the first ``jobs.start`` of a kind would
    otherwise stall the loop tens of milliseconds importing it), then move what start-up built
    out of the collector's reach (``gc.freeze``): full collections then walk only what the agent
    allocates while it runs, and no longer pause every page for tens of milliseconds."""
    import gc

    for name in kinds.names():
        kinds.load(name)
    gc.collect()
    gc.freeze()


def make_consent(settings: Settings, interactive: bool,
                 native: Callable[[], ConsentProvider] | None = None) -> ConsentProvider:
    """The consent provider a headless agent uses (the desktop UI plugs in its own).

    ``console`` is answered by agent.desktop (its runtime passes a ConsoleConsent); a bare
    service without the console cannot ask, and says so (CONSENT_UNAVAILABLE). ``native`` shows
    the agent's own windows: the shell that has them passes ``native`` (agent.desktop.runtime
    builds a NativeConsent), so the service never imports the desktop; without it, ``native``
    cannot ask either.
    """
    if settings.consent_policy == "approve-all-for-tests":
        log.warning("consent policy approve-all-for-tests: every request is approved WITHOUT asking")
        return PolicyConsent(approve=True)
    if settings.consent_policy == "prompt" and interactive:
        return TerminalConsent(settings.consent_timeout)
    if settings.consent_policy == "native" and native is not None:
        return native()
    return _NoPrompt() if settings.consent_policy in ("prompt", "console", "native") else PolicyConsent(approve=False)


class _NoPrompt(ConsentProvider):
    """``prompt`` without any way to prompt: nothing is approved, and the page is told why."""

    async def ask(self, request):  # type: ignore[no-untyped-def]
        raise ProtocolError(ErrorCode.CONSENT_UNAVAILABLE)


@dataclass
class AgentService:
    settings: Settings
    consent: ConsentProvider
    port: int = 0
    connections: set[Connection] = field(default_factory=set)

    def __post_init__(self) -> None:
        # Every prompt a page causes goes through the per-origin limits (one on screen at a time,
        # a few per minute), whichever provider answers: terminal, policy or a desktop UI.
        if not isinstance(self.consent, RateLimitedConsent):
            self.consent = RateLimitedConsent(self.consent, self.settings.consent_max_prompts_per_minute)
        state = self.settings.state_dir
        private_folder(state, own=True)
        self.audit = AuditLog.in_state_dir(state)
        self.pairings = Pairings(state / "pairings.json", self.settings.preapproved_origins, self.consent, self.audit,
                                 test_codes=test_codes_folder(state, self.settings.consent_policy))
        self.keystores = KeyStoreRegistry(self.settings)
        self.files = FileRegistry(state / "uploads", self.settings.max_upload_bytes,
                                  site_bytes=self.settings.site_upload_bytes, site_files=self.settings.site_files)
        self.services = JobServices(settings=self.settings, consent=self.consent, files=self.files,
                                    keystores=self.keystores)
        self.jobs = JobManager(
            self.services, JobStore(state / "jobs", self.settings.jobs_keep), self.settings.max_concurrent_jobs,
            audit=self.audit, per_site=self.settings.max_jobs_per_site,
            max_pending_per_site=self.settings.max_pending_jobs_per_site, kinds=KINDS, platform_client=platform_client,
        )
        self.jobs.add_listener(self._broadcast)
        self._certificates_allowed: set[str] = set()
        self.dispatcher = Dispatcher(self)
        self._runner: web.AppRunner | None = None
        self.fork_server = ForkServer(state)

    def _broadcast(self, origin: str, snapshot: dict[str, Any]) -> None:
        """Send a job's change to the authenticated connections of its own origin only (promises 3
        and 7): a connection that merely sent the site's Origin hears nothing."""
        update = JobUpdate(snapshot)  # encoded once for all of them
        for conn in self.connections:
            if conn.origin == origin and conn.auth.key is not None:
                conn.job_updated(update)

    async def consent_certificates(self, origin: str, locale: str) -> None:
        """Ask once per site and per run before releasing the certificate list (promise 4)."""
        if origin in self._certificates_allowed:
            return
        decision = await self.consent.ask(
            ConsentRequest(origin=origin, action="certificates", summary=_CERTIFICATES_SUMMARY.render(locale))
        )
        if not decision.approved:
            raise ProtocolError(ErrorCode.USER_CANCELLED)
        self._certificates_allowed.add(origin)

    def candidate_ports(self) -> list[int]:
        """The configured port, then (with fallback) the next of the first four, then the shared
        range from this user's own place in it (bridge_protocol.messages.SHARED_PORTS)."""
        port = self.settings.port
        if not self.settings.port_fallback or port not in ALL_PORTS:
            return [port]
        first = [p for p in PORTS if p >= port] if port in PORTS else [port]
        return first + [p for p in user_port_order(_user_key()) if p not in first]

    async def start(self) -> int:
        """Listen on loopback; returns the port."""
        _settle_memory(self.jobs.kinds)
        self.admission = Admission.for_limit(raise_open_files_limit(), same_user_only=self.settings.same_user_only)
        self._runner = admitting_runner(create_app(self), self.admission, access_log=None, handle_signals=False,
                                        shutdown_timeout=1.0)
        await self._runner.setup()
        last_error: OSError | None = None
        for port in self.candidate_ports():
            self.port = port
            try:
                await listen(self._runner, "127.0.0.1", port)
            except OSError as exc:
                if exc.errno not in (errno.EADDRINUSE, errno.EACCES, getattr(errno, "WSAEADDRINUSE", -1)):
                    raise
                last_error = exc
                continue
            try:
                await listen(self._runner, "::1", port)
            except OSError as exc:
                log.info("not listening on [::1]:%d (%s)", port, exc.strerror)
            break
        else:
            await self._runner.cleanup()
            raise PortsUnavailable(f"no free port among {self.candidate_ports()}: {last_error}")
        self.services.port = self.port
        # warm verification workers (agent.fork_server), ready in the background; not for an agent
        # that found no port (nothing would stop the server before the process ends)
        if self.settings.verify_warm_workers and self.fork_server.start():
            use_fork_server(connector(self.fork_server.path))
        self._write_runtime_file()
        write_ready(self.settings.state_dir, self.port)  # health signal for the update launcher
        log.info("Compagnon %s listening on ws://127.0.0.1:%d/bridge", __version__, self.port)
        return self.port

    def _write_runtime_file(self) -> None:
        """``state_dir/agent.json``: how the CLI finds the running agent."""
        info = {"pid": os.getpid(), "port": self.port, "version": __version__, "python": sys.executable}
        atomic_write_bytes(self.settings.state_dir / "agent.json", json.dumps(info).encode())

    async def stop(self) -> None:
        await self.jobs.shutdown()
        for conn in list(self.connections):
            await conn.ws.close(code=1001, message=b"agent stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        (self.settings.state_dir / "agent.json").unlink(missing_ok=True)
        clear_ready(self.settings.state_dir)
        use_fork_server(None)
        self.fork_server.stop()
