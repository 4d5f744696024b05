"""``compagnon demo``: the agent and the demonstration platform (agent.demo_platform) side by side,
the platform's sites pre-approved and the demo identity listed and trusted by this agent only."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..i18n import Text
from .common import EXIT_FAILED, current_locale, say
from .serve import run_until_signal

if TYPE_CHECKING:
    from ..config import Settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio
    from dataclasses import replace

    from aiohttp import web

    from ..demo_identity import demo_crl, demo_description, ensure_demo_identity

    from ..demo_platform.app import CRL_PATH, DemoState, create_demo_app

    from ..fsutil import private_folder

    async def both() -> int:
        runner: web.AppRunner | None = None
        demo_port = args.demo_port
        # The platform's files and database stay between runs (agent.demo_platform.database).
        state = DemoState(data_dir=private_folder(settings.state_dir / "demo" / "plateforme", own=True))
        for candidate in range(demo_port, demo_port + 10):
            app = create_demo_app(state)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", candidate).start()
            except OSError:
                await runner.cleanup()
                continue
            demo_port = candidate
            break
        else:
            print(say(Text("compagnon : aucun port libre pour la démonstration",
                           "compagnon: no free port for the demonstration")), file=sys.stderr)
            return EXIT_FAILED
        origins = [f"http://127.0.0.1:{demo_port}", f"http://localhost:{demo_port}"]
        demo_settings = settings.with_origins(origins, preapproved=origins)
        # The demo identity: listed and trusted by this demo agent only (agent.demo_identity).
        # Its authority's CRL is published by the platform (agent.demo_platform.app.CRL_PATH).
        identity = await asyncio.to_thread(ensure_demo_identity, settings.state_dir / "demo",
                                           f"http://127.0.0.1:{demo_port}{CRL_PATH}")
        state.revocation_list = lambda: demo_crl(identity)
        demo_settings = replace(demo_settings, extra_p12_dirs=(*demo_settings.extra_p12_dirs, identity.folder),
                                trust_roots=(*demo_settings.trust_roots, identity.authority))
        print(demo_description(identity, current_locale()), flush=True)

        async def started(port: int) -> None:
            state.agent_ports = [port]
            print(say(Text("Plateforme de démonstration : {url}", "Demonstration platform: {url}"),
                      url=f"http://127.0.0.1:{demo_port}/"), flush=True)

        try:
            return await run_until_signal(demo_settings, started)
        finally:
            await runner.cleanup()

    return asyncio.run(both())


__all__ = ["run"]
