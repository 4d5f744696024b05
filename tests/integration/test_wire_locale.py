"""Every text the agent sends a page is in the language the page asked for (``agent.hello``'s
``locale``, ``jobs.start``'s ``locale``): certificate reasons, job steps and messages, error
messages and ``data.reason``, the verification report, and a site policy's own message.

A real agent in a pseudo-terminal (consent and PIN typed there), the session's SoftHSM2 token with
the test PKI's keys plus a second token holding the PKI's expired certificate, so that
``certificates.list`` gives reasons; a page in English, then the same page in French.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from bridge_protocol.client import BridgeClient, BridgeError
from tests.integration.test_certificates_bridge import keystore_config
from tests.integration.test_sign_job import download, upload
from tests.support.agent_process import ROOT, free_port, isolated_env, write_config
from tests.support.pairing import seed_pairing
from tests.support.pki import TestPki
from tests.support.platform_server import PlatformServer
from tests.support.softhsm import ProvisionedToken, SoftHsm

EXPIRED_TOKEN = "LOCALE EXPIRE"

#: Members that carry data (names, identifiers, digests...), not the agent's sentences.
DATA_KEYS = {"id", "handle", "output_handle", "subject", "issuer", "name", "source", "output", "folder", "sha256",
             "serial", "fingerprint", "origin", "label_source", "kind", "state", "code", "status", "format",
             "indication", "sub_indication", "organization", "organisation", "organization_id", "email",
             "not_before", "not_after", "signing_time", "policy", "document", "filename", "path", "thumbprint",
             "agent", "version", "protocol", "capabilities", "certificate", "signer", "key_usage",
             "extended_key_usage", "countries", "country", "url", "created", "updated", "token", "report_name", "data"}
#: Proper names of the test data that appear inside sentences (certificate names, file names).
DATA_WORDS = re.compile(r"Jeanne TITULAIRE( EC| 3072)?|Jean DUPONT chiffrement|ENTREPRISE EXEMPLE|Compagnon Test"
                        r"[\w ]*|offre\.pdf|annexe\.zip|pas-un-pdf\.pdf|Jean DUPONT|[\w.-]+\.(pdf|p7s|zip)")
FRENCH_WORDS = {
    "le", "la", "les", "des", "du", "une", "est", "pas", "pour", "avec", "sur", "aux", "dans", "ou", "ne", "et",
    "ce", "cette", "votre", "vous", "sont", "fichier", "certificat", "signé", "clé", "introuvable", "refusé",
    "expiré", "vérification", "vérifié", "non", "aucun", "aucune", "chiffrement", "qualifié", "marchés", "publics",
    "adapté", "jeton", "support", "erreur", "traitement", "annulé", "terminé", "préparation", "envoi",
    "lecture", "document", "signature", "signatures", "membre", "obligatoire", "manquant", "inconnu", "requis",
    "illisible", "chemin", "attendu", "attendue", "attendus", "absente", "lisible", "niveau", "demande", "dossier",
    "plusieurs", "trop", "déjà", "essai", "essais", "reste", "code", "ligne", "commande", "sans", "fin",
}
ENGLISH_DOUBLES = {"signature", "signatures", "document", "support", "non", "code"}
ACCENTS = re.compile(r"[àâäçéèêëîïôöùûüÿœæÀÂÇÉÈÊËÎÏÔÙÛŒ«»]")


def sentences(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string of a frame that is the agent's text, with the member it came from."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in DATA_KEYS or isinstance(v, (dict, list)):
                yield from sentences(v, k if not isinstance(v, (dict, list)) else (k if k != "data" else key))
    elif isinstance(value, list):
        for item in value:
            yield from sentences(item, key)
    elif isinstance(value, str) and key not in DATA_KEYS and not re.fullmatch(r"[\w./:+-]*", value):
        yield key, value


def french(text: str) -> bool:
    """Whether ``text`` reads French: accented letters, guillemets, or common French words."""
    text = DATA_WORDS.sub(" ", text)
    if ACCENTS.search(text):
        return True
    words = set(re.findall(r"[a-zA-Zàâäçéèêëîïôöùûüÿœ']+", text.lower()))
    return bool((words & FRENCH_WORDS) - ENGLISH_DOUBLES) or sum(w.split("'")[0] in ("l", "d", "n", "qu") for w in words if "'" in w) > 0


def test_the_detector_tells_french_from_english() -> None:
    assert french("Le certificat a expiré le 01/01/2020.")
    assert french("Fichier illisible ou dans un format inattendu.")
    assert french("Ce certificat n'est pas qualifie")
    assert not french("The certificate expired on 2020-01-01.")
    assert not french("Unreadable file or unexpected format: offre.pdf.")
    assert not french("Signature of “Jeanne TITULAIRE”: the document was not changed.")


@pytest.fixture
def expired_token(softhsm: SoftHsm, test_pki: TestPki) -> Iterator[None]:
    """A second token with the test PKI's expired certificate and its key."""
    softhsm.init_token(EXPIRED_TOKEN)
    softhsm.import_key(EXPIRED_TOKEN, test_pki.key_pem("expired"), "expired", b"\x09")
    softhsm.import_certificate(EXPIRED_TOKEN, x509.load_pem_x509_certificate(test_pki.cert_pem("expired").read_bytes()),
                               "expired", b"\x09")
    yield
    softhsm.delete_token(EXPIRED_TOKEN)


