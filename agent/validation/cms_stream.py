"""CMS SignedData read as a stream, for verification: the encapsulated content is never held in memory.

RFC 5652 section 5.1 lays SignedData out as ``version, digestAlgorithms, encapContentInfo
{eContentType, [0] eContent}, [0] certificates, [1] crls, signerInfos``. The content may be as big as
the bid it carries (an attached ``offre.pdf.p7m`` of hundreds of MiB, DER with one primitive OCTET
STRING or BER from ``openssl cms -stream`` cut into segments, X.690 section 8.7.3.2): it is walked
with the project's streaming BER reader (``agent.pki.ber``), hashed in chunks for every digest
algorithm the file announces, and optionally copied to a sink (extraction, or a spool file to verify
the document it wraps). Everything else (algorithm identifiers, certificates, CRLs, SignerInfos) is
small and is read whole under ``MAX_PART`` octets, then handed to asn1crypto as a SignedData whose
content is left out: no signature covers the SignedData's own encoding, so nothing is lost.

Input forms recognised (``cms_source``): DER, BER, PEM armour (RFC 7468 ``PKCS7``/``CMS`` labels)
and bare base64 of the DER, with or without line breaks, as some platforms store their ``.p7m``.
``looks_like_cms`` tells them from the first bytes of a file by structure (a SEQUENCE whose first
element is a PKCS #7 content type OID), before any search for a PDF header inside them.
"""

from __future__ import annotations

import binascii
import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import cms

from ..pki.ber import (
    CONTEXT,
    OCTET_STRING,
    SEQUENCE,
    SET,
    UNIVERSAL,
    BerReader,
    EnvelopeError,
    der_header,
    tlv,
)
from ..errors import CompagnonError

__all__ = ["MAX_PART", "CmsFormatError", "StreamedSignedData", "cms_source", "looks_like_cms",
           "read_signed_data"]

#: Largest non-content part of a SignedData read in memory (certificates, CRLs, SignerInfos):
#: real signatures carry a few hundred KiB of validation data, long-term ones some MiB.
MAX_PART = 64 * 1024 * 1024
#: Octets read at a time from the file (and piece size of the content handed to hashers and sinks).
CHUNK = 1024 * 1024
#: Octets of the content's beginning a sink predicate is given to decide on (the format detection's head).
SINK_HEAD = 4096
#: The PKCS #7 content types arc, 1.2.840.113549.1.7 (RFC 5652 section 14), DER of the OID minus its last arc.
_PKCS7_ARC = bytes.fromhex("06092a864886f70d0107")
_BASE64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_WHITESPACE = b" \t\r\n\x0b\x0c"


class CmsFormatError(CompagnonError, ValueError):
    """The file is not a readable CMS SignedData; the message says where it broke (French; code
    ``CMS_FORMAT``)."""

    def __init__(self, message: str, english: str | None = None) -> None:
        super().__init__("CMS_FORMAT", message, english)


# -- recognising CMS -------------------------------------------------------------------------------


def _der_cms_prefix(data: bytes) -> bool:
    """A SEQUENCE (definite or indefinite length) starting with a PKCS #7 content type OID."""
    if len(data) < 2 or data[0] != 0x30:
        return False
    octet = data[1]
    if octet == 0x80 or octet < 0x80:
        start = 2
    elif 0x81 <= octet <= 0x84:
        start = 2 + (octet & 0x7F)
    else:
        return False
    oid = data[start:start + len(_PKCS7_ARC) + 1]
    return len(oid) == len(_PKCS7_ARC) + 1 and oid.startswith(_PKCS7_ARC) and 1 <= oid[-1] <= 6


def _base64_prefix(text: bytes) -> bytes | None:
    """The first decoded octets of base64 text (whitespace ignored), or None if it is not base64."""
    compact = text.translate(None, _WHITESPACE)[:64]
    compact = compact[:len(compact) - len(compact) % 4]
    if len(compact) < 16 or not set(compact) <= _BASE64:
        return None
    try:
        return binascii.a2b_base64(compact)
    except (binascii.Error, ValueError):
        return None


