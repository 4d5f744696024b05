"""The current user's Windows certificate store ("MY", Personal): keys kept by Windows.

Imported on Windows only (ctypes over crypt32, advapi32 and ncrypt).

* Listing: the certificates of ``CurrentUser\\MY`` that carry ``CERT_KEY_PROV_INFO_PROP_ID``, the
  property naming the provider and container of their private key (software keys, smart cards
  propagated by the certificate propagation service). Listing opens no key: no prompt.
* Which API holds the key is read from that property: ``dwProvType == 0`` names a CNG key storage
  provider (the software KSP, the smart-card KSP, a vendor's KSP), any other value a CryptoAPI
  provider (CSP). A CNG key is opened with ``NCryptOpenStorageProvider`` / ``NCryptOpenKey``
  (container name, legacy key spec, ``NCRYPT_MACHINE_KEY_FLAG`` for machine keys) and used with
  ``NCryptSignHash`` — ``BCRYPT_PKCS1_PADDING_INFO`` (RFC 8017 section 8.2),
  ``BCRYPT_PSS_PADDING_INFO`` (section 8.1, salt as long as the hash) or none for ECDSA (raw r||s,
  re-encoded as the DER ECDSA-Sig-Value of RFC 5753 section 7.2) — and ``NCryptDecrypt``
  (PKCS#1 v1.5, or OAEP with the envelope's hash). A CryptoAPI key is opened with
  ``CryptAcquireContextW`` and used with ``CryptCreateHash`` / ``CryptSetHashParam`` /
  ``CryptSignHash`` (RSA PKCS#1 v1.5) and ``CryptDecrypt`` (PKCS#1 v1.5, OAEP with SHA-1: all a
  CSP knows); CryptoAPI's integers are little-endian, reversed here. Microsoft's software RSA keys
  are opened through the "Enhanced RSA and AES" provider, the one of them that knows SHA-2. What a
  CSP cannot do (PSS, OAEP with SHA-2) goes through the CNG handle Windows gives for the same key
  (``CryptAcquireCertificatePrivateKey`` with ``CRYPT_ACQUIRE_ONLY_NCRYPT_KEY_FLAG``: the software
  KSP opens the software CSPs' keys).
* Signature and decryption buffers are sized from the certificate's public key, so each operation
  is one call: a smart card asks its PIN once.
* The PIN: no flag asks the providers to be silent, so a smart card's KSP or minidriver shows its
  own PIN window (Windows' "Sécurité Windows" dialog) when the card needs it; software keys ask
  nothing, or their protection password if the user chose "strong protection" when importing.
  ``needs_pin`` is therefore false and ``open`` takes no PIN; the agent's consent is asked before,
  in the agent's own window, as for every store. Provider failures map to the PKCS#11 codes
  (agent/keystores/windows_errors.py).

Kept as one module: the ctypes declarations, the CNG and CryptoAPI calls and the session that uses
them can only be exercised together, on Windows (tests/windows, under Wine); the error mapping,
which needs no Windows, is already apart (windows_errors.py).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
from ctypes import POINTER, Structure, byref, c_size_t, c_void_p, c_wchar_p, sizeof
from ctypes import wintypes as wt

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from ..errors import ErrorCode, ReportedError
from ..i18n import Text
from ..secret import Secret
from .base import HashName, KeySession, KeyStore, SignScheme, StoredKey, WrapPadding, cert_label, stored_key_id
from .windows_errors import NTE_NOT_SUPPORTED, store_error

log = logging.getLogger(__name__)

X509_ASN_ENCODING = 0x1
PKCS_7_ASN_ENCODING = 0x10000
CERT_STORE_PROV_SYSTEM_W = 10
CERT_SYSTEM_STORE_CURRENT_USER = 1 << 16
CERT_STORE_READONLY_FLAG = 0x8000
CERT_STORE_OPEN_EXISTING_FLAG = 0x4000
CERT_KEY_PROV_INFO_PROP_ID = 2
CERT_FRIENDLY_NAME_PROP_ID = 11
CERT_FIND_SHA1_HASH = 1 << 16
CRYPT_ACQUIRE_ONLY_NCRYPT_KEY_FLAG = 0x40000
NCRYPT_MACHINE_KEY_FLAG = 0x20
CERT_NCRYPT_KEY_SPEC = 0xFFFFFFFF
CRYPT_MACHINE_KEYSET = 0x20
CRYPT_OAEP = 0x40
HP_HASHVAL = 2
AT_KEYEXCHANGE = 1
AT_SIGNATURE = 2
PROV_RSA_FULL = 1
PROV_RSA_AES = 24
MS_ENH_RSA_AES_PROV = "Microsoft Enhanced RSA and AES Cryptographic Provider"
BCRYPT_PAD_PKCS1 = 0x2
BCRYPT_PAD_OAEP = 0x4
BCRYPT_PAD_PSS = 0x8

#: CryptoAPI hash algorithm identifiers (wincrypt.h ALG_ID).
CALG = {"sha1": 0x8004, "sha256": 0x800C, "sha384": 0x800D, "sha512": 0x800E}
#: CNG algorithm names (bcrypt.h BCRYPT_*_ALGORITHM).
CNG_HASH = {"sha1": "SHA1", "sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}
DIGEST_SIZE = {"sha1": 20, "sha256": 32, "sha384": 48, "sha512": 64}

STORE_TEXT = Text("Magasin Windows", "Windows store")
STORE_LABEL = STORE_TEXT.fr
STORE_IDENTITY = "windows:CurrentUser\\MY"


class CERT_CONTEXT(Structure):  # noqa: N801 (wincrypt.h name)
    _fields_ = [("dwCertEncodingType", wt.DWORD), ("pbCertEncoded", POINTER(ctypes.c_ubyte)),
                ("cbCertEncoded", wt.DWORD), ("pCertInfo", c_void_p), ("hCertStore", c_void_p)]


class CRYPT_KEY_PROV_INFO(Structure):  # noqa: N801
    _fields_ = [("pwszContainerName", c_wchar_p), ("pwszProvName", c_wchar_p), ("dwProvType", wt.DWORD),
                ("dwFlags", wt.DWORD), ("cProvParam", wt.DWORD), ("rgProvParam", c_void_p), ("dwKeySpec", wt.DWORD)]


class CRYPT_HASH_BLOB(Structure):  # noqa: N801
    _fields_ = [("cbData", wt.DWORD), ("pbData", c_void_p)]


class BCRYPT_PKCS1_PADDING_INFO(Structure):  # noqa: N801
    _fields_ = [("pszAlgId", c_wchar_p)]


class BCRYPT_PSS_PADDING_INFO(Structure):  # noqa: N801
    _fields_ = [("pszAlgId", c_wchar_p), ("cbSalt", wt.ULONG)]


class BCRYPT_OAEP_PADDING_INFO(Structure):  # noqa: N801
    _fields_ = [("pszAlgId", c_wchar_p), ("pbLabel", c_void_p), ("cbLabel", wt.ULONG)]


PCCERT_CONTEXT = POINTER(CERT_CONTEXT)


def _libraries() -> tuple[ctypes.WinDLL, ctypes.WinDLL, ctypes.WinDLL]:  # type: ignore[name-defined]
    crypt32 = ctypes.WinDLL("crypt32", use_last_error=True)  # type: ignore[attr-defined]
    advapi32 = ctypes.WinDLL("advapi32", use_last_error=True)  # type: ignore[attr-defined]
    ncrypt = ctypes.WinDLL("ncrypt", use_last_error=True)  # type: ignore[attr-defined]
    crypt32.CertOpenStore.restype = c_void_p
    crypt32.CertOpenStore.argtypes = [c_void_p, wt.DWORD, c_void_p, wt.DWORD, c_void_p]
    crypt32.CertCloseStore.argtypes = [c_void_p, wt.DWORD]
    crypt32.CertEnumCertificatesInStore.restype = PCCERT_CONTEXT
    crypt32.CertEnumCertificatesInStore.argtypes = [c_void_p, PCCERT_CONTEXT]
    crypt32.CertFindCertificateInStore.restype = PCCERT_CONTEXT
    crypt32.CertFindCertificateInStore.argtypes = [c_void_p, wt.DWORD, wt.DWORD, wt.DWORD, c_void_p, PCCERT_CONTEXT]
    crypt32.CertFreeCertificateContext.argtypes = [PCCERT_CONTEXT]
    crypt32.CertGetCertificateContextProperty.argtypes = [PCCERT_CONTEXT, wt.DWORD, c_void_p, POINTER(wt.DWORD)]
    crypt32.CryptAcquireCertificatePrivateKey.argtypes = [PCCERT_CONTEXT, wt.DWORD, c_void_p, POINTER(c_size_t),
                                                           POINTER(wt.DWORD), POINTER(wt.BOOL)]
    advapi32.CryptAcquireContextW.argtypes = [POINTER(c_size_t), c_wchar_p, c_wchar_p, wt.DWORD, wt.DWORD]
    advapi32.CryptReleaseContext.argtypes = [c_size_t, wt.DWORD]
    advapi32.CryptCreateHash.argtypes = [c_size_t, wt.DWORD, c_size_t, wt.DWORD, POINTER(c_size_t)]
    advapi32.CryptSetHashParam.argtypes = [c_size_t, wt.DWORD, c_void_p, wt.DWORD]
    advapi32.CryptSignHashW.argtypes = [c_size_t, wt.DWORD, c_wchar_p, wt.DWORD, c_void_p, POINTER(wt.DWORD)]
    advapi32.CryptDestroyHash.argtypes = [c_size_t]
    advapi32.CryptGetUserKey.argtypes = [c_size_t, wt.DWORD, POINTER(c_size_t)]
    advapi32.CryptDecrypt.argtypes = [c_size_t, c_size_t, wt.BOOL, wt.DWORD, c_void_p, POINTER(wt.DWORD)]
    advapi32.CryptDestroyKey.argtypes = [c_size_t]
    advapi32.CryptGenKey.argtypes = [c_size_t, wt.DWORD, wt.DWORD, POINTER(c_size_t)]
    advapi32.CryptExportKey.argtypes = [c_size_t, c_size_t, wt.DWORD, wt.DWORD, c_void_p, POINTER(wt.DWORD)]
    crypt32.CertAddEncodedCertificateToStore.argtypes = [c_void_p, wt.DWORD, c_void_p, wt.DWORD, wt.DWORD,
                                                         POINTER(PCCERT_CONTEXT)]
    crypt32.CertSetCertificateContextProperty.argtypes = [PCCERT_CONTEXT, wt.DWORD, wt.DWORD, c_void_p]
    crypt32.CertDeleteCertificateFromStore.argtypes = [PCCERT_CONTEXT]
    crypt32.CertDuplicateCertificateContext.restype = PCCERT_CONTEXT
    crypt32.CertDuplicateCertificateContext.argtypes = [PCCERT_CONTEXT]
    ncrypt.NCryptSignHash.restype = ctypes.c_long
    ncrypt.NCryptSignHash.argtypes = [c_size_t, c_void_p, c_void_p, wt.DWORD, c_void_p, wt.DWORD,
                                      POINTER(wt.DWORD), wt.DWORD]
    ncrypt.NCryptDecrypt.restype = ctypes.c_long
    ncrypt.NCryptDecrypt.argtypes = [c_size_t, c_void_p, wt.DWORD, c_void_p, c_void_p, wt.DWORD,
                                     POINTER(wt.DWORD), wt.DWORD]
    ncrypt.NCryptFreeObject.argtypes = [c_size_t]
    ncrypt.NCryptOpenStorageProvider.restype = ctypes.c_long
    ncrypt.NCryptOpenStorageProvider.argtypes = [POINTER(c_size_t), c_wchar_p, wt.DWORD]
    ncrypt.NCryptOpenKey.restype = ctypes.c_long
    ncrypt.NCryptOpenKey.argtypes = [c_size_t, POINTER(c_size_t), c_wchar_p, wt.DWORD, wt.DWORD]
    return crypt32, advapi32, ncrypt


_LIBS: tuple[ctypes.WinDLL, ctypes.WinDLL, ctypes.WinDLL] | None = None  # type: ignore[name-defined]


def _libs() -> tuple[ctypes.WinDLL, ctypes.WinDLL, ctypes.WinDLL]:  # type: ignore[name-defined]
    global _LIBS
    if _LIBS is None:
        _LIBS = _libraries()
    return _LIBS


class Win32CallError(OSError):
    """A failed Win32 call: its name and status (never shown to users as such: see ``store_error``)."""

    def __init__(self, call: str, status: int) -> None:
        self.status = status & 0xFFFFFFFF
        super().__init__(f"{call} failed: 0x{self.status:08x}")


def _check(ok: object, call: str) -> None:
    if not ok:
        raise Win32CallError(call, ctypes.get_last_error())  # type: ignore[attr-defined]  # typeshed: Windows only


def _check_status(status: int, call: str) -> None:
    """CNG calls return their ``SECURITY_STATUS`` (0 is success)."""
    if status != 0:
        raise Win32CallError(call, status)


def _open_system_store(name: str = "MY") -> int:
    crypt32, _, _ = _libs()
    flags = CERT_SYSTEM_STORE_CURRENT_USER | CERT_STORE_READONLY_FLAG | CERT_STORE_OPEN_EXISTING_FLAG
    handle = crypt32.CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, None, flags, c_wchar_p(name))
    _check(handle, "CertOpenStore")
    return int(handle)


def _store_certificates(name: str) -> list[x509.Certificate]:
    """Every readable certificate of the current user's system store ``name`` ("CA": intermediates)."""
    crypt32, _, _ = _libs()
    try:
        store = _open_system_store(name)
    except Win32CallError:
        return []
    found = []
    try:
        context = crypt32.CertEnumCertificatesInStore(store, None)
        while context:
            try:
                found.append(x509.load_der_x509_certificate(_der(context)))
            except ValueError:
                pass
            context = crypt32.CertEnumCertificatesInStore(store, context)
    finally:
        crypt32.CertCloseStore(store, 0)
    return found


