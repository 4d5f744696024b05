"""PKCS#11 tokens (smart cards, USB tokens, SoftHSM) through python-pkcs11.

* One ``Pkcs11Module`` per middleware library. Listing tokens re-initialises the library when no
  session is open, so tokens inserted or removed while the agent runs are seen (some middleware,
  SoftHSM among them, only rescan slots in ``C_Initialize``).
* Signing takes a digest: RSA PKCS#1 v1.5 through ``CKM_RSA_PKCS`` over the DigestInfo
  (RFC 8017 section 9.2), RSA-PSS through ``CKM_RSA_PKCS_PSS``, ECDSA through ``CKM_ECDSA`` on the
  hash (tokens such as SoftHSM 2.6 have no ``CKM_ECDSA_SHA256``).
* PINs: ``PIN_INCORRECT`` reports what the token's flags say about the tries left
  (``CKF_USER_PIN_COUNT_LOW``, ``CKF_USER_PIN_FINAL_TRY``); nothing here retries a login (a
  second try is the user's, asked by agent.kinds.pin).
  Tokens with a protected authentication path (PIN pad) log in without a PIN from us.
* Any failure while a token is in use is checked against the slot list: a vanished token is
  ``TOKEN_REMOVED``, and the module is re-initialised for the next caller.

python-pkcs11 calls block: callers run them in a worker thread.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pkcs11
from cryptography import x509
from pkcs11 import Attribute, CertificateType, KeyType, Mechanism, ObjectClass, TokenFlag
from pkcs11 import exceptions as p11e
from pkcs11.util.ec import encode_ecdsa_signature

from ..errors import ErrorCode, ReportedError
from ..secret import Secret, is_blank
from .base import HashName, KeySession, KeyStore, SignScheme, StoredKey, WrapPadding, cert_label, stored_key_id

log = logging.getLogger(__name__)

#: DER DigestInfo prefixes (RFC 8017 section 9.2, note 1).
DIGEST_INFO_PREFIX: dict[str, bytes] = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_HASH_MECH = {"sha1": Mechanism.SHA_1, "sha256": Mechanism.SHA256, "sha384": Mechanism.SHA384, "sha512": Mechanism.SHA512}
_MGF = {"sha1": pkcs11.MGF.SHA1, "sha256": pkcs11.MGF.SHA256, "sha384": pkcs11.MGF.SHA384, "sha512": pkcs11.MGF.SHA512}
_DIGEST_SIZE = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}

#: Errors that mean "the token may be gone": checked against the slot list.
_DEVICE_ERRORS = (
    p11e.TokenNotPresent, p11e.DeviceRemoved, p11e.DeviceError, p11e.SessionHandleInvalid,
    p11e.SessionClosed, p11e.ObjectHandleInvalid, p11e.KeyHandleInvalid, p11e.GeneralError,
    p11e.NoSuchToken, p11e.SlotIDInvalid,
)


class Pkcs11Module:
    """A loaded PKCS#11 library and the tokens present in its slots."""

    _loaded: dict[str, Any] = {}
    _load_lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path
        with self._load_lock:
            lib = self._loaded.get(str(path))
            if lib is None:
                lib = pkcs11.lib(str(path))
                self._loaded[str(path)] = lib
        self.lib = lib
        self.lock = threading.RLock()
        self.open_sessions = 0

    def refresh(self) -> None:
        """Re-initialise the library (new and removed tokens) unless a session is in use."""
        with self.lock:
            if self.open_sessions == 0:
                try:
                    self.lib.reinitialize()
                except p11e.PKCS11Error as exc:
                    log.warning("cannot re-initialise %s: %s", self.path.name, exc)

    def tokens(self) -> list[Pkcs11TokenStore]:
        """The initialised tokens present now."""
        self.refresh()
        stores = []
        with self.lock:
            try:
                slots = self.lib.get_slots(token_present=True)
            except p11e.PKCS11Error as exc:
                log.warning("cannot list the slots of %s: %s", self.path.name, exc)
                return []
            for slot in slots:
                try:
                    token = slot.get_token()
                except p11e.PKCS11Error:
                    continue
                if TokenFlag.TOKEN_INITIALIZED in token.flags:
                    stores.append(Pkcs11TokenStore(self, token))
        return stores

    def token_present(self, serial: bytes, label: str) -> bool:
        """Whether the token is in a slot now. Re-initialising would close other sessions, so it
        is done only when none is open; a failing slot list counts as "absent"."""
        self.refresh()
        with self.lock:
            try:
                return any(
                    (t := s.get_token()).serial == serial and t.label == label
                    for s in self.lib.get_slots(token_present=True)
                )
            except p11e.PKCS11Error:
                return False

    def find_token(self, serial: bytes, label: str) -> Any:
        with self.lock:
            for slot in self.lib.get_slots(token_present=True):
                token = slot.get_token()
                if token.serial == serial and token.label == label:
                    return token
        raise ReportedError(ErrorCode.TOKEN_REMOVED)


