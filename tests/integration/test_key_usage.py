"""Key usage decides what a certificate may do (RFC 5280 sections 4.2.1.3 and 4.2.1.12).

Real certificates made in the test (the test PKI's CA, cryptography's builder) and real keys: a
PKCS#12 and the SoftHSM token's key whose certificate only allows keyEncipherment/dataEncipherment.
``sign`` refuses such a key with ``KEY_USAGE_NOT_SIGNING`` before any PIN or consent is asked
(command line and the sign job of a running agent); ``encrypt`` refuses a recipient certificate
only allowed to sign (``KEY_USAGE_NOT_ENCRYPTION``); ``certs`` and ``certificates.list`` show each
certificate's usage; a CMS signature made by openssl with a keyEncipherment-only certificate fails
the ``key_usage`` check. openssl (``verify -purpose smimesign|smimeencrypt``, ``cms -verify``)
judges the same certificates alike.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from agent.pki.key_usage import key_purposes
from agent.validation import Indication, SubIndication, verify_file
from bridge_protocol.client import BridgeClient
from tests.integration.test_sign_job import _listed, terminal_agent, upload  # noqa: F401 (fixture)
from tests.support.agent_process import ROOT, isolated_env
from tests.support.leaf_certs import Leaf, issue_leaf
from tests.support.pki import TestPki
from tests.support.platform_server import PlatformServer
from tests.support.softhsm import ProvisionedToken

SIGNING = {"digital_signature", "content_commitment"}


@pytest.fixture(scope="module")
def leaves(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Leaf]:
    folder = tmp_path_factory.mktemp("leaves")
    return {
        "signing": issue_leaf(test_pki, folder, "Alice SIGNATURE", key_usage=SIGNING),
        "encipher": issue_leaf(test_pki, folder, "Bruno CHIFFREMENT", key_usage={"key_encipherment"}),
        "both": issue_leaf(test_pki, folder, "Chloe DEUXUSAGES", key_usage=None),
        "server": issue_leaf(test_pki, folder, "serveur.example", key_usage={"digital_signature", "key_encipherment"},
                             eku=[ExtendedKeyUsageOID.SERVER_AUTH]),
        "ec_agreement": issue_leaf(test_pki, folder, "Denise ACCORD", key_usage={"key_agreement"}, ec_key=True),
    }


def openssl_purpose(pki: TestPki, leaf: Path, purpose: str) -> bool:
    result = subprocess.run(["openssl", "verify", "-purpose", purpose, "-CAfile", str(pki.root_pem), "-untrusted",
                             str(pki.intermediate_pem), str(leaf)], capture_output=True, text=True)
    return result.returncode == 0


def run_cli(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=isolated_env(home), input=stdin,
                          capture_output=True, text=True, timeout=120)


def spawn_cli(home: Path, *args: str) -> str:
    """The command in a pseudo-terminal, as a user runs it: a PIN or password prompt would show."""
    child = pexpect.spawn(sys.executable, ["-m", "agent", *args], cwd=str(ROOT), env=isolated_env(home),
                          encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 1, child.before
    return str(child.before)


def test_purposes_follow_key_usage_and_extended_key_usage(test_pki: TestPki, leaves: dict[str, Leaf]) -> None:
    expected = {"signing": ["signing"], "encipher": ["decryption"], "both": ["signing", "decryption"],
                "server": [], "ec_agreement": ["decryption"]}
    for name, purposes in expected.items():
        assert key_purposes(leaves[name].cert) == purposes, name
    # openssl's S/MIME purposes judge the same certificates alike.
    for name in ("signing", "both"):
        assert openssl_purpose(test_pki, leaves[name].cert_pem, "smimesign"), name
    for name in ("encipher", "server"):
        assert not openssl_purpose(test_pki, leaves[name].cert_pem, "smimesign"), name
    assert openssl_purpose(test_pki, leaves["encipher"].cert_pem, "smimeencrypt")
    for name in ("signing", "server"):
        assert not openssl_purpose(test_pki, leaves[name].cert_pem, "smimeencrypt"), name


def test_cli_sign_refuses_an_encryption_key_before_any_pin(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken,
                                                            leaves: dict[str, Leaf]) -> None:
    content = tmp_path / "offre.pdf"
    content.write_bytes(b"%PDF-1.7 offre " * 50)
    # A token key whose certificate only allows keyEncipherment/dataEncipherment: no PIN prompt.
    out = spawn_cli(tmp_path, "sign", str(content), "--format", "cades", "--pkcs11", str(token.hsm.module),
                    "--token", token.label, "--key", "encryption")
    assert "KEY_USAGE_NOT_SIGNING" in out and "Jean DUPONT chiffrement" in out, out
    assert "sert au chiffrement, pas à la signature" in out and "Code PIN" not in out, out
    # A PKCS#12 with its certificate published beside it: refused before the password is asked.
    p12 = leaves["encipher"].p12
    p12.with_suffix(".crt").write_bytes(leaves["encipher"].cert_pem.read_bytes())
    out = spawn_cli(tmp_path, "sign", str(content), "--format", "cades", "--p12", str(p12))
    assert "KEY_USAGE_NOT_SIGNING" in out and "Bruno CHIFFREMENT" in out and "Mot de passe" not in out, out
    # Without a published certificate, the password opens the file; the key still signs nothing.
    alone = tmp_path / "seul.p12"
    alone.write_bytes(p12.read_bytes())
    refused = run_cli(tmp_path, "sign", str(content), "--format", "cades", "--p12", str(alone), "--pin-stdin",
                      stdin="pw\n")
    assert refused.returncode == 1 and "KEY_USAGE_NOT_SIGNING" in refused.stderr, refused.stderr
    server = run_cli(tmp_path, "sign", str(content), "--format", "cades", "--p12", str(leaves["server"].p12),
                     "--pin-stdin", stdin="pw\n")
    assert server.returncode == 1 and "KEY_USAGE_NOT_SIGNING" in server.stderr and "serverAuth" in server.stderr
    assert not list(tmp_path.glob("offre.pdf - *"))  # nothing was signed
    fine = run_cli(tmp_path, "sign", str(content), "--format", "cades", "--p12", str(leaves["signing"].p12),
                   "--pin-stdin", stdin="pw\n")
    assert fine.returncode == 0, fine.stderr


async def test_sign_job_refuses_an_encryption_key_before_consent(
    terminal_agent, platform: PlatformServer, token: ProvisionedToken  # type: ignore[no-untyped-def]  # noqa: F811
) -> None:
    child, port = terminal_agent
    async with await BridgeClient.connect(platform.origin, ports=[port]) as client:
        call = asyncio.create_task(client.call("certificates.list", {"purpose": "decryption"}, timeout=60))
        await asyncio.to_thread(child.expect, r"tapez ([A-Z]{4}) puis")
        child.sendline(child.match.group(1))
        listed = (await call)["certificates"]
        cert = next(c for c in listed if c["subject"] == "Jean DUPONT chiffrement")
        assert cert["purposes"] == ["decryption"]
        handle = await upload(client, "offre.pdf", b"%PDF-1.7 offre")
        job = await client.start_job("sign", {"files": [{"handle": handle, "format": "cades"}],
                                              "certificate": cert["id"]})
        final = await client.wait_job(job["id"], timeout=60)
    assert final["state"] == "failed" and final["error"]["code"] == "KEY_USAGE_NOT_SIGNING", final
    assert "Jean DUPONT chiffrement" in final["error"]["message"]
    assert "sert au chiffrement, pas à la signature" in final["error"]["message"]
    assert final["steps"][1]["id"] == "consent" and final["steps"][1]["state"] != "succeeded"
    # Neither a consent prompt nor a PIN prompt appeared in the agent's terminal.
    assert await asyncio.to_thread(child.expect, [r"tapez ([A-Z]{4}) puis", "Code PIN", pexpect.TIMEOUT],
                                   timeout=3) == 2


def test_encrypt_refuses_a_signing_only_recipient(tmp_path: Path, test_pki: TestPki, leaves: dict[str, Leaf]) -> None:
    bid = tmp_path / "offre.zip"
    bid.write_bytes(b"PK\x03\x04 offre " * 100)
    for name, who in (("signing", "Alice SIGNATURE"), ("server", "serveur.example")):
        refused = run_cli(tmp_path, "encrypt", str(bid), "--to", str(test_pki.cert_pem("encryption")), "--to",
                          str(leaves[name].cert_pem))
        assert refused.returncode == 1 and "KEY_USAGE_NOT_ENCRYPTION" in refused.stderr, refused.stderr
        assert who in refused.stderr, refused.stderr
    assert "sert à la signature, pas au chiffrement" in run_cli(
        tmp_path, "encrypt", str(bid), "--to", str(leaves["signing"].cert_pem)).stderr
    assert not list(tmp_path.glob("*.p7m"))  # nothing half-sealed left behind
    sealed = run_cli(tmp_path, "encrypt", str(bid), "--to", str(leaves["encipher"].cert_pem))
    assert sealed.returncode == 0, sealed.stderr
    opened = subprocess.run(["openssl", "cms", "-decrypt", "-inform", "DER", "-in", sealed.stdout.strip(), "-recip",
                             str(leaves["encipher"].cert_pem), "-inkey", str(leaves["encipher"].key_pem)],
                            capture_output=True)
    assert opened.returncode == 0 and opened.stdout == bid.read_bytes()


def test_certs_command_shows_each_usage(tmp_path: Path, token: ProvisionedToken) -> None:
    listing = run_cli(tmp_path, "certs", "--pkcs11", str(token.hsm.module), "--purpose", "all")
    assert listing.returncode == 0, listing.stderr
    blocks = listing.stdout.split("\n[")
    usage = {}
    for block in blocks:
        if "] " not in block.split("\n", 1)[0]:
            continue  # a section's title
        subject = block.split("] ", 1)[1].split(" — ")[0].split(" (")[0].strip()
        line = next(line for line in block.splitlines() if "usage :" in line)
        usage[subject] = line.split("usage :", 1)[1].strip()
    assert usage["Jeanne TITULAIRE"] == "signature"
    assert usage["Jean DUPONT chiffrement"] == "chiffrement"
    english = run_cli(tmp_path, "certs", "--pkcs11", str(token.hsm.module), "--purpose", "all", "--lang", "en")
    assert "usage: encryption" in english.stdout and "usage: signature" in english.stdout


def test_verification_fails_the_key_usage_of_an_encryption_certificate(tmp_path: Path, test_pki: TestPki,
                                                                       leaves: dict[str, Leaf]) -> None:
    root = x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())
    content = tmp_path / "memoire.pdf"
    content.write_bytes(b"%PDF-1.7 memoire " * 100)
    for name, leaf_pem, key_pem in (("pki-encryption", test_pki.cert_pem("encryption"), test_pki.key_pem("encryption")),
                                    ("encipher", leaves["encipher"].cert_pem, leaves["encipher"].key_pem)):
        signature = tmp_path / f"{name}.p7s"
        subprocess.run(["openssl", "cms", "-sign", "-binary", "-outform", "DER", "-in", str(content), "-out",
                        str(signature), "-signer", str(leaf_pem), "-inkey", str(key_pem), "-certfile",
                        str(test_pki.intermediate_pem), "-md", "sha256"], check=True, capture_output=True)
        report = verify_file(signature, content=content, trust_roots=[root])
        (entry,) = report.signatures
        check = entry.check("key_usage")
        assert check is not None and str(check.status) == "failed", entry.to_json()
        assert "keyEncipherment" in check.message and "ni digitalSignature ni nonRepudiation" in check.message
        assert (entry.indication, entry.sub_indication) == (Indication.INDETERMINATE,
                                                            SubIndication.CHAIN_CONSTRAINTS_FAILURE)
        assert entry.check("signature_value").status == "passed"  # type: ignore[union-attr]
        # openssl's own CMS verification refuses the signer's purpose too.
        judged = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature),
                                 "-content", str(content), "-CAfile", str(test_pki.root_pem), "-out", "/dev/null"],
                                capture_output=True, text=True)
        assert judged.returncode != 0 and "unsuitable certificate purpose" in judged.stderr, judged.stderr
    signed = tmp_path / "alice.p7s"
    subprocess.run(["openssl", "cms", "-sign", "-binary", "-outform", "DER", "-in", str(content), "-out", str(signed),
                    "-signer", str(leaves["signing"].cert_pem), "-inkey", str(leaves["signing"].key_pem),
                    "-certfile", str(test_pki.intermediate_pem), "-md", "sha256"], check=True, capture_output=True)
    (good,) = verify_file(signed, content=content, trust_roots=[root], allow_fetching=False).signatures
    assert str(good.check("key_usage").status) == "passed"  # type: ignore[union-attr]
