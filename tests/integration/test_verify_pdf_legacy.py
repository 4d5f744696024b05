"""ISO 32000-1 signatures that are not PAdES, encrypted PDFs and shared signature fields.

Legacy SubFilters (ISO 32000-1 section 12.8.3) are written by hand with the test PKI's keys (real
RSA signatures: asn1crypto + cryptography): ``adbe.pkcs7.sha1`` (the SHA-1 of the byte range as
the CMS's encapsulated content) and ``adbe.x509.rsa_sha1`` (a PKCS#1 signature in /Contents, the
certificates in /Cert). They verify, are named legacy, and SHA-1 is refused as a weak digest
(INDETERMINATE/CRYPTO_CONSTRAINTS_FAILURE, the project's crypto policy). pdfsig checks the
pkcs7.sha1 signature; ``openssl dgst`` checks the rsa_sha1 one.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from asn1crypto import core
from cryptography import x509

from agent.validation import Indication, SignatureReport, SubIndication, VerificationReport, verify_file
from agent.validation.pades import PDF_LEVEL
from agent.validation.report_html import render_report
from tests.support import pdf_producers as producers
from tests.support.pdf_legacy import legacy_signed_pdf
from tests.support.pki import TestPki
from tests.support.verifiers import nss_database

PASSED, FAILED, INDETERMINATE = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


@pytest.fixture(scope="module")
def nss(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return nss_database(tmp_path_factory.mktemp("nss"), test_pki.root_pem)


def dump(report: VerificationReport | SignatureReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


def status(signature: SignatureReport, name: str) -> str:
    check = signature.check(name)
    assert check is not None, dump(signature)
    return str(check.status)


def _tampered(path: Path, out: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[data.index(b"(Page 1)") + 1] ^= 0x01  # inside the signed range
    out.write_bytes(bytes(data))
    return out


def test_adbe_pkcs7_sha1_is_verified_and_named_legacy(tmp_path: Path, test_pki: TestPki, root: x509.Certificate,
                                                      nss: Path) -> None:
    signed = legacy_signed_pdf(test_pki, "adbe.pkcs7.sha1", tmp_path / "ancienne-sha1.pdf")
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(signed)], capture_output=True, text=True, check=False).stdout
    assert "Signature is Valid." in out and "adbe.pkcs7.sha1" in out, out  # the independent verdict

    report = verify_file(signed, trust_roots=[root], locale="en")
    (signature,) = report.signatures
    assert (signature.format, signature.level) == ("PDF-legacy", "PDF legacy (adbe.pkcs7.sha1)"), dump(signature)
    assert status(signature, "legacy_format") == "warning"
    assert status(signature, "byte_range") == status(signature, "integrity") == "passed"
    assert status(signature, "chain") == "passed"
    # The value is correct, but SHA-1 is a weak digest: refused as everywhere else in the project.
    assert (signature.indication, signature.sub_indication) == (INDETERMINATE,
                                                                SubIndication.CRYPTO_CONSTRAINTS_FAILURE)
    assert "sha1" in signature.check("signature_value").message  # type: ignore[union-attr]
    html = render_report(report.to_json(), locale="fr")
    assert "Format de signature PDF ancien" in html and "Empreinte de la plage signée" in html

    (changed,) = verify_file(_tampered(signed, tmp_path / "ancienne-sha1-modifiee.pdf"),
                             trust_roots=[root]).signatures
    assert (changed.indication, changed.sub_indication) == (FAILED, SubIndication.HASH_FAILURE), dump(changed)


def _openssl_verifies(signed: Path, test_pki: TestPki, folder: Path) -> bool:
    data = signed.read_bytes()
    found = re.search(rb"/ByteRange \[(\d+) (\d+) (\d+) (\d+)\]", data)
    assert found is not None
    start, length1, start2, length2 = map(int, found.groups())
    hex_value = data[length1:start2].strip(b"<>")  # the /Contents string the byte range leaves out
    value = core.OctetString.load(bytes.fromhex(hex_value.decode()), strict=False).native
    (folder / "signe.bin").write_bytes(data[start:length1] + data[start2:start2 + length2])
    (folder / "valeur.bin").write_bytes(value)
    key = subprocess.run(["openssl", "x509", "-in", str(test_pki.cert_pem("qualified")), "-pubkey", "-noout"],
                         capture_output=True, text=True, check=True).stdout
    (folder / "cle.pem").write_text(key)
    result = subprocess.run(["openssl", "dgst", "-sha1", "-verify", str(folder / "cle.pem"), "-signature",
                             str(folder / "valeur.bin"), str(folder / "signe.bin")], capture_output=True, text=True,
                            check=False)
    return "Verified OK" in result.stdout


def test_adbe_x509_rsa_sha1_is_verified_and_named_legacy(tmp_path: Path, test_pki: TestPki,
                                                         root: x509.Certificate) -> None:
    signed = legacy_signed_pdf(test_pki, "adbe.x509.rsa_sha1", tmp_path / "ancienne-rsa.pdf")
    assert _openssl_verifies(signed, test_pki, tmp_path)
    (signature,) = verify_file(signed, trust_roots=[root], locale="en").signatures
    assert signature.id == "Signature ancienne 1", dump(signature)
    assert (signature.format, signature.level) == ("PDF-legacy", "PDF legacy (adbe.x509.rsa_sha1)"), dump(signature)
    assert signature.signer.name == "Jeanne TITULAIRE"
    assert status(signature, "integrity") == status(signature, "chain") == status(signature, "coverage") == "passed"
    assert status(signature, "legacy_format") == "warning"
    assert (signature.indication, signature.sub_indication) == (INDETERMINATE,
                                                                SubIndication.CRYPTO_CONSTRAINTS_FAILURE)

    changed_file = _tampered(signed, tmp_path / "ancienne-rsa-modifiee.pdf")
    assert not _openssl_verifies(changed_file, test_pki, tmp_path)
    (changed,) = verify_file(changed_file, trust_roots=[root]).signatures
    assert (changed.indication, changed.sub_indication) == (FAILED, SubIndication.HASH_FAILURE), dump(changed)


def test_two_fields_sharing_one_signature_dictionary_are_one_entry(tmp_path: Path, test_pki: TestPki,
                                                                   root: x509.Certificate) -> None:
    signed = legacy_signed_pdf(test_pki, "adbe.pkcs7.detached", tmp_path / "deux-champs.pdf", fields=2)
    report = verify_file(signed, trust_roots=[root])
    (signature,) = report.signatures
    assert signature.indication is PASSED, dump(report)
    assert (signature.format, signature.level) == ("PDF", PDF_LEVEL)


def test_encrypted_pdf_without_open_password_is_verified(tmp_path: Path, test_pki: TestPki, root: x509.Certificate,
                                                         nss: Path) -> None:
    source = producers.source_pdf(tmp_path / "offre.pdf")
    signed = producers.encrypted_signed(source, tmp_path / "chiffre-signe.pdf", test_pki)
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(signed)], capture_output=True, text=True, check=False).stdout
    assert "Signature is Valid." in out, out
    (signature,) = verify_file(signed, trust_roots=[root]).signatures
    assert (signature.id, signature.indication) == ("Signature1", PASSED), dump(signature)
    assert status(signature, "modification") == "passed"

    locked = producers.encrypted_signed(source, tmp_path / "chiffre-mot-de-passe.pdf", test_pki,
                                        user_password="secret")
    report = verify_file(locked, trust_roots=[root], locale="en")
    (entry,) = report.signatures
    assert (entry.indication, entry.sub_indication) == (INDETERMINATE, SubIndication.GENERIC), dump(report)
    assert "password" in entry.check("format").message  # type: ignore[union-attr]
