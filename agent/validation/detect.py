"""Format detection and the ``verify_file`` entry point (ETSI EN 319 102-1 validation of every signature).

The format comes from the file's first bytes, never from its name, in this order:

0. An ASiC container (ETSI EN 319 162-1) when a ZIP local file header (``PK\x03\x04``, APPNOTE
   section 4.3.7) opens the file.
1. CMS, recognised by structure (``cms_stream.looks_like_cms``: a DER/BER SEQUENCE whose first element
   is a PKCS #7 content type, or the same in PEM armour or bare base64). First, because an attached
   CAdES around a PDF (``offre.pdf.p7m``) holds ``%PDF-`` within its first KiB.
2. PDF when ``%PDF-`` opens the file (ISO 32000-1 section 7.5.2).
3. Any other binary SEQUENCE or PEM armour: CMS (reported as an unreadable signature, not as a PDF).
4. XML: ``<`` after an optional BOM and white space (or UTF-16 ``<``).
5. PDF when ``%PDF-`` appears within the first KiB: readers tolerate that much leading garbage
   (a BOM, a mail or HTTP preamble; Acrobat accepts the header anywhere in the first 1024 bytes,
   as ISO 32000-2 section 7.5.2 notes readers may), once CMS and XML have been ruled out.

Anything else is reported as FORMAT_FAILURE. An attached CAdES whose content is a PDF, an XML
document or another CMS signature has that document's own signatures verified too: its report is an
entry of ``VerificationReport.contents`` (nested again for a CMS inside a CMS).

``verify_file`` is synchronous, to be called from a worker thread: it runs its own event loop for
pyhanko-certvalidator (from a helper thread if the calling thread already runs one). It never
raises for bad *content* — garbage, truncated DER, broken PDFs, hostile XML all become a report —
only for a file that cannot be opened (``OSError``), which callers map to "unreadable input".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import tempfile
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from ..pki.streams import Progress
from .chain import DEFAULT_POOL, Environment, anchor_certs
from .cms_stream import looks_like_cms
from .model import (
    Check,
    CheckStatus,
    Indication,
    SignatureReport,
    SubIndication,
    VerificationReport,
    not_checked,
)

if TYPE_CHECKING:
    from .trusted_lists import TrustedListSet

__all__ = ["detect_format", "verify_file", "verify_file_json"]

log = logging.getLogger(__name__)
Certificate: TypeAlias = x509.Certificate | asn1_x509.Certificate


def detect_format(head: bytes) -> str | None:
    """``"asic"``, ``"pdf"``, ``"xml"``, ``"cms"`` or None, from the first bytes of a file (order: module docstring)."""
    if head.startswith(b"PK\x03\x04"):
        return "asic"
    if looks_like_cms(head):
        return "cms"
    if head.startswith(b"%PDF-"):
        return "pdf"
    stripped = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if head[:1] == b"\x30" or stripped.startswith(b"-----BEGIN"):
        return "cms"
    if stripped.startswith(b"<"):
        return "xml"
    if head.startswith((b"\xff\xfe<", b"\xfe\xff\x00<")):
        return "xml"
    if b"%PDF-" in head[:1024]:
        return "pdf"
    return None


#: Attached signatures verified inside one another at most this deep (``x.pdf.p7m.p7m`` is 2): a
#: hostile file could nest them without end, each level spooled to disk.
MAX_NESTING = 4
#: The documents whose own signatures an attached CAdES's content is verified for, and the suffix
#: their name gets when the wrapping file's name does not tell it.
_WRAPPED_SUFFIXES = {"pdf": ".pdf", "xml": ".xml", "cms": ".p7m"}


def _wrapped_kind(head: bytes) -> str | None:
    """``"cms"``, ``"pdf"`` or ``"xml"`` for a wrapped document that may hold signatures of its own,
    from its first bytes (:func:`detect_format`, but only a real CMS structure counts as CMS)."""
    if looks_like_cms(head):
        return "cms"
    kind = detect_format(head)
    return kind if kind in ("pdf", "xml") else None


def _wrapped_name(name: str, kind: str) -> str:
    """The name the document had before it was signed: ``offre.pdf.p7m`` -> ``offre.pdf``."""
    stem, dot, suffix = name.rpartition(".")
    if dot and f".{suffix.lower()}" in (".p7m", ".p7s", ".p7", ".pkcs7", ".xp7s") and "." in stem:
        return stem
    return f"{stem if dot else name}{_WRAPPED_SUFFIXES[kind]}"


async def _verify_cms_file(env: Environment, path: Path, content: Path | None, progress: Progress | None, *,
                           name: str | None = None, depth: int = 1
                           ) -> tuple[list[SignatureReport], list[VerificationReport]]:
    """An attached CAdES: its signers, then the signatures of the document it holds (ETSI EN 319
    102-1 for each) when that is a PDF (PAdES), an XML document (XAdES) or another CMS signature
    (CAdES, whose own content is looked into the same way, ``MAX_NESTING`` levels at most).

    A wrapped document that starts as one of these but cannot be read as one is no failed signature:
    its signatures, if any, are *not checked* (INDETERMINATE), which the nested entry says."""
    from .cades import verify_cms

    kinds: list[str | None] = []

    def wanted(head: bytes) -> bool:
        kinds.append(_wrapped_kind(head))
        return kinds[-1] is not None

    with tempfile.TemporaryDirectory(prefix="compagnon-verify-") as folder:
        spool = Path(folder) / "content"
        outcome = await verify_cms(env, path, content, progress, spool=spool, spool_if=wanted)
        if outcome.content is None or not kinds or kinds[0] is None:
            return outcome.signatures, []
        kind = kinds[0]
        inner = VerificationReport(file=_wrapped_name(name or path.name, kind))
        if kind == "cms" and depth >= MAX_NESTING:
            inner.signatures = [_too_deep(env)]
        elif kind == "cms":
            signatures, inner.contents = await _verify_cms_file(env, outcome.content, None, None, name=inner.file,
                                                                depth=depth + 1)
            inner.signatures = [_not_checked_if_unreadable(env, s, kind) for s in signatures]
        elif kind == "pdf":
            from .pades import verify_pdf

            inner.signatures = [_not_checked_if_unreadable(env, s, kind)
                                for s in await verify_pdf(env, outcome.content, None)]
        else:
            from .xades import verify_xml

            inner.signatures = [_not_checked_if_unreadable(env, s, kind)
                                for s in await verify_xml(env, outcome.content, None, None)]
        return outcome.signatures, [inner]


#: How each validator reports a document it could not read at all (a single report with a failed
#: ``format`` check): the PDF validator under the id "PDF", the XML and CMS ones under their format.
_UNREADABLE = {"pdf": lambda s: s.id == "PDF", "xml": lambda s: s.format == "XML",
               "cms": lambda s: s.format == "CMS"}
_KIND_NAMES = {"pdf": "PDF", "xml": "XML", "cms": "CMS"}


def _not_checked_if_unreadable(env: Environment, signature: SignatureReport, kind: str) -> SignatureReport:
    """The whole-document failure of an unreadable wrapped document, as "not checked"."""
    check = signature.check("format")
    if not _UNREADABLE[kind](signature) or check is None or check.status is not CheckStatus.FAILED:
        return signature
    unread = SignatureReport(id=signature.id, format=signature.format)
    unread.add(not_checked("format", env.t(
        "Le document contenu n'a pas pu être lu comme {k} ({m}) : ses signatures éventuelles "
        "ne sont pas vérifiées.",
        "The enclosed document could not be read as {k} ({m}): its signatures, if any, are not checked.",
        k=_KIND_NAMES[kind], m=check.message), Indication.INDETERMINATE, SubIndication.GENERIC))
    return unread


def _too_deep(env: Environment) -> SignatureReport:
    """The report of a signature wrapped deeper than ``MAX_NESTING``: not verified."""
    report = SignatureReport(id="S1", format="CMS")
    report.add(not_checked("format", env.t(
        "Signatures imbriquées sur plus de {n} niveaux : celles de ce document ne sont pas vérifiées.",
        "Signatures nested more than {n} levels deep: those of this document are not checked.", n=MAX_NESTING),
        Indication.INDETERMINATE, SubIndication.GENERIC))
    return report


def _run(coroutine_factory):  # type: ignore[no-untyped-def]
    """Run a coroutine to completion in a fresh event loop (in a helper thread if one runs here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine_factory())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="verify") as pool:
        return pool.submit(lambda: asyncio.run(coroutine_factory())).result()


