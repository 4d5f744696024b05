"""``compagnon certs`` lists the bi-clés (encryption key pairs that open sealed bids) under their
own label, apart from the signing certificates, judged by what opening needs (a certificate in its
validity period) and not by the signing rules; in French and in English. The certificates are the
test PKI's, in PKCS#12 files opened with their password on stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.agent_process import ROOT, isolated_env
from tests.support.pki import TestPki

PASSWORD = "Bicle-Secret-4410"


def _certs(home: Path, pki: TestPki, *args: str) -> str:
    files = [pki.p12("qualified", PASSWORD), pki.p12("encryption", PASSWORD)]
    command = [sys.executable, "-m", "agent", "certs", "--pin-stdin", "--trust", str(pki.root_pem)]
    for path in files:
        command += ["--p12", str(path)]
    result = subprocess.run([*command, *args], cwd=ROOT, env=isolated_env(home, suite_tokens=False), input=f"{PASSWORD}\n" * 2,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _sections(listing: str) -> dict[str, str]:
    """The listing's sections: title -> its text."""
    sections: dict[str, str] = {}
    title = None
    for line in listing.splitlines():
        if line.startswith("== ") and line.endswith(" =="):
            title = line[3:-3]
            sections[title] = ""
        elif title is not None:
            sections[title] += line + "\n"
    return sections


def test_bicles_are_listed_under_their_own_label(home: Path, test_pki: TestPki) -> None:
    sections = _sections(_certs(home, test_pki))
    assert list(sections) == ["Certificats de signature (1)", "Bi-clés de chiffrement (ouverture des plis) (1)"]
    signing, bicles = sections.values()
    assert signing.startswith("[adapté] ") and "usage : signature" in signing
    assert bicles.startswith("[utilisable] ") and "usage : chiffrement" in bicles
    # A bi-clé is not judged by the signing rules.
    assert "nonRepudiation" not in bicles and "non qualifié" not in bicles and "adapté" not in bicles
    assert "émis par " in bicles and "valide jusqu'au " in bicles

    only = _sections(_certs(home, test_pki, "--purpose", "decryption"))
    assert list(only) == ["Bi-clés de chiffrement (ouverture des plis) (1)"]


def test_bicles_have_their_own_label_in_english(home: Path, test_pki: TestPki) -> None:
    listing = _certs(home, test_pki, "--lang", "en")
    sections = _sections(listing)
    assert list(sections) == ["Signing certificates (1)", "Encryption key pairs (bi-clés, to open bids) (1)"]
    signing, bicles = sections.values()
    assert signing.startswith("[suitable] ") and bicles.startswith("[usable] ")
    assert "issued by " in bicles and "valid until " in bicles and "usage: encryption" in bicles
    assert "émis par" not in listing and "valide jusqu" not in listing and " : " not in listing
