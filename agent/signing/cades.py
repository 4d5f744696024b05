"""CAdES signatures (ETSI EN 319 122-1) over CMS SignedData (RFC 5652), streamed.

* ``sign_cades``: a new signature, detached (``.p7s``) or attached (``.p7m``), B-B or B-T.
  The content is hashed in chunks; an attached file is written with definite lengths computed
  from the file size, the content copied in chunks, so memory stays constant for any size.
* ``cosign``: a parallel signer (a new SignerInfo over the same content) added to an existing
  signature, ours or another tool's; the existing SignerInfos and certificates are copied byte
  for byte (arrêté du 22 mars 2019, art. 7: each signature verifiable on its own).
* ``countersign``: an RFC 5652 section 11.4 countersignature on the SignerInfo chosen by its
  signer's certificate (never by position: a SET OF may be re-ordered by any encoder).

B-B signed attributes (EN 319 122-1 section 5.1/5.2): content-type, message-digest, one
signing-time, signing-certificate-v2. B-T adds signature-time-stamp-token (section 5.3) over the
signature value.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import BinaryIO

from asn1crypto import algos, cms, core, tsp, x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..errors import CompagnonError
from ..pki.cms import find_certificate
from ..pki.streams import CHUNK, Progress
from .base import SigningKey, Timestamper

OID_DATA = "1.2.840.113549.1.7.1"
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"

#: Attached signatures bigger than this cannot be co-signed in memory; detached ones have no limit.
MAX_ATTACHED_IN_MEMORY = 512 * 1024 * 1024


class CadesError(CompagnonError, ValueError):
    """The input is not a CMS SignedData we can work on (message in French, for the user; code
    ``CADES_FAILURE``)."""

    def __init__(self, message: str, english: str | None = None) -> None:
        super().__init__("CADES_FAILURE", message, english)


# -- DER helpers ------------------------------------------------------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv_header(tag: int, length: int) -> bytes:
    return bytes([tag]) + _length(length)


def _retag(der: bytes, tag: int) -> bytes:
    """Same encoding under another (constructed) tag: SET OF -> [0] IMPLICIT."""
    return bytes([tag]) + der[1:]


# -- building blocks --------------------------------------------------------------------------


def _asn1_cert(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _digest_algorithm(hash_name: str) -> algos.DigestAlgorithm:
    return algos.DigestAlgorithm({"algorithm": hash_name})


def _signature_algorithm(key: SigningKey) -> algos.SignedDigestAlgorithm:
    if key.scheme == "ecdsa":
        return algos.SignedDigestAlgorithm({"algorithm": f"{key.hash_name}_ecdsa"})
    if key.scheme == "pss":
        size = hashlib.new(key.hash_name).digest_size
        return algos.SignedDigestAlgorithm({
            "algorithm": "rsassa_pss",
            "parameters": algos.RSASSAPSSParams({
                "hash_algorithm": _digest_algorithm(key.hash_name),
                "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": _digest_algorithm(key.hash_name)},
                "salt_length": size,
                "trailer_field": "trailer_field_bc",
            }),
        })
    return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"})


def _sid(cert: asn1_x509.Certificate) -> cms.SignerIdentifier:
    return cms.SignerIdentifier({
        "issuer_and_serial_number": cms.IssuerAndSerialNumber({"issuer": cert.issuer, "serial_number": cert.serial_number})
    })


def _signing_certificate_v2(cert: asn1_x509.Certificate, hash_name: str) -> tsp.SigningCertificateV2:
    """ESS signing-certificate-v2 (RFC 5035): binds the signer's certificate to the signature."""
    return tsp.SigningCertificateV2({
        "certs": [{
            "hash_algorithm": _digest_algorithm(hash_name),
            "cert_hash": hashlib.new(hash_name, cert.dump()).digest(),
            "issuer_serial": {
                "issuer": [asn1_x509.GeneralName({"directory_name": cert.issuer})],
                "serial_number": cert.serial_number,
            },
        }]
    })


def _der(tag: int, body: bytes) -> bytes:
    return _tlv_header(tag, len(body)) + body


def _attribute(oid: str, value_der: bytes) -> bytes:
    """Attribute ::= SEQUENCE { attrType OID, attrValues SET OF value } (RFC 5652 section 5.3)."""
    return _der(0x30, core.ObjectIdentifier(oid).dump() + _der(0x31, value_der))


OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_TIME = "1.2.840.113549.1.9.5"
OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"
OID_SIGNATURE_TIME_STAMP = "1.2.840.113549.1.9.16.2.14"