def _token_error(module: Pkcs11Module, serial: bytes, label: str, exc: Exception) -> ReportedError:
    """Translate a PKCS#11 failure during use: TOKEN_REMOVED if the token is gone."""
    if isinstance(exc, _DEVICE_ERRORS) and not module.token_present(serial, label):
        log.info("token %r removed during an operation", label)
        return ReportedError(ErrorCode.TOKEN_REMOVED)
    log.warning("token %r: %s", label, type(exc).__name__)
    return ReportedError(ErrorCode.KEY_NOT_USABLE)


class Pkcs11TokenStore(KeyStore):
    kind = "pkcs11"

    def __init__(self, module: Pkcs11Module, token: Any) -> None:
        self.module = module
        self.token = token
        self.serial: bytes = token.serial
        self.token_label: str = token.label

    @property
    def identity(self) -> str:
        return f"pkcs11:{self.module.path}:{self.serial.hex()}:{self.token_label}"

    @property
    def label(self) -> str:
        return f"{self.token_label} ({self.module.path.name})"

    @property
    def needs_pin(self) -> bool:
        return TokenFlag.PROTECTED_AUTHENTICATION_PATH not in self.token.flags

    def pin_status(self) -> dict[str, Any]:
        """What the token says about its user PIN (no login needed)."""
        flags = self.module.find_token(self.serial, self.token_label).flags
        return {
            "count_low": TokenFlag.USER_PIN_COUNT_LOW in flags,
            "final_try": TokenFlag.USER_PIN_FINAL_TRY in flags,
            "locked": TokenFlag.USER_PIN_LOCKED in flags,
        }

    def keys(self) -> list[StoredKey]:
        """Certificates on the token with a CKA_ID (the key pair's link); CA certificates are chain material."""
        with self.module.lock:
            try:
                with self.module.find_token(self.serial, self.token_label).open() as session:
                    certs = []
                    for obj in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE,
                                                    Attribute.CERTIFICATE_TYPE: CertificateType.X_509}):
                        try:
                            cert = x509.load_der_x509_certificate(bytes(obj[Attribute.VALUE]))
                        except ValueError:
                            continue
                        certs.append((cert, bytes(obj[Attribute.ID] or b""), str(obj[Attribute.LABEL] or "")))
            except (p11e.PKCS11Error, ReportedError) as exc:
                log.info("cannot read token %r: %s", self.token_label, type(exc).__name__)
                return []
        cas = tuple(c for c, _, _ in certs if _is_ca(c))
        return [
            StoredKey(stored_key_id(self.identity, cert), cert, label or cert_label(cert), key_id, cas)
            for cert, key_id, label in certs
            if key_id and not _is_ca(cert)
        ]

    def open(self, pin: Secret | None) -> Pkcs11Session:
        if self.needs_pin and is_blank(pin):
            # An empty PIN is no PIN: refused before the token sees it (no try spent).
            raise ReportedError(ErrorCode.PIN_REQUIRED)
        with self.module.lock:
            try:
                token = self.module.find_token(self.serial, self.token_label)
                user_pin = pkcs11.PROTECTED_AUTH if not self.needs_pin else pin.reveal()  # type: ignore[union-attr]
                session = token.open(user_pin=user_pin)
            except (p11e.PinIncorrect, p11e.PinInvalid, p11e.PinLenRange):
                status = self.pin_status()
                detail: dict[str, Any] = {"count_low": status["count_low"]}
                if status["final_try"]:
                    detail["tries_left"] = 1
                if status["locked"]:
                    raise ReportedError(ErrorCode.PIN_LOCKED) from None
                log.info("wrong PIN for token %r (count low: %s)", self.token_label, status["count_low"])
                raise ReportedError(ErrorCode.PIN_INCORRECT, **detail) from None
            except p11e.PinLocked:
                raise ReportedError(ErrorCode.PIN_LOCKED) from None
            except ReportedError:
                raise
            except p11e.PKCS11Error as exc:
                raise _token_error(self.module, self.serial, self.token_label, exc) from None
            self.module.open_sessions += 1
        return Pkcs11Session(self, session)


