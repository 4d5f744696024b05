"""CMS signatures rebuilt with asn1crypto and signed again with the test PKI's real keys.

``openssl_attached`` makes an attached CAdES with ``openssl cms`` (an independent producer);
``resign`` rebuilds its one SignerInfo with other algorithms or attributes and signs the new signed
attributes with the signer's private key through ``cryptography`` (or, for the DigestInfo without
NULL, with the raw RSA operation): what comes out is a genuine signature of what it says, so that a
test's single deliberate fault (an RFC 6211 mismatch, a missing signing-time...) is the only one.
``tsa_token`` asks the test PKI's RFC 3161 service for a time-stamp token.
"""

from __future__ import annotations

import hashlib
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asn1crypto import algos, cms, core, tsp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tests.support.pki import TestPki

__all__ = ["CONTENT", "HASHES", "assemble", "openssl_attached", "openssl_says", "pkcs1_without_null", "protection",
           "resign", "tsa_token"]

CONTENT = b"Offre technique et financiere\n" * 50
HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512(),
          "sha3_256": hashes.SHA3_256(), "sha3_384": hashes.SHA3_384(), "sha3_512": hashes.SHA3_512()}


def openssl_attached(pki: TestPki, folder: Path, name: str, signer: str, md: str = "sha256") -> Path:
    content = folder / "offre.pdf"
    content.write_bytes(CONTENT)
    out = folder / name
    subprocess.run(["openssl", "cms", "-sign", "-nodetach", "-binary", "-cades", "-outform", "DER", "-in", str(content),
                    "-out", str(out), "-signer", str(pki.cert_pem(signer)), "-inkey", str(pki.key_pem(signer)),
                    "-certfile", str(pki.intermediate_pem), "-md", md], check=True, capture_output=True)
    return out


def openssl_says(path: Path, pki: TestPki) -> bool:
    result = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(path),
                             "-CAfile", str(pki.root_pem), "-purpose", "any", "-out", "/dev/null"],
                            capture_output=True, text=True)
    return "Verification successful" in result.stderr


def private_key(pki: TestPki, name: str):  # type: ignore[no-untyped-def]
    return serialization.load_pem_private_key(pki.key_pem(name).read_bytes(), password=None)