@dataclass(frozen=True)
class _SignerTemplate:
    """The DER parts of a SignerInfo and SignedData that depend only on the key: encoded once
    per key, so a batch of small files costs one signature each, not an ASN.1 re-encoding."""

    sid: bytes
    digest_algorithm: bytes
    signature_algorithm: bytes
    signing_certificate: bytes
    certificates: bytes  # [0] IMPLICIT CertificateSet


@functools.lru_cache(maxsize=16)
def _template(certificate: x509.Certificate, chain: tuple[x509.Certificate, ...], scheme: str, hash_name: str) -> _SignerTemplate:
    cert = _asn1_cert(certificate)
    key_like = SigningKey(certificate, chain, scheme, lambda d, h: b"", hash_name)  # type: ignore[arg-type]
    certs = [cert, *(_asn1_cert(c) for c in chain)]
    return _SignerTemplate(
        sid=_sid(cert).dump(),
        digest_algorithm=_digest_algorithm(hash_name).dump(),
        signature_algorithm=_signature_algorithm(key_like).dump(),
        signing_certificate=_attribute(OID_SIGNING_CERTIFICATE_V2, _signing_certificate_v2(cert, hash_name).dump()),
        certificates=_retag(cms.CertificateSet([cms.CertificateChoices({"certificate": c}) for c in certs]).dump(), 0xA0),
    )


def _key_template(key: SigningKey) -> _SignerTemplate:
    return _template(key.certificate, key.chain, key.scheme, key.hash_name)


def _signer_info(key: SigningKey, message_digest: bytes, *, content_type: str | None, signing_time: datetime,
                 timestamper: Timestamper | None) -> bytes:
    """A DER SignerInfo (RFC 5652 section 5.3) with the B-B signed attributes."""
    template = _key_template(key)
    attributes = [
        _attribute(OID_SIGNING_TIME, cms.Time({"utc_time": signing_time}).dump()),
        _attribute(OID_MESSAGE_DIGEST, core.OctetString(message_digest).dump()),
        template.signing_certificate,
    ]
    if content_type is not None:
        attributes.append(_attribute(OID_CONTENT_TYPE, cms.ContentType(content_type).dump()))
    # DER: a SET OF is sorted by encoding (X.690 section 11.6); the signature covers the SET OF
    # encoding, and the SignerInfo carries the same bytes under [0] IMPLICIT (section 5.4).
    signed_attrs = b"".join(sorted(attributes))
    to_sign = hashlib.new(key.hash_name, _der(0x31, signed_attrs)).digest()
    signature = key.sign_digest(to_sign, key.hash_name)
    body = (cms.CMSVersion(1).dump() + template.sid + template.digest_algorithm + _der(0xA0, signed_attrs)
            + template.signature_algorithm + core.OctetString(signature).dump())
    if timestamper is not None:
        token = timestamper(hashlib.new(key.hash_name, signature).digest(), key.hash_name)
        body += _der(0xA1, _attribute(OID_SIGNATURE_TIME_STAMP, token))
    return _der(0x30, body)


def _certificates(key: SigningKey) -> list[asn1_x509.Certificate]:
    return [_asn1_cert(c) for c in (key.certificate, *key.chain)]


def hash_stream(source: BinaryIO, hash_name: str, progress: Progress | None = None, total: int = 0) -> bytes:
    """Digest of a stream read in CHUNK pieces."""
    h = hashlib.new(hash_name)
    done = 0
    while chunk := source.read(CHUNK):
        h.update(chunk)
        done += len(chunk)
        if progress:
            progress(done, total)
    return h.digest()


def _stream_size(stream: BinaryIO) -> int:
    position = stream.tell()
    size = stream.seek(0, os.SEEK_END)
    stream.seek(position)
    return size - position


def _level_timestamper(level: str, timestamper: Timestamper | None) -> Timestamper | None:
    if level not in ("B-B", "B-T"):
        raise ValueError(f"niveau CAdES non pris en charge : {level}")
    if level == "B-T" and timestamper is None:
        raise ValueError("le niveau B-T demande un service d'horodatage")
    return timestamper if level == "B-T" else None


# -- new signature ------------------------------------------------------------------------------


