"""A consent prompt for a batch of 1000 files (the most a job takes), in the terminal that runs
``compagnon serve``: every file and the four-letter code must reach the user (promise 4).

Once asyncio reads stdin, the pseudo-terminal is non-blocking (stdin and stdout share its open
file description): a prompt written with a plain ``write`` used to be cut short (156 to 353 file
lines got through), the code never shown, and the consent ended ``USER_TIMEOUT``.
agent/consent/terminal.py now writes the whole prompt, waiting while the terminal is full."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from bridge_protocol.client import BridgeClient
from tests.faults.terminal import CONSENT, TerminalAgent, certificate_id, configure
from tests.integration.test_sign_job import upload
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken

ORIGIN = "https://marches.example.fr"


async def test_a_consent_for_1000_files_shows_every_file_and_its_code(
    tmp_path: Path, test_pki: TestPki, token: ProvisionedToken, terminal_agents: Callable[..., TerminalAgent]
) -> None:
    home = tmp_path / "home"
    configure(home, ORIGIN, test_pki, token=token)
    agent = terminal_agents(home)
    child = agent.child
    assert child is not None
    names = [f"piece {i:04d}.txt" for i in range(1000)]
    async with await BridgeClient.connect(ORIGIN, ports=[agent.port]) as client:
        cert = await certificate_id(client, agent, "signing", "Jeanne TITULAIRE",
                                    lambda s: s["kind"] == "pkcs11" and s["label"].startswith(token.label + " ("))
        handles = [await upload(client, name, os.urandom(1024)) for name in names]
        job = await client.start_job("sign", {"files": [{"handle": h, "format": "cades"} for h in handles],
                                              "certificate": cert})
        seen = await asyncio.to_thread(child.expect, [CONSENT, r"délai dépassé"], 30)
        assert seen == 0, f"the prompt was cut: {child.before.count('  fichier : ')} of 1000 files shown, no code"
        shown = child.before
        child.sendline(child.match.group(1))
        await asyncio.to_thread(child.expect, "Code PIN")
        child.sendline(token.pin)
        final = await client.wait_job(job["id"], timeout=120)
    assert all(name in shown for name in names)
    assert final["state"] == "succeeded" and final["result"]["signed"] == 1000, final
