"""CMS helpers shared by the signer and the verifiers (RFC 5652).

* ``find_certificate``: the certificate a SignerIdentifier names (RFC 5652 section 5.3: issuer and
  serial number, or subject key identifier).
* ``CmsMaterial``: the certificates and revocation data a SignedData carries (section 10.2.1).
* ``ess_certid_matches``: whether a signing-certificate(-v2) attribute's ``ESSCertID(v2)`` names a
  certificate (RFC 2634 section 5.4, RFC 5035 section 4).
* ``PARSE_ERRORS``: what parsing DER from an untrusted source may raise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from asn1crypto import cms, crl as asn1_crl, ocsp as asn1_ocsp, tsp, x509 as asn1_x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509 import InvalidVersion

__all__ = ["PARSE_ERRORS", "CmsMaterial", "ess_certid_matches", "find_certificate"]

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


def ess_certid_matches(cert: asn1_x509.Certificate, certid: tsp.ESSCertID | tsp.ESSCertIDv2) -> bool:
    """Whether ``certid`` names ``cert``: the hash of its DER encoding (SHA-1 in an ``ESSCertID``,
    the named algorithm, SHA-256 by default, in an ``ESSCertIDv2``) and, when present, its issuer
    (a single directory name) and serial number (RFC 2634 section 5.4, RFC 5035 section 4).
    What pyHanko's ``check_ess_certid`` checks, without loading pyHanko's signing stack.
    ``ValueError`` for a hash algorithm ``hashlib`` does not know."""
    name = "sha1" if isinstance(certid, tsp.ESSCertID) else certid["hash_algorithm"]["algorithm"].native
    if hashlib.new(name, cert.dump()).digest() != certid["cert_hash"].native:
        return False
    expected = certid["issuer_serial"]
    if not expected:
        return True
    names = expected["issuer"]
    if len(names) != 1 or names[0].name != "directory_name":
        return False
    issuer = names[0].chosen
    try:
        # byte for byte first: a name that breaks the stringprep profile can still match exactly
        same_issuer = issuer.dump() == cert.issuer.dump() or issuer == cert.issuer
    except ValueError:
        same_issuer = False
    return bool(same_issuer and expected["serial_number"] == cert["tbs_certificate"]["serial_number"])
