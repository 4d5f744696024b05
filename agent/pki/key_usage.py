"""What a certificate's key may be used for: signing documents, receiving encrypted content.

The rule, from RFC 5280:

* keyUsage (section 4.2.1.3): signing needs ``digitalSignature`` or ``nonRepudiation``
  (``contentCommitment``); receiving encrypted content needs ``keyEncipherment`` for an RSA key
  (key transport, RFC 5652 section 6.2.1) or ``keyAgreement`` for an EC key (key agreement,
  section 6.2.2). Without the extension, the key may do either.
* extendedKeyUsage (section 4.2.1.12): "if the extension is present, then the certificate MUST
  only be used for one of the purposes indicated". Without it, or with anyExtendedKeyUsage, any
  purpose. Otherwise signing needs one of :data:`SIGNING_PURPOSES` (S/MIME emailProtection,
  documentSigning of RFC 9336, the Adobe and Microsoft document-signing purposes, codeSigning, and
  clientAuth, which European smart-card certificates commonly combine with signing) and
  encryption one of :data:`ENCRYPTION_PURPOSES` (emailProtection, Microsoft's encrypting file
  system). A certificate only for TLS servers (serverAuth) or OCSP responses therefore does
  neither.
"""

from __future__ import annotations

from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from ..i18n import Text

__all__ = [
    "ENCRYPTION_PURPOSES", "SIGNING_PURPOSES", "extended_key_usage_allows", "extended_key_usage_names",
    "key_purposes", "key_usage_allows", "key_usage_names", "usage_label", "usage_refusal",
]

Purpose = Literal["signing", "decryption"]

ANY_PURPOSE = x509.ObjectIdentifier("2.5.29.37.0")
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # RFC 9336
ADOBE_AUTHENTIC_DOCUMENTS = x509.ObjectIdentifier("1.2.840.113583.1.1.5")
MICROSOFT_DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.12")
MICROSOFT_EFS = x509.ObjectIdentifier("1.3.6.1.4.1.311.10.3.4")

SIGNING_PURPOSES = frozenset({
    ANY_PURPOSE, ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING, ADOBE_AUTHENTIC_DOCUMENTS,
    MICROSOFT_DOCUMENT_SIGNING, ExtendedKeyUsageOID.CODE_SIGNING, ExtendedKeyUsageOID.CLIENT_AUTH,
})
ENCRYPTION_PURPOSES = frozenset({ANY_PURPOSE, ExtendedKeyUsageOID.EMAIL_PROTECTION, MICROSOFT_EFS})

#: RFC 5280 names, as a certificate viewer shows them.
KEY_USAGE_NAMES = {
    "digital_signature": "digitalSignature", "content_commitment": "nonRepudiation",
    "key_encipherment": "keyEncipherment", "data_encipherment": "dataEncipherment",
    "key_agreement": "keyAgreement", "key_cert_sign": "keyCertSign", "crl_sign": "cRLSign",
}
EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning", ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping", ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ANY_PURPOSE: "anyExtendedKeyUsage", DOCUMENT_SIGNING: "documentSigning",
    MICROSOFT_DOCUMENT_SIGNING: "msDocumentSigning", MICROSOFT_EFS: "msEFS",
}

LABELS = {
    ("signing",): Text("signature", "signature"),
    ("decryption",): Text("chiffrement", "encryption"),
    ("signing", "decryption"): Text("signature et chiffrement", "signature and encryption"),
    (): Text("ni signature ni chiffrement", "neither signature nor encryption"),
}
NOT_FOR_SIGNING = {
    ("decryption",): Text("Le certificat « {cn} » sert au chiffrement, pas à la signature ({why}).",
                          "The certificate “{cn}” is for encryption, not for signing ({why})."),
    (): Text("Le certificat « {cn} » ne permet pas la signature ({why}).",
             "The certificate “{cn}” does not allow signing ({why})."),
}
NOT_FOR_ENCRYPTION = {
    ("signing",): Text("Le certificat « {cn} » sert à la signature, pas au chiffrement ({why}).",
                       "The certificate “{cn}” is for signing, not for encryption ({why})."),
    (): Text("Le certificat « {cn} » ne permet pas le chiffrement ({why}).",
             "The certificate “{cn}” does not allow encryption ({why})."),
}
WHY_KEY_USAGE = Text("usage de la clé : {u}", "key usage: {u}")
WHY_EKU = Text("usage étendu : {u}", "extended key usage: {u}")


def _key_usage(certificate: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _extended_key_usage(certificate: x509.Certificate) -> list[x509.ObjectIdentifier] | None:
    try:
        return list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None


def key_usage_names(certificate: x509.Certificate) -> list[str]:
    """The keyUsage bits set, by their RFC 5280 names (empty without the extension)."""
    usage = _key_usage(certificate)
    if usage is None:
        return []
    return [label for attribute, label in KEY_USAGE_NAMES.items() if getattr(usage, attribute)]


def extended_key_usage_names(certificate: x509.Certificate) -> list[str]:
    """The extendedKeyUsage purposes, by name where known (empty without the extension)."""
    return [EKU_NAMES.get(p, p.dotted_string) for p in _extended_key_usage(certificate) or []]


def key_usage_allows(certificate: x509.Certificate, purpose: Purpose) -> bool:
    """Whether the keyUsage extension (RFC 5280 section 4.2.1.3) allows ``purpose``."""
    usage = _key_usage(certificate)
    if usage is None:
        return True
    if purpose == "signing":
        return bool(usage.digital_signature or usage.content_commitment)
    public = certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        return bool(usage.key_encipherment)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return bool(usage.key_agreement)
    return False


def extended_key_usage_allows(certificate: x509.Certificate, purpose: Purpose) -> bool:
    """Whether the extendedKeyUsage extension (RFC 5280 section 4.2.1.12) allows ``purpose``."""
    purposes = _extended_key_usage(certificate)
    if purposes is None:
        return True
    accepted = SIGNING_PURPOSES if purpose == "signing" else ENCRYPTION_PURPOSES
    return any(p in accepted for p in purposes)


def key_purposes(certificate: x509.Certificate) -> list[Purpose]:
    """What the certificate's key may do under the rule of this module's docstring."""
    return [p for p in ("signing", "decryption")  # type: ignore[misc]
            if key_usage_allows(certificate, p) and extended_key_usage_allows(certificate, p)]  # type: ignore[arg-type]


def usage_label(certificate: x509.Certificate, locale: str = "fr") -> str:
    """"signature", "chiffrement", "signature et chiffrement" or "ni signature ni chiffrement"."""
    return LABELS[tuple(key_purposes(certificate))].render(locale)


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def usage_refusal(certificate: x509.Certificate, purpose: Purpose, locale: str = "fr") -> str | None:
    """None when the certificate may serve ``purpose``; else why not, naming the certificate and
    what it is for ("Le certificat « X » sert au chiffrement, pas à la signature (usage de la clé :
    keyEncipherment)")."""
    if purpose in key_purposes(certificate):
        return None
    if not key_usage_allows(certificate, purpose):
        why = WHY_KEY_USAGE.render(locale, u=", ".join(key_usage_names(certificate)) or "—")
    else:
        why = WHY_EKU.render(locale, u=", ".join(extended_key_usage_names(certificate)))
    others = tuple(key_purposes(certificate))
    table = NOT_FOR_SIGNING if purpose == "signing" else NOT_FOR_ENCRYPTION
    return table.get(others, table[()]).render(locale, cn=_common_name(certificate), why=why)
