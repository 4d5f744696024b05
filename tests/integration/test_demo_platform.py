"""The demo platform's buyer side: tokens, encryption key registration ("Clés de chiffrement"),
recipients, sealed deposits ("Déposer une offre"), opened results, and its pages.

Certificates are real (``cryptography``); the last tests run the agent's own ``keygen`` and
``encrypt`` jobs against the demo, and ``openssl cms -decrypt`` opens what was deposited.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from agent.demo_platform import consultations as demo_consultations
from agent.demo_platform.app import NAV, PAGES, DemoState, create_demo_app
from agent.demo_platform.consultations import CONSULTATIONS_KEY, DEMO_CONSULTATION, DEPOSIT_CONSULTATION
from agent.demo_platform.keys import KEYS_KEY
from bridge_protocol.platform import parse_consultation

DEPOSITS = f"/api/consultations/{DEPOSIT_CONSULTATION}"


@pytest.fixture
async def http() -> AsyncIterator[TestClient]:
    client = TestClient(TestServer(create_demo_app(DemoState()), host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


async def bearer(http: TestClient) -> dict[str, str]:
    response = await http.post("/api/token")
    assert response.status == 200
    body = await response.json()
    assert body["expires_in"] > 0
    return {"Authorization": f"Bearer {body['token']}"}


def make_certificate(name: str, *, key: Any = None, days: int = 365) -> tuple[Any, x509.Certificate]:
    """A self-signed encryption certificate (RSA 2048 unless ``key`` is given)."""
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.KeyUsage(False, False, True, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def registration(name: str, cert: x509.Certificate, *, secours: bool = False) -> dict[str, Any]:
    """The JSON body the agent's keygen job posts to ``register_url``."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return {"name": name, "secours": secours, "certificate": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "sha256": hashlib.sha256(der).hexdigest()}


def sealed_form(data: bytes, source: str) -> aiohttp.FormData:
    """The multipart body of the agent's encrypt job with ``upload_url`` (sources.upload_file)."""
    form = aiohttp.FormData()
    form.add_field("file", data, filename=f"{source}.p7m", content_type="application/octet-stream")
    form.add_field("source", source)
    return form


# -- tokens and keys -------------------------------------------------------------------------------


async def test_token_route_and_key_routes_need_a_token(http: TestClient) -> None:
    for method, path in (("GET", "/api/keys"), ("POST", "/api/keys"), ("GET", f"{DEPOSITS}/recipients"),
                         ("GET", f"{DEPOSITS}/results"), ("POST", f"{DEPOSITS}/plis?depot=d1")):
        response = await http.request(method, path, headers={"Authorization": "Bearer pas-un-jeton"})
        assert response.status == 401, (method, path)
    auth = await bearer(http)
    assert await (await http.get("/api/keys", headers=auth)).json() == []
    # The per-consultation token route stays, from the same store.
    response = await http.post(f"{DEPOSITS}/token")
    token = (await response.json())["token"]
    assert (await http.get("/api/keys", headers={"Authorization": f"Bearer {token}"})).status == 200


async def test_keys_are_registered_listed_and_replaced_by_sha256(http: TestClient) -> None:
    auth = await bearer(http)
    _, personal = make_certificate("Jean DUPONT")
    _, secours = make_certificate("Service marchés - secours")
    response = await http.post("/api/keys", json=registration("Jean DUPONT", personal), headers=auth)
    assert response.status == 201
    first = await response.json()
    assert first["ok"] is True and first["id"]
    response = await http.post("/api/keys", json=registration("Secours", secours, secours=True), headers=auth)
    assert response.status == 201

    keys = await (await http.get("/api/keys", headers=auth)).json()
    assert [(k["name"], k["secours"], k["subject"]) for k in keys] == [
        ("Jean DUPONT", False, "Jean DUPONT"), ("Secours", True, "Service marchés - secours")]
    assert keys[0]["sha256"] == registration("x", personal)["sha256"]
    expected_end = personal.not_valid_after_utc
    assert datetime.fromisoformat(keys[0]["not_after"].replace("Z", "+00:00")) == expected_end
    assert abs(datetime.fromisoformat(keys[0]["created"].replace("Z", "+00:00")) - datetime.now(UTC)) < timedelta(minutes=1)
    assert "certificate" not in keys[0] and "pem" not in keys[0]

    # The same certificate again replaces its registration (same id, new name).
    response = await http.post("/api/keys", json=registration("Jean DUPONT (bureau)", personal), headers=auth)
    assert response.status == 201 and (await response.json())["id"] == first["id"]
    keys = await (await http.get("/api/keys", headers=auth)).json()
    assert sorted(k["name"] for k in keys) == ["Jean DUPONT (bureau)", "Secours"]

    # Recipients: every key, personal and secours, as PEM.
    response = await http.get(f"{DEPOSITS}/recipients", headers=auth)
    pems = (await response.json())["certificates"]
    assert sorted(x509.load_pem_x509_certificate(p.encode()).fingerprint(hashes.SHA256()) for p in pems) == sorted(
        c.fingerprint(hashes.SHA256()) for c in (personal, secours))
    assert (await http.get("/api/consultations/INCONNUE/recipients", headers=auth)).status == 404


