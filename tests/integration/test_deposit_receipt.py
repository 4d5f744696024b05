"""The deposit receipt ("accusé de réception"): the demo platform answers every sealed file a bidder
deposits with the receipt of its pli (files, sizes, SHA-256, time: PLATFORM.md section 6); the
agent's ``encrypt`` job checks its own sealed files against it and keeps it in the job's result,
and ``compagnon encrypt --deposit`` prints it.

The sealed files are the agent's real envelopes; the digests on the receipt are compared with what
the platform actually stored (read back over HTTP) and with ``sha256sum`` of the agent's outputs.
"""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization

from agent.demo_platform.app import DemoState, create_demo_app
from agent.demo_platform.consultations import CONSULTATIONS_KEY, DEPOSIT_CONSULTATION
from bridge_protocol.platform import parse_consultation, parse_receipt
from bridge_protocol.typed import ParseError
from tests.integration.test_demo_platform import bearer, make_certificate, sealed_form
from tests.integration.test_key_usage import run_cli
from tests.support.agent_process import free_port

DEPOSITS = f"/api/consultations/{DEPOSIT_CONSULTATION}"


@pytest.fixture
async def http() -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_demo_app(DemoState()), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


def sha256sum(path: Path) -> str:
    """The digest as coreutils computes it (an independent tool)."""
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True, timeout=30).stdout
    return out.split()[0]


async def test_each_deposit_is_answered_with_the_receipt_of_its_pli(http: TestClient) -> None:
    auth = await bearer(http)
    first, second, other = b"\x30\x80" + b"A" * 5000, b"\x30\x80" + b"B" * 70, b"\x30\x80" + b"C"
    before = datetime.now(UTC).replace(microsecond=0)
    receipts = []
    for data, source, depot in ((first, "offre.pdf", "d-1"), (second, "annexe.zip", "d-1"), (other, "x.pdf", "d-2")):
        response = await http.post(f"{DEPOSITS}/plis", params={"depot": depot}, data=sealed_form(data, source),
                                   headers=auth)
        assert response.status == 201, await response.text()
        receipts.append(parse_receipt((await response.json())["receipt"]))
    after = datetime.now(UTC)

    one, two, three = receipts
    assert (one.consultation, one.pli, one.label) == (DEPOSIT_CONSULTATION, "p1", "Pli 1")
    assert [(f.name, f.size, f.sha256) for f in one.files] == [
        ("offre.pdf.p7m", len(first), hashlib.sha256(first).hexdigest())]
    # The second file of the same pli: the receipt lists the whole pli so far.
    assert two.pli == "p1" and [(f.name, f.size, f.sha256) for f in two.files] == [
        ("offre.pdf.p7m", len(first), hashlib.sha256(first).hexdigest()),
        ("annexe.zip.p7m", len(second), hashlib.sha256(second).hexdigest())]
    assert three.pli == "p2" and [f.sha256 for f in three.files] == [hashlib.sha256(other).hexdigest()]
    assert len({one.id, two.id, three.id}) == 3
    for receipt in receipts:
        received = datetime.fromisoformat(receipt.received_at.replace("Z", "+00:00"))
        assert received.tzinfo is not None and before <= received <= after + timedelta(seconds=1)
    # What the receipt says is what the platform serves.
    consultation = parse_consultation(await (await http.get(DEPOSITS, headers=auth)).json())
    stored = [(f.name, f.size, f.sha256) for f in consultation.plis[0].envelopes[0].files]
    assert stored == [(f.name, f.size, f.sha256) for f in two.files]


def test_a_receipt_that_breaks_the_contract_is_refused() -> None:
    good = {"id": "AR-1", "consultation": "C1", "pli": "p1", "received_at": "2026-12-07T04:40:00Z",
            "files": [{"name": "a.p7m", "size": 1, "sha256": "ab" * 32}], "more": "ignored"}
    assert parse_receipt(good).files[0].size == 1
    for broken in ({**good, "files": [{"name": "a.p7m", "size": -1, "sha256": "ab" * 32}]},
                   {**good, "files": [{"name": "a.p7m", "size": 1, "sha256": "not hex"}]},
                   {**good, "pli": "../p1"}, {k: v for k, v in good.items() if k != "received_at"}, []):
        with pytest.raises(ParseError):
            parse_receipt(broken)


async def _agent_jobs(tmp_path: Path) -> tuple[Any, Any]:
    from agent.config import Settings
    from agent.consent import PolicyConsent
    from agent.files import FileRegistry
    from agent.jobs.context import JobServices
    from agent.jobs.manager import JobManager
    from agent.jobs.store import JobStore
    from agent.kinds.registry import KINDS, platform_client

    settings = Settings(state_dir=tmp_path / "state", log_dir=tmp_path / "log", output_dir=tmp_path / "Compagnon",
                        trust_system=False, pkcs11_modules=(), p12_dir=tmp_path / "keys")
    files = FileRegistry(tmp_path / "uploads", 10 * 1024 * 1024)
    services = JobServices(settings=settings, consent=PolicyConsent(False), files=files)
    return JobManager(services, store=JobStore(tmp_path / "state" / "jobs"),
                      kinds=KINDS, platform_client=platform_client), files


