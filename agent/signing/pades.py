"""PAdES signatures over PDF streams (ETSI EN 319 142-1, ISO 32000-2 section 12.8), with pyHanko.

Levels, as ETSI EN 319 142-1 section 6 defines the baseline profile:

* **B-B** — a CMS signature with SubFilter ``/ETSI.CAdES.detached`` (ISO 32000-2 section 12.8.3.4)
  whose signed attributes carry content-type, message-digest and signing-certificate-v2
  (EN 319 122-1 section 5.2.2) and **no** signing-time attribute: EN 319 142-1 section 6.3 forbids
  it and puts the claimed signing time in the ``/M`` entry of the signature dictionary
  (ISO 32000-1 section 12.8.1, table 252).
* **B-T** — adds a signature-time-stamp unsigned attribute (EN 319 122-1 section 5.3) obtained from
  our :data:`~agent.signing.base.Timestamper` over the signature value.
* **B-LT** — adds, in a later incremental update, a Document Security Store with the certificates,
  CRLs and OCSP responses of the signer's chain and of the TSA's chain (EN 319 142-1 section 5.4.2;
  ISO 32000-2 section 12.8.4.3), fetched by pyHanko from the URLs in the certificates.
* **B-LTA** — adds a document time-stamp (``/DocTimeStamp``, SubFilter ``/ETSI.RFC3161``;
  EN 319 142-1 section 5.4.3; ISO 32000-2 section 12.8.5) in the revision that carries the DSS,
  so the validation material is itself time-stamped.

Every signature is an incremental update (ISO 32000-1 section 7.5.6): signing an already signed
document appends a new signature field (ISO 32000-1 section 12.7.4.5) and leaves the bytes covered
by the earlier signatures untouched. An optional visible stamp is the field's widget annotation
(ISO 32000-1 section 12.5.6.19) with a text appearance in French.

pyHanko is asynchronous; :func:`sign_pdf` is synchronous and runs its own event loop, so call it
from a worker thread (the key store and the TSA client block too).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, TypeVar

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import AxisAlignment, InnerScaling, Margins, SimpleBoxLayoutRule
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter, enumerate_sig_fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner, Signer
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ..i18n import Text
from ..pki.pdf_trailer import NO_TRAILER, pdf_trailer_problem
from ..pki.streams import CHUNK, Progress
from .base import Level, SigningKey, Timestamper

__all__ = ["LEVELS", "VisibleStamp", "KeySigner", "CallableTimeStamper", "sign_pdf", "default_stamp_text"]

LEVELS: tuple[Level, ...] = ("B-B", "B-T", "B-LT", "B-LTA")
_DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
#: Characters a WinAnsi Courier appearance shows as PDFDocEncoding writes them (ISO 32000-1 annex D).
_STAMP_REPLACEMENTS = {"œ": "oe", "Œ": "OE", "’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-",
                       "…": "...", "€": "EUR", "\u00a0": " "}
T = TypeVar("T")


@dataclass(frozen=True)
class VisibleStamp:
    """Where the signature shows on the page (a widget annotation, ISO 32000-1 section 12.5.6.19).

    ``page`` is 1-based, ``-1`` meaning the last page; ``box`` is ``(x1, y1, x2, y2)`` in PDF points
    from the page's lower-left corner; ``text`` replaces the default "Signé par …" lines.
    """

    page: int
    box: tuple[float, float, float, float]
    text: str | None = None


# --- pyHanko bridges -------------------------------------------------------------------------


def _asn1_certificate(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _mechanism(key: SigningKey) -> algos.SignedDigestAlgorithm:
    """The CMS signatureAlgorithm for the key's scheme (RFC 5754 section 3, RFC 4056, RFC 5753)."""
    hash_name = key.hash_name
    if key.scheme == "ecdsa":
        return algos.SignedDigestAlgorithm({"algorithm": f"{hash_name}_ecdsa"})
    if key.scheme == "pkcs1v15":
        return algos.SignedDigestAlgorithm({"algorithm": f"{hash_name}_rsa"})
    if key.scheme == "pss":
        digest = algos.DigestAlgorithm({"algorithm": hash_name})
        return algos.SignedDigestAlgorithm({
            "algorithm": "rsassa_pss",
            "parameters": algos.RSASSAPSSParams({
                "hash_algorithm": digest,
                "mask_gen_algorithm": algos.MaskGenAlgorithm({"algorithm": "mgf1", "parameters": digest}),
                "salt_length": _DIGEST_SIZES[hash_name],
                "trailer_field": "trailer_field_bc",
            }),
        })
    raise ValueError(f"unsupported signature scheme {key.scheme!r}")


