"""RSASSA-PKCS1-v1_5 signature values of CMS SignerInfos (RFC 8017 section 8.2.2), as producers write them.

Two things stock verifiers refuse and real signatures carry:

* SHA-3 digests (FIPS 202) under ``rsaEncryption`` or under id-rsassa-pkcs1-v1_5-with-sha3-224/256/
  384/512 (NIST CSOR 2.16.840.1.101.3.4.3.13-16, RFC 8702 names), which asn1crypto does not know;
* a DigestInfo whose AlgorithmIdentifier omits the NULL parameters. RFC 8017 section 9.2 note 2
  says verifiers should accept both encodings; the EU DSS validator does. The signature is checked
  first as ``cryptography`` does (NULL present); only if that fails, the encoded message is
  recovered with the public key and compared with the encoding without NULL, octet for octet.

``hash_for`` tells which digest a signature algorithm identifier implies (None when it is not an
RSA PKCS #1 v1.5 one: the caller then uses another verifier).
"""

from __future__ import annotations

import hashlib

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import algos, keys
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

__all__ = ["HASHES", "hash_for", "verify_pkcs1_v15"]

#: hashlib / asn1crypto names of the digests used with PKCS #1 v1.5, and their ``cryptography`` classes.
HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
    "sha512": hashes.SHA512, "sha3_224": hashes.SHA3_224, "sha3_256": hashes.SHA3_256,
    "sha3_384": hashes.SHA3_384, "sha3_512": hashes.SHA3_512,
}
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
#: Signature algorithm OIDs of RSASSA-PKCS1-v1_5 and the digest each one fixes (RFC 8017 appendix A.2.4).
_PKCS1_OIDS = {
    "1.2.840.113549.1.1.5": "sha1", "1.2.840.113549.1.1.14": "sha224", "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384", "1.2.840.113549.1.1.13": "sha512",
    "2.16.840.1.101.3.4.3.13": "sha3_224", "2.16.840.1.101.3.4.3.14": "sha3_256",
    "2.16.840.1.101.3.4.3.15": "sha3_384", "2.16.840.1.101.3.4.3.16": "sha3_512",
}


def hash_for(signature_algorithm: algos.SignedDigestAlgorithm, digest_algorithm: str) -> str | None:
    """The digest of an RSA PKCS #1 v1.5 signature algorithm (``rsaEncryption``: the SignerInfo's own
    digest algorithm, RFC 3370 section 3.2), or None for any other signature algorithm."""
    oid = signature_algorithm["algorithm"].dotted
    if oid == _RSA_ENCRYPTION:
        return digest_algorithm if digest_algorithm in HASHES else None
    return _PKCS1_OIDS.get(oid)


def _digest_info_without_null(hash_name: str, digest: bytes) -> bytes:
    info = algos.DigestInfo({"digest_algorithm": {"algorithm": hash_name}, "digest": digest})
    info["digest_algorithm"]["parameters"] = None
    return info.dump(force=True)


def verify_pkcs1_v15(signature: bytes, data: bytes, public_key_info: keys.PublicKeyInfo, hash_name: str, *,
                     prehashed: bool) -> bool:
    """Whether ``signature`` is a valid RSASSA-PKCS1-v1_5 signature of ``data`` (or of the digest
    ``data`` when ``prehashed``) with ``hash_name``, DigestInfo with or without NULL parameters.

    Raises ``ValueError`` for a key that is not RSA and ``KeyError`` for an unknown digest."""
    key = serialization.load_der_public_key(public_key_info.dump())
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("clé publique non RSA pour une signature RSA")
    algorithm = HASHES[hash_name]()
    try:
        key.verify(signature, data, padding.PKCS1v15(), utils.Prehashed(algorithm) if prehashed else algorithm)
        return True
    except InvalidSignature:
        pass
    digest = data if prehashed else hashlib.new(hash_name, data).digest()
    numbers = key.public_numbers()
    size = (key.key_size + 7) // 8
    value = int.from_bytes(signature, "big")
    if len(signature) != size or value >= numbers.n:
        return False
    encoded = pow(value, numbers.e, numbers.n).to_bytes(size, "big")
    info = _digest_info_without_null(hash_name, digest)
    if len(info) + 11 > size:
        return False
    expected = b"\x00\x01" + b"\xff" * (size - len(info) - 3) + b"\x00" + info
    return encoded == expected
