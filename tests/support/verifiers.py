"""Independent verifiers of the signatures we make: pdfsig (poppler, NSS), xmlsec1, openssl cms."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.pki import TestPki


def nss_database(folder: Path, root_pem: Path) -> Path:
    """An NSS database trusting ``root_pem`` (for pdfsig)."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{folder}", "-n", "racine", "-t", "CT,C,C", "-i", str(root_pem)],
                   check=True, capture_output=True)
    return folder


def pdfsig_ok(pdf: Path, nss: Path) -> bool:
    result = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True)
    out = result.stdout
    return "Signature is Valid" in out and "Certificate is Trusted" in out and "Invalid" not in out


def xmlsec_ok(xml: Path, pki: TestPki, node_id: str | None = None) -> bool:
    """xmlsec1 trusting only the test root (never an inline KeyValue); detached files resolve from the folder."""
    cmd = ["xmlsec1", "--verify", "--enabled-key-data", "x509", "--trusted-pem", str(pki.root_pem),
           "--untrusted-pem", str(pki.intermediate_pem)]
    if node_id:
        cmd += ["--node-id", node_id]
    result = subprocess.run([*cmd, xml.name], cwd=xml.parent, capture_output=True, text=True)
    return result.returncode == 0 and "OK" in result.stdout + result.stderr


def openssl_cms_ok(signature: Path, content: Path | None, pki: TestPki) -> bool:
    cmd = ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(signature), "-CAfile", str(pki.root_pem),
           "-purpose", "any", "-out", "/dev/null"]
    if content is not None:
        cmd += ["-content", str(content)]
    return "Verification successful" in subprocess.run(cmd, capture_output=True, text=True).stderr
