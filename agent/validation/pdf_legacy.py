"""Legacy PDF signature SubFilters (ISO 32000-1 section 12.8.3): verified, and named as legacy.

* ``adbe.pkcs7.sha1`` (section 12.8.3.3.1): the SHA-1 digest of the ``/ByteRange`` is the
  *encapsulated content* of the CMS SignedData, which signs it as usual. The byte range is checked
  against that content here; the CMS itself is judged by ``cades.verify_signer`` like any other.
* ``adbe.x509.rsa_sha1`` (section 12.8.3.2): ``/Contents`` is a DER OCTET STRING holding a PKCS#1
  v1.5 RSA signature over the byte range (its DigestInfo names the digest), the signer's
  certificate and its chain are in ``/Cert``. There is no CMS: no signed attributes, no
  time-stamp, only the claimed time ``/M``.

Both are deprecated by ISO 32000-2 and carry SHA-1: the report names them "PDF-legacy" with a
warning, and SHA-1 is refused as the project refuses weak digests everywhere (INDETERMINATE/
CRYPTO_CONSTRAINTS_FAILURE, EN 319 102-1 section 5.2.8 signature acceptance), the signature value
being reported correct when it is.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import algos, core
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature, extract_contents

from ..pki.cms import PARSE_ERRORS, CmsMaterial
from .cades import correct_signature_value
from .chain import (
    Environment,
    SigningTimes,
    certificate_category,
    crypto_cert,
    signer_identity,
    validate_certificate,
)
from .model import (
    Check,
    SignatureReport,
    SubIndication,
    indeterminate,
    not_applicable,
    passed,
    total_failed,
    warning,
)
from .validation_material import Skipped, skipped_check, sound_certificate

__all__ = ["LEGACY_FORMAT", "PKCS7_SHA1", "X509_RSA_SHA1", "RawPdfSignature", "legacy_warning",
           "pkcs7_sha1_content", "verify_x509_rsa_sha1"]

PKCS7_SHA1 = "/adbe.pkcs7.sha1"
X509_RSA_SHA1 = "/adbe.x509.rsa_sha1"
LEGACY_FORMAT = "PDF-legacy"


def legacy_warning(env: Environment, subfilter: str) -> Check:
    return warning("legacy_format", env.t(
        "Signature PDF ancienne ({s}, ISO 32000-1 §12.8.3) : format abandonné par ISO 32000-2, fondé sur SHA-1.",
        "Legacy PDF signature ({s}, ISO 32000-1 §12.8.3): a format ISO 32000-2 deprecates, built on SHA-1.",
        s=subfilter.lstrip("/")))


def pkcs7_sha1_content(env: Environment, emb: EmbeddedPdfSignature) -> tuple[Check, bytes | None]:
    """adbe.pkcs7.sha1: the encapsulated content must be SHA-1 of the byte range. Returns the
    "byte_range" check and the digest of the encapsulated content for the CMS message-digest."""
    try:
        content = emb.signed_data["encap_content_info"]["content"].native
    except PARSE_ERRORS:
        content = None
    if not isinstance(content, bytes):
        return total_failed("byte_range", env.t(
            "adbe.pkcs7.sha1 sans contenu encapsulé (l'empreinte SHA-1 de la plage signée est attendue).",
            "adbe.pkcs7.sha1 without encapsulated content (the SHA-1 digest of the signed range is expected)."),
            SubIndication.FORMAT_FAILURE), None
    try:
        digest: bytes | None = hashlib.new(emb.md_algorithm, content).digest()
    except (ValueError, TypeError):
        digest = None
    if content != emb.compute_digest("sha1"):
        return total_failed("byte_range", env.t(
            "Le document a été modifié après la signature (empreinte SHA-1 de la plage signée différente).",
            "The document changed after signing (SHA-1 digest of the signed range differs)."),
            SubIndication.HASH_FAILURE), digest
    return passed("byte_range", env.t("Empreinte SHA-1 de la plage signée conforme au contenu signé.",
                                      "SHA-1 digest of the signed range matches the signed content.")), digest


class RawPdfSignature(EmbeddedPdfSignature):
    """An ``adbe.x509.rsa_sha1`` signature: pyHanko's coverage and reading without a CMS to parse."""

    def __init__(self, reader: PdfFileReader, sig_field: generic.DictionaryObject, fq_name: str) -> None:
        self.reader = reader
        if isinstance(sig_field, generic.IndirectObject):
            sig_field = sig_field.get_object()
        self.sig_field = sig_field
        sig_object_ref = sig_field.raw_get("/V")
        self.sig_object = sig_object_ref.get_object()
        self.byte_range = self.sig_object.raw_get("/ByteRange")
        self.pkcs7_content = extract_contents(self.sig_object)
        self.md_algorithm = self.external_md_algorithm = "sha1"
        self.signed_revision = reader.xrefs.get_last_change(sig_object_ref.reference)
        self.coverage = None
        self.external_digests = {}
        self._docmdp = None
        self._fieldmdp = None
        self._docmdp_queried = self._fieldmdp_queried = False
        self.tst_signature_digest = None
        self.diff_result = None
        self._integrity_checked = False
        self.fq_name = fq_name
        self._sd_cert_info = None

    @property
    def sig_object_type(self) -> generic.NameObject:
        return generic.NameObject("/Sig")

    @property
    def self_reported_timestamp(self) -> datetime | None:
        """``/M``, the only time this format carries (ISO 32000-1 table 252)."""
        try:
            return generic.parse_pdf_date(self.sig_object["/M"], strict=False)
        except (KeyError, *PARSE_ERRORS, PdfError):
            return None


