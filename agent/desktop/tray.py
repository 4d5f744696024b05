"""``compagnon tray``: the agent with its notification-area icon (pystray) and local console.

* The agent (bridge, jobs, console; agent.desktop.runtime) runs in an asyncio loop on a thread of
  its own; the icon runs on the main thread (macOS requires it).
* The icon's picture says the state: ready (green, a tick), job running (blue, three dots),
  attention needed (orange, "!": a consent or pairing prompt waits in the console).
* The menu: Ouvrir la console, Traitements en cours, Sites autorisés, Journal, Diagnostic,
  À propos, Quitter. Each item is a plain method of ``Tray`` that hands the runtime's
  ``menu_action`` to the agent's loop: the tests call them, or the same actions through the
  handover endpoint of a running process, without clicking. Where the back end shows no menu
  (plain X11, without an AppIndicator host), a left click shows the same menu as a popup window
  of the agent's own (agent.desktop.dialogs); without Tk, the click opens the console.
* One instance per user (agent.desktop.instance): a second launch asks the first to open its
  console and exits 0.
* Without a display (no ``DISPLAY``, no notification area back end) the agent still runs, with its
  console, and says so on its standard output.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from ..config import Settings
from . import instance
from ..i18n import Text, system_locale
from .dialogs import native_dialogs_available
from .runtime import STATE_LABELS, DesktopRuntime, menu_entries

log = logging.getLogger(__name__)
T = Text

EXIT_OK, EXIT_FAILED = 0, 1

#: Picture of each state: background colour and the mark drawn on it.
STATE_COLOURS = {"ready": (46, 139, 87), "busy": (30, 100, 200), "attention": (230, 120, 0)}


def icon_image(state: str, size: int = 64):  # type: ignore[no-untyped-def]
    """The tray picture of ``state`` ("ready", "busy" or "attention"): a Pillow RGBA image."""
    from PIL import Image, ImageDraw

    colour = STATE_COLOURS.get(state, STATE_COLOURS["attention"])
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    s = size / 64
    draw.ellipse((2 * s, 2 * s, 62 * s, 62 * s), fill=colour + (255,), outline=(255, 255, 255, 255), width=max(1, int(2 * s)))
    white = (255, 255, 255, 255)
    if state == "ready":  # a tick
        draw.line([(18 * s, 33 * s), (28 * s, 44 * s), (47 * s, 21 * s)], fill=white, width=max(2, int(7 * s)), joint="curve")
    elif state == "busy":  # three dots
        for x in (18, 32, 46):
            draw.ellipse(((x - 5) * s, 27 * s, (x + 5) * s, 37 * s), fill=white)
    else:  # "!"
        draw.rounded_rectangle((28 * s, 13 * s, 36 * s, 40 * s), radius=3 * s, fill=white)
        draw.ellipse((27 * s, 44 * s, 37 * s, 54 * s), fill=white)
    return image


class AgentThread:
    """The desktop runtime in an asyncio loop on its own thread."""

    def __init__(self, settings: Settings, runtime_factory: Callable[[], DesktopRuntime] | None = None) -> None:
        self.settings = settings
        self._factory = runtime_factory or (lambda: DesktopRuntime(settings))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runtime: DesktopRuntime | None = None
        self.port = 0
        self.error: str | None = None
        self.ready = threading.Event()
        self.done = threading.Event()
        self._on_stopped: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._run, name="compagnon-agent", daemon=True)

    def start(self, timeout: float = 60.0) -> bool:
        """Start the agent; True once it listens (False: ``error`` says why)."""
        self._thread.start()
        if not self.ready.wait(timeout):
            self.error = self.error or "timeout"
        return self.error is None

    def on_stopped(self, callback: Callable[[], None]) -> None:
        self._on_stopped.append(callback)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:
            log.exception("agent thread failed")
            self.error = self.error or type(exc).__name__
        finally:
            self.ready.set()
            self.done.set()
            for callback in self._on_stopped:
                try:
                    callback()
                except Exception:
                    log.exception("stop callback failed")

    async def _main(self) -> None:
        from ..service import PortsUnavailable

        self.loop = asyncio.get_running_loop()
        runtime = self._factory()
        self.runtime = runtime
        try:
            self.port = await runtime.start()
        except (PortsUnavailable, OSError) as exc:
            self.error = f"aucun port libre ({exc})"
            return
        self.ready.set()
        try:
            await runtime.quit.wait()
        finally:
            await runtime.stop()

    def call(self, function: Callable[..., Any], *args: Any) -> None:
        """Run ``function(*args)`` on the agent's loop (from any thread)."""
        if self.loop is not None and not self.done.is_set():
            self.loop.call_soon_threadsafe(function, *args)

    def request_quit(self) -> None:
        if self.runtime is not None:
            self.call(self.runtime.quit.set)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