def start_agent(home: Path, platform: PlatformServer, test_pki: TestPki, token: ProvisionedToken,
                policy: str = "") -> tuple[pexpect.spawn, int]:
    write_config(home, allowed=[platform.origin], preapproved=[platform.origin], consent="prompt",
                 extra=keystore_config(test_pki, token) + f'\n[signing]\noutput_dir = "{home / "Signés"}"\n'
                 f'tsa_url = "{test_pki.tsa_url}"\n')
    if policy:
        machine = home / "policy.toml"
        machine.write_text(policy, encoding="utf-8")
    seed_pairing(home, platform.origin)
    port = free_port()
    env = isolated_env(home) | ({"COMPAGNON_POLICY_FILE": str(home / "policy.toml")} if policy else {})
    child = pexpect.spawn(sys.executable, ["-m", "agent", "serve", "--port", str(port)], cwd=str(ROOT), env=env,
                          encoding="utf-8", timeout=60)
    child.expect("en écoute sur")
    return child, port


async def approve(child: pexpect.spawn) -> None:
    await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
    child.sendline(child.match.group(1))


async def finish(client: BridgeClient, child: pexpect.spawn, job_id: str, pin: str) -> dict:
    """The job's last snapshot, answering whatever the terminal asks on the way (consent, PIN)."""
    ending = asyncio.create_task(client.wait_job(job_id, timeout=90))
    while not ending.done():
        asked = await asyncio.to_thread(child.expect, [r"tapez ([A-Z]{4}) puis", "Code PIN", pexpect.TIMEOUT],
                                        timeout=1)
        if asked == 0:
            child.sendline(child.match.group(1))
        elif asked == 1:
            child.sendline(pin)
    return await ending


