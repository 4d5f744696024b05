"""Signed PDFs with damaged validation material: what a verifier must skip without losing the signatures.

* ``corrupt_dss``: an incremental update adding to the DSS (EN 319 142-1 section 5.4.2) a certificate
  stream whose Flate data is garbage, an OCSP response and a CRL that are not DER;
* ``garble_cms_material``: the unsigned parts of a signature's CMS (``certificates`` and ``crls``,
  RFC 5652 section 5.1, outside the signed attributes) get a malformed certificate, a malformed
  OCSP response and a malformed signature time-stamp token; the signature value stays valid.
"""

from __future__ import annotations

import re
from pathlib import Path

from asn1crypto import cms, core
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

__all__ = ["corrupt_dss", "garble_cms_material"]

_GARBAGE_DER = b"\x30\x0b\x02\x01\x01\x04\x06garbag"  # a SEQUENCE, but not a certificate/OCSP/CRL


def corrupt_dss(src: Path, dst: Path) -> Path:
    """Add a corrupt compressed stream and malformed OCSP/CRL entries to the DSS (creating it if needed)."""
    with src.open("rb") as f:
        writer = IncrementalPdfFileWriter(f, strict=False)
        root = writer.root
        dss = root.get("/DSS")
        if isinstance(dss, generic.IndirectObject):
            dss = dss.get_object()
        if dss is None:
            dss = generic.DictionaryObject()
        broken = generic.StreamObject({pdf_name("/Filter"): pdf_name("/FlateDecode")},
                                      encoded_data=b"\x78\x9c this is not deflate data \x00\xff" * 8)
        garbage = generic.StreamObject(stream_data=_GARBAGE_DER)
        for key, item in (("/Certs", broken), ("/OCSPs", garbage), ("/CRLs", garbage)):
            current = dss.get(key)
            if isinstance(current, generic.IndirectObject):
                current = current.get_object()
            dss[pdf_name(key)] = generic.ArrayObject([*(current or []), writer.add_object(item)])
        root[pdf_name("/DSS")] = writer.add_object(dss)
        writer.update_root()
        with dst.open("wb") as out:
            writer.write(out)
    return dst


def _tlv(tag: int, content: bytes) -> bytes:
    """DER tag-length-value (ISO/IEC 8825-1 section 8.1)."""
    size = len(content)
    if size < 0x80:
        return bytes([tag, size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + content


def _garbled_signed_data(signed: cms.SignedData) -> bytes:
    """The SignedData re-assembled by hand (asn1crypto refuses to serialise malformed members)."""
    ocsp_body = core.ObjectIdentifier("1.3.6.1.5.5.7.16.2").dump() + _GARBAGE_DER  # id-ri-ocsp-response
    certificates = b"".join(c.dump() for c in signed["certificates"]) + b"\x30\x03\x02\x01\x07"
    crls = b"".join(c.dump() for c in (signed["crls"] or [])) + _tlv(0xA1, ocsp_body)
    (info,) = list(signed["signer_infos"])
    token = _tlv(0x30, core.ObjectIdentifier("1.2.840.113549.1.7.1").dump() + _tlv(0xA0, _tlv(0x04, b"garbage")))
    attribute = _tlv(0x30, core.ObjectIdentifier("1.2.840.113549.1.9.16.2.14").dump() + _tlv(0x31, token))
    unsigned = b"".join(a.dump() for a in (info["unsigned_attrs"] or [])) + attribute
    info_der = _tlv(0x30, b"".join(info[name].dump() for name in (
        "version", "sid", "digest_algorithm", "signed_attrs", "signature_algorithm", "signature"))
        + _tlv(0xA1, unsigned))
    return _tlv(0x30, signed["version"].dump() + signed["digest_algorithms"].dump()
                + signed["encap_content_info"].dump() + _tlv(0xA0, certificates) + _tlv(0xA1, crls)
                + _tlv(0x31, info_der))


def garble_cms_material(src: Path, dst: Path) -> Path:
    """Add a malformed certificate, OCSP response and signature time-stamp token to the first signature's CMS."""
    data = bytearray(src.read_bytes())
    match = re.search(rb"/Contents\s*<([0-9A-Fa-f]+)>", data)
    assert match is not None
    hex_start, hex_end = match.span(1)
    info = cms.ContentInfo.load(bytes.fromhex(match.group(1).decode()), strict=False)
    content = _tlv(0x30, info["content_type"].dump() + _tlv(0xA0, _garbled_signed_data(info["content"])))
    new = content.hex().encode()
    width = hex_end - hex_start
    assert len(new) <= width, "no room left in /Contents"
    data[hex_start:hex_end] = new + b"0" * (width - len(new))
    dst.write_bytes(bytes(data))
    return dst
