"""The cryptography of pairing and of each connection's authentication (PROTOCOL.md "Pairing").

Pairing (once per site) is an ECDH P-256 exchange (NIST SP 800-56A rev. 3, ephemeral-ephemeral)
authenticated by a six-digit code that only the agent really connected shows, in its own UI, and
that the user types in the page: the pattern of Bluetooth "passkey entry" (Core Specification v5.4,
Vol 3 Part H, 2.3.5.3) with commitments in the style of the MANA-IV SAS protocols. The code is a hash
of the whole transcript, the agent's nonce included, and that nonce stays secret until the page has
committed to the code the user typed:

* the agent commits to its key and nonce before it sees the page's (``commitment``), so a program in
  the middle cannot choose values that make the page's code equal the one the real agent shows;
* the page commits to the typed code (``code_commitment``, with a random opening) before the agent
  reveals its nonce, so a program that does not see the agent's screen can only guess the code, once
  per code (10^-6), and a program posing as the agent learns nothing of the typed code unless the
  page found it equal to the code of its own transcript;
* the page then checks the typed code against its transcript, opens its commitment and proves K
  with the code bound in (``page_confirmation``); the agent checks both against the code it showed.

The shared secret K comes from HKDF-SHA256 (RFC 5869) over the ECDH output; each side proves K with
HMAC-SHA256 (RFC 2104).

Every later connection: fresh 32-byte nonces from both sides, the agent proves K first
(``agent_proof``), the page checks it before it sends anything else, then proves K in turn
(``page_proof``). The same code runs in the page (bridge_protocol/js/compagnon.js, WebCrypto) and
here (agent and Python client); the byte layouts below are the specification.

Layouts (``||`` is concatenation; keys are uncompressed SEC 1 points, 65 bytes; nonces and openings
32 bytes; ``origin`` is its UTF-8 bytes and the only variable-length part of each input; ``code`` is
the six ASCII digits):

* commitment      = SHA-256(pk_A || n_A)
* transcript      = origin || pk_P || pk_A || n_P || n_A
* code            = (first 20 bits of SHA-256("compagnon-sas-v1" || transcript)) mod 10^6, 6 digits
* code commitment = SHA-256("compagnon-code-v1" || origin || pk_P || pk_A || n_P || code || r_P)
* K               = HKDF-SHA256(ECDH(sk, pk_other), salt = n_P || n_A, info = "compagnon-pairing-v1" || origin, 32)
* confirmations:    HMAC(K, "page-confirm" || transcript || code), HMAC(K, "agent-confirm" || transcript || code)
* connection:       HMAC(K, "agent" || origin || n_P' || n_A'), HMAC(K, "page" || origin || n_P' || n_A')
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
    "CODE_DIGITS", "KEY_BYTES", "NONCE_BYTES", "EphemeralKey", "agent_confirmation", "agent_proof", "code_commitment",
    "commitment", "derive_key", "new_nonce", "normalize_code", "page_confirmation", "page_proof", "sas", "transcript",
    "valid_public_key",
]

NONCE_BYTES = 32
#: An uncompressed P-256 point (SEC 1 section 2.3.3): 0x04 || X || Y.
KEY_BYTES = 65
SAS_LABEL = b"compagnon-sas-v1"
CODE_LABEL = b"compagnon-code-v1"
#: The pairing code: six decimal digits.
CODE_DIGITS = 6
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
    """The six digits the agent shows; the user types them in the page, which computes them too."""
    digest = hashlib.sha256(SAS_LABEL + transcript_bytes).digest()
    return f"{(int.from_bytes(digest[:3], 'big') >> 4) % 1_000_000:06d}"


def normalize_code(typed: str | None) -> str | None:
    """The six digits the user typed (spaces ignored), or None when it is not six digits."""
    code = "".join((typed or "").split())
    return code if len(code) == CODE_DIGITS and code.isascii() and code.isdigit() else None


def code_commitment(origin: str, page_key: bytes, agent_key: bytes, page_nonce: bytes, code: str,
                    opening: bytes) -> bytes:
    """The page's commitment to the code the user typed, sent before the agent reveals its nonce."""
    return hashlib.sha256(CODE_LABEL + origin.encode() + page_key + agent_key + page_nonce + code.encode()
                          + opening).digest()


def derive_key(shared: bytes, origin: str, page_nonce: bytes, agent_nonce: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=page_nonce + agent_nonce,
                info=KDF_LABEL + origin.encode()).derive(shared)


def _mac(key: bytes, *parts: bytes) -> bytes:
    return hmac.new(key, b"".join(parts), hashlib.sha256).digest()


def page_confirmation(key: bytes, transcript_bytes: bytes, code: str) -> bytes:
    """The page's proof of K, bound to the code the user typed."""
    return _mac(key, b"page-confirm", transcript_bytes, code.encode())


def agent_confirmation(key: bytes, transcript_bytes: bytes, code: str) -> bytes:
    """The agent's proof of K, bound to the code it showed."""
    return _mac(key, b"agent-confirm", transcript_bytes, code.encode())


def agent_proof(key: bytes, origin: str, page_nonce: bytes, agent_nonce: bytes) -> bytes:
    return _mac(key, b"agent", origin.encode(), page_nonce, agent_nonce)


def page_proof(key: bytes, origin: str, page_nonce: bytes, agent_nonce: bytes) -> bytes:
    return _mac(key, b"page", origin.encode(), page_nonce, agent_nonce)