async def flow(client: BridgeClient, child: pexpect.spawn, token: ProvisionedToken, locale: str) -> list[dict]:
    """hello, certificates.list, a sign job, failing jobs (wrong PIN, not a PDF, unknown handle),
    a refused call, and a verify job; every frame received."""
    frames: list[dict] = []
    dispatch = client._dispatch
    client._dispatch = lambda item: (frames.append(item), dispatch(item))[1]  # type: ignore[method-assign]
    await client.hello(locale=locale)
    certificates = []
    for purpose in ("signing", "decryption"):
        listing = asyncio.create_task(client.call("certificates.list", {"purpose": purpose}, timeout=60))
        if purpose == "signing":  # one consent covers the site's listings for a while
            await approve(child)
        certificates += (await listing)["certificates"]
    by_subject = {c["subject"]: c for c in certificates}
    assert not by_subject["Jean DUPONT chiffrement"]["suitable"]
    assert any(not c["suitable"] and c["reasons"] for c in certificates if c["subject"] != "Jean DUPONT chiffrement")
    signer = by_subject["Jeanne TITULAIRE"]
    handle = await upload(client, "offre.pdf", b"%PDF-1.4 offre " * 200)
    params = {"files": [{"handle": handle, "format": "cades"}], "certificate": signer["id"]}
    job = await client.start_job("sign", params)
    await approve(child)
    await asyncio.to_thread(child.expect, "Code PIN")
    child.sendline(token.pin)
    signed = await client.wait_job(job["id"], timeout=60)
    assert signed["state"] == "succeeded", signed
    # A wrong PIN, then Enter alone at the second chance.
    job = await client.start_job("sign", params)
    await approve(child)
    await asyncio.to_thread(child.expect, "Code PIN")
    child.sendline("999999")
    await asyncio.to_thread(child.expect, r"Entrée seule pour abandonner\) : ")
    child.sendline("")
    wrong = await client.wait_job(job["id"], timeout=60)
    assert wrong["error"]["code"] == "PIN_INCORRECT", wrong
    # Not a PDF for PAdES; an encryption certificate for signing; an unknown handle.
    bad = await upload(client, "pas-un-pdf.pdf", b"plain text, not a PDF")
    job = await client.start_job("sign", {"files": [{"handle": bad, "format": "pades"}], "certificate": signer["id"]})
    await approve(child)
    await asyncio.to_thread(child.expect, "Code PIN")
    child.sendline(token.pin)
    not_pdf = await client.wait_job(job["id"], timeout=60)
    assert not_pdf["state"] == "failed", not_pdf
    job = await client.start_job("sign", {"files": [{"handle": handle, "format": "cades"}],
                                          "certificate": by_subject["Jean DUPONT chiffrement"]["id"]})
    usage = await client.wait_job(job["id"], timeout=60)
    assert usage["error"]["code"] == "KEY_USAGE_NOT_SIGNING", usage
    job = await client.start_job("sign", {"files": [], "certificate": signer["id"]})
    empty = await client.wait_job(job["id"], timeout=60)
    assert empty["error"]["code"] == "INVALID_PARAMS", empty
    with pytest.raises(BridgeError):
        await client.start_job("sign", {"files": [{"path": "/etc/passwd", "format": "cades"}]})
    job = await client.start_job("verify", {"handle": "0" * 32})
    missing = await client.wait_job(job["id"], timeout=60)
    assert missing["state"] == "failed", missing
    # A sealed bid that is no envelope, and an envelope cut short: the engine's own errors.
    garbage = await upload(client, "offre.zip.p7m", b"\x30\x80\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07\x03" + b"\x00" * 40)
    job = await client.start_job("decrypt", {"files": [{"handle": garbage}]})
    unsealed = await finish(client, child, job["id"], token.pin)
    assert unsealed["state"] == "failed" or unsealed["result"]["failed"], unsealed
    # A real envelope for the token's encryption key, cut short: the envelope engine's error.
    recipient = token.certificates["encryption"].public_bytes(Encoding.PEM).decode()
    zipped = await upload(client, "annexe.zip", b"PK\x03\x04 annexe " * 4000)
    job = await client.start_job("encrypt", {"files": [{"handle": zipped}], "recipients": [recipient]})
    sealed = await finish(client, child, job["id"], token.pin)
    assert sealed["state"] == "succeeded", sealed
    envelope = await download(client, sealed["result"]["files"][0]["output_handle"])
    cut = await upload(client, "annexe.zip.p7m", envelope[:-40])
    job = await client.start_job("decrypt", {"files": [{"handle": cut}],
                                             "certificate": by_subject["Jean DUPONT chiffrement"]["id"]})
    truncated = await finish(client, child, job["id"], token.pin)
    failure = truncated["error"] or truncated["result"]["files"][0]["error"]
    assert failure["code"] in ("FILE_UNREADABLE", "DECRYPTION_FAILED"), truncated
    # A file with no signature at all, verified.
    job = await client.start_job("verify", {"handle": bad})
    unsigned = await client.wait_job(job["id"], timeout=60)
    assert unsigned["state"] in ("succeeded", "failed"), unsigned
    # "Tester la configuration de mon poste".
    job = await client.start_job("diagnose", {"user_agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0"})
    diagnosed = await client.wait_job(job["id"], timeout=120)
    assert diagnosed["state"] == "succeeded" and diagnosed["result"]["checks"], diagnosed
    # The signature just made, verified with its content.
    output = signed["result"]["files"][0]["output_handle"]
    job = await client.start_job("verify", {"handle": output, "content_handle": handle})
    verified = await client.wait_job(job["id"], timeout=120)
    assert verified["state"] == "succeeded" and verified["result"]["report"]["signatures"], verified
    # The HTML report the page opens, as lines of text.
    page = (await download(client, verified["result"]["report_handle"])).decode("utf-8")
    page = re.sub(r"<(style|script)[^>]*>.*?</\1>", " ", page, flags=re.S)
    lines = [html.unescape(line).strip() for line in re.split(r"<[^>]+>", page)]
    frames.append({"report_lines": [line for line in lines if line]})
    return frames


def texts_of(frames: list[dict]) -> list[tuple[str, str]]:
    return [pair for frame in frames for pair in sentences(frame)]


@pytest.fixture
def agent(home: Path, platform: PlatformServer, test_pki: TestPki, token: ProvisionedToken,
          expired_token: None) -> Iterator[tuple[pexpect.spawn, int]]:
    child, port = start_agent(home, platform, test_pki, token)
    yield child, port
    child.terminate(force=True)


async def test_an_english_page_receives_no_french(agent, platform: PlatformServer,  # type: ignore[no-untyped-def]
                                                  token: ProvisionedToken) -> None:
    child, port = agent
    async with await BridgeClient.connect(platform.origin, ports=[port]) as client:
        frames = await flow(client, child, token, "en")
    texts = texts_of(frames)
    assert len(texts) > 20, texts
    leaks = sorted({f"{key}: {text}" for key, text in texts if french(text)})
    assert not leaks, "\n".join(leaks)
    joined = json.dumps(frames)
    assert "expired" in joined and "key usage" in joined
    report = frames[-1]["report_lines"]
    assert len(report) > 10 and any("verification report" in line for line in report), report


async def test_a_french_page_receives_french(agent, platform: PlatformServer,  # type: ignore[no-untyped-def]
                                             token: ProvisionedToken) -> None:
    child, port = agent
    async with await BridgeClient.connect(platform.origin, ports=[port]) as client:
        frames = await flow(client, child, token, "fr")
    texts = texts_of(frames)
    french_texts = [text for _, text in texts if french(text)]
    assert len(french_texts) > 10, texts
    joined = json.dumps(frames, ensure_ascii=False)
    assert "expiré" in joined and "usage de la clé" in joined
    report = frames[-1]["report_lines"]
    assert sum(french(line) for line in report) > 5, report
