"""The demo platform as a platform behaves across time: its state survives a restart (SQLite),
its plis cannot be opened before the consultation's deadline nor deposited after it, and its
pages carry a valid Content-Security-Policy that lets the agent's report keep its style."""

from __future__ import annotations

import base64
import hashlib
import re
import sqlite3
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from agent.validation.report_html import STYLE
from agent.demo_platform.app import PAGES, DemoState, create_demo_app
from agent.demo_platform.consultations import DEMO_CONSULTATION, DEPOSIT_CONSULTATION
from agent.demo_platform.database import DATABASE_NAME
from bridge_protocol.platform import parse_consultation

from tests.integration.test_demo_platform import bearer, make_certificate, registration, sealed_form

DEPOSITS = f"/api/consultations/{DEPOSIT_CONSULTATION}"


async def _started(data_dir: Path) -> TestClient:
    client = TestClient(TestServer(create_demo_app(DemoState(data_dir=data_dir)), host="127.0.0.1"))
    await client.start_server()
    return client


async def test_a_restarted_demo_keeps_keys_plis_receipts_results_and_signatures(tmp_path: Path) -> None:
    data_dir = tmp_path / "plateforme"
    http = await _started(data_dir)
    try:
        auth = await bearer(http)
        _, cert = make_certificate("Acheteur DURAND")
        assert (await http.post("/api/keys", json=registration("Acheteur DURAND", cert), headers=auth)).status == 201
        answer = await (await http.post(f"{DEPOSITS}/plis", params={"depot": "d1", "company": "ACME"},
                                         data=sealed_form(b"\x30\x80scelle", "offre.pdf"), headers=auth)).json()
        receipt = answer["receipt"]
        assert (await http.post(f"{DEPOSITS}/deadline", json={"in_seconds": 0}, headers=auth)).status == 200
        opened = b"offre ouverte"
        form = aiohttp.FormData()
        for key, value in {"pli_id": "p1", "envelope_id": "e1", "file_id": "f1", "name": "offre.pdf",
                           "size": str(len(opened)), "sha256": hashlib.sha256(opened).hexdigest(),
                           "sealed_sha256": answer["sha256"]}.items():
            form.add_field(key, value)
        form.add_field("file", opened, filename="offre.pdf")
        assert (await http.post(f"{DEPOSITS}/results", data=form, headers=auth)).status == 201
        signed = aiohttp.FormData()
        signed.add_field("source", "bpu.pdf")
        signed.add_field("source_sha256", "0" * 64)
        signed.add_field("file", b"%PDF signed", filename="bpu-signe.pdf")
        assert (await http.post("/api/signatures", data=signed, headers=auth)).status == 201
        before = {path: await (await http.get(path, headers=auth)).json()
                  for path in ("/api/keys", DEPOSITS, f"{DEPOSITS}/results", "/api/signatures", "/api/consultations",
                               f"{DEPOSITS}/recipients")}
    finally:
        await http.close()

    # The database is a real SQLite file that holds the receipt as the bidder got it.
    with sqlite3.connect(data_dir / DATABASE_NAME) as db:
        assert db.execute("SELECT COUNT(*) FROM keys").fetchone() == (1,)
        assert [r[0] for r in db.execute("SELECT id FROM receipts")] == [receipt["id"]]

    http = await _started(data_dir)
    try:
        auth = await bearer(http)
        after = {path: await (await http.get(path, headers=auth)).json() for path in before}
        assert after == before
        consultation = parse_consultation(after[DEPOSITS])
        assert [(p.label, p.company) for p in consultation.plis] == [("Pli 1", "ACME")]
        # The sealed file is still served (the deadline, kept too, has passed).
        url = consultation.plis[0].envelopes[0].files[0].url
        response = await http.get(url, headers=auth)
        assert response.status == 200 and await response.read() == b"\x30\x80scelle"
        # A new deposit on the restarted demo goes on numbering from what was kept.
        assert (await http.post(f"{DEPOSITS}/deadline", json={"in_seconds": 600}, headers=auth)).status == 200
        answer = await (await http.post(f"{DEPOSITS}/plis", params={"depot": "d2"},
                                         data=sealed_form(b"\x30\x80autre", "offre.pdf"), headers=auth)).json()
        assert (answer["pli"], answer["file"]) == ("p2", "f2")
        # The demo consultation made at the first start is the same, its files not made again.
        demo = parse_consultation(await (await http.get(f"/api/consultations/{DEMO_CONSULTATION}",
                                                        headers=auth)).json())
        assert len(demo.plis) == 2
    finally:
        await http.close()


