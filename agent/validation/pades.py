"""PAdES validation: every signature field and document time-stamp of a PDF (ETSI EN 319 142-1).

A PDF signature is a detached CAdES signature over the ``/ByteRange`` of its revision; the CMS part
is judged by ``cades.verify_signer`` (EN 319 102-1 building blocks). What is PDF-specific, from
pyHanko's reader and difference analysis:

* **coverage** — which bytes the signature covers (the whole file, or a complete earlier revision
  followed by incremental updates); a non-standard ``/ByteRange`` is refused;
* **modification** — what was appended after the signed revision, judged by ``pdf_changes`` as the
  EU validation policy does: validation data, document time-stamps, other signatures and permitted
  form filling pass; annotations pass with a warning; unclassified changes warn; what the signer's
  DocMDP/FieldMDP forbids and any change to a signed page's content are TOTAL_FAILED/FORMAT_FAILURE
  (EN 319 102-1 section 5.2.2: the PDF fails format checking); an analysis that cannot finish is
  INDETERMINATE. pdfsig does not see these changes, this check does;
* **document time-stamps** (``/DocTimeStamp``, ISO 32000-2 section 12.8.5) are reported as entries of
  their own and give a proof of existence to the signatures of earlier revisions (B-T through a
  document time-stamp, B-LTA over the DSS);
* **DSS** (EN 319 142-1 section 5.4.2, read by ``pdf_dss``): its certificates, OCSP responses and
  CRLs are used for validation, as the B-LT level intends; a malformed item is skipped with a
  warning, never fatal. The ``/TS`` time-stamp of a signature's VRI entry (section 5.4.2.2) is
  verified over the signature value and reported ("vri_timestamp"); it gives no level;
* every signature is reported on its own: an exception while validating one becomes that
  signature's INDETERMINATE entry; a signature dictionary shared by two fields is one signature.

Baseline levels (EN 319 142-1 section 6): B-B (SubFilter ``ETSI.CAdES.detached``, content-type,
message-digest, signing-certificate-v2, *no* signing-time attribute: the claimed time is ``/M``),
B-T (signature time-stamp or document time-stamp), B-LT (DSS after the signature), B-LTA (a
document time-stamp over the DSS). ``adbe.pkcs7.detached`` signatures are format "PDF", level
"PDF (ISO 32000-1)"; the legacy ``adbe.pkcs7.sha1`` and ``adbe.x509.rsa_sha1`` are "PDF-legacy"
(``pdf_legacy``). An encrypted PDF is read when its user password is empty (ISO 32000-1 section
7.6.3.3), else reported INDETERMINATE.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.crypt.api import AuthStatus
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from ..pki.cms import PARSE_ERRORS
from ..pki.pdf_trailer import pdf_trailer_problem
from ..pki.streams import Progress
from .cades import (
    _attr_count,
    format_failure,
    imprint_checker,
    verify_signer,
    verify_timestamp,
)
from .chain import Environment, signer_identity
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
from .pdf_changes import changes_check
from .pdf_dss import DssContent, read_dss
from .pdf_legacy import (
    LEGACY_FORMAT,
    PKCS7_SHA1,
    X509_RSA_SHA1,
    RawPdfSignature,
    legacy_warning,
    pkcs7_sha1_content,
    verify_x509_rsa_sha1,
)
from .validation_material import Skipped, material_from_signed_data, skipped_check

__all__ = ["verify_pdf"]

log = logging.getLogger(__name__)

PADES = "/ETSI.CAdES.detached"
#: The level reported for ISO 32000-1 signatures that are not PAdES (adbe.pkcs7.detached).
PDF_LEVEL = "PDF (ISO 32000-1)"
PKCS7 = "/adbe.pkcs7.detached"
RFC3161 = "/ETSI.RFC3161"
#: What pyHanko raises on a malformed file: also ``OSError`` for a seek to an offset the file's own
#: cross-reference data puts before its start (``startxref`` near 0), and ``AssertionError`` for a
#: signature field whose ``/V`` is no dictionary: content, not an I/O failure nor a bug of ours.
READ_ERRORS = (PdfError, OSError, AssertionError, *PARSE_ERRORS)


@dataclass
class _Document:
    """What the signatures of one PDF share."""

    reader: PdfFileReader
    revisions: int
    dss: DssContent = field(default_factory=DssContent)
    #: (signed revision, time) of every valid document time-stamp.
    doc_timestamps: list[tuple[int, datetime]] = field(default_factory=list)

    @property
    def dss_revision(self) -> int | None:
        return self.dss.revision


def _coverage(env: Environment, emb: EmbeddedPdfSignature, doc: _Document) -> Check:
    coverage = emb.coverage
    what = env.t("L'horodatage", "Time-stamp") if emb.sig_object_type == "/DocTimeStamp" else \
        env.t("La signature", "Signature")
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return passed("coverage", env.t("{w} « {f} » couvre tout le fichier.",
                                        "{w} \"{f}\" covers the whole file.", w=what, f=emb.field_name))
    if coverage == SignatureCoverageLevel.ENTIRE_REVISION:
        return passed("coverage", env.t(
            "{w} « {f} » couvre la révision {r} sur {t} du document ; les mises à jour suivantes sont analysées.",
            "{w} \"{f}\" covers revision {r} of {t} of the document; the later updates are analysed.",
            w=what, f=emb.field_name, r=emb.signed_revision + 1, t=doc.revisions))
    return total_failed("coverage", env.t(
        "Plage signée (/ByteRange) non standard : on ne peut pas dire quelle partie du document est signée.",
        "Non-standard signed range (/ByteRange): what part of the document is signed is unclear."),
        SubIndication.FORMAT_FAILURE)


def _integrity_info(env: Environment, emb: EmbeddedPdfSignature, doc: _Document) -> list[Check]:
    """Coverage (ISO 32000-1 section 12.8.1 /ByteRange) and the changes made after signing (``pdf_changes``)."""
    try:
        emb.compute_integrity_info(skip_diff=True)
    except Exception as exc:  # noqa: BLE001 (pyHanko's reading of hostile files raises anything)
        return [indeterminate("coverage", env.t("Analyse de la plage signée impossible : {e}",
                                                "The signed range could not be analysed: {e}", e=exc),
                              SubIndication.GENERIC)]
    coverage = _coverage(env, emb, doc)
    if emb.coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return [coverage, passed("modification", env.t("Aucune modification après la signature.",
                                                       "No change after signing."))]
    if emb.coverage != SignatureCoverageLevel.ENTIRE_REVISION:
        return [coverage]
    return [coverage, changes_check(env, doc.reader, emb.signed_revision, emb.docmdp_level, emb.fieldmdp)]


def _pades_level(env: Environment, emb: EmbeddedPdfSignature, doc: _Document, subfilter: str
                 ) -> Callable[..., tuple[str | None, Check]]:
    """EN 319 142-1 section 6 baseline levels (a closure over the document for ``verify_signer``)."""

    def rule(info: cms.SignerInfo, *, counter: bool, timestamped: bool, long_term: bool) -> tuple[str | None, Check]:
        if subfilter == PKCS7_SHA1:
            return "PDF legacy (adbe.pkcs7.sha1)", not_applicable("baseline_level", env.t(
                "Signature PDF ancienne (adbe.pkcs7.sha1) : pas de niveau PAdES.",
                "Legacy PDF signature (adbe.pkcs7.sha1): no PAdES level."))
        if subfilter != PADES:
            return PDF_LEVEL, not_applicable("baseline_level", env.t(
                "Signature PDF ISO 32000-1 ({s}) : ce n'est pas une signature PAdES (SubFilter ETSI.CAdES.detached "
                "attendu pour un niveau B-B à B-LTA).",
                "ISO 32000-1 PDF signature ({s}): not a PAdES signature (SubFilter ETSI.CAdES.detached is needed for "
                "the B-B to B-LTA levels).", s=subfilter.lstrip("/")))
        attrs = info["signed_attrs"]
        missing = []
        for name, label in (("content_type", "content-type"), ("message_digest", "message-digest")):
            if _attr_count(attrs, name) != 1:
                missing.append(label)
        if _attr_count(attrs, "signing_certificate_v2") + _attr_count(attrs, "signing_certificate") != 1:
            missing.append("signing-certificate-v2")
        if _attr_count(attrs, "signing_time"):
            missing.append(env.t("pas d'attribut signing-time (l'heure va dans /M)", "no signing-time attribute (/M)"))
        if missing:
            return None, warning("baseline_level", env.t(
                "Pas de niveau PAdES de base (EN 319 142-1) : {m}.", "No PAdES baseline level (EN 319 142-1): {m}.",
                m=", ".join(missing)))
        if not timestamped:
            return "B-B", passed("baseline_level", env.t(
                "B-B : ETSI.CAdES.detached, signing-certificate-v2, heure déclarée dans /M.",
                "B-B: ETSI.CAdES.detached, signing-certificate-v2, claimed time in /M."))
        dss_after = doc.dss_revision is not None and doc.dss_revision > emb.signed_revision
        if not (dss_after and long_term):
            return "B-T", passed("baseline_level", env.t("B-T : B-B et horodatage valide de la signature.",
                                                         "B-T: B-B and a valid time-stamp of the signature."))
        archived = any(revision >= (doc.dss_revision or 0) for revision, _ in doc.doc_timestamps)
        if not archived:
            return "B-LT", passed("baseline_level", env.t(
                "B-LT : B-T et DSS (certificats et données de révocation) ajouté après la signature.",
                "B-LT: B-T and a DSS (certificates and revocation data) added after the signature."))
        return "B-LTA", passed("baseline_level", env.t(
            "B-LTA : B-LT et horodatage de document couvrant le DSS.",
            "B-LTA: B-LT and a document time-stamp covering the DSS."))

    return rule


async def _doc_timestamp(env: Environment, emb: EmbeddedPdfSignature, doc: _Document, cms_bytes: bytes
                         ) -> SignatureReport:
    report = SignatureReport(id=emb.field_name, format="PAdES-DocTimeStamp")
    report.add(passed("format", env.t("Horodatage de document RFC 3161 (ETSI.RFC3161).",
                                      "RFC 3161 document time-stamp (ETSI.RFC3161).")))
    report.add(*_integrity_info(env, emb, doc))
    if doc.dss.skipped:
        report.add(skipped_check(env, doc.dss.skipped))
    outcome = await verify_timestamp(env, cms.ContentInfo.load(cms_bytes), lambda name: emb.compute_digest(name),
                                     extra=doc.dss.material)
    report.signer = signer_identity(outcome.tsa)
    report.signing_time = outcome.time
    report.signing_time_source = "timestamp" if outcome.time else None
    report.add(*outcome.checks)
    report.add(not_applicable("baseline_level", env.t("Horodatage de document (pas de niveau propre).",
                                                      "Document time-stamp (no level of its own).")))
    if report.indication == "TOTAL_PASSED" and outcome.time is not None:
        doc.doc_timestamps.append((emb.signed_revision, outcome.time))
    return report


async def _signature(env: Environment, emb: EmbeddedPdfSignature, doc: _Document, subfilter: str) -> SignatureReport:
    fmt = "PAdES" if subfilter == PADES else LEGACY_FORMAT if subfilter == PKCS7_SHA1 else "PDF"
    label = env.t("Signature PDF {s} (ISO 32000).", "PDF signature {s} (ISO 32000).", s=subfilter.lstrip("/"))
    pdf_checks = [passed("format", label)]
    actual_digest: bytes | None = None
    if subfilter == PKCS7_SHA1:
        pdf_checks.append(legacy_warning(env, subfilter))
        byte_range, actual_digest = pkcs7_sha1_content(env, emb)
        pdf_checks.append(byte_range)
    else:
        actual_digest = emb.compute_digest()
    pdf_checks += _integrity_info(env, emb, doc)
    skipped = Skipped()
    skipped.extend(doc.dss.skipped)
    found = material_from_signed_data(emb.signed_data, "signature", skipped)
    found.extend(doc.dss.material)
    if skipped:
        pdf_checks.append(skipped_check(env, skipped))
    covering = [t for revision, t in doc.doc_timestamps if revision > emb.signed_revision]
    claimed = emb.self_reported_timestamp
    report = await verify_signer(env, emb.signer_info, emb.field_name, found, actual_digest,
                                 content_type="data", fmt=fmt, claimed=claimed,
                                 extra_poe=min(covering) if covering else None,
                                 pdf_checks=pdf_checks, level_rule=_pades_level(env, emb, doc, subfilter))
    report.format = fmt
    vri = await _vri_timestamp_checks(env, emb, doc)
    if vri:
        at = next((i for i, c in enumerate(report.checks) if c.name == "timestamp"), len(report.checks))
        report.checks[at + 1:at + 1] = vri
    return report


async def _vri_timestamp_checks(env: Environment, emb: EmbeddedPdfSignature, doc: _Document) -> list[Check]:
    """The ``/TS`` of this signature's VRI entry (EN 319 142-1 section 5.4.2.2): a time-stamp over the
    signature value, reported on its own ("vri_timestamp"); it neither raises nor lowers the level."""
    # The key is the SHA-1 of the /Contents hexadecimal string (section 5.4.2.2); writers differ on its
    # case, and older ones hashed the binary value.
    contents = emb.pkcs7_content
    keys = {hashlib.sha1(v).hexdigest().upper()
            for v in (contents, contents.hex().encode(), contents.hex().upper().encode())}
    try:
        value = emb.signer_info["signature"].native
    except PARSE_ERRORS:
        return []
    checks = []
    for entry in doc.dss.vri_timestamps:
        if entry.key not in keys:
            continue
        outcome = await verify_timestamp(env, entry.token, imprint_checker(value), extra=doc.dss.material)
        if outcome.ok:
            checks.append(passed("vri_timestamp", env.t(
                "Horodatage du dictionnaire VRI (/TS) : {m}.", "VRI dictionary time-stamp (/TS): {m}.",
                m=outcome.message)))
        else:
            checks.append(warning("vri_timestamp", env.t(
                "Horodatage du dictionnaire VRI (/TS) ignoré, {m}.", "VRI dictionary time-stamp (/TS) ignored, {m}.",
                m=outcome.message)))
    return checks


async def verify_pdf(env: Environment, path: Path, progress: Progress | None) -> list[SignatureReport]:
    """Every signature and document time-stamp of the PDF at ``path``, in revision order."""
    size = path.stat().st_size
    if progress is not None:
        progress(0, size)
    with path.open("rb") as stream:
        problem = pdf_trailer_problem(stream)  # before pyHanko, which can take hours to say it
        if problem is not None:
            return [format_failure(env, "PDF", "PDF", env.t("PDF illisible : {e}", "Unreadable PDF: {e}", e=env.t(
                problem, "no end of PDF file (startxref and %%EOF expected at the end of the file)")))]
        try:
            reader = PdfFileReader(stream, strict=False)
            if reader.encrypted and not _opens_without_password(reader):
                return [_password_needed(env)]
            fields = list(enumerate_sig_fields(reader, filled_status=True))
            revisions = reader.xrefs.total_revisions
        except READ_ERRORS as exc:
            return [format_failure(env, "PDF", "PDF", env.t("PDF illisible : {e}", "Unreadable PDF: {e}", e=exc))]
        doc = _Document(reader, revisions, read_dss(reader))
        items: list[tuple[int, str, Any]] = []
        broken: list[SignatureReport] = []
        seen: set[object] = set()
        for name, sig_object, sig_field in fields:
            # ISO 32000-1 section 12.7.4.5: a signature dictionary two fields share is one signature.
            key = sig_object.reference if isinstance(sig_object, generic.IndirectObject) else id(sig_object)
            if key in seen:
                continue
            seen.add(key)
            try:
                subfilter = str(sig_object.get_object().get("/SubFilter", ""))
                emb: EmbeddedPdfSignature
                if subfilter == X509_RSA_SHA1:
                    emb = RawPdfSignature(reader, sig_field, name)
                else:
                    emb = EmbeddedPdfSignature(reader, sig_field, name)
                items.append((emb.signed_revision, subfilter, emb))
            except READ_ERRORS as exc:
                broken.append(format_failure(env, str(name), "PDF", env.t(
                    "Signature « {n} » illisible : {e}", "Unreadable signature \"{n}\": {e}", n=name, e=exc)))
            except Exception as exc:  # noqa: BLE001 (one signature's failure is its own entry, never the file's)
                broken.append(_not_checked(env, str(name), exc))
        reports: dict[int, SignatureReport] = {}
        # Document time-stamps first, latest first: each gives a POE to the revisions before it.
        order = sorted(range(len(items)), key=lambda i: -items[i][0])
        for index in order:
            _, subfilter, emb = items[index]
            if emb.sig_object_type == "/DocTimeStamp" or subfilter == RFC3161:
                reports[index] = await _guarded(env, emb, lambda e=emb: _doc_timestamp(env, e, doc, e.pkcs7_content))
        for index in order:
            _, subfilter, emb = items[index]
            if index in reports:
                continue
            if subfilter == X509_RSA_SHA1:
                reports[index] = await _guarded(env, emb, lambda e=emb: _raw_signature(env, e, doc))
                continue
            if subfilter not in (PADES, PKCS7, PKCS7_SHA1):
                reports[index] = format_failure(env, emb.field_name, "PDF", env.t(
                    "SubFilter {s} non pris en charge.", "Unsupported SubFilter {s}.", s=subfilter or "?"))
                continue
            reports[index] = await _guarded(env, emb, lambda e=emb, s=subfilter: _signature(env, e, doc, s))
    if progress is not None:
        progress(size, size)
    ordered = sorted(range(len(items)), key=lambda i: items[i][0])
    return [reports[i] for i in ordered] + broken


def _opens_without_password(reader: PdfFileReader) -> bool:
    """ISO 32000-1 section 7.6.3.3: a document whose user password is empty opens for anyone."""
    try:
        return reader.decrypt("").status != AuthStatus.FAILED
    except Exception:  # noqa: BLE001 (an unknown security handler: not readable here)
        return False


def _password_needed(env: Environment) -> SignatureReport:
    report = SignatureReport(id="PDF", format="PDF")
    report.add(indeterminate("format", env.t(
        "PDF chiffré protégé par un mot de passe d'ouverture : ses signatures ne peuvent pas être vérifiées sans "
        "ce mot de passe.",
        "Encrypted PDF protected by an open password: its signatures cannot be verified without that password."),
        SubIndication.GENERIC))
    return report


async def _raw_signature(env: Environment, emb: RawPdfSignature, doc: _Document) -> SignatureReport:
    covering = [t for revision, t in doc.doc_timestamps if revision > emb.signed_revision]
    return await verify_x509_rsa_sha1(env, emb, _integrity_info(env, emb, doc), doc.dss.material, doc.dss.skipped,
                                      min(covering) if covering else None)


def _not_checked(env: Environment, name: str, exc: BaseException) -> SignatureReport:
    """INDETERMINATE/GENERIC for one signature whose validation could not finish (EN 319 102-1 table 5)."""
    log.warning("validation of PDF signature %s failed: %s: %s", name, type(exc).__name__, exc)
    report = SignatureReport(id=name, format="PDF")
    report.add(indeterminate("format", env.t("Vérification de cette signature impossible : {e}",
                                             "This signature could not be verified: {e}",
                                             e=f"{type(exc).__name__}: {exc}"), SubIndication.GENERIC))
    return report


async def _guarded(env: Environment, emb: EmbeddedPdfSignature, make: Any) -> SignatureReport:
    try:
        return await make()
    except READ_ERRORS as exc:
        return format_failure(env, emb.field_name, "PDF", env.t("Signature mal formée : {e}",
                                                                "Malformed signature: {e}",
                                                                e=exc))
    except Exception as exc:  # noqa: BLE001 (one signature's failure is its own entry, never the file's)
        return _not_checked(env, emb.field_name, exc)