class Tray:
    """The icon and its menu over a running ``AgentThread``."""

    def __init__(self, agent: AgentThread, locale: str = "fr") -> None:
        self.agent = agent
        self.locale = locale
        self.icon: Any = None
        self.state = "ready"

    # -- the menu's actions: plain functions ------------------------------------------------------
    def action(self, name: str) -> None:
        """Do menu item ``name`` (see runtime.MENU) on the agent's loop."""
        runtime = self.agent.runtime
        if runtime is not None:
            self.agent.call(runtime.menu_action, name)

    def open_console(self) -> None:
        self.action("open")

    def open_jobs(self) -> None:
        self.action("jobs")

    def open_pairings(self) -> None:
        self.action("pairings")

    def open_journal(self) -> None:
        self.action("journal")

    def diagnose(self) -> None:
        self.action("diagnose")

    def about(self) -> None:
        self.action("about")

    def quit(self) -> None:
        self.action("quit")

    # -- the icon -------------------------------------------------------------------------------
    def _label(self, fr: str, en: str) -> str:
        return en if self.locale == "en" else fr

    def menu(self, pystray: Any) -> Any:
        """The icon's menu; where the back end shows none (plain X11), a click shows the same
        menu as a popup window of the agent's own (``popup_menu``)."""
        if not getattr(pystray.Icon, "HAS_MENU", True) and native_dialogs_available():
            return pystray.Menu(pystray.MenuItem("Compagnon", lambda icon, item: self.popup_menu(), default=True))
        items = [pystray.Menu.SEPARATOR if entry is None else
                 pystray.MenuItem(entry[1], self._menu_handler(entry[0]), default=entry[0] == "open")
                 for entry in menu_entries(self.locale)]
        return pystray.Menu(*items)

    def popup_menu(self) -> None:
        """Show the menu at the pointer (from the icon's thread; the window runs on the agent's loop)."""
        runtime, loop = self.agent.runtime, self.agent.loop
        log.info("tray icon clicked")
        if runtime is not None and loop is not None and not self.agent.done.is_set():
            asyncio.run_coroutine_threadsafe(runtime.popup_menu(self.locale), loop)

    def _menu_handler(self, name: str) -> Callable[[Any, Any], None]:
        return lambda icon, item: self.action(name)

    def show_state(self, state: str) -> None:
        """Change the picture and the title to ``state`` (from any thread)."""
        self.state = state
        if self.agent.runtime is not None:
            self.agent.runtime.icon_state = state
        if self.icon is not None:
            self.icon.icon = icon_image(state)
            self.icon.title = self._label(*STATE_LABELS[state])

    def run(self) -> int:
        """Show the icon until Quitter (or a signal, or the handover's quit); returns the exit code."""
        runtime = self.agent.runtime
        assert runtime is not None
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.quit())
        if hasattr(signal, "SIGUSR1"):
            signal.signal(signal.SIGUSR1, _raise_interrupted)
        try:
            import pystray

            logging.getLogger("pystray").setLevel(logging.CRITICAL)  # "failed to dock" without a tray area
            self.icon = pystray.Icon("compagnon", icon_image(runtime.state), self._label(*STATE_LABELS[runtime.state]),
                                     menu=self.menu(pystray))
            _listen_for_clicks(self.icon)
        except Exception as exc:  # no display, no back end
            log.warning("no tray icon: %s", exc)
            print(T("Icône de notification indisponible ({error}) : la console reste accessible "
                    "(« compagnon console »).",
                    "Tray icon unavailable ({error}): the console stays available (\u201ccompagnon console\u201d).")
                  .render(self.locale, error=type(exc).__name__), flush=True)
            self.icon = None
            self.agent.call(runtime.add_state_listener, self.show_state)
            while not self.agent.done.wait(0.5):
                pass
            return EXIT_OK if self.agent.error is None else EXIT_FAILED
        runtime.icon_state = runtime.state
        self.agent.call(runtime.add_state_listener, self.show_state)
        shown = threading.Event()
        icon_ended = threading.Event()
        icon = self.icon

        def stop_icon() -> None:
            # pystray's setup thread waits for the icon's loop to show the icon: stopping the loop
            # before that would leave the thread waiting for ever (and the process with it).
            shown.wait(10)
            # pystray's stop waits, without a limit, for the icon's loop to run it: if that loop
            # has already died (its display went away), the agent's thread must not wait with it.
            stopper = threading.Thread(target=icon.stop, name="tray-stop", daemon=True)
            stopper.start()
            stopper.join(5)
            # pystray's X11 loop sometimes misses the end of its own window and waits for events
            # for ever (about once in thirty quits here): interrupt it, the agent has stopped.
            if not icon_ended.wait(3) and _interrupt_main_thread():
                log.warning("the tray icon's loop did not end: interrupted")

        self.agent.on_stopped(stop_icon)
        if self.agent.done.is_set():
            return EXIT_OK
        print(T("Icône de notification : active", "Tray icon: active").render(self.locale), flush=True)

        def setup(icon: Any) -> None:
            try:
                icon.visible = True
            finally:
                shown.set()

        try:
            self.icon.run(setup=setup)
        except _IconLoopInterrupted:
            pass
        except Exception:  # the display went away: the agent carries on without its icon
            log.exception("the tray icon stopped")
            self.icon = None
            while not self.agent.done.wait(0.5):
                pass
        finally:
            if hasattr(signal, "SIGUSR1"):
                signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # the loop is over: nothing to interrupt
            icon_ended.set()
        # The icon is gone (Quitter, or the agent stopped): make sure the agent stops too.
        self.agent.request_quit()
        self.agent.done.wait(30)
        return EXIT_OK if self.agent.error is None else EXIT_FAILED


