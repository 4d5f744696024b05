"""The ``sign`` job end to end: from the bridge (upload, consent and PIN in the agent's terminal,
outputs read back) and from the command line; outputs checked with openssl."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from bridge_protocol.client import BridgeClient, BridgeError
from tests.conftest import OTHER_ORIGIN
from tests.integration.test_certificates_bridge import keystore_config
from tests.support.agent_process import ROOT, free_port, isolated_env, write_config
from tests.support.pairing import seed_pairing
from tests.support.pki import TestPki
from tests.support.platform_server import PlatformServer
from tests.support.softhsm import ProvisionedToken


async def upload(client: BridgeClient, name: str, data: bytes, chunk: int = 300_000) -> str:
    handle = None
    for start in range(0, max(len(data), 1), chunk):
        piece = data[start:start + chunk]
        params = {"data": base64.b64encode(piece).decode(), "final": start + chunk >= len(data)}
        params |= {"handle": handle} if handle else {"name": name}
        info = await client.call("files.put", params)
        handle = info["handle"]
    assert info["complete"] and info["size"] == len(data)
    return handle


async def download(client: BridgeClient, handle: str) -> bytes:
    data, offset = b"", 0
    while True:
        chunk = await client.call("files.get", {"handle": handle, "offset": offset})
        data += base64.b64decode(chunk["data"])
        offset += len(base64.b64decode(chunk["data"]))
        if chunk["eof"]:
            return data


def openssl_ok(pki: TestPki, signature: Path, content: Path) -> bool:
    result = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature), "-content",
                             str(content), "-CAfile", str(pki.root_pem), "-purpose", "any", "-out", "/dev/null"],
                            capture_output=True, text=True)
    return "Verification successful" in result.stderr


@pytest.fixture
def terminal_agent(home: Path, platform: PlatformServer, test_pki: TestPki, token: ProvisionedToken):  # type: ignore[no-untyped-def]
    """``compagnon serve`` in a pseudo-terminal: consent and PIN are typed there, as a user would."""
    write_config(home, allowed=[platform.origin, OTHER_ORIGIN], preapproved=[platform.origin], consent="prompt",
                 extra=keystore_config(test_pki, token) + f'\n[signing]\noutput_dir = "{home / "Signés"}"\ntsa_url = "{test_pki.tsa_url}"\n')
    seed_pairing(home, platform.origin)  # both paired earlier: the terminal's prompts here are the consents
    seed_pairing(home, OTHER_ORIGIN)
    port = free_port()
    child = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=30)
    child.expect("en écoute sur")
    yield child, port
    child.terminate(force=True)


async def _listed(client: BridgeClient, child: pexpect.spawn) -> list[dict]:
    call = asyncio.create_task(client.call("certificates.list", {"purpose": "signing"}, timeout=60))
    await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
    child.sendline(child.match.group(1))
    return (await call)["certificates"]


async def test_sign_job_over_the_bridge(
    terminal_agent, home: Path, platform: PlatformServer, test_pki: TestPki, token: ProvisionedToken  # type: ignore[no-untyped-def]
) -> None:
    child, port = terminal_agent
    files = {"offre.pdf": b"%PDF-1.4 offre " * 2000, "annexe.zip": b"PK\x03\x04 annexe " * 500}
    frames: list[str] = []
    async with await BridgeClient.connect(platform.origin, ports=[port]) as client:
        dispatch = client._dispatch
        client._dispatch = lambda item: (frames.append(json.dumps(item)), dispatch(item))[1]  # type: ignore[method-assign]
        certificates = await _listed(client, child)
        cert = next(c for c in certificates if c["subject"] == "Jeanne TITULAIRE EC")
        handles = {name: await upload(client, name, data) for name, data in files.items()}
        job = await client.start_job("sign", {
            "files": [{"handle": handles["offre.pdf"], "format": "cades"},
                      {"handle": handles["annexe.zip"], "format": "cades", "attached": True}],
            "certificate": cert["id"], "level": "B-T",
        })
        await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
        prompt = child.before
        assert "offre.pdf" in prompt and "annexe.zip" in prompt and "Jeanne TITULAIRE EC" in prompt
        import hashlib

        assert hashlib.sha256(files["offre.pdf"]).hexdigest() in prompt  # the consent shows each file's SHA-256
        child.sendline(child.match.group(1))
        await asyncio.to_thread(child.expect, "Code PIN")
        child.sendline(token.pin)
        seen: list[dict] = []
        final = await client.wait_job(job["id"], timeout=60, on_update=seen.append)
        assert final["state"] == "succeeded", final
        result = final["result"]
        assert result["signed"] == 2 and result["failed"] == 0
        outputs = {r["source"]: r for r in result["files"]}
        assert outputs["offre.pdf"]["output"].startswith("offre.pdf - ") and outputs["offre.pdf"]["output"].endswith(" - Signature 1.p7s")
        assert outputs["annexe.zip"]["output"].endswith(" - Signature 1.p7m")
        assert outputs["offre.pdf"]["folder"] == "~/Signés" or outputs["offre.pdf"]["folder"].endswith("Signés")
        signature = await download(client, outputs["offre.pdf"]["output_handle"])
        # Another site cannot read the output.
        async with await BridgeClient.connect(OTHER_ORIGIN, ports=[port]) as other:
            with pytest.raises(BridgeError) as err:
                await other.call("files.get", {"handle": outputs["offre.pdf"]["output_handle"]})
            assert err.value.code == "FILE_NOT_FOUND"
    content = home / "offre.pdf"
    content.write_bytes(files["offre.pdf"])
    (home / "sig.p7s").write_bytes(signature)
    assert openssl_ok(test_pki, home / "sig.p7s", content)
    assert (home / "Signés" / outputs["annexe.zip"]["output"]).is_file()
    assert any(s["current"] and s["current"]["index"] == 2 and s["current"]["total"] == 2 for s in seen)
    # The PIN never travels over the bridge nor reaches the log.
    assert all(token.pin not in frame for frame in frames)
    log = (home / ".local/state/compagnon/log/compagnon.log").read_text()
    assert token.pin not in log


async def test_refused_consent_and_wrong_pin(
    terminal_agent, home: Path, platform: PlatformServer, test_pki: TestPki, token: ProvisionedToken  # type: ignore[no-untyped-def]
) -> None:
    child, port = terminal_agent
    async with await BridgeClient.connect(platform.origin, ports=[port]) as client:
        cert = next(c for c in await _listed(client, child) if c["subject"] == "Jeanne TITULAIRE")
        handle = await upload(client, "offre.pdf", b"offre")
        params = {"files": [{"handle": handle, "format": "cades"}], "certificate": cert["id"]}
        job = await client.start_job("sign", params)
        await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
        child.sendline("non")
        refused = await client.wait_job(job["id"])
        assert refused["state"] == "failed" and refused["error"]["code"] == "USER_CANCELLED"
        job = await client.start_job("sign", params)
        await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
        child.sendline(child.match.group(1))
        await asyncio.to_thread(child.expect, "Code PIN")
        child.sendline("999999")
        # A second chance in the same job; Enter alone gives up, and the wrong PIN ends the job.
        await asyncio.to_thread(child.expect, r"Entrée seule pour abandonner\) : ")
        child.sendline("")
        wrong = await client.wait_job(job["id"])
        assert wrong["state"] == "failed" and wrong["error"]["code"] == "PIN_INCORRECT"
        # An empty PIN is no PIN (the same rule as keygen's): PIN_REQUIRED.
        job = await client.start_job("sign", params)
        await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
        child.sendline(child.match.group(1))
        await asyncio.to_thread(child.expect, "Code PIN")
        child.sendline("")
        empty = await client.wait_job(job["id"])
        assert empty["state"] == "failed" and empty["error"]["code"] == "PIN_REQUIRED"
        # A page cannot name a local path.
        with pytest.raises(BridgeError):
            await client.call("files.get", {"handle": "0" * 32})
        with pytest.raises(BridgeError) as err:
            await client.start_job("sign", {"files": [{"path": "/etc/passwd", "format": "cades"}], "certificate": cert["id"]})
        assert err.value.code == "INVALID_PARAMS" and err.value.data["path"] == "/params/files/0/path"


def test_cli_sign_cosign_countersign(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken) -> None:
    env = isolated_env(tmp_path)
    content = tmp_path / "memoire.pdf"
    content.write_bytes(b"%PDF memoire " * 100)
    p12 = test_pki.p12("qualified", "pw")

    def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=env, input=stdin,
                              capture_output=True, text=True, timeout=120)

    first = run("sign", str(content), "--format", "cades", "--p12", str(p12), "--pin-stdin", stdin="pw\n")
    assert first.returncode == 0, first.stderr
    signature = Path(first.stdout.strip())
    assert signature.parent == tmp_path and signature.name.endswith(" - Signature 1.p7s")
    second = run("cosign", str(signature), "--content", str(content), "--pkcs11", str(token.hsm.module), "--token", token.label,
                 "--key", "qualified_ec", "--pin-stdin", stdin=token.pin + "\n")
    assert second.returncode == 0, second.stderr
    cosigned = Path(second.stdout.strip())
    assert cosigned.name.startswith("memoire.pdf - ") and cosigned.name.endswith(" - Signature 2.p7s")
    assert openssl_ok(test_pki, cosigned, content)
    import hashlib

    from cryptography.hazmat.primitives.serialization import Encoding

    target = hashlib.sha256(token.certificates["qualified_ec"].public_bytes(Encoding.DER)).hexdigest()
    third = run("countersign", str(cosigned), "--signer", target, "--p12", str(p12), "--pin-stdin", stdin="pw\n")
    assert third.returncode == 0, third.stderr
    assert openssl_ok(test_pki, Path(third.stdout.strip()), content)
    wrong = run("sign", str(content), "--format", "cades", "--p12", str(p12), "--pin-stdin", stdin="bad\n")
    assert wrong.returncode == 1 and "PIN_INCORRECT" in wrong.stderr
    many = run("sign", str(content), "--format", "cades", "--pkcs11", str(token.hsm.module), "--token", token.label,
               "--pin-stdin", stdin=token.pin + "\n")
    assert many.returncode == 1 and "précisez --key" in many.stderr


async def test_platform_document_signed_and_uploaded_back(
    terminal_agent, home: Path, platform: PlatformServer, test_pki: TestPki, token: ProvisionedToken  # type: ignore[no-untyped-def]
) -> None:
    """A parapheur step: the agent fetches the document from the page's own origin (with the job's
    bearer token), shows its SHA-256 in the consent, signs it and POSTs the signature back."""
    import hashlib

    child, port = terminal_agent
    document = b"%PDF-1.4 deliberation " * 300
    platform.documents["deliberation 42.pdf"] = document
    platform.token = "jeton-court-123"
    async with await BridgeClient.connect(platform.origin, ports=[port]) as client:
        cert = next(c for c in await _listed(client, child) if c["subject"] == "Jeanne TITULAIRE")
        job = await client.start_job("sign", {
            "files": [{"url": "/documents/deliberation%2042.pdf", "format": "cades"}],
            "certificate": cert["id"], "upload_url": "/signatures", "token": platform.token,
        })
        await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
        assert "deliberation 42.pdf" in child.before and hashlib.sha256(document).hexdigest() in child.before
        child.sendline(child.match.group(1))
        await asyncio.to_thread(child.expect, "Code PIN")
        child.sendline(token.pin)
        final = await client.wait_job(job["id"], timeout=60)
        assert final["state"] == "succeeded", final
        (item,) = final["result"]["files"]
        assert item["uploaded"] is True and item["source"] == "deliberation 42.pdf"
        # A document elsewhere than the page's origin is refused before any request.
        job = await client.start_job("sign", {"files": [{"url": "http://127.0.0.1:9/interne.pdf", "format": "cades"}],
                                              "certificate": cert["id"]})
        refused = await client.wait_job(job["id"])
        assert refused["state"] == "failed" and refused["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    (received,) = platform.received
    assert received["fields"]["source"] == "deliberation 42.pdf"
    assert received["fields"]["source_sha256"] == hashlib.sha256(document).hexdigest()
    (home / "doc.pdf").write_bytes(document)
    (home / "received.p7s").write_bytes(received["data"])  # type: ignore[arg-type]
    assert openssl_ok(test_pki, home / "received.p7s", home / "doc.pdf")
    # The bearer token was never written to the job store or the log.
    stored = "".join(p.read_text() for p in (home / ".local/state/compagnon/jobs").glob("*.json"))
    assert platform.token not in stored
    assert platform.token not in (home / ".local/state/compagnon/log/compagnon.log").read_text()


async def test_file_picked_in_the_agent_is_signed_next_to_itself(
    terminal_agent, home: Path, platform: PlatformServer, test_pki: TestPki, token: ProvisionedToken  # type: ignore[no-untyped-def]
) -> None:
    child, port = terminal_agent
    folder = home / "Réponse AO 2026"
    folder.mkdir()
    source = folder / "memoire technique.pdf"
    source.write_bytes(b"%PDF-1.4 memoire " * 100)
    async with await BridgeClient.connect(platform.origin, ports=[port]) as client:
        cert = next(c for c in await _listed(client, child) if c["subject"] == "Jeanne TITULAIRE")
        pick = asyncio.create_task(client.call("files.pick", {"multiple": True, "accept": [".pdf"]}, timeout=60))
        await asyncio.to_thread(child.expect, "une ligne par fichier")
        child.sendline(str(folder / "absent.pdf"))
        await asyncio.to_thread(child.expect, "introuvable")
        child.sendline(str(source))
        child.sendline("")
        (picked,) = (await pick)["files"]
        assert picked["name"] == "memoire technique.pdf" and str(folder) not in json.dumps(picked)
        job = await client.start_job("sign", {"files": [{"handle": picked["handle"], "format": "cades"}], "certificate": cert["id"]})
        await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
        child.sendline(child.match.group(1))
        await asyncio.to_thread(child.expect, "Code PIN")
        child.sendline(token.pin)
        final = await client.wait_job(job["id"], timeout=60)
    (item,) = final["result"]["files"]
    assert item["folder"] == "~/Réponse AO 2026"
    assert openssl_ok(test_pki, folder / item["output"], source)


def test_cli_pades_with_a_visible_stamp(tmp_path: Path, test_pki: TestPki) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    from tests.support.pdf import make_pdf_file
    from tests.support.verifiers import nss_database, pdfsig_ok

    pdf = make_pdf_file(tmp_path / "acte d'engagement.pdf", pages=2)
    result = subprocess.run([sys.executable, "-m", "agent", "sign", str(pdf), "--format", "pades", "--stamp-page", "2",
                             "--reason", "Dépôt de l'offre", "--p12", str(test_pki.p12("qualified", "pw")), "--pin-stdin"],
                            cwd=ROOT, env=isolated_env(tmp_path), input="pw\n", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    signed = Path(result.stdout.strip())
    assert signed.name.startswith("acte d'engagement - ") and signed.name.endswith(" - Signature 1.pdf")
    assert pdfsig_ok(signed, nss_database(tmp_path / "nss", test_pki.root_pem))
    with signed.open("rb") as stream:
        (signature,) = PdfFileReader(stream).embedded_signatures
        x1, y1, x2, y2 = (float(v) for v in signature.sig_field["/Rect"])
        assert x2 > x1 and y2 > y1
        assert signature.sig_object["/Reason"] == "Dépôt de l'offre"


async def test_cancelling_a_batch_leaves_only_finished_signatures(tmp_path: Path, test_pki: TestPki) -> None:
    from agent.config import Settings
    from agent.consent import ConsentDecision, PolicyConsent, Secret
    from agent.jobs.context import JobServices
    from agent.jobs.manager import JobManager
    from agent.keystores.pkcs12_store import Pkcs12FileStore
    from agent.keystores.registry import KeyStoreRegistry
    from agent.kinds.registry import KINDS, platform_client

    class Approve(PolicyConsent):
        async def ask(self, request):  # type: ignore[no-untyped-def]
            return ConsentDecision(True, Secret("pw"))

    folder = tmp_path / "lot"
    folder.mkdir()
    paths = []
    for i in range(400):
        path = folder / f"piece {i:03d}.bin"
        path.write_bytes(os.urandom(256 * 1024))
        paths.append(path)
    store = Pkcs12FileStore(test_pki.p12("qualified", "pw"))
    (key,) = store.unlock(Secret("pw"))
    settings = Settings(state_dir=tmp_path / "state", log_dir=tmp_path / "log", trust_system=False, pkcs11_modules=())
    services = JobServices(settings=settings, consent=Approve(True), keystores=KeyStoreRegistry(settings, p12=[store]), local=True)
    manager = JobManager(services, kinds=KINDS, platform_client=platform_client)
    job = manager.start("cli:", "sign", {"files": [{"path": str(p), "format": "cades"} for p in paths],
                                         "certificate": key.id, "out_dir": str(tmp_path / "signés")})
    while not (job.current and job.current["index"] > 20 and job.step("sign").state == "running"):
        await asyncio.sleep(0.01)
    manager.cancel("cli:", job.id)
    started = asyncio.get_running_loop().time()
    final = await manager.wait(job.id)
    assert asyncio.get_running_loop().time() - started < 1.0
    assert final.state == "cancelled"
    out = tmp_path / "signés"
    assert not list(out.glob(".*")) if out.exists() else True  # no temporary file left behind
    produced = sorted(out.glob("*.p7s")) if out.exists() else []
    assert len(produced) < len(paths)
    for signature in produced[:5] + produced[-5:]:
        source = folder / signature.name.split(" - ")[0]
        assert openssl_ok(test_pki, signature, source)


async def test_one_bad_file_fails_alone(tmp_path: Path, test_pki: TestPki) -> None:
    from agent.config import Settings
    from agent.consent import ConsentDecision, PolicyConsent, Secret
    from agent.jobs.context import JobServices
    from agent.jobs.manager import JobManager
    from agent.keystores.pkcs12_store import Pkcs12FileStore
    from agent.keystores.registry import KeyStoreRegistry
    from agent.kinds.registry import KINDS, platform_client

    class Approve(PolicyConsent):
        async def ask(self, request):  # type: ignore[no-untyped-def]
            return ConsentDecision(True, Secret("pw"))

    good, bad = tmp_path / "offre.txt", tmp_path / "pas un pdf.pdf"
    good.write_bytes(b"offre")
    bad.write_bytes(b"ceci n'est pas un PDF")
    store = Pkcs12FileStore(test_pki.p12("qualified", "pw"))
    (key,) = store.unlock(Secret("pw"))
    settings = Settings(state_dir=tmp_path / "state", log_dir=tmp_path / "log", trust_system=False, pkcs11_modules=())
    manager = JobManager(JobServices(settings=settings, consent=Approve(True),
                                     keystores=KeyStoreRegistry(settings, p12=[store], discover=False), local=True),
                         kinds=KINDS, platform_client=platform_client)
    job = manager.start("cli:", "sign", {"files": [{"path": str(bad), "format": "pades"}, {"path": str(good), "format": "cades"}],
                                         "certificate": key.id})
    final = (await manager.wait(job.id)).snapshot()
    assert final["state"] == "succeeded"
    failed, signed = final["result"]["files"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "FILE_UNREADABLE"
    assert "PDF" in failed["error"]["message"]
    assert signed["status"] == "signed" and final["result"]["signed"] == 1 and final["result"]["failed"] == 1
    assert openssl_ok(test_pki, tmp_path / signed["output"], good)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("pas un pdf")) == ["pas un pdf.pdf"]