def _signature_size(key: SigningKey) -> int:
    """Upper bound of the raw signature's size, for pyHanko's dry run (no key operation)."""
    public = key.certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        return (public.key_size + 7) // 8
    if isinstance(public, ec.EllipticCurvePublicKey):
        coordinate = (public.curve.key_size + 7) // 8
        return 2 * (coordinate + 3) + 3  # DER ECDSA-Sig-Value: SEQUENCE of two INTEGERs
    raise ValueError(f"unsupported key type {type(public).__name__}")


class KeySigner(Signer):
    """A pyHanko ``Signer`` whose private key is our :class:`SigningKey` (token, PKCS#12, OS store).

    pyHanko hands over the DER of the signed attributes; we hash them with the key's hash and the
    key store signs the digest (RFC 5652 section 5.4), so a token only ever sees 32 to 64 bytes.
    """

    def __init__(self, key: SigningKey) -> None:
        if key.hash_name not in _DIGEST_SIZES:
            raise ValueError(f"unsupported hash {key.hash_name!r}")
        super().__init__(
            signing_cert=_asn1_certificate(key.certificate),
            cert_registry=SimpleCertificateStore.from_certs([_asn1_certificate(c) for c in key.chain]),
            signature_mechanism=_mechanism(key),
            embed_roots=True,
        )
        self.key = key
        self._dry_run_size = _signature_size(key)

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if digest_algorithm != self.key.hash_name:
            raise SigningError(f"digest {digest_algorithm} requested, the key signs with {self.key.hash_name}")
        if dry_run:
            return bytes(self._dry_run_size)
        digest = hashlib.new(digest_algorithm, data).digest()
        # A blocking call on purpose: the event loop is ours alone (see _run), and PKCS#11
        # sessions are best used from the thread that opened them.
        return self.key.sign_digest(digest, digest_algorithm)


class CallableTimeStamper(TimeStamper):
    """A pyHanko ``TimeStamper`` over our :data:`Timestamper` callable (RFC 3161 section 2.4.2).

    The token must imprint exactly the digest asked for, whatever produced it.
    """

    def __init__(self, timestamper: Timestamper) -> None:
        super().__init__(include_nonce=False)  # the callable makes its own request (and nonce)
        self._timestamper = timestamper

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        token = cms.ContentInfo.load(self._timestamper(message_digest, md_algorithm))  # type: ignore[arg-type]
        try:
            info = token["content"]["encap_content_info"]["content"].parsed
            if not isinstance(info, tsp.TSTInfo):
                raise ValueError("not a TSTInfo")
            imprint = info["message_imprint"]
            matches = (imprint["hashed_message"].native == message_digest
                       and imprint["hash_algorithm"]["algorithm"].native == md_algorithm)
        except (ValueError, KeyError, TypeError) as exc:
            raise SigningError("Jeton d'horodatage illisible.") from exc
        if not matches:
            raise SigningError("Le jeton d'horodatage ne porte pas sur la signature demandée.")
        return token


# --- stamp text ------------------------------------------------------------------------------


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def _french_date(when: datetime) -> str:
    offset = when.strftime("%z")
    zone = f"UTC{offset[:3]}:{offset[3:]}" if offset else "heure locale"
    return f"le {when:%d/%m/%Y à %H:%M:%S} ({zone})"


def default_stamp_text(certificate: x509.Certificate, when: datetime, reason: str | None = None) -> str:
    """``Signé par <CN>`` / ``le <date> à <heure> (UTC±hh:mm)`` / ``<motif>``."""
    lines = [f"Signé par {_common_name(certificate)}", _french_date(when)]
    if reason:
        lines.append(reason)
    return "\n".join(lines)


