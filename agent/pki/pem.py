"""Certificates as DER bytes, read from PEM bundles and the system's trust store without parsing
them: what a process hands to the verification worker, which parses them itself.

The textual encoding is RFC 7468: ``-----BEGIN CERTIFICATE-----`` (or the older
``X509 CERTIFICATE``) blocks of base64 (section 2: explanatory text around them and whitespace
inside them are allowed), the labels ``cryptography``'s PEM reader accepts too; a file without
any such block is read as one DER certificate. Only the DER is extracted here; whether it is a
certificate is for the parser that uses it to say.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import ssl
import sys
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["PemError", "anchor_ders", "certificate_ders", "file_certificate_ders", "system_root_ders"]

_BLOCK = re.compile(rb"-----BEGIN (CERTIFICATE|X509 CERTIFICATE)-----(.*?)-----END \1-----", re.DOTALL)


class PemError(ValueError):
    """A PEM bundle whose certificate blocks cannot be read."""


def certificate_ders(data: bytes) -> list[bytes]:
    """The DER of every certificate block of ``data`` (RFC 7468 section 5), in order; ``data``
    itself when it holds no PEM at all (a DER file). Raises PemError for a block that is not
    base64, or PEM text without any certificate block."""
    if b"-----BEGIN" not in data:
        return [data]
    ders = []
    for match in _BLOCK.finditer(data):
        try:
            ders.append(base64.b64decode(b"".join(match.group(2).split()), validate=True))
        except binascii.Error as exc:
            raise PemError(f"certificate block {len(ders) + 1} is not base64: {exc}") from None
    if not ders:
        raise PemError("no CERTIFICATE block in this PEM text")
    return ders


def file_certificate_ders(path: Path) -> list[bytes]:
    """:func:`certificate_ders` of the file ``path``, its name in the error."""
    try:
        return certificate_ders(path.read_bytes())
    except PemError as exc:
        raise PemError(f"{path}: {exc}") from None


def system_root_ders() -> list[bytes]:
    """The operating system's trusted roots: the Windows ROOT store, else the OpenSSL bundle
    (an unreadable bundle is logged and gives none)."""
    if sys.platform.startswith("win"):
        return [der for der, encoding, _trust in ssl.enum_certificates("ROOT")  # type: ignore[attr-defined]  # Windows only
                if encoding == "x509_asn"]
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem"):
        if candidate and Path(candidate).is_file():
            try:
                return file_certificate_ders(Path(candidate))
            except (OSError, PemError) as exc:
                log.warning("unreadable system CA bundle %s: %s", candidate, exc)
    return []


def anchor_ders(roots: Iterable[Path], intermediates: Iterable[Path] = (), system: bool = True
                ) -> tuple[list[bytes], list[bytes]]:
    """The DER of the trust anchors (the system's roots unless ``system`` is off, then the files
    ``roots``) and of the intermediates the files ``intermediates`` hold."""
    return ([*(system_root_ders() if system else ()), *(der for path in roots for der in file_certificate_ders(path))],
            [der for path in intermediates for der in file_certificate_ders(path)])
