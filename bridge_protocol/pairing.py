"""The cryptography of pairing and of each connection's authentication (PROTOCOL.md "Pairing").

Pairing (once per site): an ECDH P-256 exchange (NIST SP 800-56A rev. 3, ephemeral-ephemeral)
with a commitment (the agent commits to ``SHA-256(pk_A || n_A)`` before it sees the page's key), and
a six-digit short authentication string (SAS) that only the agent really connected shows in its own
UI and that the user types in the page — the pattern of Bluetooth "passkey entry" and of the
MANA-style SAS protocols: a program in the middle must commit before it knows the page's key, so it
matches the two codes with probability 10^-6 at best. The shared secret K comes from HKDF-SHA256
(RFC 5869) over the ECDH output; each side then proves K with HMAC-SHA256 (RFC 2104).

Every later connection: fresh 32-byte nonces from both sides, the agent proves K first
(``agent_proof``), the page checks it before it sends anything else, then proves K in turn
(``page_proof``). The same code runs in the page (bridge_protocol/js/compagnon.js, WebCrypto) and
here (agent and Python client); the byte layouts below are the specification.

Layouts (``||`` is concatenation; keys are uncompressed SEC 1 points, 65 bytes; nonces 32 bytes;
``origin`` is its UTF-8 bytes and the only variable-length part of each input):

* commitment = SHA-256(pk_A || n_A)
* transcript = origin || pk_P || pk_A || n_P || n_A
* SAS        = (first 20 bits of SHA-256("compagnon-sas-v1" || transcript)) mod 10^6, 6 digits
* K          = HKDF-SHA256(ECDH(sk, pk_other), salt = n_P || n_A, info = "compagnon-pairing-v1" || origin, 32)
* confirmations: HMAC(K, "page-confirm" || transcript), HMAC(K, "agent-confirm" || transcript)
* connection:    HMAC(K, "agent" || origin || n_P' || n_A'), HMAC(K, "page" || origin || n_P' || n_A')
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "KEY_BYTES", "NONCE_BYTES", "EphemeralKey", "agent_confirmation", "agent_proof", "commitment", "derive_key",
    "new_nonce", "page_confirmation", "page_proof", "sas", "transcript", "valid_public_key",
]

NONCE_BYTES = 32
#: An uncompressed P-256 point (SEC 1 section 2.3.3): 0x04 || X || Y.
KEY_BYTES = 65
SAS_LABEL = b"compagnon-sas-v1"
KDF_LABEL = b"compagnon-pairing-v1"


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_BYTES)


def valid_public_key(data: bytes) -> bool:
    """Whether ``data`` is an uncompressed point on P-256 (SEC 1 section 3.2.2 checks)."""
    if len(data) != KEY_BYTES or data[0] != 4:
        return False
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), data)
    except ValueError:
        return False
    return True


@dataclass
class EphemeralKey:
    """One side's fresh ECDH key for one pairing."""

    private: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> EphemeralKey:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @property
    def public(self) -> bytes:
        return self.private.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint)

    def shared(self, other: bytes) -> bytes:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), other)
        return self.private.exchange(ec.ECDH(), peer)


def commitment(agent_key: bytes, agent_nonce: bytes) -> bytes:
    return hashlib.sha256(agent_key + agent_nonce).digest()


def transcript(origin: str, page_key: bytes, agent_key: bytes, page_nonce: bytes, agent_nonce: bytes) -> bytes:
    return origin.encode() + page_key + agent_key + page_nonce + agent_nonce


def sas(transcript_bytes: bytes) -> str:
    """The six digits both sides show; the user compares them by typing the agent's in the page."""
    digest = hashlib.sha256(SAS_LABEL + transcript_bytes).digest()
    return f"{(int.from_bytes(digest[:3], 'big') >> 4) % 1_000_000:06d}"


def derive_key(shared: bytes, origin: str, page_nonce: bytes, agent_nonce: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=page_nonce + agent_nonce,
                info=KDF_LABEL + origin.encode()).derive(shared)


def _mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def page_confirmation(key: bytes, transcript_bytes: bytes) -> bytes:
    return _mac(key, b"page-confirm", transcript_bytes)


def agent_confirmation(key: bytes, transcript_bytes: bytes) -> bytes:
    return _mac(key, b"agent-confirm", transcript_bytes)


def agent_proof(key: bytes, origin: str, page_nonce: bytes, agent_nonce: bytes) -> bytes:
    return _mac(key, b"agent", origin.encode(), page_nonce, agent_nonce)


def page_proof(key: bytes, origin: str, page_nonce: bytes, agent_nonce: bytes) -> bytes:
    return _mac(key, b"page", origin.encode(), page_nonce, agent_nonce)