def _issuers(cert: x509.Certificate, authorities: list[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    """The intermediate authorities above ``cert`` found in the user's "CA" store (as the PKCS#12
    bags give them for a file): each issuer's signature is checked, roots are left to trust anchors."""
    chain: list[x509.Certificate] = []
    current = cert
    for _ in range(8):
        issuer = next((a for a in authorities if a.subject == current.issuer and a.subject != a.issuer
                       and a not in chain and _issued_by(current, a)), None)
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return tuple(chain)


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _property(context: object, prop_id: int) -> bytes | None:
    crypt32, _, _ = _libs()
    size = wt.DWORD(0)
    if not crypt32.CertGetCertificateContextProperty(context, prop_id, None, byref(size)):
        return None
    buffer = ctypes.create_string_buffer(size.value)
    if not crypt32.CertGetCertificateContextProperty(context, prop_id, buffer, byref(size)):
        return None
    return buffer.raw[:size.value]


def _prov_info(context: object) -> CRYPT_KEY_PROV_INFO | None:
    crypt32, _, _ = _libs()
    size = wt.DWORD(0)
    if not crypt32.CertGetCertificateContextProperty(context, CERT_KEY_PROV_INFO_PROP_ID, None, byref(size)):
        return None
    buffer = ctypes.create_string_buffer(size.value)
    _check(crypt32.CertGetCertificateContextProperty(context, CERT_KEY_PROV_INFO_PROP_ID, buffer, byref(size)),
           "CertGetCertificateContextProperty")
    info = CRYPT_KEY_PROV_INFO.from_buffer_copy(buffer.raw[:sizeof(CRYPT_KEY_PROV_INFO)])
    # The strings point into ``buffer``: keep it alive with the structure.
    info._buffer = buffer
    return info


def _der(context: ctypes._Pointer) -> bytes:  # type: ignore[type-arg]
    cert = context.contents
    return ctypes.string_at(cert.pbCertEncoded, cert.cbCertEncoded)


def _ecdsa_der(raw: bytes) -> bytes:
    """CNG's r||s as the DER ECDSA-Sig-Value (RFC 5753 section 7.2)."""
    half = len(raw) // 2
    return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))


