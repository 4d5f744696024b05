"""Certificate facts every engine reads the same way.

* Organisation identifier: X.520 ``organizationIdentifier`` (2.5.4.97) with the ETSI EN 319 412-1
  section 5.1.4 semantics (``NTRFR-<SIREN or SIRET>``, ``VATFR-…``).
* QCStatements: RFC 3739 section 3.2.6 with the ETSI EN 319 412-5 statements (QcCompliance,
  QcSSCD, QcType).
* Policies: eIDAS QCP (ETSI EN 319 411-2) and NCP+ (ETSI EN 319 411-1, the RGS** level).
"""

from __future__ import annotations

import re

from asn1crypto import core
from cryptography import x509

__all__ = [
    "OID_ORGANIZATION_IDENTIFIER", "OID_QC_STATEMENTS", "QC_STATEMENT_NAMES", "QC_TYPE_NAMES", "QUALIFIED_POLICIES",
    "organization_ids", "qc_statements",
]

OID_QC_STATEMENTS = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3")
OID_ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")

QC_STATEMENT_NAMES = {
    "0.4.0.1862.1.1": "qc_compliance",
    "0.4.0.1862.1.2": "qc_limit_value",
    "0.4.0.1862.1.3": "qc_retention_period",
    "0.4.0.1862.1.4": "qc_sscd",
    "0.4.0.1862.1.5": "qc_pds",
    "0.4.0.1862.1.6": "qc_type",
    "0.4.0.1862.1.7": "qc_cclegislation",
    "0.4.0.194121.1.1": "semantics_natural_person",
    "0.4.0.194121.1.2": "semantics_legal_person",
}
QC_TYPE_NAMES = {"0.4.0.1862.1.6.1": "esign", "0.4.0.1862.1.6.2": "eseal", "0.4.0.1862.1.6.3": "web"}

#: Policies that make a certificate "qualified or equivalent" for public procurement.
QUALIFIED_POLICIES = {
    "0.4.0.194112.1.0": "QCP-n",
    "0.4.0.194112.1.1": "QCP-l",
    "0.4.0.194112.1.2": "QCP-n-qscd",
    "0.4.0.194112.1.3": "QCP-l-qscd",
    "0.4.0.2042.1.2": "NCP+ (RGS**)",
}


class _QcStatement(core.Sequence):
    _fields = [("statement_id", core.ObjectIdentifier), ("statement_info", core.Any, {"optional": True})]


class _QcStatements(core.SequenceOf):
    _child_spec = _QcStatement


class _QcTypes(core.SequenceOf):
    _child_spec = core.ObjectIdentifier


def qc_statements(certificate: x509.Certificate) -> list[str]:
    """Names of the certificate's QC statements; QcType gives ``qc_type:esign`` etc."""
    try:
        raw = certificate.extensions.get_extension_for_oid(OID_QC_STATEMENTS).value
    except x509.ExtensionNotFound:
        return []
    der = raw.value if isinstance(raw, x509.UnrecognizedExtension) else raw.public_bytes()
    names: list[str] = []
    try:
        statements = _QcStatements.load(der)
        for statement in statements:
            oid = statement["statement_id"].dotted
            name = QC_STATEMENT_NAMES.get(oid, oid)
            if name == "qc_type" and statement["statement_info"].native is not None:
                types = _QcTypes.load(statement["statement_info"].dump())
                names.extend(f"qc_type:{QC_TYPE_NAMES.get(t.dotted, t.dotted)}" for t in types)
            else:
                names.append(name)
    except (ValueError, TypeError):
        return ["unreadable"]
    return names


def organization_ids(identifier: str | None) -> tuple[str | None, str | None]:
    """(SIREN, VAT number) from an ETSI organisation identifier such as ``NTRFR-12345678900011``."""
    if not identifier:
        return None, None
    match = re.fullmatch(r"(NTR|VAT)([A-Z]{2})[-:]?(.+)", identifier.strip())
    if not match:
        return None, None
    kind, country, value = match.groups()
    if kind == "VAT":
        return None, f"{country}{value}"
    digits = re.sub(r"\D", "", value)
    siren = digits[:9] if country == "FR" and len(digits) in (9, 14) else None
    return siren, None