async def test_the_encrypt_job_keeps_the_receipt_and_checks_its_files_on_it(http: TestClient, tmp_path: Path) -> None:
    manager, files = await _agent_jobs(tmp_path)
    origin = str(http.make_url("/")).rstrip("/")
    auth = await bearer(http)
    _key, cert = make_certificate("Acheteur DURAND")
    recipients = [cert.public_bytes(serialization.Encoding.PEM).decode()]
    handles = [files.put(origin, None, name, data, True).handle
               for name, data in (("memoire.pdf", b"%PDF-1.7 memoire\n" * 3000), ("bpu.csv", b"prix;1\n"))]
    job = manager.start(origin, "encrypt", {
        "files": [{"handle": h} for h in handles], "recipients": recipients, "algorithm": "aes-256-gcm",
        "token": auth["Authorization"][7:], "upload_url": f"{DEPOSITS}/plis?depot=r1&company=ACME",
    })
    snapshot = (await manager.wait(job.id)).snapshot()
    assert snapshot["state"] == "succeeded", snapshot
    result = snapshot["result"]
    receipt = result["receipt"]
    assert receipt is not None and receipt["pli"] == "p1" and receipt["label"] == "Pli 1"
    assert "accusé de réception " + receipt["id"] in snapshot["message"] and "2 fichier(s) attesté(s)" in snapshot["message"]
    consultation = parse_consultation(await (await http.get(DEPOSITS, headers=auth)).json())
    stored = consultation.plis[0].envelopes[0].files
    assert (await http.post(f"{DEPOSITS}/deadline", json={"in_seconds": 0}, headers=auth)).status == 200
    for item, listed, sealed in zip(result["files"], receipt["files"], stored, strict=True):
        assert item["uploaded"] and item["receipted"], item
        assert sealed.url is not None
        served = await (await http.get(sealed.url, headers=auth)).read()
        assert (listed["size"], listed["sha256"]) == (len(served), hashlib.sha256(served).hexdigest())
        assert (item["size"], item["sha256"]) == (listed["size"], listed["sha256"])
    # The job's record on disk keeps the receipt: an agent started again still shows it.
    await manager.shutdown()
    from agent.jobs.manager import JobManager
    from agent.jobs.store import JobStore
    from agent.kinds.registry import KINDS, platform_client

    again = JobManager(manager.services, store=JobStore(tmp_path / "state" / "jobs"),
                       kinds=KINDS, platform_client=platform_client)
    assert again.get(origin, job.id).snapshot()["result"]["receipt"] == receipt


async def test_files_missing_from_the_receipt_are_not_shown_as_acknowledged(http: TestClient, tmp_path: Path) -> None:
    """A platform whose receipt does not list what the agent sent (another digest): the job keeps
    the receipt but marks nothing as acknowledged."""
    consultations = http.app[CONSULTATIONS_KEY]  # type: ignore[index]
    genuine = consultations.receipt

    def forged(cid: str, pli: Any) -> Any:
        receipt = genuine(cid, pli)
        for f in receipt.files:
            f.sha256 = hashlib.sha256(f.sha256.encode()).hexdigest()
        return receipt

    consultations.receipt = forged  # type: ignore[method-assign]
    manager, files = await _agent_jobs(tmp_path)
    origin = str(http.make_url("/")).rstrip("/")
    auth = await bearer(http)
    _key, cert = make_certificate("Acheteur DURAND")
    handle = files.put(origin, None, "memoire.pdf", b"%PDF-1.7\n" * 100, True).handle
    job = manager.start(origin, "encrypt", {
        "files": [{"handle": handle}], "recipients": [cert.public_bytes(serialization.Encoding.PEM).decode()],
        "token": auth["Authorization"][7:], "upload_url": f"{DEPOSITS}/plis?depot=r2",
    })
    snapshot = (await manager.wait(job.id)).snapshot()
    (item,) = snapshot["result"]["files"]
    assert item["uploaded"] is True and item["receipted"] is False
    assert snapshot["result"]["receipt"] is not None and "0 fichier(s) attesté(s)" in snapshot["message"]


async def test_the_command_line_deposits_and_prints_the_receipt(home: Path, tmp_path: Path) -> None:
    port = free_port()
    app = create_demo_app(DemoState())
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        origin = f"http://127.0.0.1:{port}"
        _key, cert = make_certificate("Acheteur DURAND")
        pem = tmp_path / "acheteur.pem"
        pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        bid = tmp_path / "offre.pdf"
        bid.write_bytes(b"%PDF-1.7 offre\n" * 2000)
        out_dir = tmp_path / "scelles"
        out_dir.mkdir()
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{origin}/api/token") as response:
                token = (await response.json())["token"]
        result = await asyncio.to_thread(
            run_cli, home, "encrypt", str(bid), "--to", str(pem), "--out-dir", str(out_dir),
            "--deposit", f"{origin}{DEPOSITS}/plis?depot=cli1&company=ACME", "--token-stdin", stdin=token + "\n")
    finally:
        await runner.cleanup()
    assert result.returncode == 0, result.stderr
    sealed = out_dir / "offre.pdf.p7m"
    digest = sha256sum(sealed)
    lines = result.stdout.splitlines()
    assert lines[0] == str(sealed)
    assert lines[1].startswith("Accusé de réception AR-") and "Pli 1, reçu le " in lines[1] and "UTC" in lines[1], lines
    assert lines[2].split() == ["offre.pdf.p7m", str(sealed.stat().st_size), "octets", "SHA-256", digest]


async def test_the_command_line_refuses_a_deposit_address_that_is_not_http(home: Path, tmp_path: Path) -> None:
    _key, cert = make_certificate("Acheteur DURAND")
    pem = tmp_path / "acheteur.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    bid = tmp_path / "offre.pdf"
    bid.write_bytes(b"%PDF-1.7\n")
    result = await asyncio.to_thread(run_cli, home, "encrypt", str(bid), "--to", str(pem), "--deposit", "/tmp/x")
    assert result.returncode == 2 and "--deposit attend une adresse http(s)" in result.stderr, result.stderr