async def test_plis_cannot_be_opened_before_the_deadline_nor_deposited_after(tmp_path: Path) -> None:
    http = await _started(tmp_path / "plateforme")
    try:
        auth = await bearer(http)
        answer = await (await http.post(f"{DEPOSITS}/plis", params={"depot": "d1"},
                                         data=sealed_form(b"\x30\x80scelle", "offre.pdf"), headers=auth)).json()
        url = f"{DEPOSITS}/files/{answer['file']}"
        refused = await http.get(url, headers=auth)
        assert refused.status == 403
        body = await refused.json()
        assert body["code"] == "DEADLINE_NOT_SET" and "date limite" in body["error"]

        answer = await (await http.post(f"{DEPOSITS}/deadline", json={"in_seconds": 3600}, headers=auth)).json()
        deadline = answer["deadline"]
        refused = await http.get(url, headers=auth)
        body = await refused.json()
        assert refused.status == 403 and body["code"] == "BEFORE_DEADLINE" and deadline in body["error"]
        listing = await (await http.get("/api/consultations", headers=auth)).json()
        row = next(c for c in listing["consultations"] if c["id"] == DEPOSIT_CONSULTATION)
        assert row["deadline"] == deadline and row["deposits"] is True

        for bad in ({"in_seconds": -1}, {"in_seconds": "60"}, {"in_seconds": True}, {}, {"in_seconds": 10**9}):
            response = await http.post(f"{DEPOSITS}/deadline", json=bad, headers=auth)
            assert response.status == 400 and (await response.json())["code"] == "INVALID_DEADLINE", bad
        assert (await http.post(f"{DEPOSITS}/deadline", json={"in_seconds": 0})).status == 401

        assert (await http.post(f"{DEPOSITS}/deadline", json={"in_seconds": 0}, headers=auth)).status == 200
        assert (await http.get(url, headers=auth)).status == 200
        late = await http.post(f"{DEPOSITS}/plis", params={"depot": "d2"},
                               data=sealed_form(b"\x30\x80tard", "offre.pdf"), headers=auth)
        assert late.status == 409 and (await late.json())["code"] == "DEADLINE_PASSED"
    finally:
        await http.close()


_SOURCE = re.compile(r"^('self'|'none'|'sha256-[A-Za-z0-9+/]{43}='|data:|ws://(127\.0\.0\.1|localhost):\*)$")


async def test_every_page_has_a_valid_policy_that_allows_the_report_style(tmp_path: Path) -> None:
    http = await _started(tmp_path / "plateforme")
    try:
        for path in PAGES:
            response = await http.get(path)
            policy = response.headers["Content-Security-Policy"]
            directives = {}
            for directive in policy.split(";"):
                name, *sources = directive.split()
                assert name not in directives, policy
                directives[name] = sources
                for source in sources:
                    assert _SOURCE.match(source), (path, source)
            assert "[" not in policy
            report_hash = base64.b64encode(hashlib.sha256(STYLE.encode("utf-8")).digest()).decode()
            assert f"'sha256-{report_hash}'" in directives["style-src"]
            assert "'unsafe-inline'" not in policy
            assert '<link rel="icon" href="/favicon.svg"' in await response.text()
        for icon in ("/favicon.svg", "/favicon.ico"):
            response = await http.get(icon)
            assert response.status == 200 and response.content_type == "image/svg+xml"
            assert (await response.text()).startswith("<svg")
    finally:
        await http.close()
