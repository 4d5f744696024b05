"""What ``compagnon serve`` and the desktop runtime share once the agent listens: stop on SIGINT
or SIGTERM, say where it listens, tell the caller, then wait."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

from . import __version__
from .config import Settings
from .i18n import Text


#: The listening line (tests and users wait for it) and the warning when no site may connect.
LISTENING = Text("Compagnon {version} en écoute sur {url}", "Compagnon {version} listening on {url}")
NO_SITE = Text("Attention : aucun site autorisé (--allow-origin ou bridge.allowed_origins).",
               "Warning: no allowed site (--allow-origin or bridge.allowed_origins).")


async def serve_until_stopped(settings: Settings, port: int, stop: asyncio.Event,
                              on_started: Callable[[int], Any] | None = None, locale: str = "fr") -> None:
    """Set ``stop`` on SIGINT/SIGTERM, print the listening line in ``locale`` (tests and users wait
    for it), call ``on_started(port)``, and return once ``stop`` is set."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # Windows
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    print(LISTENING.render(locale, version=__version__, url=f"ws://127.0.0.1:{port}/bridge"), flush=True)
    if not settings.allowed_origins:
        print(NO_SITE.render(locale), flush=True)
    if on_started is not None:
        await on_started(port)
    await stop.wait()
