"""PDF signatures of the ISO 32000-1 SubFilters (section 12.8.3), written by hand with real keys.

* ``adbe.pkcs7.detached`` — a CMS SignedData without content whose message-digest is the digest of
  the ``/ByteRange`` (section 12.8.3.3.1);
* ``adbe.pkcs7.sha1`` — legacy: the SHA-1 digest of the byte range is the *encapsulated content*
  of the CMS SignedData, which then signs it as usual (section 12.8.3.3.1);
* ``adbe.x509.rsa_sha1`` — legacy: ``/Contents`` is a DER OCTET STRING holding a PKCS#1 v1.5 RSA
  signature over the byte range, the certificates are in ``/Cert`` (section 12.8.3.2).

The signature is appended as an incremental update (one signature dictionary, one or two fields
pointing to it, the AcroForm) to ``tests.support.pdf.make_pdf``'s document, using
``malicious.incremental_update`` for the cross-reference section; the byte range and contents are
then filled in place and signed with asn1crypto + cryptography over the test PKI's keys.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

from asn1crypto import algos, cms, core, pem
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support import malicious
from tests.support.pdf import make_pdf
from tests.support.pki import TestPki

__all__ = ["legacy_signed_pdf"]

CONTENTS_HEX = 16384
_PLACEHOLDER = b"[0 0000000000 0000000000 0000000000]"
_HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256}


def _der(path: Path) -> bytes:
    data = path.read_bytes()
    return pem.unarmor(data)[2] if pem.detect(data) else data


def _signed_data(pki: TestPki, name: str, digest_name: str, econtent: bytes | None, message_digest: bytes) -> bytes:
    key = serialization.load_pem_private_key(pki.key_pem(name).read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    cert = asn1_x509.Certificate.load(_der(pki.cert_pem(name)))
    intermediate = asn1_x509.Certificate.load(_der(pki.intermediate_pem))
    signed_attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
        cms.CMSAttribute({"type": "message_digest", "values": [message_digest]}),
    ])
    signature = key.sign(signed_attrs.dump(), padding.PKCS1v15(), _HASHES[digest_name]())
    info = cms.SignerInfo({
        "version": "v1",
        "sid": cms.SignerIdentifier({"issuer_and_serial_number": cms.IssuerAndSerialNumber({
            "issuer": cert.issuer, "serial_number": cert.serial_number})}),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest_name}),
        "signed_attrs": signed_attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}),
        "signature": signature,
    })
    eci: dict[str, object] = {"content_type": "data"}
    if econtent is not None:
        eci["content"] = econtent
    return cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData({
        "version": "v1",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest_name})],
        "encap_content_info": cms.ContentInfo(eci),
        "certificates": [cert, intermediate],
        "signer_infos": [info],
    })}).dump()


def legacy_signed_pdf(pki: TestPki, subfilter: str, out: Path, *, fields: int = 1, name: str = "qualified") -> Path:
    """A one-page PDF signed with ``subfilter``; ``fields=2`` makes two form fields share the signature."""
    pdf = make_pdf(pages=1, title="Signature ancienne")
    size = malicious.pdf_size(pdf)
    sig, first_field = size, size + 1
    field_refs = b" ".join(b"%d 0 R" % (first_field + i) for i in range(fields))
    extra = b""
    if subfilter == "adbe.x509.rsa_sha1":
        extra = b" /Cert [<" + _der(pki.cert_pem(name)).hex().encode() + b"> <" + \
            _der(pki.intermediate_pem).hex().encode() + b">]"
    when = datetime.now(UTC).strftime("D:%Y%m%d%H%M%SZ").encode()
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [" + field_refs + b"] /SigFlags 3 >> >>",
        4: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
           b" /Contents 5 0 R /Annots [" + field_refs + b"] >>",
        sig: b"<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /" + subfilter.encode() + b" /M (" + when + b")" +
             extra + b" /ByteRange " + _PLACEHOLDER + b" /Contents <" + b"0" * CONTENTS_HEX + b"> >>",
    }
    for index in range(fields):
        objects[first_field + index] = (b"<< /FT /Sig /T (Signature ancienne %d) /V %d 0 R /Type /Annot"
                                        b" /Subtype /Widget /Rect [0 0 0 0] /F 132 /P 4 0 R >>" % (index + 1, sig))
    data = bytearray(malicious.incremental_update(pdf, objects))
    sig_start = data.index(b"%d 0 obj" % sig, len(pdf))
    start = data.index(b"/Contents <", sig_start) + len(b"/Contents ")
    end = start + CONTENTS_HEX + 2
    byte_range = b"[0 %010d %010d %010d]" % (start, end, len(data) - end)
    at = data.index(_PLACEHOLDER, sig_start)
    data[at:at + len(_PLACEHOLDER)] = byte_range
    signed = bytes(data[:start]) + bytes(data[end:])
    if subfilter == "adbe.pkcs7.detached":
        contents = _signed_data(pki, name, "sha256", None, hashlib.sha256(signed).digest())
    elif subfilter == "adbe.pkcs7.sha1":
        econtent = hashlib.sha1(signed).digest()
        contents = _signed_data(pki, name, "sha1", econtent, hashlib.sha1(econtent).digest())
    elif subfilter == "adbe.x509.rsa_sha1":
        key = serialization.load_pem_private_key(pki.key_pem(name).read_bytes(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        contents = core.OctetString(key.sign(signed, padding.PKCS1v15(), hashes.SHA1())).dump()
    else:
        raise ValueError(subfilter)
    hex_value = contents.hex().encode()
    assert len(hex_value) <= CONTENTS_HEX
    data[start + 1:start + 1 + len(hex_value)] = hex_value
    out.write_bytes(bytes(data))
    return out
