"""docs/SECURITY.md promise 6: the agent fetches and uploads only to the origin that started the job.

A "foreign" HTTP server on loopback (127.0.0.1, 127.0.0.2 and ::1, one port) stands for the
intranet and counts every request it receives. For every job parameter that takes a URL, and
for descriptors whose file, block or result URLs point elsewhere, each of these targets must
fail the job with ``ORIGIN_NOT_ALLOWED`` while the foreign server receives nothing:

another port, another loopback host, another spelling of the platform's own host, another scheme
(``https``, ``ws``, ``ftp``, ``file:///etc/passwd``), cloud metadata ``169.254.169.254``, private
``10.0.0.1`` and ``192.168.1.1``, ``[::1]`` on another port, scheme-relative and userinfo tricks,
and same-origin URLs that redirect (301/302/303/307/308, or a same-origin hop first) elsewhere.

Positive controls prove the test can fail: the same jobs DO reach the platform's own URLs (its
request log and upload endpoints record them), so silence on the foreign server means refusal.

URLs used only after the user's consent (``sign``/``encrypt`` ``upload_url``, ``bids.open``'s
``result_url``, ``keygen``'s ``register_url``) are also exercised with a real key (a PKCS#12 file
without password for the test consent policy; the terminal prompt, with a password, for keygen).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pexpect
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from bridge_protocol.client import BridgeClient
from bridge_protocol.errors import ErrorCode, error_message
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.pairing import seed_pairing
from tests.support.platform_server import PlatformServer

DOCUMENT = b"%PDF-1.4 document de la plateforme\n" * 50


@dataclass
class Foreign:
    """The intranet host an attacker would like the agent to reach."""

    port: int = 0
    hits: list[str] = field(default_factory=list)
    ipv6: bool = False
    runners: list[web.AppRunner] = field(default_factory=list)

    async def start(self) -> Foreign:
        async def anything(request: web.Request) -> web.Response:
            self.hits.append(f"{request.host} {request.method} {request.path_qs}")
            return web.json_response({"id": "C-1", "title": "piège", "plis": []})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", anything)
        runner = web.AppRunner(app)
        await runner.setup()
        self.runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        await web.TCPSite(runner, "127.0.0.2", self.port).start()
        try:
            await web.TCPSite(runner, "::1", self.port).start()
            self.ipv6 = True
        except OSError:
            self.ipv6 = False
        return self

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


@pytest.fixture
async def foreign() -> AsyncIterator[Foreign]:
    server = await Foreign().start()
    yield server
    await server.stop()


def foreign_urls(platform: PlatformServer, foreign: Foreign) -> list[str]:
    """Direct URLs outside the job's origin (``platform.origin``)."""
    f, p = foreign.port, platform.port
    return [
        f"http://127.0.0.1:{f}/secret",  # another port
        f"http://127.0.0.2:{f}/secret",  # another host
        f"http://localhost:{f}/secret",
        f"http://localhost:{p}/documents/doc.pdf",  # the platform's server, but another host name
        f"https://127.0.0.1:{p}/documents/doc.pdf",  # another scheme
        f"ws://127.0.0.1:{p}/documents/doc.pdf",
        f"ftp://127.0.0.1:{f}/secret",
        "file:///etc/passwd",
        "file://localhost/etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/admin",
        f"http://[::1]:{f}/secret",
        f"//127.0.0.1:{f}/secret",  # scheme-relative
        f"http://127.0.0.1:{p}@127.0.0.1:{f}/secret",  # userinfo that looks like the origin
        f"http://user:pass@127.0.0.1:{p}/documents/doc.pdf",  # the origin, with userinfo
        f"http://2130706433:{f}/secret",
        f"http://0.0.0.0:{f}/secret",
    ]


def malformed_urls(platform: PlatformServer, foreign: Foreign) -> list[str]:
    """URLs no parser accepts (a backslash in the authority): refused, whatever the code says."""
    return [f"http://127.0.0.1:{foreign.port}\\@127.0.0.1:{platform.port}/documents/doc.pdf"]


