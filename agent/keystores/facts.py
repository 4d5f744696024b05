"""Certificate facts and the label "adapté aux marchés publics".

* Organisation identifier: X.520 ``organizationIdentifier`` (2.5.4.97) with the ETSI EN 319 412-1
  section 5.1.4 semantics (``NTRFR-<SIREN or SIRET>``, ``VATFR-…``).
* QCStatements: RFC 3739 section 3.2.6 with the ETSI EN 319 412-5 statements (QcCompliance,
  QcSSCD, QcType).
* Policies: eIDAS QCP (ETSI EN 319 411-2), NCP+ (ETSI EN 319 411-1, the RGS** level) and the
  RGS** policy OIDs an administrator configures.

The label holds when the certificate is qualified, has nonRepudiation, is valid now and chains to
a trusted root; otherwise ``reasons`` lists what is missing, in French or English.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime

from asn1crypto import core
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bridge_protocol.certificates import CertificateInfo, CertificateSource

from ..i18n import Text
from ..trust import TrustAnchors
from .base import KeyStore, StoredKey, key_purposes, name_label

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

KEY_USAGE_NAMES = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign",
)
EKU_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "client_auth",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "email_protection",
    ExtendedKeyUsageOID.CODE_SIGNING: "code_signing",
    ExtendedKeyUsageOID.TIME_STAMPING: "time_stamping",
    ExtendedKeyUsageOID.SERVER_AUTH: "server_auth",
    ExtendedKeyUsageOID.OCSP_SIGNING: "ocsp_signing",
    x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12"): "document_signing",
}

REASONS = {
    "not_qualified": Text(
        "certificat non qualifié (ni QcCompliance, ni politique eIDAS ou RGS**)",
        "not a qualified certificate (no QcCompliance, eIDAS or RGS** policy)",
    ),
    "no_non_repudiation": Text("pas de nonRepudiation", "no nonRepudiation"),
    "expired": Text("expiré le {date}", "expired on {date}"),
    "not_yet_valid": Text("pas encore valide (à partir du {date})", "not valid yet (from {date})"),
    "untrusted": Text(
        "ne remonte pas à une autorité de confiance", "does not chain to a trusted authority"
    ),
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


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


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


def key_description(certificate: x509.Certificate) -> str:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "EC P-256", "secp384r1": "EC P-384", "secp521r1": "EC P-521"}.get(key.curve.name, f"EC {key.curve.name}")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    return type(key).__name__


def _key_usage(certificate: x509.Certificate) -> list[str]:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return []
    names = []
    for name in KEY_USAGE_NAMES:
        if getattr(usage, name):
            names.append("non_repudiation" if name == "content_commitment" else name)
    if usage.key_agreement:
        names += [n for n, flag in (("encipher_only", usage.encipher_only), ("decipher_only", usage.decipher_only)) if flag]
    return names


def _eku(certificate: x509.Certificate) -> list[str]:
    try:
        usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return []
    return [EKU_NAMES.get(oid, oid.dotted_string) for oid in usages]


def _policies(certificate: x509.Certificate) -> list[str]:
    try:
        policies = certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    except x509.ExtensionNotFound:
        return []
    return [p.policy_identifier.dotted_string for p in policies]


def _date(moment: datetime, locale: str) -> str:
    return moment.strftime("%m/%d/%Y" if locale == "en" else "%d/%m/%Y")


def certificate_info(
    key: StoredKey,
    store: KeyStore,
    anchors: TrustAnchors,
    *,
    rgs_policies: Collection[str] = (),
    locale: str = "fr",
    now: datetime | None = None,
) -> CertificateInfo:
    """The facts a user chooses a certificate by, with the label and its reasons."""
    cert = key.certificate
    now = now or datetime.now(UTC)
    org_id = _attribute(cert.subject, OID_ORGANIZATION_IDENTIFIER)
    siren, vat = organization_ids(org_id)
    statements = qc_statements(cert)
    policies = _policies(cert)
    usage = _key_usage(cert)
    qualified = (
        "qc_compliance" in statements
        or any(p in QUALIFIED_POLICIES for p in policies)
        or any(p in rgs_policies for p in policies)
    )
    trusted = anchors.chain(cert, key.extra_certificates, at=None) is not None
    reasons: list[str] = []
    if not qualified:
        reasons.append(REASONS["not_qualified"].render(locale))
    if "non_repudiation" not in usage:
        reasons.append(REASONS["no_non_repudiation"].render(locale))
    if now > cert.not_valid_after_utc:
        reasons.append(REASONS["expired"].render(locale, date=_date(cert.not_valid_after_utc, locale)))
    elif now < cert.not_valid_before_utc:
        reasons.append(REASONS["not_yet_valid"].render(locale, date=_date(cert.not_valid_before_utc, locale)))
    if not trusted:
        reasons.append(REASONS["untrusted"].render(locale))
    return CertificateInfo(
        id=key.id,
        subject=name_label(cert.subject),
        organization=_attribute(cert.subject, NameOID.ORGANIZATION_NAME),
        organization_identifier=org_id,
        siren=siren,
        vat=vat,
        issuer=name_label(cert.issuer),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
        not_after=cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
        key_type=key_description(cert),
        key_usage=usage,
        extended_key_usage=_eku(cert),
        policies=policies,
        qc_statements=statements,
        qualified=qualified,
        trusted=trusted,
        sha256=key.sha256,
        source=CertificateSource(kind=store.kind, label=store.display_label(locale)),
        purposes=key_purposes(cert),
        suitable=not reasons,
        reasons=reasons,
    )