def looks_like_cms(head: bytes) -> bool:
    """Whether the first bytes of a file are a CMS ContentInfo: binary (DER/BER), PEM or bare base64."""
    if _der_cms_prefix(head):
        return True
    stripped = head.lstrip()
    if stripped.startswith(b"-----BEGIN"):
        line_end = stripped.find(b"\n")
        if line_end < 0:
            return False
        decoded = _base64_prefix(stripped[line_end + 1:].split(b"-----", 1)[0])
        return decoded is not None and _der_cms_prefix(decoded)
    decoded = _base64_prefix(stripped)
    return decoded is not None and _der_cms_prefix(decoded)


# -- text forms -----------------------------------------------------------------------------------


class _Base64Reader(io.RawIOBase):
    """The octets of base64 text read from ``source`` in chunks (never line by line: a bare base64
    file may be one line of hundreds of MiB). PEM armour lines are skipped (RFC 7468 section 2)."""

    def __init__(self, source: BinaryIO, armoured: bool) -> None:
        self._source = source
        self._armoured = armoured
        self._carry = b""
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def _skip_begin_line(self) -> None:
        for _ in range(64):  # RFC 1421-style text before the armour: a few lines at most
            line = self._source.readline(4096)
            if not line:
                raise CmsFormatError("armure PEM sans début")
            if line.strip().startswith(b"-----BEGIN"):
                self._armoured = False
                return
        raise CmsFormatError("armure PEM introuvable")

    def _decode_more(self) -> None:
        if self._armoured:
            self._skip_begin_line()
        data = self._source.read(CHUNK)
        if not data:
            self._done = True
            text = self._carry
        else:
            end = data.find(b"-")
            if end >= 0:  # the -----END line: what follows is not ours
                data = data[:end]
                self._done = True
            text = self._carry + data.translate(None, _WHITESPACE)
        usable = len(text) - len(text) % 4 if not self._done else len(text)
        self._carry = text[usable:]
        try:
            self._pending = binascii.a2b_base64(text[:usable], strict_mode=True) if usable else b""
        except (binascii.Error, ValueError):
            raise CmsFormatError("base64 invalide") from None

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            self._decode_more()
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def cms_source(stream: BinaryIO) -> BinaryIO:
    """The DER/BER octets of the CMS object in ``stream`` (seekable, at its start): ``stream`` itself
    for a binary file, a decoding reader for PEM or bare base64."""
    head = stream.read(4096)
    stream.seek(-len(head), io.SEEK_CUR)
    if _der_cms_prefix(head) or head[:1] == b"\x30":
        return stream
    stripped = head.lstrip()
    if stripped.startswith(b"-----BEGIN"):
        return io.BufferedReader(_Base64Reader(stream, armoured=True), CHUNK)
    if _base64_prefix(stripped) is not None:
        return io.BufferedReader(_Base64Reader(stream, armoured=False), CHUNK)
    return stream


# -- reading ----------------------------------------------------------------------------------------


@dataclass
class StreamedSignedData:
    """A SignedData read from a stream: its parts as asn1crypto objects, its content as digests."""

    content_info: cms.ContentInfo
    signed_data: cms.SignedData
    content_type: str
    attached: bool
    content_size: int = 0
    #: Digest of the encapsulated content per hashlib name (attached content only).
    digests: dict[str, bytes] = field(default_factory=dict)

    @property
    def signer_infos(self) -> cms.SignerInfos:
        return self.signed_data["signer_infos"]

    def digest_names(self) -> set[str]:
        """The hashlib names of every digest algorithm the SignerInfos use (unreadable ones left out)."""
        names = set()
        for info in self.signer_infos:
            try:
                names.add(info["digest_algorithm"]["algorithm"].native)
            except (ValueError, TypeError, KeyError):
                continue
        return names


def _hashers(names: Iterable[str]) -> dict[str, hashlib._Hash]:
    found = {}
    for name in set(names):
        try:
            found[name] = hashlib.new(name)
        except (ValueError, TypeError):
            continue
    return found


def _announced_digests(raw_set: bytes) -> list[str]:
    try:
        return [a["algorithm"].native for a in cms.DigestAlgorithms.load(raw_set, strict=False)]
    except (ValueError, TypeError, KeyError):
        return []


def _decide(sink: BinaryIO | None, sink_if: Callable[[bytes], bool] | None, held: list[bytes]) -> BinaryIO | None:
    """The sink, with the held pieces written to it, if ``sink_if`` accepts their head; else None."""
    data = b"".join(held)
    if sink is None or sink_if is None or not sink_if(data[:SINK_HEAD]):
        return None
    sink.write(data)
    return sink


