"""``compagnon decrypt`` and ``compagnon encrypt``: the job kinds over the envelope engine, against
openssl cms as the independent tool."""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.support.agent_process import ROOT, isolated_env
from tests.support.leaf_certs import issue_leaf
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken


def _run(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=ROOT, env=isolated_env(home), input=stdin,
                          capture_output=True, text=True, timeout=180)


def _openssl_encrypt(source: Path, target: Path, *recipients: Path, options: tuple[str, ...] = ("-aes-256-gcm",),
                     keyopts: tuple[str, ...] = ()) -> None:
    """``openssl cms -encrypt``; ``keyopts`` apply to each recipient (they follow its ``-recip``)."""
    recipient_args = [arg for r in recipients for arg in ("-recip", str(r), *keyopts)]
    subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-outform", "DER", *options, "-in", str(source),
                    "-out", str(target), *recipient_args], check=True, capture_output=True)


def _bid_zip(path: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("candidature/DC1.pdf", b"%PDF-1.4 DC1 " * 100)
        archive.writestr("offre/memoire technique.pdf", b"%PDF-1.4 memoire " * 500)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def test_decrypt_an_openssl_bid_with_a_pkcs12_key_and_extract(tmp_path: Path, test_pki: TestPki) -> None:
    bid = tmp_path / "offre.zip"
    data = _bid_zip(bid)
    envelope = tmp_path / "Pli 1 - offre.zip.p7m"
    # Two recipients (a secours key first, ours second), AES-256-GCM (AuthEnvelopedData).
    _openssl_encrypt(bid, envelope, test_pki.cert_pem("plain"), test_pki.cert_pem("encryption"))
    out = tmp_path / "ouverts"
    result = _run(tmp_path, "decrypt", str(envelope), "--p12", str(test_pki.p12("encryption", "pw")), "--pin-stdin",
                  "--out-dir", str(out), "--extract", stdin="pw\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert Path(lines[0]) == out / "Pli 1 - offre.zip"
    assert lines[1] == "  Non signé"  # its analyse: a ZIP without signature, which is no failure
    assert (out / "Pli 1 - offre.zip").read_bytes() == data
    assert (out / "Pli 1 - offre" / "offre" / "memoire technique.pdf").read_bytes() == b"%PDF-1.4 memoire " * 500
    # A second decryption never overwrites the first.
    again = _run(tmp_path, "decrypt", str(envelope), "--p12", str(test_pki.p12("encryption", "pw")), "--pin-stdin",
                 "--out-dir", str(out), stdin="pw\n")
    assert again.returncode == 0 and again.stdout.splitlines()[0].endswith("Pli 1 - offre (2).zip")


def test_decrypt_with_the_token_key_oaep(tmp_path: Path, test_pki: TestPki, token: ProvisionedToken) -> None:
    bid = tmp_path / "offre.pdf"
    bid.write_bytes(b"%PDF-1.4 offre " * 1000)
    envelope = tmp_path / "offre.pdf.p7m"
    _openssl_encrypt(bid, envelope, test_pki.cert_pem("encryption"), options=("-aes256",),
                     keyopts=("-keyopt", "rsa_padding_mode:oaep"))
    result = _run(tmp_path, "decrypt", str(envelope), "--pkcs11", str(token.hsm.module), "--token", token.label,
                  "--key", "encryption", "--pin-stdin", stdin=token.pin + "\n")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "offre.pdf").read_bytes() == bid.read_bytes()  # next to the envelope: same name as the source


def test_refusals_leave_no_output(tmp_path: Path, test_pki: TestPki) -> None:
    bid = tmp_path / "offre.txt"
    bid.write_bytes(b"offre " * 1000)
    not_for_us = tmp_path / "autre.txt.p7m"
    _openssl_encrypt(bid, not_for_us, test_pki.cert_pem("plain"))
    result = _run(tmp_path, "decrypt", str(not_for_us), "--p12", str(test_pki.p12("encryption", "pw")), "--pin-stdin",
                  stdin="pw\n")
    assert result.returncode == 1 and "NO_MATCHING_RECIPIENT" in result.stderr
    tampered = tmp_path / "altere.txt.p7m"
    _openssl_encrypt(bid, tampered, test_pki.cert_pem("encryption"))
    raw = bytearray(tampered.read_bytes())
    raw[-40] ^= 0x01  # inside the ciphertext or the GCM tag
    tampered.write_bytes(bytes(raw))
    result = _run(tmp_path, "decrypt", str(tampered), "--p12", str(test_pki.p12("encryption", "pw")), "--pin-stdin",
                  stdin="pw\n")
    assert result.returncode == 1 and "DECRYPTION_FAILED" in result.stderr
    assert not (tmp_path / "altere.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_encrypt_opens_with_openssl(tmp_path: Path, test_pki: TestPki) -> None:
    bid = tmp_path / "offre finale.zip"
    data = _bid_zip(bid)
    other = issue_leaf(test_pki, tmp_path / "autre", "Autre DESTINATAIRE", key_usage={"key_encipherment"})
    for algorithm in ("aes-256-cbc", "aes-256-gcm"):
        out = tmp_path / algorithm
        result = _run(tmp_path, "encrypt", str(bid), "--to", str(test_pki.cert_pem("encryption")),
                      "--to", str(other.cert_pem), "--algorithm", algorithm, "--out-dir", str(out))
        assert result.returncode == 0, result.stderr
        sealed = Path(result.stdout.strip())
        assert sealed == out / "offre finale.zip.p7m"
        opened = subprocess.run(["openssl", "cms", "-decrypt", "-binary", "-inform", "DER", "-in", str(sealed),
                                 "-recip", str(test_pki.cert_pem("encryption")), "-inkey", str(test_pki.key_pem("encryption"))],
                                capture_output=True)
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout == data


def test_bicle_created_then_a_bid_sealed_to_it_then_opened_offline(tmp_path: Path) -> None:
    """The buyer's flow on the command line: ``keygen`` (PKCS#12), ``encrypt`` to its certificate
    (with a secours key), ``decrypt`` with the new file."""
    keys = tmp_path / "clés"
    keys.mkdir()  # an existing folder: the file is named after the key
    password = "Mot de passe 2026\n"
    made = _run(tmp_path, "keygen", "--name", "Jean DUPONT", "--p12", str(keys), "--pin-stdin",
                "--cert-out", str(tmp_path / "jean.pem"), stdin=password)
    assert made.returncode == 0, made.stderr
    p12 = Path(made.stdout.strip())
    assert p12.parent == keys and p12.suffix == ".p12" and (p12.stat().st_mode & 0o777) == 0o600
    secours = _run(tmp_path, "keygen", "--name", "Service marchés", "--secours", "--p12", str(keys), "--pin-stdin",
                   "--cert-out", str(tmp_path / "secours.pem"), stdin=password)
    assert secours.returncode == 0 and "clé de secours" in secours.stderr
    bid = tmp_path / "offre.zip"
    data = _bid_zip(bid)
    sealed = _run(tmp_path, "encrypt", str(bid), "--to", str(tmp_path / "jean.pem"), "--to", str(tmp_path / "secours.pem"),
                  "--algorithm", "aes-256-gcm", "--out-dir", str(tmp_path / "scellés"))
    assert sealed.returncode == 0, sealed.stderr
    for key_file in (p12, Path(secours.stdout.strip())):  # either key opens it
        opened = _run(tmp_path, "decrypt", sealed.stdout.strip(), "--p12", str(key_file), "--pin-stdin",
                      "--out-dir", str(tmp_path / key_file.stem), stdin=password)
        assert opened.returncode == 0, opened.stderr
        assert Path(opened.stdout.splitlines()[0]).read_bytes() == data


async def test_the_decryption_consent_shows_each_file_with_its_sha256(tmp_path: Path, test_pki: TestPki) -> None:
    """Promise 4: the consent names the files with their size and SHA-256, and the certificate."""
    import hashlib

    from agent.config import Settings
    from agent.consent import ConsentDecision, PolicyConsent, Secret
    from agent.jobs.context import JobServices
    from agent.jobs.manager import JobManager
    from agent.keystores.pkcs12_store import Pkcs12FileStore
    from agent.keystores.registry import KeyStoreRegistry
    from agent.kinds.registry import KINDS, platform_client

    asked = []

    class Recording(PolicyConsent):
        async def ask(self, request):  # type: ignore[no-untyped-def]
            asked.append(request)
            return ConsentDecision(True, Secret("pw"))

    bid = tmp_path / "offre.txt"
    bid.write_bytes(b"offre " * 100)
    envelope = tmp_path / "offre.txt.p7m"
    _openssl_encrypt(bid, envelope, test_pki.cert_pem("encryption"))
    store = Pkcs12FileStore(test_pki.p12("encryption", "pw"))
    (key,) = store.unlock(Secret("pw"))
    settings = Settings(state_dir=tmp_path / "state", log_dir=tmp_path / "log", trust_system=False, pkcs11_modules=())
    manager = JobManager(JobServices(settings=settings, consent=Recording(True),
                                     keystores=KeyStoreRegistry(settings, p12=[store], discover=False), local=True),
                         kinds=KINDS, platform_client=platform_client)
    job = manager.start("cli:", "decrypt", {"files": [{"path": str(envelope)}], "certificate": key.id})
    assert (await manager.wait(job.id)).state == "succeeded"
    (request,) = asked
    (summary,) = request.files
    assert (summary.name, summary.size) == ("offre.txt.p7m", envelope.stat().st_size)
    assert summary.sha256 == hashlib.sha256(envelope.read_bytes()).hexdigest()
    assert request.action == "decrypt" and "Jean DUPONT chiffrement" in request.certificate
