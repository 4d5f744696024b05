"""The platform side in OpenAPI 3.1 (schema/platform.openapi.json, generated from platform.py): a valid
document for a validator from PyPI, and true to the real traffic.

The agent's real jobs (``keygen`` with ``register_url``, ``encrypt`` and ``sign`` with ``upload_url``,
``bids.download`` with a network cut resumed by ``Range``, ``bids.open`` sending its results) run
against the demo platform through a recording proxy; every request and answer recorded must be one
the document allows, and every operation of the document must have been exercised.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from agent.demo_platform.app import DemoState, create_demo_app
from agent.demo_platform.consultations import CONSULTATIONS_KEY, DEMO_CONSULTATION, DEPOSIT_CONSULTATION
from bridge_protocol.documents import SCHEMA_DIR
from bridge_protocol.openapi import openapi_document
from tests.support.openapi_traffic import OffContract, check_exchange
from tests.support.pdf import make_pdf
from tests.support.pki import TestPki
from tests.support.recording_proxy import Exchange, RecordingProxy

OPENAPI = SCHEMA_DIR / "platform.openapi.json"
#: The signing file's password, and the new key file's (a PKCS#12 password has 8 characters at least).
PASSWORD = "Bi-cle de test 7351"


def test_document_on_disk_is_generated_and_valid_openapi_3_1() -> None:
    on_disk = json.loads(OPENAPI.read_text(encoding="utf-8"))
    assert on_disk == openapi_document(), "platform.openapi.json is stale: run `python -m bridge_protocol.documents`"
    assert on_disk["openapi"] == "3.1.0"
    validate(on_disk, cls=OpenAPIV31SpecValidator)


def test_the_validator_refuses_a_broken_document() -> None:
    broken = openapi_document()
    del broken["paths"]["/api/consultations/{consultation}"]["get"]["parameters"]
    with pytest.raises(Exception, match="consultation"):
        validate(broken, cls=OpenAPIV31SpecValidator)


def _exchange(method: str, path: str, *, status: int = 201, body: bytes = b"", content_type: str = "",
              answer: Any = None, response_headers: dict[str, str] | None = None) -> Exchange:
    request_headers = CIMultiDict({"Authorization": "Bearer t0k3n"})
    if content_type:
        request_headers["Content-Type"] = content_type
    headers = CIMultiDict(response_headers or {})
    raw = b""
    if answer is not None:
        headers["Content-Type"] = "application/json"
        raw = json.dumps(answer).encode()
    return Exchange(method, path, {}, request_headers, body, status, headers, raw)


def test_the_checker_refuses_exchanges_off_the_contract() -> None:
    """What the traffic check catches: a member missing or unknown, an undocumented status, a 206
    without Content-Range, a descriptor breaking its types, a request without the token."""
    doc = openapi_document()
    good = {"name": "Marie", "secours": False, "certificate": "-----BEGIN CERTIFICATE-----", "sha256": "a" * 64}
    assert check_exchange(doc, _exchange("POST", "/api/keys", body=json.dumps(good).encode(),
                                         content_type="application/json", answer={"ok": True})) == "postKeyRegistration"
    for wrong in ({k: v for k, v in good.items() if k != "sha256"}, {**good, "private_key": "..."},
                  {**good, "sha256": "zz"}):
        with pytest.raises(OffContract):
            check_exchange(doc, _exchange("POST", "/api/keys", body=json.dumps(wrong).encode(),
                                          content_type="application/json", answer={"ok": True}))
    with pytest.raises(OffContract, match="status 500"):
        check_exchange(doc, _exchange("POST", "/api/keys", status=500, body=json.dumps(good).encode(),
                                      content_type="application/json"))
    with pytest.raises(OffContract, match="Content-Range"):
        check_exchange(doc, _exchange("GET", "/api/consultations/C1/files/f1", status=206))
    with pytest.raises(OffContract):
        check_exchange(doc, _exchange("GET", "/api/consultations/C1", status=200,
                                      answer={"id": "C1", "title": "T", "plis": [{"id": "../p1", "label": "x"}]}))
    no_token = _exchange("GET", "/api/consultations/C1", status=200, answer={"id": "C1", "title": "T"})
    del no_token.request_headers["Authorization"]
    with pytest.raises(OffContract, match="bearer"):
        check_exchange(doc, no_token)


@pytest.fixture
async def demo() -> AsyncIterator[tuple[str, web.Application]]:
    app = create_demo_app(DemoState())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", app
    await runner.cleanup()


def _jobs(tmp_path: Path, test_pki: TestPki) -> tuple[Any, Any, str]:
    from agent.config import Settings
    from agent.consent import ConsentDecision, ConsentProvider, ConsentRequest, Secret
    from agent.files import FileRegistry
    from agent.jobs.context import JobServices
    from agent.jobs.manager import JobManager
    from agent.keystores.pkcs12_store import Pkcs12FileStore
    from agent.keystores.registry import KeyStoreRegistry
    from agent.kinds.registry import KINDS, platform_client

    class Approve(ConsentProvider):
        """The user approves each request and types the PIN (or the new key file's password)."""

        async def ask(self, request: ConsentRequest) -> ConsentDecision:
            return ConsentDecision(True, Secret(PASSWORD))

    signer = Pkcs12FileStore(test_pki.p12("qualified", PASSWORD))
    (key,) = signer.unlock(Secret(PASSWORD))
    settings = Settings(state_dir=tmp_path / "state", log_dir=tmp_path / "log", output_dir=tmp_path / "Compagnon",
                        trust_system=False, pkcs11_modules=(), p12_dir=tmp_path / "keys")
    files = FileRegistry(tmp_path / "uploads", 64 * 1024 * 1024)
    services = JobServices(settings=settings, consent=Approve(), files=files,
                           keystores=KeyStoreRegistry(settings, p12=[signer]))
    return JobManager(services, kinds=KINDS, platform_client=platform_client), files, key.id


async def test_the_demo_platforms_real_traffic_matches_the_document(tmp_path: Path, test_pki: TestPki,
                                                                    demo: tuple[str, web.Application]) -> None:
    upstream, app = demo
    proxy = await RecordingProxy(upstream).start()
    try:
        async with aiohttp.ClientSession() as http, http.post(f"{upstream}/api/token") as response:
            token = (await response.json())["token"]
        manager, files, signer = _jobs(tmp_path, test_pki)
        origin = proxy.origin

        async def run(kind: str, params: dict[str, Any]) -> dict[str, Any]:
            job = manager.start(origin, kind, {**params, "token": token})
            snapshot = (await manager.wait(job.id)).snapshot()
            assert snapshot["state"] == "succeeded", snapshot
            return snapshot["result"]

        key = await run("keygen", {"name": "Marie ACHETEUSE", "register_url": "/api/keys"})
        assert key["registered"]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            async with http.get(f"{upstream}/api/consultations/{DEPOSIT_CONSULTATION}/recipients") as response:
                recipients = (await response.json())["certificates"]
        bid = files.put(origin, None, "Memoire technique.pdf", make_pdf(pages=3), True).handle
        sealed = await run("encrypt", {"files": [{"handle": bid}], "recipients": recipients, "algorithm": "aes-256-gcm",
                                       "upload_url": f"/api/consultations/{DEPOSIT_CONSULTATION}/plis?depot=d1&company=ACME"})
        assert sealed["files"][0]["uploaded"]
        signed = await run("sign", {"files": [{"handle": bid, "format": "pades"}], "certificate": signer,
                                    "upload_url": "/api/signatures"})
        assert signed["files"][0]["uploaded"]

        # A network cut in the middle of the first sealed file: the agent resumes it with Range.
        store = app[CONSULTATIONS_KEY]
        first = next(f for p in store.consultations[DEMO_CONSULTATION].plis for e in p.envelopes for f in e.files
                     if f.url)
        proxy.cut_once.add(f"/api/consultations/{DEMO_CONSULTATION}/files/{first.id}")
        downloaded = await run("bids.download", {"url": f"/api/consultations/{DEMO_CONSULTATION}"})
        assert {f["status"] for f in downloaded["files"]} == {"downloaded"}
        # The buyer closes the deposits (the demo's own route, outside the platform contract: sent
        # straight to the demo, not through the proxy); plis open from the deadline on.
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            async with http.post(f"{upstream}/api/consultations/{DEPOSIT_CONSULTATION}/deadline",
                                 json={"in_seconds": 0}) as response:
                assert response.status == 200, await response.text()
        opened = await run("bids.open", {"url": f"/api/consultations/{DEPOSIT_CONSULTATION}"})
        assert opened["uploaded"] == 1
    finally:
        await proxy.stop()

    doc = json.loads(OPENAPI.read_text(encoding="utf-8"))
    seen: dict[str, set[int]] = {}
    for exchange in proxy.exchanges:
        seen.setdefault(check_exchange(doc, exchange), set()).add(exchange.status)
    operations = {op["operationId"] for item in doc["paths"].values() for op in item.values()}
    assert set(seen) == operations, seen
    assert seen["getSealedFile"] == {200, 206}, seen  # the whole file, then the rest after the cut
    resumed = [e for e in proxy.exchanges if e.status == 206]
    assert resumed and all(e.request_headers["Range"].startswith("bytes=") for e in resumed)
