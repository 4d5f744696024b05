"""``compagnon keygen --windows`` under Wine: a bi-clé in the Windows store, used end to end.

The key is made by Wine's CryptoAPI provider (rsaenh, which keeps it in the prefix's registry
across processes), the certificate goes to the user's Personal store. Then, each in its own
Windows process as a user would run them: ``compagnon certs`` lists it, ``compagnon decrypt``
opens envelopes ``openssl cms -encrypt`` made for it on Linux (PKCS#1 v1.5 and OAEP key
transport), and ``compagnon sign`` with it is refused with the same code as for any store
(KEY_USAGE_NOT_SIGNING: its certificate only allows keyEncipherment); the audit journal the three
commands appended to stays intact.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from agent.keystores.keygen import POLICY_SECOURS, SECOURS_OU
from tests.support.wine import ROOT, WinePython, store_lock, unixpath, winpath

#: Runs under Wine: what the store says of the new key (argv: the source tree, the certificate's SHA-256):
#: its label, provider information, and whether the provider lets its private key be exported.
INSPECT = r'''
import ctypes, json, sys
from ctypes import byref, c_size_t, wintypes as wt
sys.path.insert(0, sys.argv[1])
from agent.keystores import windows_store as ws

store = ws.WindowsMyStore()
(key,) = [k for k in store.keys() if k.sha256 == sys.argv[2]]
with store.open(None) as session:
    context = session._context(key)
    info = ws._prov_info(context)
    _, advapi32, _ = ws._libs()
    prov, user_key, size = c_size_t(0), c_size_t(0), wt.DWORD(0)
    assert advapi32.CryptAcquireContextW(byref(prov), info.pwszContainerName, info.pwszProvName, info.dwProvType, 0)
    assert advapi32.CryptGetUserKey(prov.value, info.dwKeySpec, byref(user_key))
    exported = advapi32.CryptExportKey(user_key.value, 0, 7, 0, None, byref(size))  # PRIVATEKEYBLOB
    status = ctypes.get_last_error() & 0xFFFFFFFF
print(json.dumps({"label": key.label, "container": info.pwszContainerName, "provider": info.pwszProvName,
                  "type": info.dwProvType, "spec": info.dwKeySpec, "exported": bool(exported),
                  "status": f"{status:08x}"}))
'''


def _text(data: bytes) -> str:
    return data.decode("utf-8").replace("\r\n", "\n")


def test_keygen_into_the_store_then_decrypt_and_refuse_to_sign(wine: WinePython, win_config: Path,
                                                               tmp_path: Path) -> None:
    cert_pem = tmp_path / "bi-clé.pem"
    with store_lock(wine):
        made = wine.agent("keygen", "--windows", "--name", "Jérôme DUPONT", "--secours", "--cert-out", winpath(cert_pem),
                          "--config", winpath(win_config), timeout=300)
        assert made.returncode == 0, _text(made.stderr)
        assert _text(made.stdout).strip() == "Magasin Windows : Jérôme DUPONT (secours)"
        certificate = x509.load_pem_x509_certificate(cert_pem.read_bytes())
        sha256 = certificate.fingerprint(hashes.SHA256()).hex()
        assert f"SHA-256 {sha256}" in _text(made.stderr)

        inspected = wine.script(INSPECT, winpath(ROOT), sha256, timeout=180)
        assert inspected.returncode == 0, _text(inspected.stderr)
        facts = json.loads(_text(inspected.stdout))
        assert facts["label"] == "Jérôme DUPONT (secours)"
        assert facts["container"].startswith("Compagnon bi-clé ")
        assert (facts["provider"], facts["type"], facts["spec"]) == (
            "Microsoft Enhanced RSA and AES Cryptographic Provider", 24, 1)
        assert facts["exported"] is False and facts["status"] == "8009000b"  # NTE_BAD_KEY_STATE: not exportable

        listed = wine.agent("certs", "--purpose", "decryption", "--json", "--config", winpath(win_config), timeout=180)
        assert listed.returncode == 0, _text(listed.stderr)
        (info,) = [i for i in json.loads(_text(listed.stdout)) if i["sha256"] == sha256]
        assert info["source"] == {"kind": "windows", "label": "Magasin Windows"}
        assert info["subject"] == "Jérôme DUPONT" and info["purposes"] == ["decryption"]

        content = tmp_path / "Réponse AO.pdf"
        content.write_bytes(b"%PDF offre " * 3000)
        envelopes = []
        for name, options in (("pkcs1", []), ("oaep", ["-keyopt", "rsa_padding_mode:oaep"])):
            envelope = tmp_path / f"pli {name}.p7m"
            subprocess.run(["openssl", "cms", "-encrypt", "-binary", "-aes256", "-in", str(content), "-outform", "DER",
                            "-out", str(envelope), "-recip", str(cert_pem), *options], check=True, capture_output=True)
            envelopes.append(envelope)
        out_dir = tmp_path / "ouverts"
        opened = wine.agent("decrypt", *map(winpath, envelopes), "--cert", info["id"], "--out-dir", winpath(out_dir),
                            "--config", winpath(win_config), timeout=240)
        assert opened.returncode == 0, _text(opened.stderr)
        printed = _text(opened.stdout).splitlines()
        outputs = [unixpath(line) for line in printed if line.startswith("Z:")]
        assert len(outputs) == 2 and printed.count("  Non signé") == 2, printed  # each opened file's own analysis
        assert all(path.read_bytes() == content.read_bytes() for path in outputs)

        refused = wine.agent("sign", winpath(content), "--format", "cades", "--cert", info["id"], "--config",
                             winpath(win_config), timeout=180)
    assert refused.returncode == 1
    assert "KEY_USAGE_NOT_SIGNING" in _text(refused.stderr)
    # The audit journal those three commands appended to (one line each, LF-terminated) is intact.
    journal = wine.agent("audit", "verify", "--config", winpath(win_config), timeout=120)
    assert journal.returncode == 0 and "Journal intact (3 entrées)" in _text(journal.stdout), _text(journal.stdout)
    lines = (win_config.parent / "state" / "audit" / "audit.jsonl").read_bytes().split(b"\n")
    assert len(lines) == 4 and lines[-1] == b"" and not any(line.endswith(b"\r") for line in lines)

    # The certificate, judged on Linux: self-signed by the store's key, encryption only, a backup key.
    certificate.verify_directly_issued_by(certificate)
    assert isinstance(certificate.public_key(), rsa.RSAPublicKey) and certificate.public_key().key_size == 2048
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_encipherment and not usage.digital_signature
    policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [POLICY_SECOURS]
    assert [a.value for a in certificate.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATIONAL_UNIT_NAME)] == [
        SECOURS_OU]
