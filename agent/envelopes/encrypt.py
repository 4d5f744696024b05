"""Sealing files for their recipients, streamed: CMS EnvelopedData (RFC 5652 section 6) with
AES-CBC (RFC 3565), or AuthEnvelopedData (RFC 5083) with AES-GCM (RFC 5084).

Each recipient gets a KeyTransRecipientInfo (section 6.2.1, version 0, issuer and serial number)
holding the content-encryption key wrapped with its RSA public key: RSAES-OAEP (RFC 8017 section
7.1; SHA-1 and MGF1-SHA-1 as openssl's default and as PKCS #11 tokens support, or SHA-256 with
RFC 4055 parameters) or RSAES-PKCS1-v1_5 (section 7.2).

Output is DER, with lengths computed from the source size (the source must then be seekable),
or BER with indefinite lengths and the content in segments (``ber_stream=True``, what
``openssl cms -encrypt -stream`` writes), for sources of unknown size. Either way the source is
read once in chunks.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import BinaryIO, Literal, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as sym_padding
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import AEADEncryptionContext, Cipher, CipherContext, algorithms, modes

from ..pki.key_usage import usage_refusal
from ..pki.ber import CHUNK, EOC, EnvelopeError, der_header, source_size, tlv
from .decrypt import (
    CONTENT_ALGORITHMS,
    OID_AUTH_ENVELOPED_DATA,
    OID_DATA,
    OID_ENVELOPED_DATA,
    OID_RSA_ENCRYPTION,
    OID_RSAES_OAEP,
    Progress,
)

KeyTransportName = Literal["rsa-oaep", "rsa-oaep-sha256", "rsa-pkcs1v15"]
KEY_TRANSPORTS: tuple[str, ...] = ("rsa-oaep", "rsa-oaep-sha256", "rsa-pkcs1v15")

OID_SHA256 = "2.16.840.1.101.3.4.2.1"
OID_MGF1 = "1.2.840.113549.1.1.8"
#: Size of the segments of the BER form (openssl uses 4 KiB; larger costs less per byte).
BER_SEGMENT = 64 * 1024
GCM_TAG_LENGTH = 16


def encode_oid(dotted: str) -> bytes:
    """OBJECT IDENTIFIER, DER (X.690 section 8.19)."""
    arcs = [int(a) for a in dotted.split(".")]
    values = [arcs[0] * 40 + arcs[1], *arcs[2:]]
    body = bytearray()
    for value in values:
        groups = [value & 0x7F]
        value >>= 7
        while value:
            groups.append(0x80 | (value & 0x7F))
            value >>= 7
        body.extend(reversed(groups))
    return tlv(0x06, bytes(body))


def _integer(value: int) -> bytes:
    return tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _key_encryption_algorithm(key_transport: str) -> tuple[bytes, padding.AsymmetricPadding]:
    """AlgorithmIdentifier (RFC 4055 section 4.1 for OAEP) and the matching padding."""
    if key_transport == "rsa-pkcs1v15":
        return tlv(0x30, encode_oid(OID_RSA_ENCRYPTION) + b"\x05\x00"), padding.PKCS1v15()
    if key_transport == "rsa-oaep":
        # All defaults (SHA-1, MGF1-SHA-1, empty label): an empty parameter SEQUENCE, as openssl.
        pad = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
        return tlv(0x30, encode_oid(OID_RSAES_OAEP) + tlv(0x30, b"")), pad
    if key_transport == "rsa-oaep-sha256":
        sha256 = tlv(0x30, encode_oid(OID_SHA256))
        params = tlv(0x30, tlv(0xA0, sha256) + tlv(0xA1, tlv(0x30, encode_oid(OID_MGF1) + sha256)))
        pad = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
        return tlv(0x30, encode_oid(OID_RSAES_OAEP) + params), pad
    raise EnvelopeError("UNSUPPORTED_ALGORITHM",
                        f"Transport de clé inconnu : {key_transport}.", f"Unknown key transport: {key_transport}.")


def _recipient_info(certificate: x509.Certificate, key: bytes, key_transport: str) -> bytes:
    """KeyTransRecipientInfo, version 0 with IssuerAndSerialNumber (RFC 5652 section 6.2.1)."""
    public = certificate.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise EnvelopeError("UNSUPPORTED_ALGORITHM",
                            "Seuls les certificats de chiffrement RSA sont pris en charge comme destinataires.",
                            "Only RSA encryption certificates are supported as recipients.")
    algorithm, pad = _key_encryption_algorithm(key_transport)
    rid = tlv(0x30, certificate.issuer.public_bytes() + _integer(certificate.serial_number))
    return tlv(0x30, _integer(0) + rid + algorithm + tlv(0x04, public.encrypt(key, pad)))


def _content_algorithm(name: str, iv: bytes) -> bytes:
    spec = CONTENT_ALGORITHMS[name]
    if spec.mode == "cbc":
        return tlv(0x30, encode_oid(spec.oid) + tlv(0x04, iv))
    # GCMParameters (RFC 5084 section 3.2): 12-octet nonce, 16-octet tag (not the default 12).
    return tlv(0x30, encode_oid(spec.oid) + tlv(0x30, tlv(0x04, iv) + _integer(GCM_TAG_LENGTH)))


def encrypt(source: BinaryIO, output: BinaryIO, recipients: Sequence[x509.Certificate], *,
            algorithm: str = "aes-256-cbc", key_transport: str = "rsa-oaep", ber_stream: bool = False,
            progress: Progress | None = None) -> None:
    """Encrypt ``source`` for ``recipients`` into ``output`` (RFC 5652 section 6 / RFC 5083).

    ``algorithm``: aes-128-cbc, aes-192-cbc, aes-256-cbc (EnvelopedData) or aes-128-gcm,
    aes-192-gcm, aes-256-gcm (AuthEnvelopedData). ``key_transport``: rsa-oaep (SHA-1),
    rsa-oaep-sha256 or rsa-pkcs1v15. DER needs a seekable ``source`` (its size sets the lengths).
    """
    spec = CONTENT_ALGORITHMS.get(algorithm)
    if spec is None:
        raise EnvelopeError("UNSUPPORTED_ALGORITHM",
                            f"Algorithme de chiffrement inconnu : {algorithm}.", f"Unknown encryption algorithm: {algorithm}.")
    if not recipients:
        raise ValueError("at least one recipient certificate is needed")
    for certificate in recipients:  # RFC 5280 section 4.2.1.3: never seal for a signing-only key
        refusal = usage_refusal(certificate, "decryption")
        if refusal is not None:
            raise EnvelopeError("KEY_USAGE_NOT_ENCRYPTION", refusal)
    size = None if ber_stream else source_size(source)
    if not ber_stream and size is None:
        raise ValueError("DER output needs a seekable source of known size; use ber_stream=True")

    key = os.urandom(spec.key_size)
    iv = os.urandom(16 if spec.mode == "cbc" else 12)
    # DER SET OF is sorted by encoding (X.690 section 11.6); the order carries no meaning.
    infos = sorted(_recipient_info(cert, key, key_transport) for cert in recipients)
    recipient_infos = tlv(0x31, b"".join(infos))
    authenticated = spec.mode == "gcm"
    cipher: CipherContext
    if authenticated:
        cipher = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    else:
        cipher = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        padder = sym_padding.PKCS7(128).padder()
    del key

    version = _integer(0)  # RFC 5652 section 6.1 (v0 KTRIs only), RFC 5083 section 2.1
    content_head = encode_oid(OID_DATA) + _content_algorithm(algorithm, iv)
    mac_length = 2 + GCM_TAG_LENGTH if authenticated else 0
    envelope_oid = encode_oid(OID_AUTH_ENVELOPED_DATA if authenticated else OID_ENVELOPED_DATA)
    if size is not None:
        ciphertext = size if authenticated else (size // 16 + 1) * 16
        encrypted = der_header(0x80, ciphertext)  # [0] IMPLICIT OCTET STRING, primitive
        eci_length = len(content_head) + len(encrypted) + ciphertext
        eci = der_header(0x30, eci_length)
        body_length = len(version) + len(recipient_infos) + len(eci) + eci_length + mac_length
        body = der_header(0x30, body_length)
        explicit = der_header(0xA0, len(body) + body_length)
        top_length = len(envelope_oid) + len(explicit) + len(body) + body_length
        output.write(der_header(0x30, top_length) + envelope_oid + explicit + body + version + recipient_infos
                     + eci + content_head + encrypted)
    else:
        output.write(der_header(0x30, None) + envelope_oid + der_header(0xA0, None) + der_header(0x30, None)
                     + version + recipient_infos + der_header(0x30, None) + content_head + der_header(0xA0, None))

    done = 0
    written = 0

    def emit(data: bytes) -> None:
        nonlocal written
        if not data:
            return
        written += len(data)
        if size is not None:
            output.write(data)
            return
        for start in range(0, len(data), BER_SEGMENT):
            segment = data[start:start + BER_SEGMENT]
            output.write(der_header(0x04, len(segment)) + segment)

    while True:
        block = source.read(CHUNK)
        if not block:
            break
        done += len(block)
        if size is not None and done > size:
            raise ValueError("the source grew while it was being encrypted")
        emit(cipher.update(padder.update(block)) if not authenticated else cipher.update(block))
        if progress is not None:
            progress(done, size or 0)
    if size is not None and done != size:
        raise ValueError("the source shrank while it was being encrypted")
    if authenticated:
        emit(cipher.finalize())
        tag = cast(AEADEncryptionContext, cipher).tag
    else:
        emit(cipher.update(padder.finalize()) + cipher.finalize())
    if size is not None:
        assert written == ciphertext
    else:
        output.write(EOC + EOC)  # [0] content, EncryptedContentInfo
    if authenticated:
        output.write(tlv(0x04, tag))
    if size is None:
        output.write(EOC * 3)  # EnvelopedData, [0], ContentInfo
    output.flush()

