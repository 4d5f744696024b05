"""One interface over every place a private key can live.

A ``KeyStore`` lists the certificates it holds a private key for; ``open(pin)`` gives a
``KeySession`` that signs digests and unwraps content-encryption keys. The private key never
leaves the store object: callers get signatures and unwrapped keys, never key material.

Signature schemes (RFC 8017 section 8.2 RSASSA-PKCS1-v1_5, section 8.1 RSASSA-PSS; ANSI X9.62
ECDSA) all take a digest computed by the caller, so engines hash large files in chunks and the
store only sees 32 to 64 bytes. ECDSA signatures are returned DER-encoded (ECDSA-Sig-Value), as
CMS (RFC 5753) and XML-DSig callers convert as they need.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ..secret import Secret

__all__ = ["KeySession", "KeyStore", "StoredKey", "cert_label", "certificate_sha256", "name_label", "stored_key_id"]

Purpose = Literal["signing", "decryption"]
SignScheme = Literal["pkcs1v15", "pss", "ecdsa"]
HashName = Literal["sha256", "sha384", "sha512"]
WrapPadding = Literal["pkcs1v15", "oaep"]

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def certificate_sha256(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class StoredKey:
    """A certificate whose private key this store holds.

    ``id`` is opaque and stable: SHA-256 of the store's identity and the certificate, so a page
    can name a certificate again without learning anything about the workstation.
    """

    id: str
    certificate: x509.Certificate
    label: str
    #: Store-specific locator of the private key (token object id, file path, …).
    handle: bytes
    #: CA certificates found beside it (PKCS#12 bags, token objects): chain building material.
    extra_certificates: tuple[x509.Certificate, ...] = ()

    @property
    def sha256(self) -> str:
        return certificate_sha256(self.certificate)


def cert_label(cert: x509.Certificate) -> str:
    """The holder's common name (what users recognise a certificate by)."""
    return name_label(cert.subject)


def name_label(name: x509.Name) -> str:
    """A distinguished name's common name, else its RFC 4514 string."""
    names = name.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else name.rfc4514_string()


def stored_key_id(store_identity: str, certificate: x509.Certificate) -> str:
    return hashlib.sha256(f"{store_identity}\0{certificate_sha256(certificate)}".encode()).hexdigest()[:32]


class KeySession(ABC):
    """An unlocked store: sign and decrypt until closed."""

    @abstractmethod
    def sign_digest(self, key: StoredKey, digest: bytes, hash_name: HashName, scheme: SignScheme) -> bytes:
        """Sign ``digest`` (already hashed with ``hash_name``)."""

    @abstractmethod
    def decrypt_key(self, key: StoredKey, wrapped: bytes, padding: WrapPadding, oaep_hash: str = "sha256") -> bytes:
        """Unwrap an RSA-encrypted content-encryption key (RFC 5652 section 6.2.1 KeyTransRecipientInfo).

        Any padding failure raises the same KEY_NOT_USABLE error, with no detail (no oracle).
        """

    def close(self) -> None:  # noqa: B027 (optional: a session holding nothing has nothing to release)
        """Log out and release the store."""

    def __enter__(self) -> KeySession:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()


class KeyStore(ABC):
    """A token, a PKCS#12 file or an OS store."""

    kind: Literal["pkcs11", "pkcs12", "windows", "macos"]

    @property
    @abstractmethod
    def identity(self) -> str:
        """Stable identity (module + token serial, file path, …) for key ids."""

    @property
    @abstractmethod
    def label(self) -> str:
        """What the user recognises: the token label, the file name, the store name."""

    def display_label(self, locale: str = "fr") -> str:
        """``label`` as shown in ``locale``: a store named by the agent (the Windows store) is named
        in the reader's language; a token label or a file name is shown as it is."""
        return self.label

    @property
    def needs_pin(self) -> bool:
        """Whether ``open`` needs a PIN or password (false with a PIN pad or an OS prompt)."""
        return True

    @abstractmethod
    def keys(self) -> list[StoredKey]:
        """The certificates this store holds a private key for."""

    @abstractmethod
    def open(self, pin: Secret | None) -> KeySession:
        """Log in; raises PIN_INCORRECT, PIN_LOCKED, PIN_REQUIRED or TOKEN_REMOVED."""

    def find(self, key_id: str) -> StoredKey | None:
        return next((k for k in self.keys() if k.id == key_id), None)
