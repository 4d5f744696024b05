"""``bids.open`` ("Ouvrir en ligne") end to end against the demo platform's routes on loopback.

Sealed files are made by ``openssl cms -encrypt`` (AES-256-GCM, ``-stream`` BER, two recipients)
and by our own ``encrypt`` (one stored in blocks); the job fetches them, asks the consent (which
must list every sealed file with its SHA-256), decrypts with a real PKCS#12 key or the SoftHSM
token, and uploads each opened file to the descriptor's ``result_url``, where the platform checks
its SHA-256. Also: files not sealed to the user's key, a tampered GCM envelope, a refused consent,
a ``result_url`` on another origin, a platform refusing the upload.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509

from agent.config import Settings
from agent.consent import ConsentDecision, ConsentProvider, ConsentRequest, Secret
from agent.envelopes import encrypt
from agent.jobs.context import JobServices
from agent.jobs.manager import JobManager
from agent.kinds.registry import KINDS, platform_client
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.keystores.registry import KeyStoreRegistry
from agent.demo_platform.consultations import DemoConsultations, DemoEnvelope, DemoFile, DemoPli, add_consultation_routes
from tests.support.agent_process import ROOT, isolated_env
from tests.support.leaf_certs import issue_leaf
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken

KIND = "bids.open"
CID = "C-2026-OUVERTURE"


class Recording(ConsentProvider):
    """Approves (or refuses) and keeps what the user was shown."""

    def __init__(self, approve: bool = True, pin: str | None = "pw") -> None:
        self.approve, self.pin = approve, pin
        self.asked: list[ConsentRequest] = []

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        self.asked.append(request)
        return ConsentDecision(self.approve, Secret(self.pin) if self.pin and self.approve else None)


@dataclass
class Platform:
    origin: str
    store: DemoConsultations
    token: str


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[Platform]:
    app = web.Application()
    store = add_consultation_routes(app, tmp_path / "platform", demo=False)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield Platform(f"http://127.0.0.1:{port}", store, store.issue_token())
    await runner.cleanup()


def openssl_seal(data: bytes, tmp: Path, *recipients: Path, options: tuple[str, ...] = ("-aes-256-gcm",),
                 keyopts: tuple[str, ...] = ()) -> bytes:
    """``openssl cms -encrypt``; ``keyopts`` apply to each recipient (they follow its ``-recip``)."""
    source = tmp / f"clair-{os.urandom(4).hex()}"
    source.write_bytes(data)
    recipient_args = [a for r in recipients for a in ("-recip", str(r), *keyopts)]
    return subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", *options, "-in", str(source),
                           *recipient_args], check=True, capture_output=True).stdout


def our_seal(data: bytes, *recipients: Path, algorithm: str = "aes-256-cbc") -> bytes:
    certificates = [x509.load_pem_x509_certificate(p.read_bytes()) for p in recipients]
    out = io.BytesIO()
    encrypt(io.BytesIO(data), out, certificates, algorithm=algorithm)
    return out.getvalue()


def manager_for(tmp_path: Path, test_pki: TestPki, consent: ConsentProvider) -> JobManager:
    store = Pkcs12FileStore(test_pki.p12("encryption", "pw"))
    store.unlock(Secret("pw"))
    settings = Settings(output_dir=tmp_path / "Compagnon", state_dir=tmp_path / "state", log_dir=tmp_path / "log",
                        trust_system=False, pkcs11_modules=())
    return JobManager(JobServices(settings=settings, consent=consent,
                                  keystores=KeyStoreRegistry(settings, p12=[store], discover=False)),
                      kinds=KINDS, platform_client=platform_client)


def folder_of(tmp_path: Path, platform: Platform) -> Path:
    return tmp_path / "Compagnon" / "Plis" / platform.origin.split("//")[1].replace(":", "_") / CID


async def run(manager: JobManager, platform: Platform, **params: object) -> tuple[dict, list[dict]]:
    seen: list[dict] = []
    manager.add_listener(lambda origin, snapshot: seen.append(snapshot))
    job = manager.start(platform.origin, KIND, {"url": f"/api/consultations/{CID}", "token": platform.token, **params})
    return (await manager.wait(job.id)).snapshot(), seen


async def test_opens_every_envelope_and_sends_each_opened_file_back(tmp_path: Path, test_pki: TestPki,
                                                                     platform: Platform) -> None:
    mine = test_pki.cert_pem("encryption")
    secours = issue_leaf(test_pki, tmp_path / "secours", "Cle de SECOURS", key_usage={"key_encipherment"}).cert_pem
    candidature = b"PK\x03\x04 dossier de candidature " + os.urandom(50_000)
    offre = b"%PDF-1.4 offre " + os.urandom(700_000)
    annexe = b"Annexe financiere\n" * 10_000
    platform.store.add(CID, "Travaux de voirie", [
        DemoPli("Pli 1", "LOCAL TRUST", [
            # openssl, AES-256-GCM, BER -stream, secours recipient first.
            DemoEnvelope("candidature", [DemoFile("EL1_Candidature.zip.p7m", data=openssl_seal(
                candidature, tmp_path, secours, mine, options=("-aes-256-gcm", "-stream", "-indef")))]),
            DemoEnvelope("offre", [DemoFile("EL1_Offre.pdf.p7m", data=our_seal(offre, mine, secours),
                                            block_size=256 * 1024)]),
        ]),
        DemoPli("Pli 2", "ATELIER DUPONT", [
            DemoEnvelope("offre", [DemoFile("EL2_Annexe.txt.p7m", data=openssl_seal(annexe, tmp_path, mine,
                                                                                      options=("-aes-128-cbc",)))]),
        ]),
    ], reference="2026-042-VOIRIE")
    consent = Recording()
    manager = manager_for(tmp_path, test_pki, consent)
    final, seen = await run(manager, platform)
    assert final["state"] == "succeeded", final["error"]
    result = final["result"]
    assert (result["envelopes"], result["opened"], result["failed"], result["uploaded"]) == (3, 3, 0, 3)
    assert result["reference"] == "2026-042-VOIRIE"

    # The steps of the reference screen with the analyse before the end, and "enveloppe x sur y" live.
    assert [s["label"] for s in final["steps"]] == [
        "Récupération des fichiers descripteurs", "Récupération de la clé privée dans votre magasin de certificats",
        "Déchiffrement de l'enveloppe 3 sur 3", "Vérification des signatures et transmission à la plateforme",
        "Déchiffrement terminé"]
    # The analyse: the text file has no signature ("non signé" is no failure); the "ZIP" and "PDF"
    # made of random bytes could not be analysed, which is said, not shown as a signature verdict.
    checks = {Path(f["name"]).name: f["signature"] for f in result["files"]}
    assert (checks["EL2_Annexe.txt"]["status"], checks["EL2_Annexe.txt"]["label"]) == ("unsigned", "Non signé")
    for name in ("EL1_Candidature.zip", "EL1_Offre.pdf"):
        assert (checks[name]["status"], checks[name]["indication"]) == ("error", None), checks[name]
        assert checks[name]["label"].startswith("Non vérifié : ") and checks[name]["error"]["code"] == "FILE_UNREADABLE"
    labels = {s["steps"][2]["label"] for s in seen}
    assert {"Déchiffrement de l'enveloppe 1 sur 3", "Déchiffrement de l'enveloppe 2 sur 3"} <= labels
    assert any((s["current"] or {}).get("label") == "enveloppe" for s in seen)
    assert final["progress"] == 100

    # Promise 4: the consent listed each sealed file with its size and SHA-256, and said where it goes.
    (request,) = consent.asked
    descriptor = platform.store.consultations[CID]
    sealed = {f.name: f for p in descriptor.plis for e in p.envelopes for f in e.files}
    assert {(f.name, f.size, f.sha256) for f in request.files} == {(s.name, s.size, s.sha256) for s in sealed.values()}
    assert platform.origin in request.summary and "Jean DUPONT chiffrement" in (request.certificate or "")

    # Opened beside the sealed files, byte-exact, and received by the platform with the right fields.
    folder = folder_of(tmp_path, platform)
    expected = {"EL1_Candidature.zip": candidature, "EL1_Offre.pdf": offre, "EL2_Annexe.txt": annexe}
    for entry in result["files"]:
        assert entry["status"] == "opened" and entry["uploaded"], entry
        opened = (folder / entry["name"]).read_bytes()
        assert opened == expected[Path(entry["name"]).name]
        assert entry["sha256"] == hashlib.sha256(opened).hexdigest()
        assert entry["sealed_sha256"] == sealed[entry["source"]].sha256
    received = {r["name"]: r for r in platform.store.results}
    assert set(received) == set(expected)
    for name, data in expected.items():
        assert received[name]["path"].read_bytes() == data
        assert received[name]["sha256"] == hashlib.sha256(data).hexdigest()
    assert {(r["pli_id"], r["envelope_id"]) for r in received.values()} == {("p1", "e1"), ("p1", "e2"), ("p2", "e1")}
    assert sorted(f.name for f in (folder / "Pli 1 - LOCAL TRUST" / "offre").iterdir()) == [
        "EL1_Offre.pdf", "EL1_Offre.pdf.p7m"]  # the sealed file and what it held, nothing else

    # Opening again is idempotent: nothing downloaded again, the same opened files.
    platform.store.requests.clear()
    again, _ = await run(manager, platform, plis=["p2"])
    assert again["state"] == "succeeded" and again["result"]["opened"] == 1
    assert platform.store.requests == []
    assert (folder / "Pli 2 - ATELIER DUPONT" / "offre" / "EL2_Annexe.txt").read_bytes() == annexe
    assert not (folder / "Pli 2 - ATELIER DUPONT" / "offre" / "EL2_Annexe (2).txt").exists()


async def test_what_is_not_sealed_to_the_user_fails_alone_and_a_tampered_tag_leaves_nothing(
    tmp_path: Path, test_pki: TestPki, platform: Platform
) -> None:
    mine, other = test_pki.cert_pem("encryption"), test_pki.cert_pem("plain")
    good = b"offre lisible " * 1000
    tampered = bytearray(openssl_seal(b"offre alteree " * 1000, tmp_path, mine))
    tampered[-40] ^= 0x01  # inside the ciphertext: the GCM tag check fails at the end
    platform.store.add(CID, "Consultation", [
        DemoPli("Pli 1", None, [DemoEnvelope("offre", [DemoFile("bon.txt.p7m", data=openssl_seal(good, tmp_path, mine))])]),
        DemoPli("Pli 2", None, [DemoEnvelope("offre", [DemoFile("autre.txt.p7m", data=openssl_seal(good, tmp_path, other))])]),
        DemoPli("Pli 3", None, [DemoEnvelope("offre", [DemoFile("altere.txt.p7m", data=bytes(tampered))])]),
    ])
    manager = manager_for(tmp_path, test_pki, Recording())
    final, _ = await run(manager, platform)
    assert final["state"] == "succeeded", final["error"]
    by_source = {f["source"]: f for f in final["result"]["files"]}
    assert by_source["bon.txt.p7m"]["status"] == "opened"
    assert by_source["autre.txt.p7m"]["error"]["code"] == "NO_MATCHING_RECIPIENT"
    assert by_source["altere.txt.p7m"]["error"]["code"] == "DECRYPTION_FAILED"
    folder = folder_of(tmp_path, platform)
    assert not (folder / "Pli 3" / "offre" / "altere.txt").exists()
    assert not any(p.name.startswith(".altere") for p in (folder / "Pli 3" / "offre").iterdir())
    assert [r["name"] for r in platform.store.results] == ["bon.txt"]
    assert "1 fichier(s) déchiffré(s) sur 3" in final["message"]

    # Nothing sealed to the user at all: the job fails with that code and decrypts nothing.
    only_other, _ = await run(manager, platform, plis=["p2"])
    assert only_other["state"] == "failed" and only_other["error"]["code"] == "NO_MATCHING_RECIPIENT"


async def test_a_refused_consent_opens_and_sends_nothing(tmp_path: Path, test_pki: TestPki, platform: Platform) -> None:
    platform.store.add(CID, "Consultation", [DemoPli("Pli 1", None, [DemoEnvelope("offre", [
        DemoFile("offre.txt.p7m", data=openssl_seal(b"offre " * 100, tmp_path, test_pki.cert_pem("encryption")))])])])
    manager = manager_for(tmp_path, test_pki, Recording(approve=False))
    final, _ = await run(manager, platform)
    assert final["state"] == "failed" and final["error"]["code"] == "USER_CANCELLED"
    assert [s["state"] for s in final["steps"]] == ["succeeded", "failed", "pending", "pending", "pending"]
    assert not (folder_of(tmp_path, platform) / "Pli 1" / "offre" / "offre.txt").exists()
    assert platform.store.results == []


async def test_results_go_only_to_the_jobs_own_origin(tmp_path: Path, test_pki: TestPki, platform: Platform) -> None:
    """Promise 6: a descriptor naming another origin for the results fails before any download."""
    platform.store.add(CID, "Consultation", [DemoPli("Pli 1", None, [DemoEnvelope("offre", [
        DemoFile("offre.txt.p7m", data=openssl_seal(b"offre " * 100, tmp_path, test_pki.cert_pem("encryption")))])])])
    platform.store.consultations[CID].result_url = "http://127.0.0.2:8080/collecte"
    consent = Recording()
    manager = manager_for(tmp_path, test_pki, consent)
    final, _ = await run(manager, platform)
    assert final["state"] == "failed" and final["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert platform.store.requests == [] and consent.asked == []

    # Without uploading, the same descriptor opens locally (the result_url is not used).
    local, _ = await run(manager, platform, upload=False)
    assert local["state"] == "succeeded", local["error"]
    assert local["result"]["uploaded"] == 0 and local["result"]["opened"] == 1


async def test_a_refused_upload_fails_the_job_and_keeps_the_opened_file(tmp_path: Path, test_pki: TestPki,
                                                                          platform: Platform) -> None:
    platform.store.add(CID, "Consultation", [DemoPli("Pli 1", None, [DemoEnvelope("offre", [
        DemoFile("offre.txt.p7m", data=openssl_seal(b"offre " * 100, tmp_path, test_pki.cert_pem("encryption")))])])])
    platform.store.consultations[CID].result_url = f"/api/consultations/{CID}/nulle-part"  # 404 on the platform
    manager = manager_for(tmp_path, test_pki, Recording())
    from agent.audit import AuditLog

    manager.audit = journal = AuditLog(tmp_path / "audit")
    final, _ = await run(manager, platform)
    assert final["state"] == "failed" and final["error"]["code"] == "PLATFORM_UNREACHABLE"
    assert "offre.txt" in final["error"]["message"] and "non transmis" in final["error"]["message"]
    assert (folder_of(tmp_path, platform) / "Pli 1" / "offre" / "offre.txt").read_bytes() == b"offre " * 100
    # The failed job keeps each file's outcome: opened, checked, not sent (and why).
    result = final["result"]
    assert result is not None and (result["opened"], result["uploaded"], result["failed"]) == (1, 0, 0)
    (entry,) = result["files"]
    assert entry["status"] == "opened" and entry["name"] == "Pli 1/offre/offre.txt" and entry["uploaded"] is False
    assert entry["error"]["code"] == "PLATFORM_UNREACHABLE"
    # The journal records the opened file of the failed job, as it would a success's.
    (record,) = [e for e in journal.entries() if e.get("kind") == "bids.open"]
    assert record["result"] == "failed" and record["error"] == "PLATFORM_UNREACHABLE"
    assert [o.get("sha256") for o in record["outputs"]] == [entry["sha256"]]


async def test_the_command_line_opens_with_the_token_key(tmp_path: Path, test_pki: TestPki, platform: Platform,
                                                           token: ProvisionedToken) -> None:
    """``compagnon bids open URL --pkcs11 … --token-stdin --pin-stdin``: the bearer token and the PIN
    come from standard input (never the command line); OAEP, as SoftHSM does it (SHA-1)."""
    offre = b"%PDF-1.4 offre sur jeton " * 4000
    platform.store.add(CID, "Consultation", [DemoPli("Pli 1", "LOCAL TRUST", [DemoEnvelope("offre", [
        DemoFile("offre.pdf.p7m", data=openssl_seal(offre, tmp_path, test_pki.cert_pem("encryption"),
                                                    options=("-aes256",), keyopts=("-keyopt", "rsa_padding_mode:oaep")))])])])
    home = tmp_path / "home"
    home.mkdir()
    out = tmp_path / "plis"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "bids", "open", f"{platform.origin}/api/consultations/{CID}",
        "--pkcs11", str(token.hsm.module), "--token", token.label, "--key", "encryption", "--token-stdin",
        "--pin-stdin", "--out-dir", str(out), cwd=ROOT, env=isolated_env(home),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(f"{platform.token}\n{token.pin}\n".encode()), 120)
    assert process.returncode == 0, stderr.decode()
    lines = stdout.decode().splitlines()
    assert Path(lines[0]) == out / CID
    assert "Pli 1 - LOCAL TRUST/offre/offre.pdf  transmis" in lines[1]
    assert (out / CID / "Pli 1 - LOCAL TRUST" / "offre" / "offre.pdf").read_bytes() == offre
    assert [r["path"].read_bytes() for r in platform.store.results] == [offre]
    assert platform.token not in stderr.decode() + stdout.decode() and token.pin not in stdout.decode()
