"""Encryption key pairs ("bi-clés") generated into the current user's Windows certificate store.

Windows only (ctypes over advapi32 and crypt32, through ``windows_store``). The key is made by the
Microsoft Enhanced RSA and AES cryptographic provider (``PROV_RSA_AES``) in a new key container
of the user (``CryptAcquireContextW`` with ``CRYPT_NEWKEYSET``, ``CryptGenKey`` with
``AT_KEYEXCHANGE`` and *without* ``CRYPT_EXPORTABLE``): Windows keeps it in the user's profile,
protected by DPAPI, and refuses to export it — which is checked (``CryptExportKey`` of a
``PRIVATEKEYBLOB`` must fail) before anything is published, as ``generate_on_token`` checks
``CKA_EXTRACTABLE``. A CSP key is the one every Windows release decrypts with (``CryptDecrypt``:
PKCS#1 v1.5 and OAEP with SHA-1; Windows' software KSP opens the same key for OAEP with SHA-2).

The self-signed encryption certificate is the one ``keygen.encryption_certificate`` builds
(keyEncipherment, Compagnon's personal or backup policy), its signature made by the new key
(``CryptSignHash``, RSASSA-PKCS1-v1_5 with SHA-256). It is added to ``CurrentUser\\MY`` with the
key's provider information (``CERT_KEY_PROV_INFO_PROP_ID``: container, provider, type,
``AT_KEYEXCHANGE``) — the link ``WindowsMyStore`` and every Windows program follow — and a
friendly name: the bi-clé's label, "Jean DUPONT" or "Jean DUPONT (secours)". On any failure, or
when the job is cancelled after the (slow) generation, the key container is deleted and nothing is
left in the store.
"""

from __future__ import annotations

import ctypes
import logging
import uuid
from collections.abc import Callable
from ctypes import byref, c_size_t, c_void_p
from ctypes import wintypes as wt

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ..errors import ErrorCode, ReportedError
from ..i18n import Text
from . import keygen as engine
from .windows_store import (
    AT_KEYEXCHANGE, CERT_FRIENDLY_NAME_PROP_ID, CERT_KEY_PROV_INFO_PROP_ID, CERT_STORE_PROV_SYSTEM_W,
    CERT_SYSTEM_STORE_CURRENT_USER, CRYPT_HASH_BLOB, CRYPT_KEY_PROV_INFO, MS_ENH_RSA_AES_PROV, PCCERT_CONTEXT,
    PKCS_7_ASN_ENCODING, PROV_RSA_AES, X509_ASN_ENCODING, Win32CallError, _check, _libs, capi_sign,
)

log = logging.getLogger(__name__)

CRYPT_NEWKEYSET = 0x8
CRYPT_DELETEKEYSET = 0x10
PUBLICKEYBLOB = 0x6
PRIVATEKEYBLOB = 0x7
CERT_STORE_ADD_NEW = 1
#: Container names start so: what the user (or an administrator) sees in key management tools.
CONTAINER_PREFIX = "Compagnon bi-clé"