async def test_bad_registrations_are_refused_with_a_json_error(http: TestClient) -> None:
    auth = await bearer(http)
    _, good = make_certificate("Jean DUPONT")
    _, ec_cert = make_certificate("Clé EC", key=ec.generate_private_key(ec.SECP256R1()))
    _, small = make_certificate("Petite clé", key=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    _, expired = make_certificate("Périmée", days=-1)
    wrong_digest = {**registration("Jean DUPONT", good), "sha256": "00" * 32}
    garbage = {**registration("Jean DUPONT", good), "certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}
    bodies: list[Any] = [
        wrong_digest, garbage, registration("Clé EC", ec_cert), registration("Petite", small),
        registration("Périmée", expired), {**registration("", good)}, {**registration("X", good), "secours": "oui"},
        {k: v for k, v in registration("X", good).items() if k != "sha256"}, [1, 2], "texte",
    ]
    for body in bodies:
        response = await http.post("/api/keys", json=body, headers=auth)
        assert response.status == 400, body
        assert (await response.json())["error"]
    response = await http.post("/api/keys", data=b"{pas du json", headers={**auth, "Content-Type": "application/json"})
    assert response.status == 400 and (await response.json())["error"]
    assert await (await http.get("/api/keys", headers=auth)).json() == []


# -- sealed deposits and opened results ---------------------------------------------------------


async def test_deposits_make_plis_in_the_descriptor(http: TestClient) -> None:
    auth = await bearer(http)
    response = await http.get(DEPOSITS, headers=auth)
    assert parse_consultation(await response.json()).plis == []

    offre, annexe, autre = b"\x30\x80" + b"A" * 70_000, b"\x30\x80" + b"B" * 1000, b"\x30\x80" + b"C" * 10
    answers = []
    for data, source, depot, company in ((offre, "offre.pdf", "depot-1", "ACME Travaux & Fils"),
                                         (annexe, "annexe financière.zip", "depot-1", "ACME Travaux & Fils"),
                                         (autre, "offre.pdf", "depot-2", None)):
        query = {"depot": depot, **({"company": company} if company else {})}
        response = await http.post(f"{DEPOSITS}/plis", params=query, data=sealed_form(data, source), headers=auth)
        assert response.status == 201, await response.text()
        answers.append(await response.json())
    assert [(a["pli"], a["file"]) for a in answers] == [("p1", "f1"), ("p1", "f2"), ("p2", "f3")]
    assert all(a["ok"] for a in answers) and answers[0]["sha256"] == hashlib.sha256(offre).hexdigest()

    consultation = parse_consultation(await (await http.get(DEPOSITS, headers=auth)).json())
    assert [(p.id, p.label, p.company) for p in consultation.plis] == [
        ("p1", "Pli 1", "ACME Travaux & Fils"), ("p2", "Pli 2", None)]
    (envelope,) = consultation.plis[0].envelopes
    assert (envelope.id, envelope.label) == ("e1", "offre")
    assert [(f.name, f.size, f.sha256) for f in envelope.files] == [
        ("offre.pdf.p7m", len(offre), hashlib.sha256(offre).hexdigest()),
        ("annexe financière.zip.p7m", len(annexe), hashlib.sha256(annexe).hexdigest())]
    # Not served before the deadline (none is set yet), then like every sealed file: whole, or from
    # a byte with Range.
    sealed = envelope.files[0]
    assert sealed.url is not None
    response = await http.get(sealed.url, headers=auth)
    assert response.status == 403 and (await response.json())["code"] == "DEADLINE_NOT_SET"
    response = await http.post(f"{DEPOSITS}/deadline", json={"in_seconds": 0}, headers=auth)
    assert response.status == 200, await response.text()
    response = await http.get(sealed.url, headers={**auth, "Range": "bytes=1000-"})
    assert response.status == 206 and await response.read() == offre[1000:]
    listing = await (await http.get("/api/consultations", headers=auth)).json()
    row = next(c for c in listing["consultations"] if c["id"] == DEPOSIT_CONSULTATION)
    assert row["plis"] == 2 and row["bytes"] == len(offre) + len(annexe) + len(autre)


async def test_bad_deposits_are_refused_and_leave_nothing(http: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = await bearer(http)
    store = http.app[CONSULTATIONS_KEY]  # type: ignore[index]
    folder = store.root / DEPOSIT_CONSULTATION
    cases = [
        (f"{DEPOSITS}/plis", {}, 400),  # no depot
        (f"{DEPOSITS}/plis", {"depot": "../x"}, 400),
        (f"/api/consultations/{DEMO_CONSULTATION}/plis", {"depot": "d1"}, 409),  # not open for deposits
        ("/api/consultations/INCONNUE/plis", {"depot": "d1"}, 404),
    ]
    for path, query, status in cases:
        response = await http.post(path, params=query, data=sealed_form(b"x", "offre.pdf"), headers=auth)
        assert response.status == status, (path, query)
    for multipart in (True, False):  # a form without the file part
        form = aiohttp.FormData(default_to_multipart=multipart)
        form.add_field("source", "offre.pdf")
        response = await http.post(f"{DEPOSITS}/plis", params={"depot": "d1"}, data=form, headers=auth)
        assert response.status == 400 and (await response.json())["error"]
    two = sealed_form(b"x", "offre.pdf")
    two.add_field("file", b"y", filename="autre.p7m")
    response = await http.post(f"{DEPOSITS}/plis", params={"depot": "d1"}, data=two, headers=auth)
    assert response.status == 400 and (await response.json())["error"]
    monkeypatch.setattr(demo_consultations, "MAX_DEPOSIT_BYTES", 1024)
    response = await http.post(f"{DEPOSITS}/plis", params={"depot": "d1"}, data=sealed_form(b"x" * 5000, "gros.pdf"),
                               headers=auth)
    assert response.status == 413
    assert store.consultations[DEPOSIT_CONSULTATION].plis == []
    assert not folder.exists() or list(folder.iterdir()) == []


async def test_opened_results_are_listed_per_consultation(http: TestClient) -> None:
    auth = await bearer(http)
    response = await http.post(f"{DEPOSITS}/plis", params={"depot": "d1", "company": "ACME"},
                               data=sealed_form(b"scelle", "offre.pdf"), headers=auth)
    sealed_sha = (await response.json())["sha256"]
    opened = "Offre — lot 2".encode()
    for content in (b"premier envoi", opened):  # a second upload of the same file replaces the first
        form = aiohttp.FormData()
        for key, value in {"pli_id": "p1", "envelope_id": "e1", "file_id": "f1", "name": "offre.pdf",
                           "size": str(len(content)), "sha256": hashlib.sha256(content).hexdigest(),
                           "sealed_sha256": sealed_sha}.items():
            form.add_field(key, value)
        form.add_field("file", content, filename="offre.pdf")
        assert (await http.post(f"{DEPOSITS}/results", data=form, headers=auth)).status == 201
    results = await (await http.get(f"{DEPOSITS}/results", headers=auth)).json()
    # Sent without the analyse's fields: listed without a verdict (none was given).
    assert results == [{"pli_id": "p1", "envelope_id": "e1", "file_id": "f1", "name": "offre.pdf",
                        "size": len(opened), "sha256": hashlib.sha256(opened).hexdigest(),
                        "signature_status": None, "signature_indication": None, "signature_signers": []}]
    assert await (await http.get(f"/api/consultations/{DEMO_CONSULTATION}/results", headers=auth)).json() == []


# -- pages -------------------------------------------------------------------------------------------


async def test_every_page_renders_with_the_common_navigation(http: TestClient) -> None:
    texts = [text for _, _, _, text in NAV]
    assert texts == ["Accueil", "Signer", "Déposer une offre", "Clés de chiffrement", "Ouverture et analyse"]
    for path in PAGES:
        response = await http.get(path)
        assert response.status == 200, path
        page = await response.text()
        assert "{{" not in page, path
        assert all(f">{text}</a>" in page for text in texts), path
        assert re.search(rf'<a id="[\w-]+" href="{re.escape(path)}" aria-current="page"', page), path
        script = re.search(r'<script type="module" src="(/static/\w+\.js)">', page)
        assert script, path
        assert (await http.get(script.group(1))).status == 200
        # The pages' common.js imports the platform kit's client and job view, served from bridge_protocol/js.
        for module in ("/js/compagnon.js", "/js/job-view.js"):
            served = await http.get(module)
            assert served.status == 200 and served.content_type == "text/javascript", module
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert not re.search(r"<[^>]+\son\w+=", page), path  # no inline handler (CSP script-src 'self')
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path  # no inline script
    for page, ids in (("/cles", ["key-name", "key-secours", "key-add", "key-rows", "keygen-job", "keygen-verdict"]),
                      ("/depot", ["depot-company", "depot-files", "depot-send", "depot-verdict"]),
                      ("/ouverture", ["consultation", "pli-rows", "open-online", "download-sealed", "job",
                                      "job-verdict"])):
        text = await (await http.get(page)).text()
        for element_id in ids:
            assert f'id="{element_id}"' in text, (page, element_id)


# -- with the agent's own jobs ----------------------------------------------------------------------


async def test_keygen_and_encrypt_jobs_work_against_the_demo(http: TestClient, tmp_path: Path) -> None:
    """The whole bidder side: the buyer's keygen registers its certificate, the bidder's encrypt
    seals to the recipients and deposits, and the deposited file opens with the buyer's key."""
    from agent.config import Settings
    from agent.consent import ConsentDecision, ConsentProvider, ConsentRequest, Secret
    from agent.files import FileRegistry
    from agent.jobs.context import JobServices
    from agent.jobs.manager import JobManager
    from agent.kinds.registry import KINDS, platform_client
    from agent.keystores.registry import KeyStoreRegistry
    from cryptography.hazmat.primitives.serialization import pkcs12

    password = "Mot de passe du bi-clé"

    class Approve(ConsentProvider):
        async def ask(self, request: ConsentRequest) -> ConsentDecision:
            return ConsentDecision(approved=True, pin=Secret(password))

    settings = Settings(state_dir=tmp_path / "state", log_dir=tmp_path / "log", output_dir=tmp_path / "Compagnon",
                        trust_system=False, pkcs11_modules=(), p12_dir=tmp_path / "keys")
    files = FileRegistry(tmp_path / "uploads", 10 * 1024 * 1024)
    manager = JobManager(JobServices(settings=settings, consent=Approve(), files=files,
                                     keystores=KeyStoreRegistry(settings, discover=False)),
                         kinds=KINDS, platform_client=platform_client)
    origin = str(http.make_url("/")).rstrip("/")

    async def run(kind: str, params: dict[str, Any]) -> dict[str, Any]:
        job = manager.start(origin, kind, params)
        return (await manager.wait(job.id)).snapshot()

    auth = await bearer(http)
    token = auth["Authorization"][7:]
    keygen = await run("keygen", {"name": "Jean DUPONT", "register_url": "/api/keys", "token": token})
    assert keygen["state"] == "succeeded" and keygen["result"]["registered"] is True, keygen
    (key,) = await (await http.get("/api/keys", headers=auth)).json()
    assert key["name"] == "Jean DUPONT" and key["sha256"] == keygen["result"]["sha256"] and key["secours"] is False

    recipients = (await (await http.get(f"{DEPOSITS}/recipients", headers=auth)).json())["certificates"]
    bid = "Mémoire technique — lot 2\n".encode() * 5000
    handle = files.put(origin, None, "memoire.pdf", bid, True).handle
    encrypt = await run("encrypt", {
        "files": [{"handle": handle}], "recipients": recipients, "algorithm": "aes-256-gcm", "token": token,
        "upload_url": f"{DEPOSITS}/plis?depot=a1b2c3&company=ACME%20Travaux",
    })
    assert encrypt["state"] == "succeeded", encrypt
    assert [(f["status"], f["uploaded"]) for f in encrypt["result"]["files"]] == [("encrypted", True)]

    consultation = parse_consultation(await (await http.get(DEPOSITS, headers=auth)).json())
    ((pli_id, company, sealed),) = [(p.id, p.company, f) for p in consultation.plis for e in p.envelopes for f in e.files]
    assert (pli_id, company, sealed.name) == ("p1", "ACME Travaux", "memoire.pdf.p7m")
    assert sealed.url is not None
    assert (await http.post(f"{DEPOSITS}/deadline", json={"in_seconds": 0}, headers=auth)).status == 200
    data = await (await http.get(sealed.url, headers=auth)).read()
    assert hashlib.sha256(data).hexdigest() == sealed.sha256

    p12 = pkcs12.load_pkcs12((tmp_path / "keys" / keygen["result"]["location"]).read_bytes(), password.encode())
    assert p12.key is not None
    key_pem = tmp_path / "key.pem"
    key_pem.write_bytes(p12.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
    sealed_path = tmp_path / "sealed.p7m"
    sealed_path.write_bytes(data)
    opened = subprocess.run(["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(sealed_path),
                             "-inkey", str(key_pem)], capture_output=True, timeout=60)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout == bid
    assert http.app[KEYS_KEY].recipients() == recipients  # type: ignore[index]