class _IconLoopInterrupted(Exception):
    """Raised in the main thread to end an icon loop that outlived the agent."""


def _raise_interrupted(signum: int, frame: Any) -> None:
    raise _IconLoopInterrupted


def _interrupt_main_thread() -> bool:
    """Raise _IconLoopInterrupted in the main thread, where the icon's loop runs (POSIX only:
    SIGUSR1, whose handler Tray.run installs)."""
    if not hasattr(signal, "pthread_kill") or not hasattr(signal, "SIGUSR1"):
        return False
    signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1)  # type: ignore[arg-type]
    return True


def _listen_for_clicks(icon: Any) -> None:
    """pystray 0.19's X11 back end handles ButtonPress but never selects it on its window, so a
    click on the icon reaches nobody (pystray issue #151): select it. Other back ends: nothing."""
    if type(icon).__module__ != "pystray._xorg":
        return
    from Xlib import X

    icon._window.change_attributes(event_mask=X.ExposureMask | X.StructureNotifyMask | X.ButtonPressMask)
    icon._display.flush()


def main(settings: Settings, locale: str | None = None) -> int:
    """``compagnon tray``; its lines in ``locale`` (the system's when not given)."""
    from .. import __version__

    locale = locale or system_locale()
    lock = instance.InstanceLock(settings.state_dir / instance.LOCK_FILE)
    if not lock.acquire():
        answer = instance.send(settings.state_dir, "open")
        if answer is None or not answer.get("ok"):
            print(T("compagnon : Compagnon est déjà lancé mais ne répond pas.",
                    "compagnon: Compagnon is already running but does not answer.").render(locale), file=sys.stderr)
            return EXIT_FAILED
        print(T("Compagnon est déjà lancé : sa console s'ouvre.",
                "Compagnon is already running: its console opens.").render(locale), flush=True)
        return EXIT_OK
    try:
        agent = AgentThread(settings)
        if not agent.start():
            print(f"compagnon{' :' if locale == 'fr' else ':'} {agent.error}", file=sys.stderr)
            return EXIT_FAILED
        assert agent.runtime is not None
        print(T("Console locale : {url}", "Local console: {url}").render(locale, url=agent.runtime.console.base_url()),
              flush=True)
        print(T("Compagnon {version} en écoute sur {url}", "Compagnon {version} listening on {url}").render(
            locale, version=__version__, url=f"ws://127.0.0.1:{agent.port}/bridge"), flush=True)
        if not settings.allowed_origins:
            print(T("Attention : aucun site autorisé (bridge.allowed_origins).",
                    "Warning: no site allowed (bridge.allowed_origins).").render(locale), flush=True)
        code = Tray(agent, locale).run()
        agent.join(30)
        print(T("Compagnon arrêté.", "Compagnon stopped.").render(locale), flush=True)
    finally:
        lock.release()
    stuck = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon and t.is_alive()]
    if stuck:  # a back end's thread that never returns must not keep a stopped agent alive
        log.warning("threads still running at exit: %s", ", ".join(t.name for t in stuck))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
