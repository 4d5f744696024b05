"""The decryption workflow shared by ``decrypt`` and ``bids.open``: which of the user's keys opens an
envelope (RFC 5652 section 6.2, its RecipientInfos), opening it into its file (written under a
temporary name and renamed only once complete, its AES-GCM tag checked: RFC 5083), the opened
file's name, and the engine's errors as the protocol's codes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from bridge_protocol.errors import ErrorCode, ProtocolError
from bridge_protocol.messages import JobError

from ..envelopes import EnvelopeError, decrypt, recipients
from ..fsutil import atomic_output
from ..keystores.base import KeyStore, StoredKey
from ..pki.streams import HashingWriter

_ENGINE_CODES = {
    "NO_MATCHING_RECIPIENT": ErrorCode.NO_MATCHING_RECIPIENT,
    "DECRYPTION_FAILED": ErrorCode.DECRYPTION_FAILED,
    "UNSUPPORTED_ALGORITHM": ErrorCode.UNSUPPORTED_ALGORITHM,
    "ARCHIVE_UNSAFE": ErrorCode.ARCHIVE_UNSAFE,
    "KEY_USAGE_NOT_ENCRYPTION": ErrorCode.KEY_USAGE_NOT_ENCRYPTION,
    "FORMAT_FAILURE": ErrorCode.FILE_UNREADABLE,
}


def job_error(exc: EnvelopeError, locale: str) -> JobError:
    """The engine's error for one file, its message in ``locale``: the engine's English text when
    it wrote one, else the code's English message (the French text is for French pages only)."""
    code = _ENGINE_CODES.get(exc.code, ErrorCode.FILE_UNREADABLE)
    message = ProtocolError(code, exc.custom_message).message(locale)
    return JobError(code=code.value, message=message)


def decrypted_name(envelope_name: str) -> str:
    """``offre.zip`` from ``offre.zip.p7m`` (the reference platform's rule), else ``<name>.dechiffre``."""
    lower = envelope_name.lower()
    for suffix in (".p7m", ".p7e", ".cms", ".env"):
        if lower.endswith(suffix) and len(envelope_name) > len(suffix):
            return envelope_name[: -len(suffix)]
    return f"{envelope_name}.dechiffre"


def choose_key(keystores: object, certificate: str | None, listed: list[list[object]]) -> tuple[KeyStore, StoredKey]:
    """The key named by the page, else the first decryption key the user holds that is a
    recipient of one of the envelopes (RFC 5652 section 6.2: its RecipientInfos, ``listed``)."""
    if certificate is not None:
        return keystores.find(certificate)  # type: ignore[attr-defined,no-any-return]
    for store, key in keystores.keys("decryption"):  # type: ignore[attr-defined]
        if any(r.matches(key.certificate) for infos in listed for r in infos):  # type: ignore[attr-defined]
            return store, key
    raise ProtocolError(ErrorCode.NO_MATCHING_RECIPIENT)


def list_recipients(path: Path) -> list[object]:
    """The RecipientInfos of the envelope in ``path`` (empty when it is no envelope: reported
    per file when decrypting)."""
    with path.open("rb") as stream:
        try:
            return recipients(stream)  # type: ignore[no-any-return]
        except EnvelopeError:
            return []


def decrypt_to(path: Path, target: Path, unwrap: Callable[..., bytes | None],
               progress: Callable[[int, int], None]) -> tuple[int, str, str]:
    """Open the envelope in ``path`` into ``target`` (0600, renamed only once complete and, for
    AES-GCM, its tag checked): (bytes written, their SHA-256, content-encryption algorithm).
    Raises EnvelopeError; runs in a worker thread."""
    digest = hashlib.sha256()
    with path.open("rb") as source, atomic_output(target, mode=0o600) as out:
        info = decrypt(source, HashingWriter(out, digest), unwrap, progress=progress)
        written = out.tell()
    return written, digest.hexdigest(), info.algorithm
