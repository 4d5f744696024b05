"""The audit trail end to end: real ``compagnon sign``, ``decrypt``, ``keygen`` and a real agent's
pairing append chained records with the right SHA-256s and certificate, never a PIN; ``compagnon
audit show|verify|export`` read them and find tampering."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bridge_protocol.client import BridgeClient
from tests.support.agent_process import ROOT, AgentProcess, free_port, isolated_env, write_config
from tests.support.pki import TestPki
from tests.support.platform_server import PlatformServer

PASSWORD = "Audit-Secret-7391"  # appears nowhere else: "the password is nowhere" means something


def _run(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=isolated_env(home), input=stdin,
                          capture_output=True, text=True, timeout=180)


def _journal(home: Path) -> Path:
    return home / ".local/state/compagnon/audit/audit.jsonl"


def _records(home: Path) -> list[dict]:
    return [json.loads(line) for line in _journal(home).read_text(encoding="utf-8").splitlines()]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cert(pem: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.read_bytes())


def _cert_sha256(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def test_sign_and_decrypt_on_the_command_line_are_recorded(home: Path, test_pki: TestPki) -> None:
    document = home / "offre technique.pdf"
    document.write_bytes(b"%PDF-1.4 offre " * 1000)
    signed = _run(home, "sign", str(document), "--format", "cades", "--p12",
                  str(test_pki.p12("qualified", PASSWORD)), "--pin-stdin", stdin=PASSWORD + "\n")
    assert signed.returncode == 0, signed.stderr
    signature = Path(signed.stdout.strip())

    plain = home / "offre.zip"
    plain.write_bytes(b"PK\x03\x04 pas vraiment un zip " * 300)
    envelope = home / "Pli 1 - offre.zip.p7m"
    subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", "-aes-256-cbc", "-in", str(plain),
                    "-out", str(envelope), "-recip", str(test_pki.cert_pem("encryption"))], check=True)
    opened = _run(home, "decrypt", str(envelope), "--p12", str(test_pki.p12("encryption", PASSWORD)),
                  "--pin-stdin", "--out-dir", str(home / "ouverts"), stdin=PASSWORD + "\n")
    assert opened.returncode == 0, opened.stderr
    output = Path(opened.stdout.splitlines()[0])

    sign, decrypt = _records(home)
    qualified, encryption = _cert(test_pki.cert_pem("qualified")), _cert(test_pki.cert_pem("encryption"))

    assert (sign["seq"], sign["action"], sign["kind"], sign["origin"], sign["result"], sign["error"]) == \
        (1, "sign", "sign", "cli:", "succeeded", None)
    assert len(sign["job"]) == 32 and sign["time"].endswith("Z")
    assert sign["inputs"] == [{"name": "offre technique.pdf", "size": document.stat().st_size,
                               "sha256": _sha256(document)}]
    assert sign["outputs"] == [{"source": "offre technique.pdf", "status": "signed", "name": signature.name,
                                "format": "cades"}]
    assert sign["certificate"]["subject"] == qualified.subject.rfc4514_string()
    assert sign["certificate"]["sha256"] == _cert_sha256(qualified)
    assert sign["details"] == {"mode": "sign", "level": "B-B", "signed": 1, "failed": 0}

    assert (decrypt["seq"], decrypt["action"], decrypt["result"]) == (2, "decrypt", "succeeded")
    assert decrypt["inputs"] == [{"name": envelope.name, "size": envelope.stat().st_size, "sha256": _sha256(envelope)}]
    (out,) = decrypt["outputs"]
    assert (out["name"], out["sha256"], out["size"]) == (output.name, _sha256(plain), plain.stat().st_size)
    assert _sha256(output) == _sha256(plain)
    assert decrypt["certificate"]["subject"] == encryption.subject.rfc4514_string()
    assert decrypt["certificate"]["sha256"] == _cert_sha256(encryption)

    text = _journal(home).read_text(encoding="utf-8")
    assert PASSWORD not in text
    assert str(home) not in text  # names, not paths
    assert (_journal(home).stat().st_mode & 0o777) == 0o600
    assert (_journal(home).parent.stat().st_mode & 0o777) == 0o700

    verified = _run(home, "audit", "verify")
    assert verified.returncode == 0 and verified.stdout.startswith("Journal intact (2 entrées)"), verified.stdout
    shown = _run(home, "audit", "show")
    assert shown.returncode == 0
    assert "Signature" in shown.stdout and "Déchiffrement" in shown.stdout and "ligne de commande" in shown.stdout
    assert "offre technique.pdf" in shown.stdout and "Journal intact (2 entrées)" in shown.stdout
    last = json.loads(_run(home, "audit", "show", "--json", "--last", "1").stdout)
    assert [entry["seq"] for entry in last] == [2]

    copy = home / "export" / "audit-copie.jsonl"
    exported = _run(home, "audit", "export", str(copy))
    assert exported.returncode == 0, exported.stderr
    assert copy.read_bytes() == _journal(home).read_bytes() and (copy.stat().st_mode & 0o777) == 0o600

    # Tampering: the signed file's digest changed by one character in the journal.
    data = _journal(home).read_bytes()
    digest = _sha256(document).encode()
    forged = digest[:-1] + (b"0" if digest[-1:] != b"0" else b"1")
    _journal(home).write_bytes(data.replace(digest, forged, 1))
    tampered = _run(home, "audit", "verify")
    assert tampered.returncode == 1
    assert "Journal altéré à l'entrée 1 : entrée modifiée" in tampered.stderr
    assert _run(home, "audit", "export", str(copy)).returncode == 1


def test_failed_jobs_and_key_generation_are_recorded(home: Path, test_pki: TestPki) -> None:
    # A missing file is refused by the command line before anything runs (nothing to record);
    # a PDF without its end fails in the job, after the consent: the journal names it.
    missing = _run(home, "sign", str(home / "absent.pdf"), "--format", "pades", "--p12",
                   str(test_pki.p12("qualified", PASSWORD)), "--pin-stdin", stdin=PASSWORD + "\n")
    assert missing.returncode == 1 and "FILE_NOT_FOUND" in missing.stderr
    broken = home / "sans fin.pdf"
    broken.write_bytes(b"%PDF-1.7\n1 0 obj\n")
    unreadable = _run(home, "sign", str(broken), "--format", "pades", "--p12",
                      str(test_pki.p12("qualified", PASSWORD)), "--pin-stdin", stdin=PASSWORD + "\n")
    assert unreadable.returncode == 1
    made = _run(home, "keygen", "--name", "Jean DUPONT", "--p12", str(home / "clés"), "--pin-stdin",
                stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    failed, keygen = _records(home)
    assert (failed["action"], failed["result"], failed["error"]) == ("sign", "failed", "FILE_UNREADABLE")
    assert [i["name"] for i in failed["inputs"]] == ["sans fin.pdf"] and failed["outputs"] == []
    assert failed["certificate"] is not None

    assert (keygen["action"], keygen["result"]) == ("keygen", "succeeded")
    p12 = Path(made.stdout.strip())
    assert keygen["details"]["store"] == "pkcs12" and keygen["details"]["location"] == p12.name
    assert "CN=Jean DUPONT" in keygen["certificate"]["subject"]
    assert len(keygen["certificate"]["sha256"]) == 64
    assert PASSWORD not in _journal(home).read_text(encoding="utf-8")
    assert _run(home, "audit", "verify").returncode == 0


async def test_pairings_through_the_agent_and_the_command_line_are_recorded(
        home: Path, platform: PlatformServer) -> None:
    import asyncio

    write_config(home, allowed=[platform.origin], consent="approve-all-for-tests")
    agent = AgentProcess(home, free_port()).start()
    try:
        async with await BridgeClient.connect(platform.origin, ports=[agent.port]) as client:
            assert await client.pair() == {"paired": True}
    finally:
        agent.stop()
    revoked = await asyncio.to_thread(_run, home, "pairings", "revoke", platform.origin)
    assert revoked.returncode == 0, revoked.stderr
    records = _records(home)
    assert [(r["action"], r["origin"], r["job"]) for r in records] == [
        ("pairing.approved", platform.origin, None),
        ("pairing.revoked", platform.origin, None),
    ]
    assert (await asyncio.to_thread(_run, home, "audit", "verify")).returncode == 0
