"""PKCS#12 files: the "certificat logiciel" many companies use (RFC 7292).

The file is read when the store is opened with its password; its certificates are listed once
unlocked. AES-256/PBKDF2 files and legacy 3DES/RC2 files both load (cryptography's loader).
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.serialization import pkcs12

from ..errors import ErrorCode, ReportedError
from ..secret import Secret
from ..trust import load_pem_certificates
from .base import HASHES, HashName, KeySession, KeyStore, SignScheme, StoredKey, WrapPadding, cert_label, stored_key_id

log = logging.getLogger(__name__)

#: Larger files are not PKCS#12 key files: refuse before reading them into memory.
MAX_P12_BYTES = 1024 * 1024
P12_SUFFIXES = (".p12", ".pfx")
#: A certificate published beside ``name.p12`` lets the file be listed before it is unlocked.
SIDECAR_SUFFIXES = (".crt", ".pem", ".cer")


def _load(path: Path, password: Secret | None) -> pkcs12.PKCS12KeyAndCertificates:
    try:
        if path.stat().st_size > MAX_P12_BYTES:
            raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE, "Fichier trop volumineux pour un certificat.",
                                                               "File too large for a certificate.")
        data = path.read_bytes()
    except OSError as exc:
        raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE) from exc
    secret = password.reveal().encode() if password is not None else None
    try:
        return pkcs12.load_pkcs12(data, secret)
    except ValueError:
        # cryptography says "Invalid password or PKCS12 data": tell them apart by trying no password.
        if secret is None:
            raise ReportedError(ErrorCode.PIN_REQUIRED) from None
        try:
            bundle = pkcs12.load_pkcs12(data, None)
        except ValueError:
            # An empty password that does not open the file is no password (PIN_REQUIRED).
            raise ReportedError(ErrorCode.PIN_REQUIRED if not secret else ErrorCode.PIN_INCORRECT) from None
        if not secret:
            return bundle  # a file without a password: the empty one the user gave is right
        raise ReportedError(ErrorCode.PIN_INCORRECT) from None


class Pkcs12FileStore(KeyStore):
    """One PKCS#12 file. ``keys()`` is empty until ``unlock``: the bags are encrypted."""

    kind = "pkcs12"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys: list[StoredKey] = []

    @property
    def identity(self) -> str:
        return f"pkcs12:{self.path.resolve()}"

    @property
    def label(self) -> str:
        return self.path.name

    def unlock(self, password: Secret | None) -> list[StoredKey]:
        """Read the certificates (needs the password for encrypted bags)."""
        bundle = _load(self.path, password)
        if bundle.key is None or bundle.cert is None:
            self._keys = []
            return []
        cert = bundle.cert.certificate
        extra = tuple(c.certificate for c in bundle.additional_certs)
        friendly = bundle.cert.friendly_name.decode(errors="replace") if bundle.cert.friendly_name else cert_label(cert)
        self._keys = [StoredKey(stored_key_id(self.identity, cert), cert, friendly, b"", extra)]
        return self._keys

    def keys(self) -> list[StoredKey]:
        """The unlocked certificate, or the one published beside the file (``name.crt``/``.pem``/``.cer``)."""
        if self._keys:
            return list(self._keys)
        for suffix in SIDECAR_SUFFIXES:
            sidecar = self.path.with_suffix(suffix)
            if sidecar.is_file():
                try:
                    cert = load_pem_certificates(sidecar)[0]
                except (ValueError, IndexError, OSError):
                    continue
                return [StoredKey(stored_key_id(self.identity, cert), cert, cert_label(cert), b"")]
        return []

    def open(self, pin: Secret | None) -> Pkcs12Session:
        bundle = _load(self.path, pin)
        if bundle.key is None or bundle.cert is None:
            raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE)
        if not self._keys:
            self.unlock(pin)
        return Pkcs12Session(self, bundle.key, bundle.cert.certificate)


class Pkcs12Session(KeySession):
    def __init__(self, store: Pkcs12FileStore, key: object, certificate: x509.Certificate) -> None:
        self.store = store
        self._key = key
        self._certificate = certificate

    def _check(self, key: StoredKey) -> None:
        if key.certificate != self._certificate:
            raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE)

    def sign_digest(self, key: StoredKey, digest: bytes, hash_name: HashName, scheme: SignScheme) -> bytes:
        self._check(key)
        algorithm = HASHES[hash_name]()
        prehashed = utils.Prehashed(algorithm)
        private = self._key
        if isinstance(private, ec.EllipticCurvePrivateKey) and scheme == "ecdsa":
            return private.sign(digest, ec.ECDSA(prehashed))
        if isinstance(private, rsa.RSAPrivateKey) and scheme == "pkcs1v15":
            return private.sign(digest, padding.PKCS1v15(), prehashed)
        if isinstance(private, rsa.RSAPrivateKey) and scheme == "pss":
            pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
            return private.sign(digest, pss, prehashed)
        raise ReportedError(ErrorCode.KEY_NOT_USABLE)

    def decrypt_key(self, key: StoredKey, wrapped: bytes, padding_name: WrapPadding, oaep_hash: str = "sha256") -> bytes:
        self._check(key)
        private = self._key
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ReportedError(ErrorCode.KEY_NOT_USABLE)
        if padding_name == "oaep":
            algorithm: hashes.HashAlgorithm = HASHES[oaep_hash]()
            pad: padding.AsymmetricPadding = padding.OAEP(mgf=padding.MGF1(algorithm), algorithm=algorithm, label=None)
        else:
            pad = padding.PKCS1v15()
        try:
            return private.decrypt(wrapped, pad)
        except ValueError:
            raise ReportedError(ErrorCode.KEY_NOT_USABLE) from None

    def close(self) -> None:
        self._key = None


def p12_files(folder: Path) -> list[Path]:
    """The PKCS#12 files directly in ``folder``."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in P12_SUFFIXES and p.is_file())