def pkcs1_without_null(key: rsa.RSAPrivateKey, hash_name: str, data: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5 (RFC 8017 section 8.2.1) with a DigestInfo whose AlgorithmIdentifier has no
    parameters, computed with the raw private key (s = m^d mod n)."""
    digest_info = algos.DigestInfo({"digest_algorithm": {"algorithm": hash_name},
                                    "digest": hashlib.new(hash_name, data).digest()})
    digest_info["digest_algorithm"]["parameters"] = None
    encoded = digest_info.dump(force=True)
    assert b"\x05\x00" not in encoded[:20]
    size = (key.key_size + 7) // 8
    em = b"\x00\x01" + b"\xff" * (size - len(encoded) - 3) + b"\x00" + encoded
    numbers = key.private_numbers()
    value = pow(int.from_bytes(em, "big"), numbers.d, numbers.public_numbers.n)
    return value.to_bytes(size, "big")


def resign(source: Path, target: Path, pki: TestPki, signer: str, *, digest: str | None = None,
           signature_algorithm: str | None = None, extra_attributes: Callable[[str, str], list] | None = None,
           without_null: bool = False, content: bytes = CONTENT, drop: tuple[str, ...] = (),
           unsigned: Callable[[cms.SignerInfo], list] | None = None) -> Path:
    """Rebuild the one SignerInfo of an openssl-made file with other algorithms or attributes and sign
    it again with the signer's real key (the result is a genuine signature of what it says)."""
    info_ci = cms.ContentInfo.load(source.read_bytes())
    signed_data = info_ci["content"]
    info = signed_data["signer_infos"][0]
    digest = digest or info["digest_algorithm"]["algorithm"].native
    sig_name = signature_algorithm or info["signature_algorithm"]["algorithm"].dotted
    dropped = ("message_digest", "cms_algorithm_protection", *drop)
    attributes = [cms.CMSAttribute.load(a.dump()) for a in info["signed_attrs"] if a["type"].native not in dropped]
    attributes.append(cms.CMSAttribute({"type": "message_digest", "values": [hashlib.new(digest, content).digest()]}))
    if extra_attributes is not None:
        attributes += extra_attributes(digest, sig_name)
    signed_attrs = cms.CMSAttributes(attributes)
    to_sign = signed_attrs.dump()
    key = private_key(pki, signer)
    if without_null:
        signature = pkcs1_without_null(key, digest, to_sign)
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(to_sign, padding.PKCS1v15(), HASHES[digest])
    else:
        signature = key.sign(to_sign, ec.ECDSA(HASHES[digest]))
    fields = [info["version"].dump(), info["sid"].dump(), algos.DigestAlgorithm({"algorithm": digest}).dump(),
              b"\xa0" + to_sign[1:], algos.SignedDigestAlgorithm({"algorithm": sig_name}).dump(),
              core.OctetString(signature).dump()]
    if unsigned is not None:
        unsigned_attrs = cms.CMSAttributes(unsigned(cms.SignerInfo.load(_tlv(0x30, b"".join(fields))))).dump()
        fields.append(b"\xa1" + unsigned_attrs[1:])
    target.write_bytes(assemble(signed_data, [_tlv(0x30, b"".join(fields))], digest))
    return target


def _tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    size = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def assemble(signed_data: cms.SignedData, signer_infos: list[bytes], digest: str, *, detached: bool = False) -> bytes:
    """A ContentInfo around ``signed_data``'s own certificates and CRLs (their bytes as they were: never
    re-encoded) with these SignerInfos; ``detached`` leaves the content out."""
    encap = signed_data["encap_content_info"]
    parts = [signed_data["version"].dump(), _tlv(0x31, algos.DigestAlgorithm({"algorithm": digest}).dump()),
             _tlv(0x30, encap["content_type"].dump()) if detached else encap.dump()]
    for name in ("certificates", "crls"):
        if not isinstance(signed_data[name], core.Void):
            parts.append(signed_data[name].dump())
    parts.append(_tlv(0x31, b"".join(signer_infos)))
    return _tlv(0x30, core.ObjectIdentifier("1.2.840.113549.1.7.2").dump() + _tlv(0xA0, _tlv(0x30, b"".join(parts))))


def protection(digest: str, signature: str) -> Callable[[str, str], list]:
    """An RFC 6211 attribute naming ``digest``/``signature`` (None: the SignerInfo's own)."""
    def make(own_digest: str, own_signature: str) -> list:
        value = cms.CMSAlgorithmProtection({
            "digest_algorithm": {"algorithm": digest or own_digest},
            "signature_algorithm": {"algorithm": signature or own_signature}})
        return [cms.CMSAttribute({"type": "cms_algorithm_protection", "values": [value]})]
    return make




def tsa_token(pki: TestPki, data: bytes, hash_name: str = "sha256") -> cms.ContentInfo:
    """An RFC 3161 time-stamp token over ``data`` from the test PKI's TSA (certificate included)."""
    request = tsp.TimeStampReq({"version": 1, "cert_req": True, "message_imprint": {
        "hash_algorithm": {"algorithm": hash_name}, "hashed_message": hashlib.new(hash_name, data).digest()}})
    http = urllib.request.Request(pki.tsa_url, data=request.dump(),
                                  headers={"Content-Type": "application/timestamp-query"})
    with urllib.request.urlopen(http, timeout=20) as answer:  # noqa: S310 (the test PKI on loopback)
        response = tsp.TimeStampResp.load(answer.read())
    assert response["status"]["status"].native == "granted"
    token: Any = response["time_stamp_token"]
    return cms.ContentInfo.load(token.dump())