def redirect_urls(platform: PlatformServer, foreign: Foreign) -> list[str]:
    """Same-origin URLs whose answer redirects elsewhere."""
    f, p = foreign.port, platform.port
    platform.redirects.update({
        "away": f"http://127.0.0.1:{f}/secret",
        "away-301": (301, f"http://127.0.0.2:{f}/secret"),
        "away-303": (303, f"http://127.0.0.1:{f}/secret"),
        "away-307": (307, f"http://127.0.0.2:{f}/secret"),
        "away-308": (308, f"http://localhost:{f}/secret"),
        "away-scheme-relative": f"//127.0.0.1:{f}/secret",
        "away-file": "file:///etc/passwd",
        "away-metadata": "http://169.254.169.254/latest/meta-data/",
        "away-https": f"https://127.0.0.1:{p}/documents/doc.pdf",
        "away-ipv6": f"http://[::1]:{f}/secret",
        "hop": "/redirect/away",  # a same-origin hop first
    })
    return [f"/redirect/{name}" for name in ("away", "away-301", "away-303", "away-307", "away-308",
                                              "away-scheme-relative", "away-file", "away-metadata", "away-https",
                                              "away-ipv6", "hop")]


def _descriptor(*, file_url: str | None = None, block_url: str | None = None, result_url: str | None = None) -> bytes:
    files: list[dict[str, Any]] = []
    if file_url is not None:
        files.append({"id": "f1", "name": "offre.pdf.p7m", "size": 10, "sha256": "0" * 64, "url": file_url})
    if block_url is not None:
        # The first block is the platform's own (and correct): the second one is reached only after it.
        files.append({"id": "f2", "name": "annexe.zip.p7m", "size": len(DOCUMENT) + 6, "sha256": "0" * 64,
                      "blocks": [{"index": 0, "size": len(DOCUMENT), "sha256": hashlib.sha256(DOCUMENT).hexdigest(),
                                  "url": "/documents/doc.pdf"},
                                 {"index": 1, "size": 6, "sha256": "2" * 64, "url": block_url}]})
    consultation: dict[str, Any] = {"id": "C-2026-1", "title": "Consultation", "plis": [
        {"id": "p1", "label": "Pli 1", "envelopes": [{"id": "e1", "label": "offre", "files": files}]}]}
    if result_url is not None:
        consultation["result_url"] = result_url
    return json.dumps(consultation).encode()


class Case:
    """A URL-taking job parameter: builds the ``jobs.start`` of a job aiming it at ``url``."""

    def __init__(self, name: str, build: Callable[[PlatformServer, str, str], tuple[str, dict[str, Any]]],
                 redirects: bool = True) -> None:
        self.name, self.build = name, build
        #: Whether the URL is used before anything else (so that a redirect is followed, and refused, then).
        self.redirects = redirects


def _published(platform: PlatformServer, body: bytes) -> str:
    name = f"consultation-{len(platform.documents)}.json"
    platform.documents[name] = body
    return f"/documents/{name}"


CASES = [
    Case("sign files[].url", lambda p, u, h: ("sign", {"files": [{"url": u, "format": "cades"}],
                                                        "certificate": "0" * 32})),
    Case("verify url", lambda p, u, h: ("verify", {"url": u})),
    Case("verify content_url", lambda p, u, h: ("verify", {"handle": h, "content_url": u})),
    Case("decrypt files[].url", lambda p, u, h: ("decrypt", {"files": [{"url": u}]})),
    Case("encrypt files[].url", lambda p, u, h: ("encrypt", {"files": [{"url": u}], "recipients": [RECIPIENT]})),
    # The registration URL is checked first, but a redirect can only show when it is used: below.
    Case("keygen register_url", lambda p, u, h: ("keygen", {"name": "Jean DUPONT", "register_url": u}),
         redirects=False),
    Case("bids.download url", lambda p, u, h: ("bids.download", {"url": u})),
    Case("bids.open url", lambda p, u, h: ("bids.open", {"url": u})),
    Case("descriptor file url (bids.download)",
         lambda p, u, h: ("bids.download", {"url": _published(p, _descriptor(file_url=u))})),
    Case("descriptor block url (bids.download)",
         lambda p, u, h: ("bids.download", {"url": _published(p, _descriptor(block_url=u))})),
    Case("descriptor file url (bids.open)",
         lambda p, u, h: ("bids.open", {"url": _published(p, _descriptor(file_url=u))})),
    # result_url is checked before any download; a redirect shows only at upload time: below.
    Case("descriptor result_url (bids.open)",
         lambda p, u, h: ("bids.open", {"url": _published(p, _descriptor(result_url=u)), "upload": True}),
         redirects=False),
]