def _stamp_safe(text: str) -> str:
    """Text the standard Courier font (WinAnsiEncoding) renders as written: Latin-1 letters stay,
    typographic signs get their ASCII form, other characters their unaccented form or ``?``."""
    out = []
    for char in text:
        char = _STAMP_REPLACEMENTS.get(char, char)
        if char == "\n" or all(0x20 <= ord(c) <= 0x7E or 0xA1 <= ord(c) <= 0xFF for c in char):
            out.append(char)
            continue
        ascii_form = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        out.append(ascii_form or "?")
    return "".join(out)


def _stamp_style(text: str) -> TextStampStyle:
    # pyHanko %-formats the stamp text with its own parameters: escape ours.
    # The text block is scaled (keeping its proportions) to fill whatever box the page asked for.
    layout = SimpleBoxLayoutRule(x_align=AxisAlignment.ALIGN_MIN, y_align=AxisAlignment.ALIGN_MID,
                                 margins=Margins.uniform(4), inner_content_scaling=InnerScaling.STRETCH_TO_FIT)
    return TextStampStyle(stamp_text=_stamp_safe(text).replace("%", "%%"), background=None, border_width=1,
                          text_box_style=TextBoxStyle(font_size=10), inner_content_layout=layout)


# --- streams and progress --------------------------------------------------------------------


NOT_A_PDF = Text("ce fichier n'est pas un PDF lisible ({e})", "this file is not a readable PDF ({e})")


class PdfRefused(ValueError):
    """The document cannot be signed as it is; ``text`` says why in French and English."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.fr)
        self.text = text


class _ChunkedWriter(IncrementalPdfFileWriter):
    """pyHanko's incremental writer, copying the original revision in 1 MiB chunks (not 4 KiB)."""

    IO_CHUNK_SIZE = CHUNK


class _ProgressStream:
    """The output stream, counting the bytes pyHanko writes and reads back (copy, then digests).

    It has no buffer interface, so pyHanko digests it in ``chunk_size`` reads instead of mapping it
    whole; everything else is passed through to the real stream.
    """

    def __init__(self, inner: BinaryIO, total: int, progress: Progress | None) -> None:
        self._inner = inner
        self._total = total
        self._progress = progress
        self._done = 0
        self._reported = 0

    def _count(self, n: int) -> None:
        self._done += n
        if self._progress is not None and self._done - self._reported >= CHUNK:
            self._reported = self._done
            self._progress(min(self._done, self._total), self._total)

    def write(self, data: Any) -> int:
        written = self._inner.write(data)
        self._count(len(data) if written is None else written)
        return len(data) if written is None else written

    def readinto(self, buffer: Any) -> int:
        n = self._inner.readinto(buffer) or 0  # type: ignore[attr-defined]
        self._count(n)
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._inner.read(size)
        self._count(len(data))
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _stream_size(stream: BinaryIO) -> int:
    position = stream.tell()
    size = stream.seek(0, 2)
    stream.seek(position)
    return size


# --- the engine ------------------------------------------------------------------------------


def _check_level(level: str, timestamper: Timestamper | None) -> Level:
    normal = level.strip().upper().removeprefix("PADES-")
    if normal not in LEVELS:
        raise ValueError(f"niveau PAdES inconnu : {level!r} (attendu : {', '.join(LEVELS)})")
    if normal != "B-B" and timestamper is None:
        raise ValueError(f"le niveau {normal} demande un service d'horodatage")
    return normal


def _page_index(page: int, count: int) -> int:
    """pyHanko's 0-based index (negative from the end) for our 1-based page, -1 = last."""
    if page == 0 or not -count <= page <= count:
        raise PdfRefused(Text("page {p} hors du document ({n} page(s))",
                              "page {p} outside the document ({n} page(s))").filled(p=page, n=count))
    return page - 1 if page > 0 else page


def _free_field_name(writer: IncrementalPdfFileWriter) -> str:
    taken = {name for name, _, _ in enumerate_sig_fields(writer.prev)}
    n = len(taken) + 1
    while f"Signature{n}" in taken:
        n += 1
    return f"Signature{n}"


