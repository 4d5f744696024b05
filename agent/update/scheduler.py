"""The running agent's automatic updates: check the signed manifest and stage a newer version a
little after start, then every ``[update] check_interval_hours``; the console's "Rechercher une
mise à jour" runs the same thing at once. The switch happens at the next start (the launcher).

Only one run at a time; the work (HTTPS downloads, building the version's venv) runs in a thread,
so the bridge stays responsive. What the console shows is ``view()``:

    {"status": "disabled" | "not_checked" | "checking" | "up_to_date" | "available" | "staged"
               | "failed",
     "running": "0.1.0", "version": "0.2.0" | null, "checked_at": RFC 3339 | null,
     "reason": French reason of a refusal or failure | null, "enabled": bool}

``available`` is a newer version that this agent cannot stage itself (it does not run from an
installed layout: a development checkout); ``staged`` will be applied at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from .. import __version__
from ..audit import AuditLog, utc_timestamp
from ..config import Settings
from .installer import Installer
from .manifest import UpdateRefused
from .updater import Updater

log = logging.getLogger(__name__)

#: Seconds between the agent's start and its first automatic check (the session settles first).
FIRST_CHECK_DELAY = 60.0


class UpdateScheduler:
    def __init__(self, settings: Settings, audit: AuditLog | None = None, *, installer: Installer | None = None,
                 first_delay: float = FIRST_CHECK_DELAY) -> None:
        self.settings = settings
        self.audit = audit
        self.installer = installer
        self.first_delay = first_delay
        self.interval = settings.update_check_interval
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._state: dict[str, Any] = self._initial()

    def _updater(self) -> Updater:
        return Updater(self.settings, installer=self.installer, audit=self.audit, origin="agent")

    def _initial(self) -> dict[str, Any]:
        try:
            status = self._updater().status()
        except Exception:  # an unreadable layout: the first run will say more
            log.exception("update status unreadable")
            return self._view("failed", reason="état des mises à jour illisible")
        if not status["enabled"]:
            return self._view("disabled", reason=status["disabled_reason"])
        pending = status.get("pending") or {}
        if pending.get("version"):
            return self._view("staged", version=pending["version"])
        last = status.get("last_check") or {}
        if last.get("available") and last.get("running") == __version__:
            return self._view("available", version=last["available"], checked_at=last.get("time"))
        return self._view("not_checked", checked_at=last.get("time"))

    def _view(self, status: str, *, version: str | None = None, checked_at: str | None = None,
              reason: str | None = None) -> dict[str, Any]:
        return {"status": status, "running": __version__, "version": version, "checked_at": checked_at,
                "reason": reason, "enabled": status != "disabled"}

    def view(self) -> dict[str, Any]:
        """What the console's Accueil shows."""
        return dict(self._state)

    @property
    def enabled(self) -> bool:
        return self._state["status"] != "disabled"

    # -- life -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Schedule the automatic checks (none when updates are off or the interval is 0)."""
        if self.enabled and self.interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="update-checks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            await self.run_now()
            await asyncio.sleep(self.interval)

    # -- one run --------------------------------------------------------------------------------
    async def run_now(self) -> dict[str, Any]:
        """Check and stage now (or wait for the run in progress); the new view."""
        if not self.enabled:
            return self.view()
        if self._lock.locked():
            async with self._lock:
                return self.view()
        async with self._lock:
            checked = self._state.get("checked_at")
            self._state = self._view("checking", version=self._state.get("version"), checked_at=checked)
            self._state = await asyncio.to_thread(self._run)
            log.info("update check: %s %s", self._state["status"], self._state.get("version") or "")
            return self.view()

    def _run(self) -> dict[str, Any]:
        updater = self._updater()
        now = utc_timestamp()
        try:
            if not updater.layout.installed():
                outcome = updater.check()
                status = "available" if outcome.available else "up_to_date"
                return self._view(status, version=outcome.manifest.version if outcome.available else None,
                                  checked_at=now)
            staged = updater.stage()
        except UpdateRefused as exc:
            return self._view("failed", checked_at=now, reason=exc.message(), version=exc.version)
        except Exception as exc:  # a bug must not stop the checks to come
            log.exception("update check failed")
            return self._view("failed", checked_at=now, reason=type(exc).__name__)
        if staged.status == "up_to_date":
            return self._view("up_to_date", checked_at=now)
        return self._view("staged", version=staged.version, checked_at=now)
