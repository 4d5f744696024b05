"""Certificate facts as pages receive them (``certificates.list``): never key material."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Purpose = Literal["signing", "decryption"]


@dataclass
class CertificateSource:
    """Where the private key lives: a token (PKCS#11), a PKCS#12 file, or the OS store."""

    kind: Literal["pkcs11", "pkcs12", "windows", "macos"]
    label: str


@dataclass
class CertificateInfo:
    """What a user chooses a certificate by, as in the reference platform's certificate list.

    ``suitable`` is the label "adapté aux marchés publics": qualified (QcCompliance, an eIDAS QCP
    or an RGS** / NCP+ policy), nonRepudiation, valid now and chaining to a trusted root.
    Otherwise ``reasons`` says why not, in the connection's language.
    """

    id: str
    subject: str
    organization: str | None
    organization_identifier: str | None
    siren: str | None
    vat: str | None
    issuer: str
    serial: str
    not_before: str
    not_after: str
    key_type: str
    key_usage: list[str]
    extended_key_usage: list[str]
    policies: list[str]
    qc_statements: list[str]
    qualified: bool
    trusted: bool
    sha256: str
    source: CertificateSource
    purposes: list[Purpose]
    suitable: bool
    reasons: list[str] = field(default_factory=list)


@dataclass
class CertificatesListParams:
    """``certificates.list`` request: the certificates with a private key, for one purpose."""

    purpose: Purpose = "signing"


@dataclass
class CertificatesListResult:
    certificates: list[CertificateInfo]