def verify_file(path: Path, *, content: Path | None = None, trust_roots: Sequence[Certificate | bytes],
                allow_fetching: bool = True, locale: str = "fr", progress: Progress | None = None,
                rgs_policies: Collection[str] = (), intermediates: Sequence[Certificate | bytes] = (),
                trusted_lists: TrustedListSet | None = None) -> VerificationReport:
    """Verify every signature of ``path`` (PAdES, CAdES, XAdES or an ASiC container) against ``trust_roots``.

    ``content`` is the signed file of a detached signature (else it is looked for next to ``path``
    by name). ``allow_fetching`` lets OCSP/CRL be fetched online (timeouts, cached a few minutes);
    revocation data in the file is always used. ``locale`` is ``"fr"`` (default) or ``"en"``.
    ``progress(done, total)`` follows the hashing of the signed data, in bytes. ``intermediates``
    are CA certificates known to the agent (used to build paths, never trusted as anchors),
    ``rgs_policies`` the RGS policy OIDs an administrator configured, ``trusted_lists`` the
    verified EU trusted lists that decide whether a certificate was qualified at signing time.
    Certificates may be given as DER bytes (a process that does not parse them hands them over so)
    or as asn1crypto objects: a caller verifying many files converts its anchors once
    (:func:`agent.validation.batch.prepare_certificates`).
    """
    path = Path(path)
    with path.open("rb") as stream:  # OSError here is the caller's "unreadable input"
        head = stream.read(4096)
    report = VerificationReport(file=path.name)
    fetchers = DEFAULT_POOL.acquire() if allow_fetching else None
    env = Environment(trust_roots=anchor_certs(trust_roots), allow_fetching=allow_fetching,
                      locale="en" if locale == "en" else "fr", fetchers=fetchers[1] if fetchers else None,
                      now=datetime.now(UTC), rgs_policies=frozenset(rgs_policies),
                      intermediates=anchor_certs(intermediates), trusted_lists=trusted_lists)
    kind = detect_format(head)

    async def main() -> list[SignatureReport]:
        # Each format's validator is imported when a file needs it: pyHanko's PDF and signing
        # modules cost most of a one-file start-up, and an XML signature needs neither.
        if kind == "asic":
            from .asic import verify_asic

            signatures, report.container = await verify_asic(env, path, progress)
            return signatures
        if kind == "pdf":
            from .pades import verify_pdf

            return await verify_pdf(env, path, progress)
        if kind == "xml":
            from .xades import verify_xml

            from .pes import annotate_pes, looks_like_pes

            signatures = await verify_xml(env, path, content, progress)
            if looks_like_pes(head):
                return await asyncio.to_thread(annotate_pes, env, path, signatures)
            return signatures
        if kind == "cms":
            signatures, report.contents = await _verify_cms_file(env, path, content, progress)
            return signatures
        from .cades import format_failure

        message = env.t("Format non reconnu : ni PDF, ni XML, ni signature CMS/CAdES.",
                        "Unknown format: neither PDF, XML nor a CMS/CAdES signature.") if head else \
            env.t("Fichier vide.", "Empty file.")
        return [format_failure(env, "S1", "unknown", message)]

    try:
        report.signatures = _run(main)
    except Exception as exc:  # noqa: BLE001 — a report, never a crash, for whatever the file holds
        log.exception("verification of %s failed", path.name)
        failure = SignatureReport(id="S1", format=kind or "unknown")
        failure.add(Check("format", CheckStatus.FAILED, env.t("Vérification impossible : {e}",
                                                              "Verification failed: {e}",
                                                             e=f"{type(exc).__name__}: {exc}"),
                          Indication.INDETERMINATE, SubIndication.GENERIC))
        report.signatures = [failure]
    if fetchers is not None:
        DEFAULT_POOL.release(fetchers, reusable=not any(
            s.sub_indication in (SubIndication.TRY_LATER, SubIndication.GENERIC) or
            any(c.sub_indication is SubIndication.TRY_LATER for c in s.checks)
            for s in report.all_signatures()))
    return report


def verify_file_json(path: Path, **options: Any) -> dict[str, Any]:
    """:func:`verify_file`'s report as JSON: what a worker process (agent.isolation) sends back."""
    return verify_file(path, **options).to_json()
