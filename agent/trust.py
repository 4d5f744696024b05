"""Trust anchors and chain building (RFC 5280 section 6, signatures and validity only).

This answers "does this certificate chain to a root the user trusts?" for certificate lists.
Full validation with revocation at a point in time belongs to the validation engine.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.utils import CryptographyDeprecationWarning

from .pki.pem import file_certificate_ders, system_root_ders

log = logging.getLogger(__name__)

MAX_CHAIN = 8


def load_pem_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle (or one DER certificate); ValueError for one that is not."""
    return [_parse(der) for der in file_certificate_ders(path)]


def _parse(der: bytes) -> x509.Certificate:
    with warnings.catch_warnings():
        # System bundles hold a few legacy roots with non-positive serials; they load all the same.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def system_roots() -> list[x509.Certificate]:
    """The operating system's trusted roots (Windows ROOT store; the OpenSSL bundle elsewhere); a
    root that cannot be parsed is left out, the others kept."""
    certificates: list[x509.Certificate] = []
    for der in system_root_ders():
        try:
            certificates.append(_parse(der))
        except ValueError as exc:
            log.warning("a system root cannot be read: %s", exc)
    return certificates


@dataclass
class TrustAnchors:
    roots: list[x509.Certificate]
    intermediates: list[x509.Certificate] = field(default_factory=list)

    @classmethod
    def from_files(cls, roots: Iterable[Path], intermediates: Iterable[Path] = (), system: bool = True) -> TrustAnchors:
        anchors = cls(system_roots() if system else [])
        for path in roots:
            anchors.roots.extend(load_pem_certificates(path))
        for path in intermediates:
            anchors.intermediates.extend(load_pem_certificates(path))
        return anchors

    def chain(self, leaf: x509.Certificate, extra: Sequence[x509.Certificate] = (), at: datetime | None = None) -> list[x509.Certificate] | None:
        """Leaf to trusted root (signatures checked, each certificate valid at ``at``), or None."""
        pool = [*extra, *self.intermediates]
        path = [leaf]
        current = leaf
        for _ in range(MAX_CHAIN):
            if at is not None and not (current.not_valid_before_utc <= at <= current.not_valid_after_utc):
                return None
            root = _issuer_among(current, self.roots)
            if root is not None:
                if at is not None and not (root.not_valid_before_utc <= at <= root.not_valid_after_utc):
                    return None
                return path if root == current else [*path, root]
            issuer = _issuer_among(current, [c for c in pool if c not in path])
            if issuer is None:
                return None
            path.append(issuer)
            current = issuer
        return None


def _issuer_among(cert: x509.Certificate, candidates: Iterable[x509.Certificate]) -> x509.Certificate | None:
    for candidate in candidates:
        if candidate.subject != cert.issuer:
            continue
        try:
            cert.verify_directly_issued_by(candidate)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return candidate
    return None