def _certificate_and_key(cn: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


_KEY, _CERT = _certificate_and_key("Jeanne TEST")
RECIPIENT = _CERT.public_bytes(serialization.Encoding.PEM).decode()


def _refused_everywhere(final: dict[str, Any]) -> bool:
    return final["state"] == "failed" and (final.get("error") or {}).get("code") == "ORIGIN_NOT_ALLOWED"


def _config(home: Path, platform: PlatformServer, consent: str = "approve-all-for-tests") -> None:
    write_config(home, allowed=[platform.origin], preapproved=[platform.origin], consent=consent,
                 extra="max_prompts_per_minute = 1000\n"
                       f'\n[paths]\nlog_dir = "{home / ".local/state/compagnon/log"}"\n'
                       f'\n[signing]\noutput_dir = "{home / "Sorties"}"\n')
    seed_pairing(home, platform.origin)  # paired earlier


@pytest.fixture
def ssrf_agent(home: Path, platform: PlatformServer) -> Iterator[AgentProcess]:
    _config(home, platform)
    agent = AgentProcess(home, free_port()).start()
    yield agent
    agent.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_url_parameter_refuses_every_other_origin(ssrf_agent: AgentProcess, platform: PlatformServer,
                                                        foreign: Foreign, case: Case) -> None:
    platform.documents["doc.pdf"] = DOCUMENT
    urls = foreign_urls(platform, foreign) + (redirect_urls(platform, foreign) if case.redirects else [])
    malformed = malformed_urls(platform, foreign)
    not_refused: list[str] = []
    async with await BridgeClient.connect(platform.origin, ports=[ssrf_agent.port]) as client:
        handle = (await client.call("files.put", {"name": "signature.p7s", "data": base64.b64encode(b"0\x80").decode(),
                                                  "final": True}))["handle"]
        before = len(platform.requests)
        for url in urls + malformed:
            kind, params = case.build(platform, url, handle)
            final = await client.run_job(kind, params, timeout=60)
            if url in malformed and case.name.startswith("descriptor"):
                # Refused, but with the wrong code today: test_malformed_descriptor_url_is_origin_not_allowed.
                if final["state"] != "failed":
                    not_refused.append(f"{url}: {final['state']}")
                continue
            if not _refused_everywhere(final):
                not_refused.append(f"{url}: {final['state']} {final.get('error')}")
        assert not not_refused, f"{case.name}: not refused with ORIGIN_NOT_ALLOWED:\n" + "\n".join(not_refused)
        assert foreign.hits == [], f"{case.name}: the foreign server was reached: {foreign.hits}"
        # The platform saw only what it had to: descriptors and the redirecting URLs, never the document
        # behind an off-origin spelling (localhost, https, userinfo...).
        seen = platform.requests[before:]
        expected = ("GET /documents/consultation-", "GET /redirect/", "POST /redirect/")
        if "block" in case.name:
            expected += ("GET /documents/doc.pdf",)  # the descriptor's first block, on the platform itself
        assert all(r.startswith(expected) for r in seen), seen

        # Positive control: the same parameter does reach the platform's own URL.
        if case.name.startswith(("sign", "verify url", "decrypt", "encrypt")):
            kind, params = case.build(platform, "/documents/doc.pdf", handle)
            await client.run_job(kind, params, timeout=60)
            assert "GET /documents/doc.pdf" in platform.requests[before:], case.name


async def test_malformed_descriptor_url_is_origin_not_allowed(ssrf_agent: AgentProcess, platform: PlatformServer,
                                                              foreign: Foreign) -> None:
    codes = []
    async with await BridgeClient.connect(platform.origin, ports=[ssrf_agent.port]) as client:
        for case in (c for c in CASES if c.name.startswith("descriptor")):
            for url in malformed_urls(platform, foreign):
                kind, params = case.build(platform, url, "")
                final = await client.run_job(kind, params, timeout=60)
                codes.append((case.name, (final.get("error") or {}).get("code")))
    assert foreign.hits == []
    assert all(code == "ORIGIN_NOT_ALLOWED" for _, code in codes), codes


def _install_key(home: Path) -> None:
    """A PKCS#12 file without password (the test policy types no PIN) in the agent's key folder."""
    folder = home / ".local/share/compagnon/keys"
    folder.mkdir(parents=True, exist_ok=True)
    data = pkcs12.serialize_key_and_certificates(b"cle", _KEY, _CERT, None, serialization.NoEncryption())
    (folder / "cle.p12").write_bytes(data)
    (folder / "cle.crt").write_bytes(_CERT.public_bytes(serialization.Encoding.PEM))


def _seal(content: bytes, tmp: Path) -> bytes:
    """An envelope made by ``openssl cms -encrypt`` to the test key's certificate."""
    (tmp / "clair.bin").write_bytes(content)
    (tmp / "dest.pem").write_text(RECIPIENT)
    subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-aes-256-cbc", "-in", str(tmp / "clair.bin"),
                    "-outform", "DER", "-out", str(tmp / "pli.p7m"), str(tmp / "dest.pem")], check=True,
                   capture_output=True)
    return (tmp / "pli.p7m").read_bytes()


