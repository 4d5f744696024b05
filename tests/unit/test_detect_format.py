"""``detect_format``: CMS recognised by structure before any PDF header, in every encoding real files use."""

from __future__ import annotations

import base64

import pytest

from agent.validation import detect_format
from agent.validation.cms_stream import looks_like_cms

#: The first octets of a ContentInfo holding SignedData: SEQUENCE, then id-signedData (RFC 5652 section 5.1).
SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")
DER_HEAD = b"\x30\x82\x12\x34" + SIGNED_DATA_OID + b"\xa0\x82\x12\x25\x30\x82\x12\x21\x02\x01\x01" + b"%PDF-1.7\n" * 40
BER_HEAD = b"\x30\x80" + SIGNED_DATA_OID + b"\xa0\x80\x30\x80\x02\x01\x01" + b"%PDF-1.7\n" * 40


@pytest.mark.parametrize("head", [
    DER_HEAD,
    BER_HEAD,
    b"-----BEGIN PKCS7-----\n" + base64.encodebytes(DER_HEAD),
    b"-----BEGIN CMS-----\r\n" + base64.encodebytes(BER_HEAD).replace(b"\n", b"\r\n"),
    base64.encodebytes(DER_HEAD),
    base64.b64encode(BER_HEAD),
    b"\n  " + base64.b64encode(DER_HEAD),
])
def test_cms_in_every_encoding_even_with_a_pdf_inside(head: bytes) -> None:
    assert looks_like_cms(head)
    assert detect_format(head) == "cms"


@pytest.mark.parametrize(("head", "expected"), [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "pdf"),
    (b"\xef\xbb\xbf%PDF-1.4\n", "pdf"),  # a BOM before the header
    (b"Content-Type: application/pdf\r\n\r\n%PDF-1.6\n", "pdf"),  # a preamble readers tolerate
    (b"x" * 1100 + b"%PDF-1.7", None),  # beyond the first KiB: no header
    (b"<?xml version='1.0'?><!-- %PDF-1.7 --><Offre/>", "xml"),  # XML mentioning a PDF header
    (b"\x30\x03\x02\x01\x01", "cms"),  # another ASN.1 SEQUENCE: reported as an unreadable CMS file
    (b"-----BEGIN CERTIFICATE-----\nMIIB\n", "cms"),
    (b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=", None),  # base64, but not of a CMS object
    (b"", None),
])
def test_other_files(head: bytes, expected: str | None) -> None:
    assert detect_format(head) == expected
