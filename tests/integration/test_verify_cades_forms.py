"""CAdES forms beyond the EN 319 122-1 baseline, and the content-time-stamp.

Signatures without signing-time are not baseline B-B yet are CAdES: BES, EPES (a signature policy),
T, C, X, XL, A (TS 101 733 / EN 319 122-2 attributes). Each is made from an ``openssl cms -cades``
signature rebuilt with asn1crypto and signed again with the test key (``tests/support/cms_resign``);
openssl verifies each one (the unsigned attributes are outside what it judges). A SignerInfo without
signing-certificate stays plain "CMS".

A content-time-stamp (id-aa-ets-contentTimestamp, 1.2.840.113549.1.9.16.2.20) from the test PKI's
TSA over the content is verified and reported; one over other bytes makes the signature INDETERMINATE.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from asn1crypto import algos, cms, core
from cryptography import x509

from agent.validation import Indication, SignatureReport, SubIndication, VerificationReport, verify_file
from tests.support.cms_resign import CONTENT, assemble, openssl_attached, openssl_says, resign, tsa_token
from tests.support.pki import TestPki

PASSED, INDETERMINATE = Indication.TOTAL_PASSED, Indication.INDETERMINATE
ETS = "1.2.840.113549.1.9.16.2."


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


def dump(report: VerificationReport | SignatureReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


def only(report: VerificationReport) -> SignatureReport:
    assert len(report.signatures) == 1, dump(report)
    return report.signatures[0]


def _tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def attribute(oid: str, value_der: bytes) -> cms.CMSAttribute:
    """Attribute ::= SEQUENCE { attrType OID, attrValues SET OF value } from the value's DER."""
    return cms.CMSAttribute.load(_tlv(0x30, core.ObjectIdentifier(oid).dump() + _tlv(0x31, value_der)))


def policy_identifier() -> bytes:
    """SignaturePolicyId (TS 101 733 section 5.8.1): the DGFiP PES policy OID and a SHA-256 hash."""
    hash_value = _tlv(0x30, algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
                      + core.OctetString(hashlib.sha256(b"politique").digest()).dump())
    return _tlv(0x30, core.ObjectIdentifier("1.2.250.1.131.1.5.18.21.1.4").dump() + hash_value)


def extended(pki: TestPki, *oids: str) -> Callable[[cms.SignerInfo], list[cms.CMSAttribute]]:
    """Unsigned attributes of the extended forms, with values of the right shape: references to the
    signer's certificate, its values, and real time-stamp tokens for the time-stamp attributes."""
    def make(info: cms.SignerInfo) -> list[cms.CMSAttribute]:
        cert = pki.cert_der("qualified").read_bytes()
        values = {
            ETS + "14": tsa_token(pki, info["signature"].native).dump(),
            ETS + "21": _tlv(0x30, _tlv(0x30, core.OctetString(hashlib.sha1(cert).digest()).dump())),
            ETS + "22": _tlv(0x30, _tlv(0x30, b"")),
            ETS + "23": _tlv(0x30, cert),
            ETS + "24": _tlv(0x30, b""),
            ETS + "25": tsa_token(pki, info["signature"].native).dump(),
            ETS + "48": tsa_token(pki, CONTENT).dump(),
        }
        return [attribute(oid, values[oid]) for oid in oids]
    return make


