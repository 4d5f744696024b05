"""The platform misbehaves: the network is cut while the agent sends a result, or its clock is hours
off. A real agent process in a pseudo-terminal (consent code and PIN or password typed there)
against a platform on loopback.

* Network cut during an upload — the platform resets the connection in the middle of the request
  body: a ``sign`` job with ``upload_url`` reports ``PLATFORM_UNREACHABLE`` for that file
  (``uploaded`` false) and the signed output stays where it was written, complete and readable
  through ``files.get``; a ``bids.open`` whose result upload is cut fails ``PLATFORM_UNREACHABLE``
  and the opened file stays in the folder, byte-exact. (A cut *download* is resumed with Range:
  tests/integration/test_bids_download.py.)
* Platform clock hours off — ``diagnose`` reports it (tests/integration/test_bridge_protocol.py::
  test_diagnose_reports_a_platform_clock_hours_off); signing B-T from that page still works and
  its time comes from the time-stamping service, never from the platform's ``Date``.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import struct
import subprocess
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web
from asn1crypto import cms, tsp

from bridge_protocol.client import BridgeClient
from agent.demo_platform.consultations import (
    DemoConsultations,
    DemoEnvelope,
    DemoFile,
    DemoPli,
    add_consultation_routes,
)
from tests.faults.terminal import TerminalAgent, certificate_id, configure, final_files, hidden_files, step_states
from tests.integration.test_sign_job import download, upload
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken
from tests.support.verifiers import openssl_cms_ok

CID = "C-2026-COUPURE"
CLOCK_OFFSET = timedelta(hours=5)


@dataclass
class Platform:
    """The demo platform's consultation routes, plus routes that cut the connection mid-body."""

    origin: str
    store: DemoConsultations
    token: str
    #: Bytes of each cut request's body that arrived before the reset.
    cut: list[int] = field(default_factory=list)


async def cut_mid_body(request: web.Request, platform: Platform) -> web.StreamResponse:
    """Read a part of the request body, then reset the connection (RST, as a network cut does)."""
    received = len(await request.content.read(32 * 1024))
    platform.cut.append(received)
    transport = request.transport
    assert transport is not None
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    raise web.HTTPServiceUnavailable()  # never sent: the connection is gone


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    store = add_consultation_routes(app, tmp_path / "platform", demo=False)
    holder: list[Platform] = []

    async def cut(request: web.Request) -> web.StreamResponse:
        return await cut_mid_body(request, holder[0])

    app.router.add_post("/signatures", cut)  # the sign job's upload_url
    app.router.add_post(f"/api/consultations/{CID}/coupure", cut)  # the descriptor's result_url

    async def root(_: web.Request) -> web.Response:  # what diagnose reads the platform's clock from
        return web.Response(text="plateforme", headers={"Date": format_datetime(datetime.now(UTC) + CLOCK_OFFSET,
                                                                                usegmt=True)})

    app.router.add_get("/", root)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    holder.append(Platform(f"http://127.0.0.1:{port}", store, store.issue_token()))
    yield holder[0]
    await runner.cleanup()


async def test_network_cut_while_a_signature_is_uploaded(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken,
                                                        platform: Platform,
                                                        terminal_agents: Callable[..., TerminalAgent]) -> None:
    home = tmp_path / "home"
    out_dir = configure(home, platform.origin, test_pki, token=token)
    agent = terminal_agents(home)
    document = b"%PDF-1.4 memoire technique " * 80_000  # about 2 MB: the cut falls inside the body
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        cert = await certificate_id(client, agent, "signing", "Jeanne TITULAIRE",
                                    lambda s: s["kind"] == "pkcs11" and s["label"].startswith(token.label + " ("))
        handle = await upload(client, "memoire.pdf", document)
        job = await client.start_job("sign", {"files": [{"handle": handle, "format": "cades", "attached": True}],
                                              "certificate": cert, "upload_url": "/signatures", "token": "jeton-court"})
        await agent.consent(token.pin)
        final = await client.wait_job(job["id"], timeout=120)
        assert final["state"] == "succeeded", final  # signed: the failed upload is the file's own error
        (item,) = final["result"]["files"]
        signed = await download(client, item["output_handle"])  # the page can still fetch it
    assert platform.cut and platform.cut[0] < len(document)  # the platform had part of the body only
    assert item["status"] == "signed" and item["uploaded"] is False
    assert item["error"]["code"] == "PLATFORM_UNREACHABLE" and item["error"]["message"], item
    # The local output is kept, complete, under its final name.
    (output,) = final_files(out_dir)
    assert output.name == item["output"] and output.read_bytes() == signed
    assert hidden_files(out_dir) == []
    assert openssl_cms_ok(output, None, test_pki)  # attached: the content is inside
    content = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(output),
                              "-noverify"], capture_output=True, check=True).stdout
    assert content == document