def _validation_context(key: SigningKey, trust_roots: Sequence[x509.Certificate]) -> ValidationContext:
    """Revocation data for the DSS: fetched online, and a fetch failure fails the signature
    (``hard-fail``) rather than producing a "B-LT" without the data that makes it one."""
    return ValidationContext(
        trust_roots=[_asn1_certificate(c) for c in trust_roots] or None,
        other_certs=[_asn1_certificate(c) for c in key.chain],
        allow_fetching=True,
        revocation_mode="hard-fail",
    )


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion: here if this thread has no event loop, else in a helper thread."""

    async def main() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pades") as pool:
        return pool.submit(asyncio.run, main()).result()


def sign_pdf(source: BinaryIO, output: BinaryIO, key: SigningKey, *, level: str = "B-B",
             timestamper: Timestamper | None = None, trust_roots: Sequence[x509.Certificate] = (),
             reason: str | None = None, location: str | None = None, stamp: VisibleStamp | None = None,
             field_name: str | None = None, progress: Progress | None = None) -> None:
    """Sign the PDF read from ``source`` into ``output`` at PAdES ``level`` (see the module docstring).

    ``source`` must be readable and seekable; ``output`` should be opened ``"w+b"`` (pyHanko reads
    it back to digest the byte ranges; a write-only stream makes pyHanko buffer the whole document
    in memory). Nothing but ``output`` is written. ``trust_roots`` anchor the chain validation that
    B-LT and B-LTA do to collect revocation data. ``field_name`` defaults to the first free
    ``SignatureN``. ``progress(done, total)`` counts the bytes copied and digested.

    Raises ``ValueError`` for an unknown level, a level above B-B without ``timestamper``, a stamp
    outside the document or an encrypted PDF; pyHanko's ``SigningError`` when the document refuses
    another signature (certified with no changes allowed, field already signed) or the chain or its
    revocation data cannot be obtained; and whatever the key or the timestamper raise.
    """
    normal = _check_level(level, timestamper)
    size = _stream_size(source)
    passes = 3 if normal == "B-LTA" else 2  # copy + digest, and the document time-stamp's digest
    total = max(size * passes, 1)
    if progress is not None:
        progress(0, total)

    problem = pdf_trailer_problem(source)
    if problem is not None:
        raise PdfRefused(Text(NOT_A_PDF.fr.format(e=NO_TRAILER.fr), NOT_A_PDF.en.format(e=NO_TRAILER.en)))
    try:
        writer = _ChunkedWriter(source, strict=False)
    except PdfError as exc:
        raise PdfRefused(NOT_A_PDF.filled(e=exc)) from exc
    if writer.prev.encrypted:
        raise PdfRefused(Text("document PDF chiffré : retirez la protection avant de le signer",
                              "encrypted PDF document: remove its protection before signing it"))
    name = field_name or _free_field_name(writer)
    field_spec = None
    style = None
    if stamp is not None:
        x1, y1, x2, y2 = stamp.box
        if x2 <= x1 or y2 <= y1:
            raise PdfRefused(Text("cadre du tampon invalide : {b}", "invalid stamp box: {b}").filled(b=stamp.box))
        count = int(writer.root["/Pages"]["/Count"])
        field_spec = SigFieldSpec(name, on_page=_page_index(stamp.page, count), box=stamp.box)  # type: ignore[arg-type]
        text = stamp.text
        if text is None:
            text = default_stamp_text(key.certificate, datetime.now().astimezone(), reason)
        style = _stamp_style(text)

    long_term = normal in ("B-LT", "B-LTA")
    context = _validation_context(key, trust_roots) if long_term else None
    metadata = PdfSignatureMetadata(
        field_name=name,
        md_algorithm=key.hash_name,
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        embed_validation_info=long_term,
        use_pades_lta=normal == "B-LTA",
        validation_context=context,
        # Key usage is judged when the certificate is offered (agent.pki.key_usage), not here.
        signer_key_usage=set(),
    )
    signer = PdfSigner(
        metadata,
        KeySigner(key),
        timestamper=CallableTimeStamper(timestamper) if timestamper is not None and normal != "B-B" else None,
        stamp_style=style,
        new_field_spec=field_spec,
    )
    counted = _ProgressStream(output, total, progress)

    async def sign() -> None:
        try:
            await signer.async_sign_pdf(writer, output=counted, chunk_size=CHUNK)
        finally:
            if context is not None:
                await context.aclose()  # the fetchers' HTTP sessions belong to this event loop

    _run(sign)
    output.flush()
    if progress is not None:
        progress(total, total)
