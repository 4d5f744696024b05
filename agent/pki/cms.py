"""CMS helpers shared by the signer and the verifiers (RFC 5652).

* ``find_certificate``: the certificate a SignerIdentifier names (RFC 5652 section 5.3: issuer and
  serial number, or subject key identifier).
* ``CmsMaterial``: the certificates and revocation data a SignedData carries (section 10.2.1).
* ``PARSE_ERRORS``: what parsing DER from an untrusted source may raise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from asn1crypto import cms, crl as asn1_crl, ocsp as asn1_ocsp, x509 as asn1_x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509 import InvalidVersion

__all__ = ["PARSE_ERRORS", "CmsMaterial", "find_certificate"]

#: Parse errors asn1crypto and our readers raise on malformed input; ``cryptography`` raises
#: ``UnsupportedAlgorithm`` for a garbled public-key algorithm and ``InvalidVersion`` for a garbled
#: certificate version (RFC 5280 section 4.1.2.1) instead of ``ValueError``.
PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError,
                UnsupportedAlgorithm, InvalidVersion)


@dataclass
class CmsMaterial:
    """Certificates and revocation data a SignedData carries (RFC 5652 section 10.2.1)."""

    certificates: list[asn1_x509.Certificate] = field(default_factory=list)
    crls: list[asn1_crl.CertificateList] = field(default_factory=list)
    ocsps: list[asn1_ocsp.OCSPResponse] = field(default_factory=list)

    def extend(self, other: CmsMaterial) -> None:
        self.certificates += other.certificates
        self.crls += other.crls
        self.ocsps += other.ocsps


def find_certificate(certificates: Iterable[asn1_x509.Certificate],
                     sid: cms.SignerIdentifier) -> asn1_x509.Certificate | None:
    """The certificate a ``sid`` names (RFC 5652 section 5.3)."""
    for cert in certificates:
        if sid.name == "issuer_and_serial_number":
            if cert.issuer == sid.chosen["issuer"] and cert.serial_number == sid.chosen["serial_number"].native:
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None
