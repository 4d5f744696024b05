"""What every signing engine takes: a key that signs digests and a timestamper (the progress callback
is ``agent.pki.streams.Progress``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ..keystores.base import HashName, KeySession, SignScheme, StoredKey

#: ``timestamp(digest, hash_name)`` returns a DER RFC 3161 TimeStampToken (a CMS ContentInfo)
#: whose message imprint is ``digest``.
Timestamper = Callable[[bytes, HashName], bytes]
Level = str  # "B-B" | "B-T" | "B-LT" | "B-LTA"


@dataclass(frozen=True)
class SigningKey:
    """A certificate, its chain, and a function that signs a digest with the matching private key.

    ``sign_digest(digest, hash_name)`` returns the signature value: RSA PKCS#1 v1.5 or PSS bytes,
    or a DER ECDSA-Sig-Value for EC keys.
    """

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    scheme: SignScheme
    sign_digest: Callable[[bytes, HashName], bytes]
    hash_name: HashName = "sha256"

    @classmethod
    def from_session(
        cls, session: KeySession, key: StoredKey, chain: tuple[x509.Certificate, ...] = (), pss: bool = False
    ) -> SigningKey:
        public = key.certificate.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            scheme: SignScheme = "ecdsa"
        elif isinstance(public, rsa.RSAPublicKey):
            scheme = "pss" if pss else "pkcs1v15"
        else:
            raise ValueError(f"unsupported key type {type(public).__name__}")
        chain = chain or key.extra_certificates
        return cls(
            certificate=key.certificate,
            chain=tuple(c for c in chain if c != key.certificate),
            scheme=scheme,
            sign_digest=lambda digest, hash_name: session.sign_digest(key, digest, hash_name, scheme),
        )
