"""agent.pki.pem: certificates as DER from PEM bundles (RFC 7468) and the system store, read
without a certificate parser, as the parser itself reads them."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from agent.pki.pem import PemError, anchor_ders, certificate_ders, file_certificate_ders, system_root_ders
from agent.trust import load_pem_certificates, system_roots


def test_the_system_store_gives_the_same_certificates_as_the_parser_reads() -> None:
    ders = system_root_ders()
    assert len(ders) > 50
    assert ders == [c.public_bytes(Encoding.DER) for c in system_roots()]


def test_a_bundle_with_text_around_and_lines_of_any_width(tmp_path: Path) -> None:
    ders = system_root_ders()[:3]
    text = b"Bag Attributes: friendlyName\n"
    for der in ders:
        body = base64.b64encode(der)
        text += b"subject=...\n-----BEGIN CERTIFICATE-----\r\n" + b"\r\n".join(body[i:i + 76] for i in range(0, len(body), 76))
        text += b"\r\n-----END CERTIFICATE-----\r\n"
    text += b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(text)
    assert file_certificate_ders(bundle) == ders
    assert [c.public_bytes(Encoding.DER) for c in load_pem_certificates(bundle)] == ders
    der_file = tmp_path / "one.cer"
    der_file.write_bytes(ders[0])
    assert anchor_ders([bundle], [der_file], system=False) == (ders, ders[:1])


def test_unreadable_bundles_name_their_file(tmp_path: Path) -> None:
    broken = tmp_path / "racines.pem"
    broken.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n")
    with pytest.raises(PemError, match="racines.pem"):
        file_certificate_ders(broken)
    with pytest.raises(PemError, match="no CERTIFICATE block"):
        certificate_ders(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError):
        x509.load_der_x509_certificate(certificate_ders(b"plain garbage")[0])  # a DER file: the parser judges it


def test_an_anchor_that_does_not_parse_is_left_out_not_fatal() -> None:
    """Anchors reach the worker as DER: one a system bundle holds that asn1crypto cannot read is left
    out (and logged), as the parsed store left it out, and the others still anchor."""
    from agent.validation.chain import anchor_certs

    good = system_root_ders()[:2]
    parsed = anchor_certs([good[0], b"\x30\x03\x02\x01", good[1]])
    assert [c.dump() for c in parsed] == good
