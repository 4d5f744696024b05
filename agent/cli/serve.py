"""``compagnon serve``, ``tray`` and ``console``: the agent itself, headless or with its icon, and
opening the running agent's console."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..i18n import Text
from .common import EXIT_FAILED, EXIT_OK, current_locale, say

if TYPE_CHECKING:
    from ..config import Settings


async def run_until_signal(settings: Settings, on_started: Callable[[int], Any] | None = None,
                           extra_start: Callable[[], Any] | None = None) -> int:
    import asyncio

    from ..service import AgentService, PortsUnavailable, make_consent

    if settings.consent_policy in ("console", "native"):
        from ..desktop.runtime import run_headless

        return await run_headless(settings, on_started, current_locale())
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    service = AgentService(settings, make_consent(settings, interactive))
    try:
        port = await service.start()
    except PortsUnavailable as exc:
        print(say(Text("compagnon : aucun port libre ({exc})", "compagnon: no free port ({exc})"), exc=exc), file=sys.stderr)
        return EXIT_FAILED
    from ..runloop import serve_until_stopped

    try:
        await serve_until_stopped(settings, port, asyncio.Event(), on_started, current_locale())
    finally:
        await service.stop()
    return EXIT_OK


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    return asyncio.run(run_until_signal(settings))


def tray(args: argparse.Namespace, settings: Settings) -> int:
    """The agent with its icon; consent in the local console unless the configuration says otherwise."""
    from dataclasses import replace

    from ..desktop import tray

    if not settings.consent_policy_explicit:
        settings = replace(settings, consent_policy="console")
    return tray.main(settings, current_locale())


def console(args: argparse.Namespace, settings: Settings) -> int:
    """Ask the running desktop agent (``tray``, or ``serve`` with the console policy) to open its console."""
    from ..desktop import instance

    answer = instance.send(settings.state_dir, "open", wait=2.0, section=args.section)
    if answer is None or not answer.get("ok"):
        print(say(Text("compagnon : aucun agent avec console n'est lancé (compagnon tray).",
                       "compagnon: no agent with a console is running (compagnon tray).")), file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


__all__ = ["console", "run_until_signal", "serve", "tray"]
