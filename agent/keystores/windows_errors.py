"""Windows key store failures as the project's stable error codes, the same ones PKCS#11 tokens give.

CryptoAPI calls report through ``GetLastError``, CNG calls return a ``SECURITY_STATUS``; both are
HRESULT-style numbers from winerror.h (``NTE_*``, the key providers) and scarderr.h (``SCARD_*``,
what smart-card minidrivers and the smart-card key storage provider pass on after their own PIN
window). Importable everywhere (no Windows call): the mapping is tested on every platform.

The user-facing outcome matches ``agent/keystores/pkcs11_store.py``: a wrong PIN is
``PIN_INCORRECT``, a blocked one ``PIN_LOCKED``, a closed PIN window ``USER_CANCELLED``, a card
pulled out ``TOKEN_REMOVED``, a key that is gone ``NO_SUCH_CERTIFICATE``; everything else —
a provider refusing the operation or the padding, bad data — is ``KEY_NOT_USABLE`` with no detail
(a decryption failure must not say why: no padding oracle, RFC 8017 section 7.2.2 note).
"""

from __future__ import annotations

from ..errors import ErrorCode, ReportedError

# winerror.h: key providers (CryptoAPI CSPs and CNG KSPs).
NTE_BAD_DATA = 0x80090005
NTE_BAD_KEY_STATE = 0x8009000B
NTE_PERM = 0x80090010
NTE_BAD_KEYSET = 0x80090016
NTE_KEYSET_NOT_DEF = 0x80090019
NTE_SILENT_CONTEXT = 0x80090022
NTE_INVALID_HANDLE = 0x80090026
NTE_NOT_SUPPORTED = 0x80090029
NTE_NO_KEY = 0x8009000D
NTE_UI_REQUIRED = 0x8009002E
NTE_DEVICE_NOT_READY = 0x80090030
NTE_INCORRECT_PASSWORD = 0x80090033
NTE_DEVICE_NOT_FOUND = 0x80090035
NTE_USER_CANCELLED = 0x80090036
CRYPT_E_NO_KEY_PROPERTY = 0x8009200B
#: HRESULT_FROM_WIN32(ERROR_CANCELLED): a provider's window closed with "Cancel".
HRESULT_ERROR_CANCELLED = 0x800704C7
ERROR_CANCELLED = 0x4C7

# scarderr.h: smart cards.
SCARD_E_NO_SMARTCARD = 0x8010000C
SCARD_E_READER_UNAVAILABLE = 0x80100017
SCARD_E_INVALID_CHV = 0x8010002A
SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
SCARD_E_NO_KEY_CONTAINER = 0x80100030
SCARD_W_REMOVED_CARD = 0x80100069
SCARD_W_WRONG_CHV = 0x8010006B
SCARD_W_CHV_BLOCKED = 0x8010006C
SCARD_W_CANCELLED_BY_USER = 0x8010006E
SCARD_W_CARD_NOT_AUTHENTICATED = 0x8010006F

_CODES: dict[int, ErrorCode] = {
    SCARD_W_WRONG_CHV: ErrorCode.PIN_INCORRECT,
    SCARD_E_INVALID_CHV: ErrorCode.PIN_INCORRECT,
    NTE_INCORRECT_PASSWORD: ErrorCode.PIN_INCORRECT,
    SCARD_W_CHV_BLOCKED: ErrorCode.PIN_LOCKED,
    SCARD_W_CARD_NOT_AUTHENTICATED: ErrorCode.PIN_REQUIRED,
    NTE_SILENT_CONTEXT: ErrorCode.PIN_REQUIRED,
    NTE_UI_REQUIRED: ErrorCode.PIN_REQUIRED,
    SCARD_W_CANCELLED_BY_USER: ErrorCode.USER_CANCELLED,
    NTE_USER_CANCELLED: ErrorCode.USER_CANCELLED,
    HRESULT_ERROR_CANCELLED: ErrorCode.USER_CANCELLED,
    ERROR_CANCELLED: ErrorCode.USER_CANCELLED,
    SCARD_E_NO_SMARTCARD: ErrorCode.TOKEN_REMOVED,
    SCARD_W_REMOVED_CARD: ErrorCode.TOKEN_REMOVED,
    SCARD_E_READER_UNAVAILABLE: ErrorCode.TOKEN_REMOVED,
    SCARD_E_NO_READERS_AVAILABLE: ErrorCode.TOKEN_REMOVED,
    NTE_DEVICE_NOT_FOUND: ErrorCode.TOKEN_REMOVED,
    NTE_DEVICE_NOT_READY: ErrorCode.TOKEN_REMOVED,
    NTE_BAD_KEYSET: ErrorCode.NO_SUCH_CERTIFICATE,
    NTE_KEYSET_NOT_DEF: ErrorCode.NO_SUCH_CERTIFICATE,
    NTE_NO_KEY: ErrorCode.NO_SUCH_CERTIFICATE,
    SCARD_E_NO_KEY_CONTAINER: ErrorCode.NO_SUCH_CERTIFICATE,
    CRYPT_E_NO_KEY_PROPERTY: ErrorCode.NO_SUCH_CERTIFICATE,
}


def store_error_code(status: int) -> ErrorCode:
    """The stable code for a Windows key store failure (``status`` as returned or as ``GetLastError``
    gives it; negative 32-bit values are taken as their unsigned HRESULT)."""
    return _CODES.get(status & 0xFFFFFFFF, ErrorCode.KEY_NOT_USABLE)


def store_error(status: int) -> ReportedError:
    """The ``ReportedError`` to raise for ``status`` (its message is the code's, in the user's language)."""
    return ReportedError(store_error_code(status))
