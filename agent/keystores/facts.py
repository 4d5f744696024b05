"""The certificate description a user chooses a certificate by, and the label "adapté aux marchés publics".

The facts themselves (organisation identifier, QCStatements, qualified policies) are read by
``agent.pki.cert_facts``; the RGS** policy OIDs an administrator configures count as qualified too.

The label holds when the certificate is qualified, has nonRepudiation, is valid now and chains to
a trusted root; otherwise ``reasons`` lists what is missing, in French or English.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bridge_protocol.certificates import CertificateInfo, CertificateSource

from ..i18n import Text
from ..pki.cert_facts import OID_ORGANIZATION_IDENTIFIER, QUALIFIED_POLICIES, organization_ids, qc_statements
from ..pki.key_usage import key_purposes
from ..trust import TrustAnchors
from .base import KeyStore, StoredKey, name_label

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


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


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
