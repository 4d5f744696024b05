"""``kill -9`` of the agent in the middle of a job, then a restart (docs/SECURITY.md promise 9; PROTOCOL.md
section 4, state ``interrupted``).

Each test runs the real agent in a pseudo-terminal, answers its consent there (code, then PIN or
password), kills it with SIGKILL while the job writes its outputs, and starts it again on the same
HOME and port. What must hold:

* the job reads ``interrupted`` (error ``JOB_INTERRUPTED``) through ``jobs.get`` and ``jobs.list``;
* every file with a final name is complete (each signature verifies with ``openssl cms``; an
  opened bid is byte-exact), and what was being written carries only a hidden temporary name.

Covered: a B-T signing batch of 60 files of 4 MiB, attached, on the SoftHSM token (killed half-way,
with some outputs group-committed and others being written), and an online opening (``bids.open``)
of a 128 MiB envelope sealed by ``openssl cms -encrypt`` (AES-256-GCM, BER) to a PKCS#12 key,
against the demo platform's routes (killed while the opened content is being written; opening
again afterwards gives the whole content). The same crash during a download (and the resumed download after it) is
tests/integration/test_bids_download.py::test_kill_9_mid_download_then_a_new_job_resumes_from_the_part.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bridge_protocol.client import BridgeClient
from agent.demo_platform.consultations import (
    DemoConsultations,
    DemoEnvelope,
    DemoFile,
    DemoPli,
    add_consultation_routes,
)
from tests.faults.terminal import (
    BATCH,
    SlowTsa,
    TerminalAgent,
    assert_only_complete_outputs,
    batch_sources,
    certificate_id,
    configure,
    final_files,
    follow_until,
    hidden_files,
    sign_batch,
    step_progress,
    step_states,
    wait_until,
)
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken

ORIGIN = "https://marches.example.fr"
#: Temporary names of promise 9 (agent/fsutil.py): hidden, a random tag, ``.part``.
TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}\.part$")


async def assert_interrupted_after_restart(agent: TerminalAgent, origin: str, job_id: str, step: str) -> dict[str, Any]:
    async with await BridgeClient.connect(origin, ports=[agent.port]) as client:
        snapshot = await client.call("jobs.get", {"id": job_id})
        listed = {j["id"]: j for j in await client.call("jobs.list", {})}
    assert snapshot["state"] == "interrupted", snapshot
    assert snapshot["error"]["code"] == "JOB_INTERRUPTED" and snapshot["error"]["message"]
    assert step_states(snapshot)[step] == "cancelled"
    assert listed[job_id]["state"] == "interrupted"
    return snapshot


# -- a signing batch -------------------------------------------------------------------------------


async def test_kill_9_during_a_signing_batch(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken,
                                             slow_tsa: SlowTsa, terminal_agents: Callable[..., TerminalAgent]) -> None:
    home = tmp_path / "home"
    out_dir = configure(home, ORIGIN, test_pki, token=token, tsa_url=slow_tsa.url)
    agent = terminal_agents(home)
    sources = batch_sources()
    async with await BridgeClient.connect(ORIGIN, ports=[agent.port]) as client:
        cert = await certificate_id(client, agent, "signing", "Jeanne TITULAIRE",
                                    lambda s: s["kind"] == "pkcs11" and s["label"].startswith(token.label + " ("))
        job = await sign_batch(client, agent, sources, cert, token.pin)
        # Well into the batch: past a group commit of outputs, far from its end.
        at_kill = await follow_until(client, job["id"], lambda s: step_states(s)["sign"] == "running"
                                     and step_progress(s, "sign") >= 45)
        agent.kill9()
    assert step_progress(at_kill, "sign") < 90 and at_kill["current"]["index"] < BATCH, at_kill

    finished = assert_only_complete_outputs(out_dir, sources, test_pki)
    assert 0 < len(finished) < BATCH, len(finished)  # some were committed; the batch did not end
    for leftover in hidden_files(out_dir):
        assert TEMPORARY.match(leftover.name), leftover.name

    agent = terminal_agents(home, port=agent.port)
    await assert_interrupted_after_restart(agent, ORIGIN, job["id"], "sign")
    assert final_files(out_dir) == finished  # a restart renames nothing into place


# -- an online opening ------------------------------------------------------------------------------

CID = "C-2026-CRASH-OUVERTURE"
ENVELOPE_MB = 128


@dataclass
class Platform:
    origin: str
    store: DemoConsultations
    token: str


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    app = web.Application()
    store = add_consultation_routes(app, tmp_path / "platform", demo=False)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield Platform(f"http://127.0.0.1:{port}", store, store.issue_token())
    await runner.cleanup()


def seal_large_file(tmp_path: Path, recipient: Path, megabytes: int) -> tuple[Path, str]:
    """(envelope, SHA-256 of its content): ``openssl cms -encrypt`` AES-256-GCM, BER ``-stream``."""
    plain = tmp_path / "offre.zip"
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    with plain.open("wb") as out:
        for i in range(megabytes):
            piece = block[:-4] + i.to_bytes(4, "big")
            out.write(piece)
            digest.update(piece)
    sealed = tmp_path / "EL1_Offre.zip.p7m"
    subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-aes-256-gcm", "-stream", "-outform", "DER",
                    "-in", str(plain), "-out", str(sealed), str(recipient)], check=True, capture_output=True)
    plain.unlink()
    return sealed, digest.hexdigest()


async def test_kill_9_during_an_online_opening(tmp_path: Path, test_pki: TestPki, platform: Platform,
                                               terminal_agents: Callable[..., TerminalAgent]) -> None:
    sealed, content_sha = seal_large_file(tmp_path, test_pki.cert_pem("encryption"), ENVELOPE_MB)
    platform.store.add(CID, "Travaux de voirie", [
        DemoPli("Pli 1", "ENTREPRISE EXEMPLE", [DemoEnvelope("offre", [DemoFile("EL1_Offre.zip.p7m", path=sealed)])])])
    home = tmp_path / "home"
    keys = home / "Certificats"
    keys.mkdir(parents=True)
    shutil.copy(test_pki.p12("encryption", "pw"), keys / "chiffrement.p12")
    shutil.copy(test_pki.cert_pem("encryption"), keys / "chiffrement.crt")  # the published certificate
    out_dir = configure(home, platform.origin, test_pki, p12_dir=keys)
    folder = out_dir / "Plis" / platform.origin.split("//")[1].replace(":", "_") / CID
    envelope_dir = folder / "Pli 1 - ENTREPRISE EXEMPLE" / "offre"

    def opening() -> list[Path]:
        """The opened file's temporary name(s) (the download's part is ``.EL1_Offre.zip.p7m.part``)."""
        if not envelope_dir.exists():
            return []
        return [p for p in envelope_dir.iterdir()
                if p.name.startswith(".EL1_Offre.zip.") and not p.name.startswith(".EL1_Offre.zip.p7m")]

    agent = terminal_agents(home)
    params = {"url": f"/api/consultations/{CID}", "token": platform.token}
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        params["certificate"] = await certificate_id(client, agent, "decryption", "Jean DUPONT chiffrement",
                                                     lambda s: s["kind"] == "pkcs12")
        job = await client.start_job("bids.open", params)
        shown = await agent.consent("pw")  # the PKCS#12 password, typed in the agent's terminal
        assert "EL1_Offre.zip.p7m" in shown
        # Mid-decryption: the opened file is being written under its temporary name.
        await wait_until(lambda: any(p.stat().st_size >= 8 * 1024 * 1024 for p in opening()), timeout=120,
                         what="the decryption to be under way")
        snapshot = await client.call("jobs.get", {"id": job["id"]})
        agent.kill9()
    assert snapshot["state"] == "running" and step_states(snapshot)["decrypt"] == "running", snapshot

    # The sealed file is complete under its final name; the half-opened content only under a hidden one.
    assert [p.relative_to(folder).as_posix() for p in final_files(folder)] == [
        "Pli 1 - ENTREPRISE EXEMPLE/offre/EL1_Offre.zip.p7m"]
    assert hashlib.sha256((envelope_dir / "EL1_Offre.zip.p7m").read_bytes()).hexdigest() == \
        platform.store.consultations[CID].plis[0].envelopes[0].files[0].sha256
    (partial,) = opening()
    assert TEMPORARY.match(partial.name) and partial.stat().st_size < ENVELOPE_MB * 1024 * 1024
    assert not (envelope_dir / "EL1_Offre.zip").exists()
    assert platform.store.results == []  # nothing half-opened reached the platform

    agent = terminal_agents(home, port=agent.port)
    await assert_interrupted_after_restart(agent, platform.origin, job["id"], "decrypt")
    assert not (envelope_dir / "EL1_Offre.zip").exists()

    # Opening again after the crash works: the sealed file is only checked, the content is whole.
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        platform.store.requests.clear()
        job = await client.start_job("bids.open", {**params, "upload": False})
        await agent.consent("pw")
        final = await client.wait_job(job["id"], timeout=120)
    assert final["state"] == "succeeded", final
    assert platform.store.requests == []  # not downloaded again
    digest = hashlib.sha256()
    with (envelope_dir / "EL1_Offre.zip").open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    assert digest.hexdigest() == content_sha == final["result"]["files"][0]["sha256"]