def _key_specs(declared: int) -> tuple[int, ...]:
    """The CryptoAPI key specs to try: the declared one (AT_KEYEXCHANGE 1, AT_SIGNATURE 2), else both
    (keys imported from PKCS#12 files are AT_KEYEXCHANGE; some importers record another value)."""
    return (declared,) if declared in (AT_KEYEXCHANGE, AT_SIGNATURE) else (AT_KEYEXCHANGE, AT_SIGNATURE)


class WindowsMyStore(KeyStore):
    """``CurrentUser\\MY``: the certificates with a private key Windows knows of."""

    kind = "windows"

    @property
    def identity(self) -> str:
        return STORE_IDENTITY

    @property
    def label(self) -> str:
        return STORE_LABEL

    def display_label(self, locale: str = "fr") -> str:
        return STORE_TEXT.render(locale)

    @property
    def needs_pin(self) -> bool:
        return False

    def keys(self) -> list[StoredKey]:
        crypt32, _, _ = _libs()
        authorities = _store_certificates("CA")
        try:
            store = _open_system_store()
        except Win32CallError as exc:
            log.warning("Windows store not readable: %s", exc)
            return []
        found: list[StoredKey] = []
        try:
            context = crypt32.CertEnumCertificatesInStore(store, None)
            while context:
                if _prov_info(context) is not None:
                    der = _der(context)
                    try:
                        cert = x509.load_der_x509_certificate(der)
                    except ValueError:
                        cert = None
                    if cert is not None:
                        friendly = _property(context, CERT_FRIENDLY_NAME_PROP_ID)
                        label = friendly.decode("utf-16-le").rstrip("\0") if friendly else ""
                        found.append(StoredKey(stored_key_id(self.identity, cert), cert, label or cert_label(cert),
                                               hashlib.sha1(der).digest(),  # noqa: S324 (the store's thumbprint)
                                               _issuers(cert, authorities)))
                context = crypt32.CertEnumCertificatesInStore(store, context)
        finally:
            crypt32.CertCloseStore(store, 0)
        return found

    def open(self, pin: Secret | None) -> WindowsStoreSession:
        return WindowsStoreSession(self)