def _public_key(prov: int, key: int) -> rsa.RSAPublicKey:
    """The key's ``PUBLICKEYBLOB``: BLOBHEADER (8 bytes), RSAPUBKEY (magic "RSA1", bit length, public
    exponent), then the modulus, little-endian (CryptoAPI's order)."""
    _, advapi32, _ = _libs()
    size = wt.DWORD(0)
    _check(advapi32.CryptExportKey(key, 0, PUBLICKEYBLOB, 0, None, byref(size)), "CryptExportKey")
    blob = ctypes.create_string_buffer(size.value)
    _check(advapi32.CryptExportKey(key, 0, PUBLICKEYBLOB, 0, blob, byref(size)), "CryptExportKey")
    data = blob.raw[:size.value]
    if data[8:12] != b"RSA1":
        raise ReportedError(ErrorCode.KEY_NOT_USABLE)
    bits = int.from_bytes(data[12:16], "little")
    exponent = int.from_bytes(data[16:20], "little")
    modulus = int.from_bytes(data[20:20 + bits // 8], "little")
    return rsa.RSAPublicNumbers(exponent, modulus).public_key()


def _exportable(key: int) -> bool:
    """Whether the provider would hand out the private key (it must not)."""
    _, advapi32, _ = _libs()
    size = wt.DWORD(0)
    return bool(advapi32.CryptExportKey(key, 0, PRIVATEKEYBLOB, 0, None, byref(size)))


def _delete_container(container: str) -> None:
    _, advapi32, _ = _libs()
    prov = c_size_t(0)
    if not advapi32.CryptAcquireContextW(byref(prov), container, MS_ENH_RSA_AES_PROV, PROV_RSA_AES,
                                         CRYPT_DELETEKEYSET):
        log.warning("could not delete the key container of a half-made key pair: 0x%08x",
                    ctypes.get_last_error() & 0xFFFFFFFF)  # type: ignore[attr-defined]  # typeshed: Windows only


def _add_to_my(certificate: x509.Certificate, info: CRYPT_KEY_PROV_INFO, friendly_name: str) -> None:
    """Add ``certificate`` to ``CurrentUser\\MY`` with its key's provider information and friendly name."""
    crypt32, _, _ = _libs()
    store = crypt32.CertOpenStore(CERT_STORE_PROV_SYSTEM_W, 0, None, CERT_SYSTEM_STORE_CURRENT_USER,
                                  ctypes.c_wchar_p("MY"))
    _check(store, "CertOpenStore")
    try:
        der = certificate.public_bytes(serialization.Encoding.DER)
        data = ctypes.create_string_buffer(der, len(der))
        context = PCCERT_CONTEXT()
        _check(crypt32.CertAddEncodedCertificateToStore(store, X509_ASN_ENCODING | PKCS_7_ASN_ENCODING, data, len(der),
                                                        CERT_STORE_ADD_NEW, byref(context)),
               "CertAddEncodedCertificateToStore")
        try:
            _check(crypt32.CertSetCertificateContextProperty(context, CERT_KEY_PROV_INFO_PROP_ID, 0, byref(info)),
                   "CertSetCertificateContextProperty")
            text = ctypes.create_unicode_buffer(friendly_name)
            blob = CRYPT_HASH_BLOB(ctypes.sizeof(text), ctypes.cast(text, c_void_p))
            _check(crypt32.CertSetCertificateContextProperty(context, CERT_FRIENDLY_NAME_PROP_ID, 0, byref(blob)),
                   "CertSetCertificateContextProperty")
        except BaseException:
            crypt32.CertDeleteCertificateFromStore(crypt32.CertDuplicateCertificateContext(context))
            raise
        finally:
            crypt32.CertFreeCertificateContext(context)
    finally:
        crypt32.CertCloseStore(store, 0)


def generate_in_store(name: str, bits: int, secours: bool, *, organization: str | None = None,
                      check_cancelled: Callable[[], None] | None = None) -> x509.Certificate:
    """Generate a non-exportable RSA key pair in a new key container of the user and store its
    self-signed encryption certificate in ``CurrentUser\\MY``; returns the certificate."""
    if bits not in engine.KEY_SIZES:
        raise ReportedError(ErrorCode.INVALID_PARAMS, reason=Text("taille de clé : 2048, 3072 ou 4096 bits", "key size: 2048, 3072 or 4096 bits"))
    holder = engine.KeyHolder(engine.clean_name(name),
                              engine.clean_name(organization, "organisation") if organization else None, secours)
    _, advapi32, _ = _libs()
    container = f"{CONTAINER_PREFIX} {uuid.uuid4()}"
    prov, key = c_size_t(0), c_size_t(0)
    try:
        _check(advapi32.CryptAcquireContextW(byref(prov), container, MS_ENH_RSA_AES_PROV, PROV_RSA_AES,
                                             CRYPT_NEWKEYSET), "CryptAcquireContextW")
    except Win32CallError as exc:
        log.warning("no new key container: %s", exc)
        raise ReportedError(ErrorCode.KEY_NOT_USABLE, "Le magasin Windows refuse de créer une clé.",
                                                      "The Windows store refuses to create a key.") from None
    made = False
    try:
        # The key length goes in the upper 16 bits of the flags; CRYPT_EXPORTABLE is not among them.
        _check(advapi32.CryptGenKey(prov.value, AT_KEYEXCHANGE, bits << 16, byref(key)), "CryptGenKey")
        if _exportable(key.value):
            log.warning("the provider lets the new private key be exported: key pair deleted")
            raise ReportedError(ErrorCode.KEY_NOT_USABLE,
                                "Ce magasin ne garantit pas une clé non exportable : bi-clé refusé.",
                                "This store does not guarantee a non-exportable key: key pair refused.")
        public_key = _public_key(prov.value, key.value)
        if check_cancelled is not None:
            check_cancelled()
        info = CRYPT_KEY_PROV_INFO(container, MS_ENH_RSA_AES_PROV, PROV_RSA_AES, 0, 0, None, AT_KEYEXCHANGE)
        size = (public_key.key_size + 7) // 8
        certificate = engine.encryption_certificate(
            public_key, holder, lambda digest: capi_sign(prov.value, AT_KEYEXCHANGE, digest, "sha256", size))
        _add_to_my(certificate, info, _friendly_name(holder))
        made = True
    except Win32CallError as exc:
        log.warning("key pair generation in the Windows store failed: %s", exc)
        raise ReportedError(ErrorCode.KEY_NOT_USABLE, "Le magasin Windows n'a pas pu créer le bi-clé.",
                                                      "The Windows store could not create the key pair.") from None
    finally:
        if key.value:
            advapi32.CryptDestroyKey(key.value)
        advapi32.CryptReleaseContext(prov.value, 0)
        if not made:
            _delete_container(container)
    log.info("RSA %d key pair generated in the Windows store%s", bits, " (secours)" if secours else "")
    return certificate


def _friendly_name(holder: engine.KeyHolder) -> str:
    """The bi-clé's label, as the other stores show it (``keygen.token_label_for``)."""
    return engine.token_label_for(holder.name, holder.secours)