def sign_cades(source: BinaryIO, output: BinaryIO, key: SigningKey, *, attached: bool = False, level: str = "B-B",
               timestamper: Timestamper | None = None, progress: Progress | None = None,
               signing_time: datetime | None = None, digest: bytes | None = None) -> None:
    """Sign ``source`` (a seekable binary stream) into ``output``: CMS ContentInfo, DER.

    ``digest``: the ``key.hash_name`` digest of ``source`` computed already (the one the user
    consented to): the content is then read once at most — not at all for a detached signature,
    once to copy it into an attached one, whose copy must hash to ``digest`` (``CadesError``)."""
    stamper = _level_timestamper(level, timestamper)
    start = source.tell()
    size = _stream_size(source)
    if digest is None:
        passes = 2 if attached else 1
        digest = hash_stream(source, key.hash_name, (lambda d, t: progress(d, size * passes)) if progress else None,
                             size)
        copy_base, copy_total, check = size, size * 2, None
    else:
        copy_base, copy_total, check = 0, size, hashlib.new(key.hash_name)
    signer = _signer_info(key, digest, content_type="data", signing_time=signing_time or datetime.now(UTC),
                          timestamper=stamper)
    template = _key_template(key)
    head = [cms.CMSVersion(1).dump(), _der(0x31, template.digest_algorithm)]
    tail = [template.certificates, _der(0x31, signer)]
    oid_data = core.ObjectIdentifier(OID_DATA).dump()
    if attached:
        octets = _tlv_header(0x04, size)
        explicit = _tlv_header(0xA0, len(octets) + size)
        encap_len = len(oid_data) + len(explicit) + len(octets) + size
    else:
        octets = explicit = b""
        encap_len = len(oid_data)
    encap_head = _tlv_header(0x30, encap_len) + oid_data + explicit + octets
    signed_data_len = sum(map(len, head)) + len(encap_head) + (size if attached else 0) + sum(map(len, tail))
    signed_data_head = _tlv_header(0x30, signed_data_len)
    oid_signed = core.ObjectIdentifier(OID_SIGNED_DATA).dump()
    content_explicit = _tlv_header(0xA0, len(signed_data_head) + signed_data_len)
    content_info_len = len(oid_signed) + len(content_explicit) + len(signed_data_head) + signed_data_len
    output.write(_tlv_header(0x30, content_info_len) + oid_signed + content_explicit + signed_data_head)
    output.write(b"".join(head) + encap_head)
    if attached:
        source.seek(start)
        copied = 0
        while chunk := source.read(CHUNK):
            output.write(chunk)
            if check is not None:
                check.update(chunk)
            copied += len(chunk)
            if progress:
                progress(copy_base + copied, copy_total)
        if copied != size or (check is not None and check.digest() != digest):
            raise CadesError("le fichier a changé pendant la signature", "the file changed while it was being signed")
    elif progress and check is not None:
        progress(size, size)
    output.write(b"".join(tail))


# -- reading existing signatures ---------------------------------------------------------------


@dataclass
class ParsedSignature:
    """An existing CMS SignedData and where its content is."""

    content_info: cms.ContentInfo
    signed_data: cms.SignedData
    attached_content: bytes | None

    @property
    def signer_infos(self) -> cms.SignerInfos:
        return self.signed_data["signer_infos"]


def load_signature(data: bytes) -> ParsedSignature:
    """Parse a ``.p7s``/``.p7m``/``.xp7s`` (DER, BER or base64 PEM)."""
    if data.lstrip().startswith(b"-----BEGIN"):
        import base64

        body = b"".join(line for line in data.splitlines() if line and not line.startswith(b"-----"))
        data = base64.b64decode(body)
    try:
        content_info = cms.ContentInfo.load(data, strict=False)
        if content_info["content_type"].native != "signed_data":
            raise CadesError("ce fichier n'est pas une signature CMS (SignedData)")
        signed_data = content_info["content"]
        encap = signed_data["encap_content_info"]
        content = encap["content"]
        attached = None if content.native is None else bytes(content.native)
        _ = len(signed_data["signer_infos"])
    except CadesError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise CadesError("signature illisible : structure CMS invalide") from exc
    return ParsedSignature(content_info, signed_data, attached)


def signer_certificate(parsed: ParsedSignature, signer: cms.SignerInfo) -> asn1_x509.Certificate | None:
    """The certificate of the SignedData that a SignerInfo's ``sid`` names."""
    certificates = [c.chosen for c in parsed.signed_data["certificates"] or [] if c.name == "certificate"]
    return find_certificate(certificates, signer["sid"])


def _content_digest(parsed: ParsedSignature, content: BinaryIO | None, hash_name: str, progress: Progress | None) -> bytes:
    if parsed.attached_content is not None:
        return hashlib.new(hash_name, parsed.attached_content).digest()
    if content is None:
        raise CadesError("signature détachée : le fichier signé est nécessaire")
    return hash_stream(content, hash_name, progress, _stream_size(content))