ORIGIN_REFUSED_FR = error_message(ErrorCode.ORIGIN_NOT_ALLOWED, "fr")


def _upload_refused(final: dict[str, Any]) -> bool:
    """Refused before any work (job error), or the work done and its upload refused (per file).

    ``bids.open`` reports an opened file it could not send as a job failure PLATFORM_UNREACHABLE
    whose message carries the file's own error (here the origin refusal): accepted as long as that
    reason is the origin refusal (reported: the code would better be ORIGIN_NOT_ALLOWED).
    """
    if _refused_everywhere(final):
        return True
    error = final.get("error") or {}
    if final["state"] == "failed" and ORIGIN_REFUSED_FR in error.get("message", ""):
        return True
    files = (final.get("result") or {}).get("files") or []
    return bool(files) and all(not f.get("uploaded") and (f.get("error") or {}).get("code") == "ORIGIN_NOT_ALLOWED"
                               for f in files)


async def test_uploads_after_the_work_go_only_to_the_jobs_origin(ssrf_agent: AgentProcess, home: Path,
                                                                 platform: PlatformServer, foreign: Foreign,
                                                                 tmp_path: Path) -> None:
    _install_key(home)
    # (A same-origin hop before the redirect elsewhere is left out here: an upload cannot follow even
    # a same-origin redirect today, its multipart file body is spent; that fails PLATFORM_UNREACHABLE.)
    targets = [f"http://127.0.0.1:{foreign.port}/collecte", f"http://[::1]:{foreign.port}/collecte",
               f"http://localhost:{platform.port}/signatures", "file:///tmp/collecte",
               *[url for url in redirect_urls(platform, foreign) if url != "/redirect/hop"]]
    sealed = _seal(b"offre de l'entreprise " * 200, tmp_path)
    platform.documents["offre.txt.p7m"] = sealed
    failures: list[str] = []
    async with await BridgeClient.connect(platform.origin, ports=[ssrf_agent.port]) as client:
        certificates = (await client.call("certificates.list", {"purpose": "signing"}))["certificates"]
        cert_id = next(c["id"] for c in certificates if c["subject"] == "Jeanne TEST")
        handle = (await client.call("files.put", {"name": "offre.pdf", "data": base64.b64encode(DOCUMENT).decode(),
                                                  "final": True}))["handle"]

        def jobs(url: str) -> list[tuple[str, str, dict[str, Any]]]:
            sealed_file = {"id": "f1", "name": "offre.txt.p7m", "size": len(sealed),
                           "sha256": hashlib.sha256(sealed).hexdigest(), "url": "/documents/offre.txt.p7m"}
            descriptor = _published(platform, json.dumps({
                "id": "C-2026-7", "title": "Consultation", "result_url": url, "plis": [
                    {"id": "p1", "label": "Pli 1", "envelopes": [{"id": "e1", "label": "offre",
                                                                  "files": [sealed_file]}]}]}).encode())
            return [
                ("sign upload_url", "sign", {"files": [{"handle": handle, "format": "cades"}], "certificate": cert_id,
                                             "upload_url": url}),
                ("encrypt upload_url", "encrypt", {"files": [{"handle": handle}], "recipients": [RECIPIENT],
                                                   "upload_url": url}),
                ("bids.open result_url", "bids.open", {"url": descriptor, "upload": True}),
            ]

        # Positive control: each job does upload to the platform's own endpoint.
        for name, kind, params in jobs("/signatures"):
            final = await client.run_job(kind, params, timeout=120)
            assert final["state"] == "succeeded", (name, final)
        assert len(platform.received) == 3

        for url in targets:
            for name, kind, params in jobs(url):
                final = await client.run_job(kind, params, timeout=120)
                if not _upload_refused(final):
                    failures.append(f"{name} -> {url}: {final['state']} {final.get('error')} {final.get('result')}")
    assert not failures, "uploads not refused with ORIGIN_NOT_ALLOWED:\n" + "\n".join(failures)
    assert foreign.hits == [], foreign.hits
    assert len(platform.received) == 3  # nothing more reached the upload endpoint (e.g. via localhost)