def read_signed_data(source: BinaryIO, *, digest_names: Iterable[str] = (), sink: BinaryIO | None = None,
                     sink_if: Callable[[bytes], bool] | None = None,
                     progress: Callable[[int], None] | None = None) -> StreamedSignedData:
    """Read a ContentInfo holding SignedData from ``source`` (binary, see ``cms_source``).

    The content is hashed with every algorithm of ``digestAlgorithms`` and ``digest_names``; it is
    copied to ``sink`` as it is read, if ``sink_if(head)`` (or always when no predicate), ``head``
    being the content's first ``SINK_HEAD`` octets (all of it when shorter), however the BER
    segments cut it.
    ``progress(octets_of_content_read)`` follows the content. Raises ``CmsFormatError``.
    """
    reader = BerReader(source, chunk=CHUNK)
    try:
        return _read(reader, digest_names, sink, sink_if, progress)
    except EnvelopeError as exc:
        raise CmsFormatError(exc.message("fr"), exc.message("en")) from None


def _read(reader: BerReader, digest_names: Iterable[str], sink: BinaryIO | None,
          sink_if: Callable[[bytes], bool] | None, progress: Callable[[int], None] | None) -> StreamedSignedData:
    reader.enter(UNIVERSAL, SEQUENCE, "ContentInfo")
    content_type = reader.read_oid("type de contenu")
    if content_type != "1.2.840.113549.1.7.2":
        raise CmsFormatError("ce fichier CMS n'est pas une signature (SignedData)")
    reader.enter(CONTEXT, 0, "contenu [0]")
    reader.enter(UNIVERSAL, SEQUENCE, "SignedData")
    version = reader.read_raw(64)
    digest_algorithms = reader.read_raw(MAX_PART)
    reader.enter(UNIVERSAL, SEQUENCE, "EncapsulatedContentInfo")
    econtent_type_raw = reader.read_raw(256)
    hashers = _hashers([*_announced_digests(digest_algorithms), *digest_names])
    attached = False
    size = 0
    if reader.has_more():
        attached = True
        reader.enter(CONTEXT, 0, "eContent [0]")
        copy: BinaryIO | None = sink if sink_if is None else None
        # Pieces held back while the sink's predicate waits for the content's head (SINK_HEAD octets).
        held: list[bytes] | None = [] if sink is not None and sink_if is not None else None
        for piece in reader.octet_chunks(UNIVERSAL, OCTET_STRING, "eContent"):
            for hasher in hashers.values():
                hasher.update(piece)
            size += len(piece)
            if held is not None:
                held.append(piece)
                if size >= SINK_HEAD:
                    copy = _decide(sink, sink_if, held)
                    held = None
            elif copy is not None:
                copy.write(piece)
            if progress is not None:
                progress(size)
        if held:
            _decide(sink, sink_if, held)
        reader.leave()
    reader.leave()  # EncapsulatedContentInfo
    rest = []
    while reader.has_more():
        header = reader.peek()
        if not (header.is_(CONTEXT, 0) or header.is_(CONTEXT, 1) or header.is_(UNIVERSAL, SET)):
            raise CmsFormatError(f"élément inattendu dans SignedData : {header.describe()}")
        rest.append(reader.read_raw(MAX_PART))
    reader.leave()  # SignedData
    reader.leave()  # [0]
    reader.leave()  # ContentInfo
    encap = tlv(0x30, econtent_type_raw)
    body = version + digest_algorithms + encap + b"".join(rest)
    signed = der_header(0x30, len(body)) + body
    wrapped = tlv(0xA0, signed)
    document = tlv(0x30, tlv(0x06, bytes.fromhex("2a864886f70d010702")) + wrapped)
    try:
        content_info = cms.ContentInfo.load(document, strict=False)
        signed_data = content_info["content"]
        econtent_type = signed_data["encap_content_info"]["content_type"].native
        _ = len(signed_data["signer_infos"])
    except (ValueError, TypeError, KeyError) as exc:
        raise CmsFormatError(f"structure SignedData invalide ({exc})") from None
    return StreamedSignedData(content_info, signed_data, econtent_type, attached, size,
                              {name: h.digest() for name, h in hashers.items()})