class Pkcs11Session(KeySession):
    def __init__(self, store: Pkcs11TokenStore, session: Any) -> None:
        self.store = store
        self.session = session
        self._closed = False
        self._handles: dict[bytes, Any] = {}

    def _private_key(self, key: StoredKey) -> Any:
        """The key object, looked up once per session (a batch signs many files with it)."""
        handle = self._handles.get(key.handle)
        if handle is not None:
            return handle
        try:
            handle = self.session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key.handle)
        except (p11e.NoSuchKey, p11e.MultipleObjectsReturned):
            store = self.store
            if not store.module.token_present(store.serial, store.token_label):
                raise ReportedError(ErrorCode.TOKEN_REMOVED) from None
            raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE) from None
        self._handles[key.handle] = handle
        return handle

    def _run(self, operation: Any) -> bytes:
        store = self.store
        with store.module.lock:
            try:
                return operation()
            except ReportedError:
                raise
            except p11e.PKCS11Error as exc:
                raise _token_error(store.module, store.serial, store.token_label, exc) from None

    def sign_digest(self, key: StoredKey, digest: bytes, hash_name: HashName, scheme: SignScheme) -> bytes:
        if len(digest) != _DIGEST_SIZE[hash_name]:
            raise ValueError("digest length does not match the hash")

        def operation() -> bytes:
            private = self._private_key(key)
            if private.key_type == KeyType.EC:
                if scheme != "ecdsa":
                    raise ReportedError(ErrorCode.KEY_NOT_USABLE)
                return encode_ecdsa_signature(private.sign(digest, mechanism=Mechanism.ECDSA))
            if scheme == "pkcs1v15":
                return private.sign(DIGEST_INFO_PREFIX[hash_name] + digest, mechanism=Mechanism.RSA_PKCS)
            if scheme == "pss":
                param = (_HASH_MECH[hash_name], _MGF[hash_name], _DIGEST_SIZE[hash_name])
                return private.sign(digest, mechanism=Mechanism.RSA_PKCS_PSS, mechanism_param=param)
            raise ReportedError(ErrorCode.KEY_NOT_USABLE)

        return self._run(operation)

    def decrypt_key(self, key: StoredKey, wrapped: bytes, padding: WrapPadding, oaep_hash: str = "sha256") -> bytes:
        def operation() -> bytes:
            private = self._private_key(key)
            if private.key_type != KeyType.RSA:
                raise ReportedError(ErrorCode.KEY_NOT_USABLE)
            try:
                if padding == "oaep":
                    param = (_HASH_MECH[oaep_hash], _MGF[oaep_hash], None)
                    return bytes(private.decrypt(wrapped, mechanism=Mechanism.RSA_PKCS_OAEP, mechanism_param=param))
                return bytes(private.decrypt(wrapped, mechanism=Mechanism.RSA_PKCS))
            except (p11e.EncryptedDataInvalid, p11e.EncryptedDataLenRange, p11e.DataInvalid, p11e.DataLenRange):
                raise ReportedError(ErrorCode.KEY_NOT_USABLE) from None

        return self._run(operation)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self.store.module.lock:
            self.store.module.open_sessions -= 1
            try:
                self.session.close()
            except p11e.PKCS11Error:
                pass


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False