FORMS = {
    "BES": (),
    "EPES": (),
    "T": (ETS + "14",),
    "C": (ETS + "14", ETS + "21", ETS + "22"),
    "X": (ETS + "14", ETS + "21", ETS + "22", ETS + "25"),
    "XL": (ETS + "14", ETS + "21", ETS + "22", ETS + "23", ETS + "24"),
    "A": (ETS + "14", ETS + "21", ETS + "22", ETS + "23", ETS + "24", ETS + "48"),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_non_baseline_forms_are_named(form: str, tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    base = openssl_attached(test_pki, tmp_path, "base.p7m", "qualified")
    policy = (lambda _d, _s: [attribute(ETS + "15", policy_identifier())]) if form == "EPES" else None
    path = resign(base, tmp_path / "offre.pdf.p7m", test_pki, "qualified", drop=("signing_time",),
                  extra_attributes=policy, unsigned=extended(test_pki, *FORMS[form]) if FORMS[form] else None)
    assert openssl_says(path, test_pki)
    signature = only(verify_file(path, trust_roots=[root]))
    assert signature.indication is PASSED, dump(signature)
    assert (signature.format, signature.level) == ("CAdES", form), dump(signature)
    level = signature.check("baseline_level")
    assert level is not None and f"CAdES-{form}" in level.message and "signing-time" in level.message
    if form == "T":
        assert str(signature.check("timestamp").status) == "passed", dump(signature)  # type: ignore[union-attr]


def test_plain_cms_stays_cms(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    content = tmp_path / "offre.pdf"
    content.write_bytes(CONTENT)
    path = tmp_path / "offre.pdf.p7m"
    subprocess.run(["openssl", "cms", "-sign", "-nodetach", "-binary", "-outform", "DER", "-in", str(content),
                    "-out", str(path), "-signer", str(test_pki.cert_pem("qualified")),
                    "-inkey", str(test_pki.key_pem("qualified")), "-certfile", str(test_pki.intermediate_pem)],
                   check=True, capture_output=True)
    signature = only(verify_file(path, trust_roots=[root]))
    assert (signature.format, signature.level, signature.indication) == ("CMS", None, PASSED), dump(signature)


def content_timestamp(pki: TestPki, data: bytes) -> Callable[[str, str], list[cms.CMSAttribute]]:
    return lambda _digest, _signature: [attribute(ETS + "20", tsa_token(pki, data).dump())]


def test_content_timestamp_is_verified_and_reported(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    base = openssl_attached(test_pki, tmp_path, "base.p7m", "qualified")
    path = resign(base, tmp_path / "offre.pdf.p7m", test_pki, "qualified",
                  extra_attributes=content_timestamp(test_pki, CONTENT))
    assert openssl_says(path, test_pki)
    signature = only(verify_file(path, trust_roots=[root]))
    assert signature.indication is PASSED and signature.level == "B-B", dump(signature)
    check = signature.check("content_timestamp")
    assert check is not None and str(check.status) == "passed", dump(signature)
    assert "Compagnon Test Time Stamping Authority" in check.message, dump(signature)


def test_content_timestamp_over_other_bytes_is_not_accepted(tmp_path: Path, test_pki: TestPki,
                                                           root: x509.Certificate) -> None:
    base = openssl_attached(test_pki, tmp_path, "base.p7m", "qualified")
    path = resign(base, tmp_path / "offre.pdf.p7m", test_pki, "qualified",
                  extra_attributes=content_timestamp(test_pki, b"un autre document"))
    signature = only(verify_file(path, trust_roots=[root]))
    assert (signature.indication, signature.sub_indication) == (INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE), \
        dump(signature)
    check = signature.check("content_timestamp")
    assert check is not None and str(check.status) == "failed" and "empreinte" in check.message, dump(signature)


def test_content_timestamp_of_a_detached_signature(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    """Detached: the imprint is checked against the signed file found next to the signature."""
    base = openssl_attached(test_pki, tmp_path, "base.p7m", "qualified")
    attached = resign(base, tmp_path / "attached.p7m", test_pki, "qualified",
                      extra_attributes=content_timestamp(test_pki, CONTENT))
    signed_data = cms.ContentInfo.load(attached.read_bytes())["content"]
    (tmp_path / "offre.pdf").write_bytes(CONTENT)
    token = tmp_path / "offre.pdf.p7s"
    token.write_bytes(assemble(signed_data, [i.dump() for i in signed_data["signer_infos"]], "sha256", detached=True))
    signature = only(verify_file(token, trust_roots=[root]))
    assert signature.indication is PASSED, dump(signature)
    assert str(signature.check("content_timestamp").status) == "passed"  # type: ignore[union-attr]