def _reassemble(parsed: ParsedSignature, signer_infos_der: bytes, extra_certs: list[asn1_x509.Certificate],
                hash_name: str) -> bytes:
    """A SignedData with new SignerInfos, existing parts copied byte for byte."""
    sd = parsed.signed_data
    algorithms = list(sd["digest_algorithms"])
    if all(a["algorithm"].native != hash_name for a in algorithms):
        algorithms.append(_digest_algorithm(hash_name))
    existing = [c.chosen for c in sd["certificates"] or [] if c.name == "certificate"]
    existing_der = {c.dump() for c in existing}
    new_certs = [c for c in extra_certs if c.dump() not in existing_der]
    certs_contents = (sd["certificates"].contents if sd["certificates"] else b"") + b"".join(
        cms.CertificateChoices({"certificate": c}).dump() for c in new_certs
    )
    version = sd["version"].dump()
    parts = [
        version,
        cms.DigestAlgorithms(algorithms).dump(),
        sd["encap_content_info"].dump(),
        _tlv_header(0xA0, len(certs_contents)) + certs_contents,
    ]
    if sd["crls"]:
        parts.append(sd["crls"].dump())
    parts.append(_tlv_header(0x31, len(signer_infos_der)) + signer_infos_der)
    body = b"".join(parts)
    signed_data = _tlv_header(0x30, len(body)) + body
    oid_signed = core.ObjectIdentifier(OID_SIGNED_DATA).dump()
    inner = oid_signed + _tlv_header(0xA0, len(signed_data)) + signed_data
    return _tlv_header(0x30, len(inner)) + inner


def cosign(signature: bytes, output: BinaryIO, key: SigningKey, *, content: BinaryIO | None = None,
           level: str = "B-B", timestamper: Timestamper | None = None, progress: Progress | None = None) -> None:
    """Add a parallel signer to ``signature`` (detached: give ``content``)."""
    stamper = _level_timestamper(level, timestamper)
    parsed = load_signature(signature)
    if parsed.attached_content is not None and len(parsed.attached_content) > MAX_ATTACHED_IN_MEMORY:
        raise CadesError("signature attachée trop volumineuse pour une co-signature")
    digest = _content_digest(parsed, content, key.hash_name, progress)
    for existing in parsed.signer_infos:
        if existing["digest_algorithm"]["algorithm"].native == key.hash_name:
            attrs = existing["signed_attrs"]
            claimed = next((a["values"][0].native for a in attrs if a["type"].native == "message_digest"), None)
            if claimed is not None and claimed != digest:
                raise CadesError("le fichier fourni n'est pas celui que les autres signataires ont signé")
    content_type = parsed.signed_data["encap_content_info"]["content_type"].native
    signer = _signer_info(key, digest, content_type=content_type, signing_time=datetime.now(UTC), timestamper=stamper)
    signer_infos_der = parsed.signer_infos.contents + signer
    output.write(_reassemble(parsed, signer_infos_der, _certificates(key), key.hash_name))


def _cert_sha256(cert: asn1_x509.Certificate) -> str:
    return hashlib.sha256(cert.dump()).hexdigest()


def signers(parsed: ParsedSignature) -> Iterator[tuple[cms.SignerInfo, asn1_x509.Certificate | None]]:
    for info in parsed.signer_infos:
        yield info, signer_certificate(parsed, info)


def countersign(signature: bytes, output: BinaryIO, key: SigningKey, *, signer_sha256: str,
                level: str = "B-B", timestamper: Timestamper | None = None) -> None:
    """Counter-sign the SignerInfo whose certificate has SHA-256 ``signer_sha256`` (RFC 5652 §11.4).

    The countersignature signs the target's signature value: its signed attributes carry the
    message-digest of that value and no content-type.
    """
    stamper = _level_timestamper(level, timestamper)
    parsed = load_signature(signature)
    target_sha = signer_sha256.lower().replace(":", "")
    pieces: list[bytes] = []
    found = False
    for info, cert in signers(parsed):
        if cert is not None and _cert_sha256(cert) == target_sha and not found:
            found = True
            digest = hashlib.new(key.hash_name, info["signature"].native).digest()
            counter = _signer_info(key, digest, content_type=None, signing_time=datetime.now(UTC), timestamper=stamper)
            unsigned = list(info["unsigned_attrs"]) if info["unsigned_attrs"].native else []
            unsigned.append(cms.CMSAttribute({"type": "counter_signature", "values": [cms.SignerInfo.load(counter)]}))
            updated = cms.SignerInfo({
                name: info[name] for name in ("version", "sid", "digest_algorithm", "signed_attrs", "signature_algorithm", "signature")
            })
            updated["unsigned_attrs"] = cms.CMSAttributes(unsigned)
            # Signed parts stay byte for byte: only the unsigned attributes are re-encoded.
            pieces.append(updated.dump())
        else:
            pieces.append(info.dump())
    if not found:
        raise CadesError("aucun signataire de ce fichier n'a ce certificat")
    output.write(_reassemble(parsed, b"".join(pieces), _certificates(key), key.hash_name))