async def test_network_cut_while_an_opened_bid_is_sent_back(tmp_path: Path, test_pki: TestPki, platform: Platform,
                                                           terminal_agents: Callable[..., TerminalAgent]) -> None:
    opened = b"PK\x03\x04 offre " + bytes(range(256)) * 4096  # 1 MiB
    plain = tmp_path / "offre.zip"
    plain.write_bytes(opened)
    sealed = subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-aes-256-gcm", "-outform", "DER",
                             "-in", str(plain), str(test_pki.cert_pem("encryption"))],
                            check=True, capture_output=True).stdout
    platform.store.add(CID, "Travaux de voirie", [
        DemoPli("Pli 1", None, [DemoEnvelope("offre", [DemoFile("offre.zip.p7m", data=sealed)])])])
    platform.store.consultations[CID].result_url = f"/api/consultations/{CID}/coupure"
    home = tmp_path / "home"
    keys = home / "Certificats"
    keys.mkdir(parents=True)
    shutil.copy(test_pki.p12("encryption", "pw"), keys / "chiffrement.p12")
    shutil.copy(test_pki.cert_pem("encryption"), keys / "chiffrement.crt")
    out_dir = configure(home, platform.origin, test_pki, p12_dir=keys)
    agent = terminal_agents(home)
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        cert = await certificate_id(client, agent, "decryption", "Jean DUPONT chiffrement",
                                    lambda s: s["kind"] == "pkcs12")
        job = await client.start_job("bids.open", {"url": f"/api/consultations/{CID}", "token": platform.token,
                                                   "certificate": cert})
        await agent.consent("pw")
        final = await client.wait_job(job["id"], timeout=120)
    assert final["state"] == "failed", final
    assert final["error"]["code"] == "PLATFORM_UNREACHABLE"
    assert "offre.zip" in final["error"]["message"] and "non transmis" in final["error"]["message"]
    assert step_states(final)["decrypt"] == "succeeded"
    assert platform.cut and platform.cut[0] < len(opened) and platform.store.results == []
    folder = out_dir / "Plis" / platform.origin.split("//")[1].replace(":", "_") / CID
    kept = folder / "Pli 1" / "offre" / "offre.zip"
    assert kept.read_bytes() == opened  # the opened file stays, whole
    assert hidden_files(folder) == []


async def test_signing_with_a_platform_clock_hours_off_takes_the_time_of_the_tsa(
    tmp_path: Path, test_pki: TestPki, token: ProvisionedToken, platform: Platform,
    terminal_agents: Callable[..., TerminalAgent]
) -> None:
    home = tmp_path / "home"
    out_dir = configure(home, platform.origin, test_pki, token=token, tsa_url=test_pki.tsa_url)
    agent = terminal_agents(home)
    document = b"%PDF-1.4 acte d'engagement " * 1000
    async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
        diagnosed = await client.run_job("diagnose", {})
        clock = next(c for c in diagnosed["result"]["checks"] if c["id"] == "clock")
        assert clock["status"] == "fail"  # the page's platform is 5 hours ahead (the diagnose test's case)
        cert = await certificate_id(client, agent, "signing", "Jeanne TITULAIRE",
                                    lambda s: s["kind"] == "pkcs11" and s["label"].startswith(token.label + " ("))
        handle = await upload(client, "acte.pdf", document)
        job = await client.start_job("sign", {"files": [{"handle": handle, "format": "cades"}], "certificate": cert,
                                              "level": "B-T"})
        await agent.consent(token.pin)
        final = await client.wait_job(job["id"], timeout=120)
    assert final["state"] == "succeeded", final
    (output,) = final_files(out_dir)
    content = tmp_path / "acte.pdf"
    content.write_bytes(document)
    assert openssl_cms_ok(output, content, test_pki)
    (signer,) = cms.ContentInfo.load(output.read_bytes())["content"]["signer_infos"]
    stamp = next(a for a in signer["unsigned_attrs"] if a["type"].native == "signature_time_stamp_token")
    token_info = stamp["values"][0]["content"]["encap_content_info"]["content"].parsed
    assert isinstance(token_info, tsp.TSTInfo)
    gen_time = token_info["gen_time"].native
    now = datetime.now(UTC)
    assert abs(gen_time - now) < timedelta(minutes=5), (gen_time, now)  # the TSA's time, not the platform's
    assert token_info["message_imprint"]["hashed_message"].native == hashlib.sha256(signer["signature"].native).digest()
    signing_time = next(a for a in signer["signed_attrs"] if a["type"].native == "signing_time")["values"][0].native
    assert abs(signing_time - now) < timedelta(minutes=5)

