"""What ``compagnon serve`` and the desktop runtime share once the agent listens: stop on SIGINT
or SIGTERM, say where it listens, tell the caller, then wait."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

from . import __version__
from .config import Settings


async def serve_until_stopped(settings: Settings, port: int, stop: asyncio.Event,
                              on_started: Callable[[int], Any] | None = None) -> None:
    """Set ``stop`` on SIGINT/SIGTERM, print the listening line (tests and users wait for it),
    call ``on_started(port)``, and return once ``stop`` is set."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except NotImplementedError:  # Windows
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    print(f"Compagnon {__version__} en écoute sur ws://127.0.0.1:{port}/bridge", flush=True)
    if not settings.allowed_origins:
        print("Attention : aucun site autorisé (--allow-origin ou bridge.allowed_origins).", flush=True)
    if on_started is not None:
        await on_started(port)
    await stop.wait()