def _certificates(emb: RawPdfSignature, skipped: Skipped) -> list[asn1_x509.Certificate]:
    value = emb.sig_object.get("/Cert")
    items = list(value) if isinstance(value, generic.ArrayObject) else [value] if value is not None else []
    found = []
    for item in items:
        try:
            cert = asn1_x509.Certificate.load(bytes(item.original_bytes))
        except (*PARSE_ERRORS, AttributeError):
            cert = None
        if cert is not None and sound_certificate(cert):
            found.append(cert)
        else:
            skipped.add("signature", "certificate")
    return found


def _signature_value(env: Environment, emb: RawPdfSignature, cert: asn1_x509.Certificate) -> list[Check]:
    """PKCS#1 v1.5 (RFC 8017 section 8.2.2): recover the DigestInfo, compare it with the byte range digest."""
    try:  # /Contents is zero-padded after the DER value: parse the first TLV only
        value = core.OctetString.load(emb.pkcs7_content, strict=False).native
        if not isinstance(value, bytes):
            raise TypeError("not an OCTET STRING")
    except PARSE_ERRORS as exc:
        return [total_failed("signature_value", env.t("/Contents illisible : {e}", "Unreadable /Contents: {e}",
                                                      e=exc), SubIndication.FORMAT_FAILURE)]
    key = crypto_cert(cert).public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return [total_failed("signature_value", env.t("adbe.x509.rsa_sha1 exige une clé RSA.",
                                                      "adbe.x509.rsa_sha1 requires an RSA key."),
                             SubIndication.FORMAT_FAILURE)]
    try:
        recovered = key.recover_data_from_signature(value, padding.PKCS1v15(), None)
        digest_info = algos.DigestInfo.load(recovered)
        digest_name = digest_info["digest_algorithm"]["algorithm"].native
        claimed = digest_info["digest"].native
    except (InvalidSignature, *PARSE_ERRORS):
        return [total_failed("signature_value", env.t(
            "Valeur de signature incorrecte : la signature ne correspond pas au certificat.",
            "Incorrect signature value: the signature does not match the certificate."),
            SubIndication.SIG_CRYPTO_FAILURE)]
    try:
        actual = emb.compute_digest(digest_name)
    except (ValueError, TypeError, KeyError):
        return [indeterminate("signature_value", env.t("Algorithme d'empreinte inconnu : {a}.",
                                                       "Unknown digest algorithm: {a}.", a=digest_name),
                              SubIndication.CRYPTO_CONSTRAINTS_FAILURE)]
    if actual != claimed:
        return [total_failed("integrity", env.t(
            "Le document a été modifié après la signature (empreinte {a} de la plage signée différente).",
            "The document changed after signing ({a} digest of the signed range differs).", a=digest_name),
            SubIndication.HASH_FAILURE)]
    checks = [passed("integrity", env.t("Empreinte {a} de la plage signée conforme.",
                                        "{a} digest of the signed range matches.", a=digest_name))]
    checks.append(correct_signature_value(env, digest_name, f"RSA PKCS#1 v1.5, {digest_name}"))
    return checks


async def verify_x509_rsa_sha1(env: Environment, emb: RawPdfSignature, pdf_checks: list[Check],
                               dss: CmsMaterial, dss_skipped: Skipped, extra_poe: datetime | None
                               ) -> SignatureReport:
    """One ``adbe.x509.rsa_sha1`` signature, building blocks in the order of EN 319 102-1 section 5.2."""
    report = SignatureReport(id=emb.field_name, format=LEGACY_FORMAT, level="PDF legacy (adbe.x509.rsa_sha1)")
    skipped = Skipped()
    skipped.extend(dss_skipped)
    certificates = _certificates(emb, skipped)
    report.add(passed("format", env.t("Signature PDF adbe.x509.rsa_sha1 (ISO 32000-1 §12.8.3.2).",
                                      "PDF signature adbe.x509.rsa_sha1 (ISO 32000-1 §12.8.3.2).")),
               legacy_warning(env, X509_RSA_SHA1), *pdf_checks)
    if skipped:
        report.add(skipped_check(env, skipped))
    if not certificates:
        report.add(indeterminate("signing_certificate", env.t(
            "Certificat du signataire absent (/Cert).", "The signer's certificate is missing (/Cert)."),
            SubIndication.NO_SIGNING_CERTIFICATE_FOUND))
        return report
    cert = certificates[0]
    report.signer = signer_identity(cert)
    report.add(passed("signing_certificate", env.t("Certificat du signataire : premier de /Cert.",
                                                   "Signer's certificate: the first in /Cert.")))
    report.add(*_signature_value(env, emb, cert))
    times = SigningTimes(claimed=emb.self_reported_timestamp, poe=extra_poe)
    report.signing_time = times.best
    report.signing_time_source = "timestamp" if times.poe else ("claimed" if times.claimed else None)
    chain = await validate_certificate(env, cert, [*certificates[1:], *dss.certificates], times, crls=dss.crls,
                                       ocsps=dss.ocsps)
    report.add(*chain.checks)
    report.add(certificate_category(cert, env, chain.path, times.best))
    if extra_poe is not None:
        report.add(passed("timestamp", env.t("Signature couverte par un horodatage de document du {t}.",
                                             "Signature covered by a document time-stamp of {t}.",
                                             t=env.when(extra_poe))))
    else:
        report.add(not_applicable("timestamp", env.t(
            "Pas d'horodatage : l'heure de signature est celle déclarée par le signataire (/M).",
            "No time-stamp: the signing time is the one claimed by the signer (/M).")))
    report.add(not_applicable("baseline_level", env.t("Signature PDF ancienne : pas de niveau PAdES.",
                                                      "Legacy PDF signature: no PAdES level.")))
    return report