async def test_key_registration_redirected_elsewhere_is_refused(home: Path, platform: PlatformServer,
                                                               foreign: Foreign) -> None:
    """keygen in the agent's terminal (consent and the new file's password typed there): the
    registration POST to a same-origin URL redirecting elsewhere is refused; to the platform's own
    ``/keys`` it arrives (positive control)."""
    _config(home, platform, consent="prompt")
    redirects = redirect_urls(platform, foreign)
    port = free_port()
    child = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT),
                          env=isolated_env(home), encoding="utf-8", timeout=60)
    try:
        child.expect("en écoute sur")
        async with await BridgeClient.connect(platform.origin, ports=[port]) as client:
            async def keygen(name: str, url: str) -> dict[str, Any]:
                job = await client.start_job("keygen", {"name": name, "register_url": url})
                await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
                child.sendline(child.match.group(1))
                for prompt in ("Nouveau mot de passe", "Confirmez le mot de passe"):  # a new password: twice
                    await asyncio.to_thread(child.expect, prompt)
                    child.sendline("mot-de-passe-solide")
                return await client.wait_job(job["id"], timeout=120)

            control = await keygen("Jean CONTROLE", "/keys")
            assert control["state"] == "succeeded" and control["result"]["registered"] is True, control
            assert len(platform.keys) == 1
            for url in (redirects[0], redirects[4], redirects[-1]):  # 302, 308, a same-origin hop first
                final = await keygen("Jean DUPONT", url)
                result = final["result"] or {}
                assert result.get("registered") is False, final
                assert (result.get("register_error") or {}).get("code") == "ORIGIN_NOT_ALLOWED", final
    finally:
        child.terminate(force=True)
    assert foreign.hits == [], foreign.hits
    assert len(platform.keys) == 1
