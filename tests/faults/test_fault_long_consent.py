"""A consent prompt for a batch of 1000 files (the most a job takes), in the terminal that runs
``compagnon serve``: every file and the four-letter code must reach the user (promise 4).

Known bug, reported as an expected failure (``xfail``) until agent/consent/terminal.py is fixed;
any other failure of this test is a plain failure, and once fixed the test simply passes. The
terminal consent writes its prompt with ``sys.stdout.write`` after asyncio's ``connect_read_pipe``
has made the terminal non-blocking (stdin and stdout share the pseudo-terminal's open file
description, so ``O_NONBLOCK`` reaches stdout too). A prompt longer than what the terminal's buffer
takes at that moment is cut short without an error — 156, 353 and 317 lines of "fichier : name
(size, SHA-256)" got through in three runs: the user never sees the last files nor the code, and
the consent ends ``USER_TIMEOUT``. The first prompt of a run (stdin not yet read) is not affected.
A fix: write the prompt to the descriptor in a loop that waits until it is writable on ``EAGAIN``
(or through an asyncio write pipe)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

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
        if seen == 1:  # the prompt ended without its code line, and the consent timed out
            final = await client.wait_job(job["id"], timeout=30)
            assert final["error"]["code"] == "USER_TIMEOUT", final
            shown = child.before.count("  fichier : ")
            pytest.xfail(f"agent/consent/terminal.py cut the prompt: {shown} of 1000 files shown, and no code")
        shown = child.before
        child.sendline(child.match.group(1))
        await asyncio.to_thread(child.expect, "Code PIN")
        child.sendline(token.pin)
        final = await client.wait_job(job["id"], timeout=120)
    assert all(name in shown for name in names)
    assert final["state"] == "succeeded" and final["result"]["signed"] == 1000, final