def signature_size(certificate: x509.Certificate) -> int:
    """The length of a raw signature by the key of ``certificate``: the RSA modulus, or ECDSA's r||s."""
    public = certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        return (public.key_size + 7) // 8
    if isinstance(public, ec.EllipticCurvePublicKey):
        return 2 * ((public.curve.key_size + 7) // 8)
    raise ReportedError(ErrorCode.KEY_NOT_USABLE)


def cng_sign(handle: int, digest: bytes, hash_name: str, scheme: SignScheme, size: int) -> bytes:
    """``NCryptSignHash`` over ``digest`` with an open CNG key (one call, ``size`` bytes of room)."""
    _, _, ncrypt = _libs()
    padding: Structure | None
    if scheme == "pkcs1v15":
        padding, flags = BCRYPT_PKCS1_PADDING_INFO(CNG_HASH[hash_name]), BCRYPT_PAD_PKCS1
    elif scheme == "pss":
        padding, flags = BCRYPT_PSS_PADDING_INFO(CNG_HASH[hash_name], DIGEST_SIZE[hash_name]), BCRYPT_PAD_PSS
    else:
        padding, flags = None, 0
    data = ctypes.create_string_buffer(digest, len(digest))
    out = ctypes.create_string_buffer(size)
    written = wt.DWORD(0)
    _check_status(ncrypt.NCryptSignHash(handle, byref(padding) if padding is not None else None, data, len(digest),
                                        out, size, byref(written), flags), "NCryptSignHash")
    raw = out.raw[:written.value]
    return _ecdsa_der(raw) if scheme == "ecdsa" else raw


def cng_decrypt(handle: int, wrapped: bytes, padding: WrapPadding, oaep_hash: str) -> bytes:
    """``NCryptDecrypt`` of an RSA-wrapped key with an open CNG key (PKCS#1 v1.5 or OAEP)."""
    _, _, ncrypt = _libs()
    info: Structure | None
    if padding == "oaep":
        if oaep_hash not in CNG_HASH:
            raise ReportedError(ErrorCode.KEY_NOT_USABLE)
        info, flags = BCRYPT_OAEP_PADDING_INFO(CNG_HASH[oaep_hash], None, 0), BCRYPT_PAD_OAEP
    else:
        info, flags = None, BCRYPT_PAD_PKCS1
    data = ctypes.create_string_buffer(wrapped, len(wrapped))
    out = ctypes.create_string_buffer(len(wrapped))
    written = wt.DWORD(0)
    _check_status(ncrypt.NCryptDecrypt(handle, data, len(wrapped), byref(info) if info is not None else None, out,
                                       len(wrapped), byref(written), flags), "NCryptDecrypt")
    return out.raw[:written.value]


def open_cng_key(provider: str, container: str, key_spec: int = 0, machine: bool = False) -> int:
    """``NCryptOpenKey`` of a KSP's persisted key; the caller frees the handle (``NCryptFreeObject``)."""
    _, _, ncrypt = _libs()
    prov, key = c_size_t(0), c_size_t(0)
    _check_status(ncrypt.NCryptOpenStorageProvider(byref(prov), provider, 0), "NCryptOpenStorageProvider")
    try:
        _check_status(ncrypt.NCryptOpenKey(prov.value, byref(key), container, key_spec,
                                           NCRYPT_MACHINE_KEY_FLAG if machine else 0), "NCryptOpenKey")
    finally:
        ncrypt.NCryptFreeObject(prov.value)
    return key.value


def capi_sign(prov: int, key_spec: int, digest: bytes, hash_name: str, size: int) -> bytes:
    """``CryptSignHash`` (RSA PKCS#1 v1.5, RFC 8017 section 8.2) of ``digest`` with the key of an
    acquired CSP context; the signature comes back little-endian and is reversed."""
    _, advapi32, _ = _libs()
    hash_handle = c_size_t(0)
    try:
        _check(advapi32.CryptCreateHash(prov, CALG[hash_name], 0, 0, byref(hash_handle)), "CryptCreateHash")
        data = ctypes.create_string_buffer(digest, len(digest))
        _check(advapi32.CryptSetHashParam(hash_handle.value, HP_HASHVAL, data, 0), "CryptSetHashParam")
        status = 0
        for spec in _key_specs(key_spec):
            out = ctypes.create_string_buffer(size)
            written = wt.DWORD(size)
            if advapi32.CryptSignHashW(hash_handle.value, spec, None, 0, out, byref(written)):
                return out.raw[:written.value][::-1]
            status = ctypes.get_last_error()  # type: ignore[attr-defined]  # typeshed: Windows only
        raise Win32CallError("CryptSignHashW", status)
    finally:
        if hash_handle.value:
            advapi32.CryptDestroyHash(hash_handle.value)


class WindowsStoreSession(KeySession):
    """Keys of ``CurrentUser\\MY``, opened once per session (a batch signs many files with one key)."""

    def __init__(self, store: WindowsMyStore) -> None:
        self.store = store
        self._handle = _open_system_store()
        #: Open CNG key handles by certificate thumbprint, freed on close.
        self._cng: dict[bytes, int] = {}

    def _context(self, key: StoredKey) -> ctypes._Pointer:  # type: ignore[type-arg]
        crypt32, _, _ = _libs()
        thumbprint = ctypes.create_string_buffer(key.handle, len(key.handle))
        blob = CRYPT_HASH_BLOB(len(key.handle), ctypes.cast(thumbprint, c_void_p))
        context = crypt32.CertFindCertificateInStore(self._handle, X509_ASN_ENCODING | PKCS_7_ASN_ENCODING, 0,
                                                     CERT_FIND_SHA1_HASH, byref(blob), None)
        if not context:
            raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE)
        return context

    def _provider_info(self, context: object) -> CRYPT_KEY_PROV_INFO:
        info = _prov_info(context)
        if info is None:
            raise ReportedError(ErrorCode.NO_SUCH_CERTIFICATE)
        return info

    def _cng_key(self, key: StoredKey, context: object, info: CRYPT_KEY_PROV_INFO) -> int:
        """The CNG handle of a KSP key (``dwProvType == 0``), opened from its provider information."""
        handle = self._cng.get(key.handle)
        if handle is None:
            legacy_spec = info.dwKeySpec if info.dwKeySpec in (AT_KEYEXCHANGE, AT_SIGNATURE) else 0
            handle = open_cng_key(info.pwszProvName or "", info.pwszContainerName or "", legacy_spec,
                                  bool(info.dwFlags & CRYPT_MACHINE_KEYSET))
            self._cng[key.handle] = handle
        return handle

    def _cng_of_legacy(self, key: StoredKey, context: object) -> int:
        """The CNG handle Windows gives for a CryptoAPI key (what a CSP cannot do: PSS, OAEP with SHA-2)."""
        handle = self._cng.get(key.handle)
        if handle is None:
            crypt32, advapi32, _ = _libs()
            raw, spec, free = c_size_t(0), wt.DWORD(0), wt.BOOL(False)
            _check(crypt32.CryptAcquireCertificatePrivateKey(context, CRYPT_ACQUIRE_ONLY_NCRYPT_KEY_FLAG, None,
                                                             byref(raw), byref(spec), byref(free)),
                   "CryptAcquireCertificatePrivateKey")
            if spec.value != CERT_NCRYPT_KEY_SPEC:
                if free.value:
                    advapi32.CryptReleaseContext(raw.value, 0)
                raise Win32CallError("CryptAcquireCertificatePrivateKey", NTE_NOT_SUPPORTED)
            if not free.value:
                # The certificate owns this handle: it stays valid while the context does; not cached.
                return raw.value
            handle = self._cng[key.handle] = raw.value
        return handle

    def sign_digest(self, key: StoredKey, digest: bytes, hash_name: HashName, scheme: SignScheme) -> bytes:
        if hash_name not in CALG or len(digest) != DIGEST_SIZE[hash_name]:
            raise ReportedError(ErrorCode.KEY_NOT_USABLE)
        crypt32, _, _ = _libs()
        context = self._context(key)
        try:
            info = self._provider_info(context)
            size = signature_size(key.certificate)
            if info.dwProvType == 0:
                return cng_sign(self._cng_key(key, context, info), digest, hash_name, scheme, size)
            if scheme == "pkcs1v15":
                return self._sign_capi(info, digest, hash_name, size)
            return cng_sign(self._cng_of_legacy(key, context), digest, hash_name, scheme, size)
        except Win32CallError as exc:
            log.warning("Windows store signature failed: %s", exc)
            raise store_error(exc.status) from None
        finally:
            crypt32.CertFreeCertificateContext(context)

    @staticmethod
    def _acquire_capi(info: CRYPT_KEY_PROV_INFO) -> int:
        """The key's CryptoAPI provider, from ``CERT_KEY_PROV_INFO_PROP_ID``."""
        _, advapi32, _ = _libs()
        provider, prov_type = info.pwszProvName, info.dwProvType
        if prov_type in (PROV_RSA_FULL, PROV_RSA_AES) and (provider or "").startswith("Microsoft"):
            provider, prov_type = MS_ENH_RSA_AES_PROV, PROV_RSA_AES
        prov = c_size_t(0)
        _check(advapi32.CryptAcquireContextW(byref(prov), info.pwszContainerName, provider, prov_type,
                                             info.dwFlags & CRYPT_MACHINE_KEYSET), "CryptAcquireContextW")
        return prov.value

    @staticmethod
    def _sign_capi(info: CRYPT_KEY_PROV_INFO, digest: bytes, hash_name: HashName, size: int) -> bytes:
        """``CryptSignHash`` (RSA PKCS#1 v1.5) of ``digest`` with the CSP key ``info`` names."""
        _, advapi32, _ = _libs()
        prov = WindowsStoreSession._acquire_capi(info)
        try:
            return capi_sign(prov, info.dwKeySpec, digest, hash_name, size)
        finally:
            advapi32.CryptReleaseContext(prov, 0)

    def decrypt_key(self, key: StoredKey, wrapped: bytes, padding: WrapPadding, oaep_hash: str = "sha256") -> bytes:
        crypt32, _, _ = _libs()
        context = self._context(key)
        try:
            info = self._provider_info(context)
            if info.dwProvType == 0:
                return cng_decrypt(self._cng_key(key, context, info), wrapped, padding, oaep_hash)
            if padding == "pkcs1v15" or oaep_hash == "sha1":
                return self._decrypt_capi(info, wrapped, padding)
            return cng_decrypt(self._cng_of_legacy(key, context), wrapped, padding, oaep_hash)
        except Win32CallError as exc:
            log.info("Windows store decryption failed: %s", exc)
            raise store_error(exc.status) from None
        finally:
            crypt32.CertFreeCertificateContext(context)

    def _decrypt_capi(self, info: CRYPT_KEY_PROV_INFO, wrapped: bytes, padding: WrapPadding) -> bytes:
        _, advapi32, _ = _libs()
        prov = self._acquire_capi(info)
        key_handle = c_size_t(0)
        try:
            _check(any(advapi32.CryptGetUserKey(prov, spec, byref(key_handle)) for spec in _key_specs(info.dwKeySpec)),
                   "CryptGetUserKey")
            data = ctypes.create_string_buffer(wrapped[::-1], len(wrapped))
            size = wt.DWORD(len(wrapped))
            _check(advapi32.CryptDecrypt(key_handle.value, 0, True, CRYPT_OAEP if padding == "oaep" else 0, data,
                                         byref(size)), "CryptDecrypt")
            return data.raw[:size.value]
        finally:
            if key_handle.value:
                advapi32.CryptDestroyKey(key_handle.value)
            advapi32.CryptReleaseContext(prov, 0)

    def close(self) -> None:
        crypt32, _, ncrypt = _libs()
        for handle in self._cng.values():
            ncrypt.NCryptFreeObject(handle)
        self._cng.clear()
        if self._handle:
            crypt32.CertCloseStore(self._handle, 0)
            self._handle = 0
