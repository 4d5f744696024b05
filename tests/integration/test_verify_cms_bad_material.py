"""Garbled validation material inside a CMS signature never hides the signature.

An ``openssl cms -sign -cades`` file, co-signed with ``openssl cms -resign`` (two SignerInfos), gets a
garbled certificate, CRL and OCSP response added to its SignedData, and a garbled signature
time-stamp token on one signer. Every SignerInfo must still be reported and judged (the signatures
are genuine: PASSED with the test PKI trusted, revocation fetched from its services), the bad
material skipped with a warning that says so; openssl agrees that the signatures hold.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms, core
from cryptography import x509

from agent.validation import Indication, VerificationReport, verify_file
from tests.support.cms_resign import CONTENT
from tests.support.pki import TestPki

PASSED = Indication.TOTAL_PASSED
GARBLED_CERTIFICATE = b"\x30\x0c\x30\x04\x02\x02\x01\x00\x04\x04junk"
GARBLED_CRL = b"\x30\x0a\x30\x04\x06\x02\x2a\x03\x04\x02xx"
#: [1] IMPLICIT OtherRevocationInfoFormat { id-ri-ocsp-response, OCSPResponse } with a junk response.
GARBLED_OCSP = (b"\xa1\x16" + core.ObjectIdentifier("1.3.6.1.5.5.7.16.2").dump()
                + b"\x30\x0a\x0a\x01\x00\xa0\x05\x30\x03\x06\x01\x2a")


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


def dump(report: VerificationReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


def _tlv(tag: int, body: bytes) -> bytes:
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8 or 1, "big")
    return bytes([tag]) + (bytes([len(body)]) if len(body) < 0x80 else bytes([0x80 | len(size)]) + size) + body


def two_signers(pki: TestPki, folder: Path) -> Path:
    content = folder / "offre.pdf"
    content.write_bytes(CONTENT)
    first, both = folder / "first.p7m", folder / "both.p7m"
    subprocess.run(["openssl", "cms", "-sign", "-nodetach", "-binary", "-cades", "-outform", "DER", "-in", str(content),
                    "-out", str(first), "-signer", str(pki.cert_pem("qualified")), "-inkey",
                    str(pki.key_pem("qualified")), "-certfile", str(pki.intermediate_pem)], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "cms", "-resign", "-binary", "-cades", "-inform", "DER", "-outform", "DER",
                    "-in", str(first), "-out", str(both), "-signer", str(pki.cert_pem("plain")),
                    "-inkey", str(pki.key_pem("plain"))], check=True, capture_output=True)
    return both


def with_garbage(source: Path, target: Path, *, material: bool = True, bad_token: bool = False,
                 junk_signer: bool = False) -> Path:
    """The same SignedData with garbled certificate/CRL/OCSP added and, on the first SignerInfo, an
    unsigned signature-time-stamp-token that is junk. Encoded by hand around asn1crypto's parts so
    that nothing parses the garbage."""
    signed_data = cms.ContentInfo.load(source.read_bytes())["content"]
    parts = [signed_data["version"].dump(), signed_data["digest_algorithms"].dump(),
             signed_data["encap_content_info"].dump()]
    certificates = b"".join(c.dump() for c in signed_data["certificates"])
    crls = b"".join(c.dump() for c in signed_data["crls"]) if signed_data["crls"] else b""
    if material:
        certificates += GARBLED_CERTIFICATE
        crls += GARBLED_CRL + GARBLED_OCSP
    parts.append(_tlv(0xA0, certificates))
    if crls:
        parts.append(_tlv(0xA1, crls))
    infos = [i.dump() for i in signed_data["signer_infos"]]
    if bad_token:
        info = cms.SignerInfo.load(infos[0])
        junk = _tlv(0x30, core.ObjectIdentifier("1.2.840.113549.1.9.16.2.14").dump()
                    + _tlv(0x31, b"\x30\x03\x02\x01\x07"))
        body = b"".join(info[name].dump() for name in ("version", "sid", "digest_algorithm", "signed_attrs",
                                                       "signature_algorithm", "signature"))
        infos[0] = _tlv(0x30, body + _tlv(0xA1, junk))
    if junk_signer:
        infos.insert(1, b"\x30\x08\x02\x01\x01\x30\x03\x02\x01\x07")  # a SignerInfo cut short
    parts.append(_tlv(0x31, b"".join(infos)))
    content = _tlv(0x30, b"".join(parts))
    target.write_bytes(_tlv(0x30, core.ObjectIdentifier("1.2.840.113549.1.7.2").dump() + _tlv(0xA0, content)))
    return target


def openssl_verifies(path: Path, pki: TestPki) -> bool:
    result = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(path),
                             "-CAfile", str(pki.root_pem), "-purpose", "any", "-out", "/dev/null"],
                            capture_output=True, text=True)
    return "Verification successful" in result.stderr


def test_the_unmodified_file_is_valid(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    path = with_garbage(two_signers(test_pki, tmp_path), tmp_path / "clean.p7m", material=False)
    report = verify_file(path, trust_roots=[root])
    assert [s.indication for s in report.signatures] == [PASSED, PASSED], dump(report)
    assert openssl_verifies(path, test_pki)


def test_garbled_certificate_crl_and_ocsp_are_skipped_with_a_warning(tmp_path: Path, test_pki: TestPki,
                                                                      root: x509.Certificate) -> None:
    path = with_garbage(two_signers(test_pki, tmp_path), tmp_path / "offre.pdf.p7m")
    report = verify_file(path, trust_roots=[root])
    assert len(report.signatures) == 2, dump(report)
    assert {s.signer.name for s in report.signatures} == {"Jeanne TITULAIRE", "Paul SIMPLE"}, dump(report)
    for signature in report.signatures:
        assert signature.indication is PASSED, dump(report)
        check = signature.check("validation_data")
        assert check is not None and str(check.status) == "warning", dump(report)
        assert "CRL" in check.message and "OCSP" in check.message and "certificat" in check.message, dump(report)


def test_a_garbled_signature_timestamp_leaves_the_signature_judged(tmp_path: Path, test_pki: TestPki,
                                                                    root: x509.Certificate) -> None:
    path = with_garbage(two_signers(test_pki, tmp_path), tmp_path / "offre.pdf.p7m", bad_token=True)
    report = verify_file(path, trust_roots=[root])
    assert len(report.signatures) == 2, dump(report)
    assert all(s.indication is PASSED for s in report.signatures), dump(report)
    warned = [s for s in report.signatures if str(s.check("timestamp").status) == "warning"]  # type: ignore[union-attr]
    assert len(warned) == 1, dump(report)


def test_a_garbled_signer_info_is_reported_beside_the_good_ones(tmp_path: Path, test_pki: TestPki,
                                                                root: x509.Certificate) -> None:
    path = with_garbage(two_signers(test_pki, tmp_path), tmp_path / "offre.pdf.p7m", junk_signer=True)
    report = verify_file(path, trust_roots=[root])
    assert len(report.signatures) == 3, dump(report)
    verdicts = sorted(str(s.indication) for s in report.signatures)
    assert verdicts == ["TOTAL_FAILED", "TOTAL_PASSED", "TOTAL_PASSED"], dump(report)
    (broken,) = [s for s in report.signatures if s.indication is not PASSED]
    assert str(broken.sub_indication) == "FORMAT_FAILURE" and broken.checks[0].message, dump(report)
