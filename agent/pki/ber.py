"""A streaming BER/DER reader (ITU-T X.690) for envelopes of any size, in constant memory.

CMS objects made by ``openssl cms -stream`` use BER: indefinite lengths (X.690 section 8.1.3.6,
closed by an end-of-contents marker, section 8.1.5) and constructed OCTET STRINGs cut into
segments (section 8.7.3.2). DER files hold one primitive OCTET STRING as large as the file. Both
are walked here without ever holding an element's content in memory: small elements (algorithm
identifiers, recipient infos) are read whole under a size cap, the encrypted content is handed
out in pieces of at most ``chunk`` bytes.

Every length is checked against the enclosing definite length (and the file size when the source
is seekable), nesting is capped, and a short read is an error: a truncated, garbled or hostile
input fails with ``EnvelopeError("FORMAT_FAILURE")`` as soon as the inconsistency is read.

This module also defines :class:`EnvelopeError`, the one error type of ``agent.envelopes`` (which
exports it) and of the ZIP guards of ``agent.pki.archive`` (a ``CompagnonError``, ``agent/errors.py``).

Kept as one module: :class:`BerReader` is one state machine whose length checks (enclosing length,
file size, nesting) depend on one another, and the DER helpers at the end are its few-line inverse.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal

from ..errors import CompagnonError

ErrorKind = Literal[
    "FORMAT_FAILURE", "NO_MATCHING_RECIPIENT", "DECRYPTION_FAILED", "UNSUPPORTED_ALGORITHM", "ARCHIVE_UNSAFE",
    "KEY_USAGE_NOT_ENCRYPTION",
]


class EnvelopeError(CompagnonError, ValueError):
    """An envelope (or archive) we cannot open; ``code`` is stable, ``message(locale)`` the raiser's
    message (French; English when the raiser gave one).

    Codes: ``FORMAT_FAILURE`` (not a well-formed CMS envelope / ZIP), ``NO_MATCHING_RECIPIENT``
    (no key held for any recipient), ``DECRYPTION_FAILED`` (wrong key, bad padding or bad tag:
    one code for all, no oracle), ``UNSUPPORTED_ALGORITHM``, ``ARCHIVE_UNSAFE`` (a ZIP entry
    that would escape the output folder, or limits against ZIP bombs exceeded),
    ``KEY_USAGE_NOT_ENCRYPTION`` (a recipient certificate whose key usage does not allow it).
    """

    code: ErrorKind

    def __init__(self, code: ErrorKind, message: str, english: str | None = None) -> None:
        super().__init__(code, message, english)
        self.code = code


def format_failure(detail: str) -> EnvelopeError:
    return EnvelopeError("FORMAT_FAILURE", f"Enveloppe illisible : {detail}.", "Unreadable envelope.")


# Tag classes (X.690 section 8.1.2.2).
UNIVERSAL, APPLICATION, CONTEXT, PRIVATE = 0, 1, 2, 3
# Universal tag numbers used by CMS.
INTEGER, OCTET_STRING, NULL, OID, SEQUENCE, SET = 2, 4, 5, 6, 16, 17

#: Default piece size of streamed content (as the signing engines).
CHUNK = 1024 * 1024
#: Nesting deeper than this is no CMS object (real ones stay under 12).
MAX_DEPTH = 32
#: Tag numbers above this are not used by any CMS structure (and need at most 4 bytes).
MAX_TAG_NUMBER = 1 << 28
#: Lengths are at most 8 octets long (an exabyte): beyond is garbage.
MAX_LENGTH_OCTETS = 8


@dataclass(frozen=True)
class Header:
    """An identifier and a length (X.690 sections 8.1.2 and 8.1.3).

    ``length`` is None for the indefinite form. ``offset`` is where the header starts in the
    source; ``raw`` the header's own octets.
    """

    cls: int
    constructed: bool
    number: int
    length: int | None
    offset: int
    raw: bytes

    @property
    def end(self) -> int | None:
        """Offset just past the content (definite form only)."""
        return None if self.length is None else self.offset + len(self.raw) + self.length

    def is_(self, cls: int, number: int) -> bool:
        return self.cls == cls and self.number == number

    def describe(self) -> str:
        names = {UNIVERSAL: "UNIVERSAL", APPLICATION: "APPLICATION", CONTEXT: "", PRIVATE: "PRIVATE"}
        return f"[{names[self.cls]} {self.number}]".replace("[ ", "[")


@dataclass
class _Frame:
    header: Header
    #: Absolute end for the definite form; None while inside an indefinite-length element.
    end: int | None


def source_size(stream: BinaryIO) -> int | None:
    """Bytes left to read in ``stream`` if it is a regular file or a seekable buffer, else None."""
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        try:
            size = os.fstat(stream.fileno()).st_size
        except (OSError, io.UnsupportedOperation, AttributeError):
            size = stream.seek(0, os.SEEK_END)
            stream.seek(here)
        return max(size - here, 0)
    except (OSError, ValueError):
        return None


class BerReader:
    """Walks one BER element tree from a stream, reading it in ``chunk``-sized pieces.

    Navigation: ``peek()`` the next header, ``enter()`` a constructed element and ``leave()`` it,
    ``has_more()`` inside the current one; ``read_small`` / ``read_raw`` for bounded elements,
    ``skip`` for anything, and ``octet_chunks`` to stream an OCTET STRING's content.
    """

    def __init__(self, stream: BinaryIO, *, chunk: int = CHUNK, max_depth: int = MAX_DEPTH,
                 size: int | None = None) -> None:
        self._stream = stream
        self._chunk = chunk
        self._max_depth = max_depth
        self._buf = b""
        self._off = 0
        self._eof = False
        #: Offset of the next unread octet, from where the reader started.
        self.position = 0
        self._frames: list[_Frame] = []
        #: The whole input may not extend past this (file size when known).
        self.limit = size if size is not None else source_size(stream)
        self._origin = self._tell()

    # -- buffer ------------------------------------------------------------------------------

    def _tell(self) -> int | None:
        try:
            return self._stream.tell() if self._stream.seekable() else None
        except (OSError, ValueError):
            return None

    def _available(self) -> int:
        return len(self._buf) - self._off

    def _fill(self, n: int) -> bool:
        """Make ``n`` octets available in the buffer; False at the end of the input."""
        if self._available() >= n:
            return True
        parts = [self._buf[self._off:]]
        have = len(parts[0])
        while have < n and not self._eof:
            data = self._stream.read(max(self._chunk, n - have))
            if not data:
                self._eof = True
                break
            parts.append(data)
            have += len(data)
        self._buf = b"".join(parts)
        self._off = 0
        return have >= n

    def _take(self, n: int) -> bytes:
        """The next ``n`` octets (``n`` at most a chunk or a capped small element)."""
        if not self._fill(n):
            raise format_failure("fichier tronqué")
        data = self._buf[self._off:self._off + n]
        self._off += n
        self.position += n
        return data

    def at_end_of_input(self) -> bool:
        return not self._fill(1)

    # -- headers -----------------------------------------------------------------------------

    def _parse_header(self) -> tuple[Header, int]:
        """Parse the header at the buffer's current offset without consuming it."""
        self._fill(2 + 5 + 1 + MAX_LENGTH_OCTETS)
        buf, i, end = self._buf, self._off, len(self._buf)
        if i >= end:
            raise format_failure("fichier tronqué")
        first = buf[i]
        i += 1
        cls, constructed, number = first >> 6, bool(first & 0x20), first & 0x1F
        if number == 0x1F:  # high-tag-number form (X.690 section 8.1.2.4)
            number = 0
            while True:
                if i >= end:
                    raise format_failure("fichier tronqué")
                octet = buf[i]
                i += 1
                if number == 0 and octet == 0x80:
                    raise format_failure("étiquette mal encodée")
                number = (number << 7) | (octet & 0x7F)
                if number > MAX_TAG_NUMBER:
                    raise format_failure("étiquette invalide")
                if not octet & 0x80:
                    break
        if i >= end:
            raise format_failure("fichier tronqué")
        octet = buf[i]
        i += 1
        length: int | None
        if octet < 0x80:
            length = octet
        elif octet == 0x80:
            if not constructed:
                raise format_failure("longueur indéfinie sur un élément primitif")
            length = None
        else:
            count = octet & 0x7F
            if count > MAX_LENGTH_OCTETS:  # includes the reserved 0xFF (X.690 section 8.1.3.5 c)
                raise format_failure("longueur aberrante")
            if i + count > end:
                raise format_failure("fichier tronqué")
            length = int.from_bytes(buf[i:i + count], "big")
            i += count
        header = Header(cls, constructed, number, length, self.position, bytes(buf[self._off:i]))
        return header, i - self._off

    def _bound(self) -> int | None:
        """The nearest enclosing definite end (or the input's size)."""
        for frame in reversed(self._frames):
            if frame.end is not None:
                return frame.end
        return self.limit

    def _check(self, header: Header) -> None:
        bound = self._bound()
        end = header.end
        if bound is not None and (end if end is not None else header.offset + len(header.raw)) > bound:
            raise format_failure("longueur incohérente ou aberrante")

    def peek(self) -> Header:
        """The next header, not consumed."""
        header, _ = self._parse_header()
        self._check(header)
        return header

    def _read_header(self) -> Header:
        header, size = self._parse_header()
        self._check(header)
        self._off += size
        self.position += size
        return header

    def _is_eoc(self) -> bool:
        return self._fill(2) and self._buf[self._off] == 0 and self._buf[self._off + 1] == 0

    def has_more(self) -> bool:
        """Whether the current constructed element has another child."""
        if not self._frames:
            return not self.at_end_of_input()
        frame = self._frames[-1]
        if frame.end is not None:
            return self.position < frame.end
        if not self._fill(2):
            raise format_failure("fichier tronqué (fin de contenu absente)")
        return not self._is_eoc()

    def _expect(self, header: Header, cls: int, number: int, what: str) -> None:
        if not header.is_(cls, number):
            raise format_failure(f"{what} attendu, {header.describe()} trouvé")

    # -- navigation --------------------------------------------------------------------------

    def enter(self, cls: int, number: int, what: str) -> Header:
        """Step into the next element, which must be constructed with this tag."""
        header = self._read_header()
        self._expect(header, cls, number, what)
        if not header.constructed:
            raise format_failure(f"{what} : élément construit attendu")
        if len(self._frames) >= self._max_depth:
            raise format_failure("imbrication trop profonde")
        self._frames.append(_Frame(header, header.end))
        return header

    def leave(self) -> None:
        """Step out of the current element, which must be fully read."""
        frame = self._frames[-1]
        if frame.end is not None:
            if self.position != frame.end:
                raise format_failure("données inattendues en fin d'élément")
        else:
            if not self._is_eoc():
                raise format_failure("fin de contenu attendue")
            self._take(2)
        self._frames.pop()

    @property
    def depth(self) -> int:
        return len(self._frames)

    def read_small(self, cls: int, number: int, what: str, limit: int) -> bytes:
        """The content of a primitive element of at most ``limit`` octets (or a segmented string)."""
        header = self.peek()
        self._expect(header, cls, number, what)
        if header.constructed:
            parts, size = [], 0
            for piece in self.octet_chunks(cls, number, what):
                size += len(piece)
                if size > limit:
                    raise format_failure(f"{what} trop long")
                parts.append(piece)
            return b"".join(parts)
        self._read_header()
        assert header.length is not None
        if header.length > limit:
            raise format_failure(f"{what} trop long")
        return self._take(header.length)

    def read_oid(self, what: str) -> str:
        """An OBJECT IDENTIFIER in dotted form (X.690 section 8.19)."""
        body = self.read_small(UNIVERSAL, OID, what, 128)
        return decode_oid(body)

    def read_integer(self, what: str) -> int:
        body = self.read_small(UNIVERSAL, INTEGER, what, 16)
        if not body:
            raise format_failure(f"{what} vide")
        return int.from_bytes(body, "big", signed=True)

    def read_raw(self, limit: int) -> bytes:
        """The complete encoding (header included, BER as found) of the next element, capped."""
        out: list[bytes] = []
        self._copy_raw(out, limit, 0)
        return b"".join(out)

    def _copy_raw(self, out: list[bytes], limit: int, depth: int) -> int:
        if depth > self._max_depth:
            raise format_failure("imbrication trop profonde")
        header = self._read_header()
        out.append(header.raw)
        size = len(header.raw)
        if header.length is not None:
            if size + header.length > limit:
                raise format_failure("élément trop long")
            out.append(self._take(header.length))
            return size + header.length
        self._frames.append(_Frame(header, None))
        while not self._is_eoc():
            if not self._fill(2):
                raise format_failure("fichier tronqué (fin de contenu absente)")
            size += self._copy_raw(out, limit - size, depth + 1)
            if size > limit:
                raise format_failure("élément trop long")
        if size + 2 > limit:  # the end-of-contents octets count too
            raise format_failure("élément trop long")
        out.append(self._take(2))
        self._frames.pop()
        return size + 2

    def skip(self) -> None:
        """Pass over the next element whatever its size, without keeping it."""
        self._skip(0)

    def _skip(self, depth: int) -> None:
        if depth > self._max_depth:
            raise format_failure("imbrication trop profonde")
        header = self._read_header()
        if header.length is not None:
            self._discard(header.length)
            return
        self._frames.append(_Frame(header, None))
        while not self._is_eoc():
            if not self._fill(2):
                raise format_failure("fichier tronqué (fin de contenu absente)")
            length = self._primitive_octets_header()  # the streaming encoders' segments: fast path
            if length is not None:
                self._discard(length)
                continue
            self._skip(depth + 1)
        self._take(2)
        self._frames.pop()

    def _discard(self, n: int) -> None:
        """Pass over ``n`` octets: within the buffer, by seeking on a seekable source, else by reading."""
        if n <= self._available():
            self._off += n
            self.position += n
            return
        if self._origin is not None and self.limit is not None:
            if self.position + n > self.limit:
                raise format_failure("fichier tronqué")
            self.position += n
            self._stream.seek(self._origin + self.position)
            self._buf, self._off, self._eof = b"", 0, False
            return
        while n > 0:
            step = min(n, self._chunk)
            self._take(step)
            n -= step

    def octet_chunks(self, cls: int, number: int, what: str) -> Iterator[bytes]:
        """Stream the content of an OCTET STRING tagged ``cls``/``number`` (X.690 section 8.7).

        Primitive: its content, in pieces of at most a chunk. Constructed (definite or
        indefinite): the content of each segment in order; segments are universal OCTET STRINGs
        (themselves possibly constructed), whatever the outer tag (section 8.7.3.2).
        """
        header = self.peek()
        self._expect(header, cls, number, what)
        yield from self._string_pieces(0, what)

    def _string_pieces(self, depth: int, what: str) -> Iterator[bytes]:
        if depth > self._max_depth:
            raise format_failure("imbrication trop profonde")
        header = self._read_header()
        if not header.constructed:
            assert header.length is not None
            left = header.length
            while left > 0:
                step = min(left, self._chunk)
                yield self._take(step)
                left -= step
            return
        self._frames.append(_Frame(header, header.end))
        while self.has_more():
            length = self._primitive_octets_header()
            if length is not None:  # the common segment, read without the generic machinery
                left = length
                while left > 0:
                    step = min(left, self._chunk)
                    yield self._take(step)
                    left -= step
                continue
            segment = self.peek()
            if not segment.is_(UNIVERSAL, OCTET_STRING):
                raise format_failure(f"{what} : segment {segment.describe()} inattendu")
            yield from self._string_pieces(depth + 1, what)
        self.leave()

    def _primitive_octets_header(self) -> int | None:
        """Consume the header of a primitive OCTET STRING with a definite length and return that
        length; None (nothing consumed) for any other element. Streaming encoders cut content
        into thousands of such segments (``openssl cms -stream``: 4 KiB each), so this is the hot
        path: same checks as ``_read_header``, without building a Header."""
        self._fill(2 + MAX_LENGTH_OCTETS)
        buf, i = self._buf, self._off
        if len(buf) - i < 2 or buf[i] != 0x04:
            return None
        octet = buf[i + 1]
        if octet < 0x80:
            length, size = octet, 2
        elif octet == 0x80 or (octet & 0x7F) > MAX_LENGTH_OCTETS or len(buf) - i < 2 + (octet & 0x7F):
            return None  # let the generic path report it
        else:
            count = octet & 0x7F
            length, size = int.from_bytes(buf[i + 2:i + 2 + count], "big"), 2 + count
        bound = self._bound()
        if bound is not None and self.position + size + length > bound:
            raise format_failure("longueur incohérente ou aberrante")
        self._off += size
        self.position += size
        return length

    # -- seekable sources: look ahead, then come back -----------------------------------------

    def mark(self) -> tuple[int, list[_Frame]] | None:
        """A point to come back to with ``reset`` (None when the source cannot seek)."""
        if self._origin is None:
            return None
        return self.position, [_Frame(f.header, f.end) for f in self._frames]

    def reset(self, mark: tuple[int, list[_Frame]]) -> None:
        assert self._origin is not None
        position, frames = mark
        self._stream.seek(self._origin + position)
        self._buf, self._off, self._eof = b"", 0, False
        self.position = position
        self._frames = frames


def decode_oid(body: bytes) -> str:
    """Dotted form of an OBJECT IDENTIFIER's content octets (X.690 section 8.19)."""
    if not body or body[-1] & 0x80:
        raise format_failure("identifiant d'objet mal encodé")
    arcs: list[int] = []
    value = 0
    for octet in body:
        if value == 0 and octet == 0x80:
            raise format_failure("identifiant d'objet mal encodé")
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(a) for a in head + arcs[1:])


# -- DER writing helpers (for encrypt) --------------------------------------------------------


def der_length(n: int) -> bytes:
    """Definite length octets, short or long form (X.690 section 8.1.3)."""
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def der_header(tag: int, length: int | None) -> bytes:
    """A one-octet identifier followed by a definite length, or the indefinite form when None."""
    return bytes([tag, 0x80]) if length is None else bytes([tag]) + der_length(length)


def tlv(tag: int, content: bytes) -> bytes:
    return der_header(tag, len(content)) + content


EOC = b"\x00\x00"
