"""The desktop agent without its icon: the agent service, the local console, console consent and
the single-instance handover, wired together. ``compagnon tray`` adds the icon (agent.desktop.tray);
``compagnon serve`` with ``[consent] policy = "console"`` (or ``"native"``: the agent's own windows
ask, agent.desktop.dialogs) runs this alone.

The actions of the tray's menu are methods here (``menu_action``), so that the menu, the handover
of a second launch and the tests all go through the same functions.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge_protocol.errors import ProtocolError

from ..config import Settings
from ..errors import ReportedError
from ..i18n import Text, system_locale
from ..runloop import serve_until_stopped
from ..service import AgentService, make_consent
from ..update.scheduler import UpdateScheduler
from . import instance
from .consent import ConsoleConsent
from .dialogs import NativeConsent, dialog_command, menu_view, native_dialogs_available, show_window
from .console.server import SECTIONS, ConsoleServer
from .opener import open_url, prune_redirect_pages

log = logging.getLogger(__name__)

#: The tray's menu: (action, French label, English label), in order. "open" is the default item
#: (a left click on the icon where the system shows no menu).
MENU: tuple[tuple[str, str, str], ...] = (
    ("open", "Ouvrir la console", "Open the console"),
    ("jobs", "Traitements en cours", "Running jobs"),
    ("pairings", "Sites autorisés", "Allowed sites"),
    ("journal", "Journal", "Journal"),
    ("diagnose", "Diagnostic", "Diagnosis"),
    ("about", "À propos", "About"),
    ("quit", "Quitter", "Quit"),
)
#: The menu's separators come after these items.
MENU_SEPARATORS_AFTER = ("journal", "about")
#: Seconds the popup menu (plain X11) stays without a choice.
POPUP_MENU_TIMEOUT = 60.0
#: Menu action -> console section it opens.
MENU_SECTIONS = {"open": None, "jobs": "traitements", "pairings": "sites", "journal": "journal", "about": "about",
                 "diagnose": "traitements"}
#: A prompt opens the console at most this often when no console page is open (the browser may be
#: slow to start: two prompts in a row must not open two tabs).
AUTO_OPEN_INTERVAL = 15.0

STATES = ("ready", "busy", "attention")
#: The icon's title (its tooltip) per state; Latin-1 only (the X11 back end's window name).
STATE_LABELS = {
    "ready": ("Compagnon : prêt", "Compagnon: ready"),
    "busy": ("Compagnon : traitement en cours", "Compagnon: job running"),
    "attention": ("Compagnon : attention requise", "Compagnon: attention needed"),
}


def menu_entries(locale: str) -> list[tuple[str, str] | None]:
    """MENU in ``locale``: (action, label) pairs, None where a separator goes (the icon's menu and
    the popup of plain X11 show the same)."""
    entries: list[tuple[str, str] | None] = []
    for name, fr, en in MENU:
        entries.append((name, en if locale == "en" else fr))
        if name in MENU_SEPARATORS_AFTER:
            entries.append(None)
    return entries


def native_picker(settings: Settings) -> NativeConsent | None:
    """The system's file chooser for ``files.pick`` under the console policy, unless the
    configuration asks for the console's path field (``file_picker = "console"``), or says
    ``auto`` where no window can be shown (no display, no tkinter)."""
    choice = settings.consent_file_picker
    if choice == "console" or (choice == "auto" and not native_dialogs_available()):
        return None
    return NativeConsent(settings.consent_timeout)


class DesktopRuntime:
    """Create inside the event loop that will run it."""

    def __init__(self, settings: Settings, *, opener: Callable[[str], None] | None = None,
                 interactive: bool = False) -> None:
        self.settings = settings
        self.opener = opener or functools.partial(open_url, folder=self.redirect_folder)
        self.consent: ConsoleConsent | None = None
        if settings.consent_policy == "console":
            self.consent = ConsoleConsent(settings.consent_timeout, on_prompt=self._prompted,
                                          picker=native_picker(settings))
            provider: Any = self.consent
        else:
            provider = make_consent(settings, interactive,
                                    native=lambda: NativeConsent(settings.consent_timeout))
        self.service = AgentService(settings, provider)
        self.updates = UpdateScheduler(settings, self.service.audit)
        self.console = ConsoleServer(self.service, self.consent, control=self.control, port=settings.console_port,
                                     updates=self.updates)
        self.console.add_listener(self._refresh_state)
        self.quit = asyncio.Event()
        self.state = "ready"
        #: What the tray's picture shows now (set by the tray; None without an icon).
        self.icon_state: str | None = None
        self._state_listeners: list[Callable[[str], None]] = []
        self._last_auto_open = -AUTO_OPEN_INTERVAL
        #: How many times the console was opened (for the handover's status and the tests).
        self.opened = 0
        self._menu_shown = False

    # -- life -----------------------------------------------------------------------------------
    async def start(self) -> int:
        """Start the bridge and the console; returns the bridge port. Raises PortsUnavailable."""
        port = await self.service.start()
        try:
            await self.console.start()
        except OSError:
            await self.service.stop()
            raise
        instance.write_info(self.settings.state_dir, self.console.port, self.console.control_token)
        self.updates.start()
        return port

    async def stop(self) -> None:
        await self.updates.stop()
        instance.remove_info(self.settings.state_dir)
        await self.console.stop()
        await self.service.stop()
        prune_redirect_pages(self.redirect_folder)

    @property
    def redirect_folder(self) -> Path:
        """Where the console's redirect pages are written (agent.desktop.opener)."""
        return self.settings.state_dir / "console"

    # -- state ----------------------------------------------------------------------------------
    def add_state_listener(self, listener: Callable[[str], None]) -> None:
        """``listener(state)`` when the state changes: "ready", "busy" or "attention"."""
        self._state_listeners.append(listener)

    def _refresh_state(self) -> None:
        state = self.console.api.status()["state"]
        if state == self.state:
            return
        self.state = state
        for listener in list(self._state_listeners):
            try:
                listener(state)
            except Exception:
                log.exception("state listener failed")

    # -- actions (tray menu, handover, tests) ---------------------------------------------------
    def open_console(self, section: str | None = None) -> str:
        """Open the console (a fresh one-time code) in the user's browser; returns the section."""
        section = section if section in SECTIONS else None
        self.opened += 1
        self.opener(self.console.url(section))
        log.info("console opened (%s)", section or "accueil")
        return section or "accueil"

    def _prompted(self) -> None:
        """A prompt appeared: open the console unless a console page is already open."""
        now = time.monotonic()
        if self.console.page_open or now - self._last_auto_open < AUTO_OPEN_INTERVAL:
            return
        self._last_auto_open = now
        self.open_console()

    def diagnose(self) -> str:
        """Start the workstation test (a ``diagnose`` job of the console) and show it."""
        job = self.console.api.start_job("diagnose", {})
        self.open_console("traitements")
        return job.id

    def menu_action(self, action: str) -> dict[str, Any]:
        """One item of the tray's menu (MENU)."""
        if action == "quit":
            log.info("quit requested")
            self.quit.set()
            return {"ok": True}
        if action == "diagnose":
            return {"ok": True, "job": self.diagnose()}
        if action in MENU_SECTIONS:
            return {"ok": True, "section": self.open_console(MENU_SECTIONS[action])}
        return {"ok": False, "error": "unknown action"}

    async def popup_menu(self, locale: str | None = None) -> str | None:
        """The menu as a popup at the pointer (agent.desktop.dialogs), for icon back ends that show
        no menu of their own (plain X11); does the chosen item. Returns its action, or None when
        the user chose nothing. Without a window system to show it, opens the console."""
        if self._menu_shown:
            return None
        items = menu_entries(locale or system_locale())
        self._menu_shown = True
        log.info("tray menu shown")
        try:
            answer = await show_window(dialog_command(), menu_view(items, "Compagnon", POPUP_MENU_TIMEOUT),
                                       POPUP_MENU_TIMEOUT)
        except (ProtocolError, ReportedError):
            answer = {"action": "open"}
        finally:
            self._menu_shown = False
        action = answer.get("action")
        log.info("tray menu: %s", action or "nothing chosen")
        if action not in MENU_SECTIONS and action != "quit":
            return None
        self.menu_action(action)
        return str(action)

    async def control(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """The handover endpoint: a second launch (``open``), the menu's actions, and ``status``."""
        if action == "open":
            section = body.get("section")
            return {"ok": True, "section": self.open_console(section if isinstance(section, str) else None)}
        if action == "status":
            return {"ok": True, "state": self.state, "icon": self.icon_state, "bridge_port": self.service.port,
                    "console_port": self.console.port, "opened": self.opened}
        return self.menu_action(action)


ALREADY_RUNNING = Text(
    "compagnon : Compagnon est déjà lancé pour cet utilisateur (« compagnon console » ouvre sa console).",
    "compagnon: Compagnon is already running for this user (\u201ccompagnon console\u201d opens its console).")
NO_FREE_PORT = Text("compagnon : aucun port libre ({exc})", "compagnon: no free port ({exc})")
CONSOLE_AT = Text("Console locale : {url} (« compagnon console » l'ouvre)",
                  "Local console: {url} (\u201ccompagnon console\u201d opens it)")


async def run_headless(settings: Settings, on_started: Callable[[int], Any] | None = None,
                       locale: str = "fr") -> int:
    """``compagnon serve`` (and ``demo``) with the console policy: the runtime until a signal or
    the handover's ``quit``, its lines printed in ``locale``. One per user: a second one exits 1
    (``compagnon console`` opens the running one's console)."""
    import sys

    from ..service import PortsUnavailable

    lock = instance.InstanceLock(settings.state_dir / instance.LOCK_FILE)
    if not lock.acquire():
        print(ALREADY_RUNNING.render(locale), file=sys.stderr)
        return 1
    try:
        runtime = DesktopRuntime(settings)
        try:
            port = await runtime.start()
        except PortsUnavailable as exc:
            print(NO_FREE_PORT.render(locale, exc=exc), file=sys.stderr)
            return 1
        print(CONSOLE_AT.render(locale, url=runtime.console.base_url()), flush=True)
        try:
            await serve_until_stopped(settings, port, runtime.quit, on_started, locale)
        finally:
            await runtime.stop()
        return 0
    finally:
        lock.release()
