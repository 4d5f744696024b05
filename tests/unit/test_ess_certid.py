"""``agent.pki.cms.ess_certid_matches``: the signing-certificate(-v2) attribute names the signer's
certificate by its hash and, when present, its issuer and serial number (RFC 2634 section 5.4,
RFC 5035 section 4). The CAdES validator relies on it instead of pyHanko's signing stack."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import tsp, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent.pki.cms import ess_certid_matches


def _certificate(common_name: str, serial: int) -> asn1_x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Autorité d'essai")])
    subject = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
            .serial_number(serial).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _issuer_serial(cert: asn1_x509.Certificate, serial: int | None = None, names: int = 1) -> tsp.IssuerSerial:
    general = [asn1_x509.GeneralName(name="directory_name", value=cert.issuer)] * names
    return tsp.IssuerSerial({"issuer": general, "serial_number": cert.serial_number if serial is None else serial})


@pytest.fixture(scope="module")
def cert() -> asn1_x509.Certificate:
    return _certificate("Paul Simple", 4242)


def test_a_certid_v2_names_its_certificate(cert: asn1_x509.Certificate) -> None:
    for name in ("sha256", "sha384", "sha512"):
        certid = tsp.ESSCertIDv2({"hash_algorithm": {"algorithm": name},
                                  "cert_hash": hashlib.new(name, cert.dump()).digest(),
                                  "issuer_serial": _issuer_serial(cert)})
        assert ess_certid_matches(cert, certid), name
    # SHA-256 when the algorithm is left out (its DEFAULT), and no issuer-serial at all
    bare = tsp.ESSCertIDv2({"cert_hash": hashlib.sha256(cert.dump()).digest()})
    assert ess_certid_matches(cert, tsp.ESSCertIDv2.load(bare.dump()))


def test_a_certid_v1_is_a_sha1_hash(cert: asn1_x509.Certificate) -> None:
    assert ess_certid_matches(cert, tsp.ESSCertID({"cert_hash": hashlib.sha1(cert.dump()).digest(),  # noqa: S324
                                                   "issuer_serial": _issuer_serial(cert)}))
    assert not ess_certid_matches(cert, tsp.ESSCertID({"cert_hash": hashlib.sha256(cert.dump()).digest()[:20]}))


def test_another_certificate_or_identifier_does_not_match(cert: asn1_x509.Certificate) -> None:
    other = _certificate("Paul Simple", 4243)
    digest = hashlib.sha256(cert.dump()).digest()
    assert not ess_certid_matches(other, tsp.ESSCertIDv2({"cert_hash": digest}))
    # the right hash, but an issuer-serial naming another serial, or several names for the issuer
    assert not ess_certid_matches(cert, tsp.ESSCertIDv2({"cert_hash": digest,
                                                         "issuer_serial": _issuer_serial(cert, serial=4243)}))
    assert not ess_certid_matches(cert, tsp.ESSCertIDv2({"cert_hash": digest,
                                                         "issuer_serial": _issuer_serial(cert, names=2)}))
    stranger = _certificate("Autre", 4242)
    foreign = tsp.IssuerSerial({"issuer": [asn1_x509.GeneralName(name="directory_name", value=stranger.subject)],
                                "serial_number": 4242})
    assert not ess_certid_matches(cert, tsp.ESSCertIDv2({"cert_hash": digest, "issuer_serial": foreign}))
