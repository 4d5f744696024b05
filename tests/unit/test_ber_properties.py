"""Property tests of the streaming BER reader (``agent.pki.ber``, ITU-T X.690).

The reader walks every CMS file the agent opens (sealed bids, attached signatures), so it is fed
generated encodings here rather than a few samples:

- element trees encoded with definite lengths (short, long and non-minimal long forms, X.690
  section 8.1.3), indefinite lengths closed by end-of-contents (sections 8.1.3.6 and 8.1.5),
  high tag numbers (section 8.1.2.4) and OCTET STRINGs cut into segments, themselves possibly cut
  (section 8.7.3.2), are read back to the same tree; asn1crypto's parser, an independent decoder,
  reads the same bytes to the same tree;
- DER written by asn1crypto (an independent encoder) is read back to the values it was made of;
- every strict prefix of an encoding, every garbled encoding and random bytes either read or fail
  with the reader's own ``EnvelopeError("FORMAT_FAILURE")``, never another exception;
- absurd lengths and nesting fail the same way, the reader never asks its stream for more than a
  chunk (or the caller's cap on a small element) at once, and stops reading at the end of input.

Each input is read from a seekable buffer (the file size bounds every length) and from a
non-seekable stream that hands out a few octets per read (lengths are only found wrong at the end
of input).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from asn1crypto import core, parser
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.pki.ber import (
    CONTEXT,
    MAX_DEPTH,
    OCTET_STRING,
    UNIVERSAL,
    BerReader,
    EnvelopeError,
    decode_oid,
    der_header,
    der_length,
    tlv,
)

PROPERTIES = settings(max_examples=100, deadline=None, database=None,
                      suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: The walkers' cap on a primitive element read whole.
SMALL_LIMIT = 4096


# -- the decoded tree -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prim:
    cls: int
    number: int
    content: bytes


@dataclass(frozen=True)
class Cons:
    cls: int
    number: int
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Octets:
    """A universal OCTET STRING, primitive or segmented: only its content counts."""

    content: bytes


Node = Prim | Cons | Octets


# -- encoding (written here from X.690, independent of the reader) ---------------------------------


def _identifier(cls: int, constructed: bool, number: int) -> bytes:
    first = (cls << 6) | (0x20 if constructed else 0)
    if number < 31:
        return bytes([first | number])
    arcs = []
    while True:
        arcs.append(number & 0x7F)
        number >>= 7
        if not number:
            break
    arcs.reverse()
    return bytes([first | 0x1F]) + bytes(0x80 | a for a in arcs[:-1]) + bytes([arcs[-1]])


def _length(n: int, extra: int) -> bytes:
    """Definite length octets: the short form, or the long form with ``extra`` leading zero octets
    (BER allows non-minimal long forms; DER does not)."""
    if n < 0x80 and extra < 0:
        return bytes([n])
    body = n.to_bytes(max((n.bit_length() + 7) // 8, 1), "big")
    body = b"\x00" * max(extra, 0) + body
    return bytes([0x80 | len(body)]) + body


@st.composite
def length_forms(draw: st.DrawFn, constructed: bool) -> int | None:
    """How to write a length: -1 short/minimal, 0..2 long form with that many extra zeros, None indefinite."""
    choices: list[int | None] = [-1, -1, 0, 1, 2]
    if constructed:
        choices += [None, None]
    return draw(st.sampled_from(choices))


def _encode(cls: int, constructed: bool, number: int, content: bytes, form: int | None) -> bytes:
    if form is None:
        return _identifier(cls, constructed, number) + b"\x80" + content + b"\x00\x00"
    return _identifier(cls, constructed, number) + _length(len(content), form) + content


tag_numbers = st.one_of(st.integers(0, 30), st.integers(31, 1 << 21))
tag_classes = st.sampled_from([UNIVERSAL, CONTEXT, 1, 3])


@st.composite
def tags(draw: st.DrawFn) -> tuple[int, int]:
    cls = draw(tag_classes)
    number = draw(tag_numbers)
    # Universal 0 is the end-of-contents marker; universal OCTET STRINGs are drawn as Octets.
    if cls == UNIVERSAL and number in (0, OCTET_STRING):
        number = 16
    return cls, number


@st.composite
def segmented(draw: st.DrawFn, content: bytes, depth: int = 0) -> bytes:
    """A universal OCTET STRING holding ``content``: primitive, or constructed of segments that are
    themselves OCTET STRINGs, possibly constructed (X.690 section 8.7.3.2)."""
    if depth >= 3 or not draw(st.booleans()):
        return _encode(UNIVERSAL, False, OCTET_STRING, content, draw(length_forms(False)))
    cuts = sorted(draw(st.lists(st.integers(0, len(content)), max_size=4)))
    bounds = [0, *cuts, len(content)]
    segments = [draw(segmented(content[start:end], depth + 1)) for start, end in zip(bounds, bounds[1:])]
    return _encode(UNIVERSAL, True, OCTET_STRING, b"".join(segments), draw(length_forms(True)))


@st.composite
def octet_strings(draw: st.DrawFn) -> tuple[Octets, bytes]:
    content = draw(st.binary(max_size=300))
    return Octets(content), draw(segmented(content))


@st.composite
def leaves(draw: st.DrawFn) -> tuple[Node, bytes]:
    if draw(st.integers(0, 2)) == 0:
        return draw(octet_strings())
    cls, number = draw(tags())
    content = draw(st.binary(max_size=200))
    return Prim(cls, number, content), _encode(cls, False, number, content, draw(length_forms(False)))


def _containers(children: st.SearchStrategy[list[tuple[Node, bytes]]]) -> st.SearchStrategy[tuple[Node, bytes]]:
    @st.composite
    def build(draw: st.DrawFn) -> tuple[Node, bytes]:
        cls, number = draw(tags())
        kids = draw(children)
        content = b"".join(encoding for _, encoding in kids)
        node = Cons(cls, number, tuple(model for model, _ in kids))
        return node, _encode(cls, True, number, content, draw(length_forms(True)))
    return build()


trees = st.recursive(leaves(), lambda inner: _containers(st.lists(inner, max_size=5)), max_leaves=25)


# -- reading -----------------------------------------------------------------------------------------


class Trickle(io.RawIOBase):
    """A non-seekable stream handing out at most ``step`` octets per read; it records the largest
    request and fails the test if it is read again and again after its end."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step
        self.largest_request = 0
        self.reads_after_end = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        assert n is not None and n >= 0, "the reader asks for a bounded number of octets"
        self.largest_request = max(self.largest_request, n)
        if self._pos >= len(self._data):
            self.reads_after_end += 1
            assert self.reads_after_end <= 4, "read again and again past the end of input"
            return b""
        piece = self._data[self._pos:self._pos + min(n, self._step)]
        self._pos += len(piece)
        return piece


def walk(reader: BerReader) -> Node:
    """Read the next element as a tree, through the reader's public navigation."""
    header = reader.peek()
    if header.is_(UNIVERSAL, OCTET_STRING):
        return Octets(b"".join(reader.octet_chunks(UNIVERSAL, OCTET_STRING, "OCTET STRING")))
    if header.constructed:
        reader.enter(header.cls, header.number, "élément")
        children = []
        while reader.has_more():
            children.append(walk(reader))
        reader.leave()
        return Cons(header.cls, header.number, tuple(children))
    return Prim(header.cls, header.number, reader.read_small(header.cls, header.number, "élément", SMALL_LIMIT))


def read_tree(data: bytes, *, seekable: bool, chunk: int, step: int = 3) -> tuple[Node, BerReader]:
    stream: io.IOBase = io.BytesIO(data) if seekable else Trickle(data, step)
    reader = BerReader(stream, chunk=chunk)  # type: ignore[arg-type]  # a RawIOBase is a binary stream
    node = walk(reader)
    if not reader.at_end_of_input():
        raise AssertionError("octets left after the element")
    return node, reader


def asn1crypto_tree(data: bytes) -> Node:
    """The same tree read by asn1crypto's BER parser (the independent decoder)."""
    cls, method, number, header, contents, trailer = parser.parse(data)
    assert len(header) + len(contents) + len(trailer) == len(data)
    children = []
    offset = 0
    if method == 1:
        while offset < len(contents):
            c_cls, c_method, c_num, c_header, c_contents, c_trailer = parser.parse(contents[offset:])
            size = len(c_header) + len(c_contents) + len(c_trailer)
            children.append(asn1crypto_tree(contents[offset:offset + size]))
            offset += size
    if cls == UNIVERSAL and number == OCTET_STRING:
        if method == 0:
            return Octets(contents)
        return Octets(b"".join(child.content for child in children))  # type: ignore[union-attr]  # segments are Octets
    if method == 1:
        return Cons(cls, number, tuple(children))
    return Prim(cls, number, contents)


chunks = st.sampled_from([1, 2, 5, 64, 1 << 20])


# -- generated trees -----------------------------------------------------------------------------------


@PROPERTIES
@given(tree=trees, chunk=chunks, step=st.integers(1, 9))
def test_generated_trees_read_back_as_written_and_as_asn1crypto_reads_them(
        tree: tuple[Node, bytes], chunk: int, step: int) -> None:
    model, encoding = tree
    assert asn1crypto_tree(encoding) == model
    for seekable in (True, False):
        node, reader = read_tree(encoding, seekable=seekable, chunk=chunk, step=step)
        assert node == model
        assert reader.position == len(encoding)
        assert reader.depth == 0


@PROPERTIES
@given(tree=trees, chunk=chunks, seekable=st.booleans())
def test_read_raw_returns_the_encoding_as_found_and_skip_passes_over_it(
        tree: tuple[Node, bytes], chunk: int, seekable: bool) -> None:
    _, encoding = tree
    tail = b"\x05\x00"  # a NULL after the element: both must stop exactly before it
    data = encoding + tail
    source = (lambda: io.BytesIO(data)) if seekable else (lambda: Trickle(data, 7))
    reader = BerReader(source(), chunk=chunk)  # type: ignore[arg-type]  # a RawIOBase is a binary stream
    assert reader.read_raw(len(encoding)) == encoding
    assert reader.read_raw(2) == tail
    assert reader.at_end_of_input()

    reader = BerReader(source(), chunk=chunk)  # type: ignore[arg-type]  # a RawIOBase is a binary stream
    reader.skip()
    assert reader.position == len(encoding)
    assert reader.read_raw(2) == tail

    if len(encoding) > 1:
        reader = BerReader(source(), chunk=chunk)  # type: ignore[arg-type]  # a RawIOBase is a binary stream
        with pytest.raises(EnvelopeError) as caught:
            reader.read_raw(len(encoding) - 1)
        assert caught.value.code == "FORMAT_FAILURE"


@PROPERTIES
@given(tree=trees, chunk=chunks)
def test_mark_and_reset_read_the_same_tree_again(tree: tuple[Node, bytes], chunk: int) -> None:
    model, encoding = tree
    reader = BerReader(io.BytesIO(encoding), chunk=chunk)
    mark = reader.mark()
    assert mark is not None
    assert walk(reader) == model
    reader.reset(mark)
    assert walk(reader) == model
    assert Trickle(b"", 1).seekable() is False
    assert BerReader(Trickle(encoding, 4)).mark() is None  # type: ignore[arg-type]  # a RawIOBase is a binary stream


# -- DER from an independent encoder ------------------------------------------------------------------------


@st.composite
def asn1crypto_values(draw: st.DrawFn, depth: int = 0) -> tuple[Node, bytes]:
    """A value encoded by asn1crypto, with the tree it must read back as."""
    kind = draw(st.sampled_from(["int", "oid", "octets", "implicit", "explicit", "null", "utf8"]
                                + (["sequence"] * 2 if depth < 4 else [])))
    if kind == "int":
        n = draw(st.integers(-(1 << 120), 1 << 120))
        value = core.Integer(n)
        return Prim(UNIVERSAL, 2, value.contents), value.dump()
    if kind == "oid":
        dotted = draw(oids)
        value = core.ObjectIdentifier(dotted)
        return Prim(UNIVERSAL, 6, value.contents), value.dump()
    if kind == "octets":
        content = draw(st.binary(max_size=600))
        return Octets(content), core.OctetString(content).dump()
    if kind == "implicit":
        number = draw(tag_numbers)
        content = draw(st.binary(max_size=300))
        return Prim(CONTEXT, number, content), core.OctetString(content, implicit=number).dump()
    if kind == "explicit":
        number = draw(tag_numbers)
        n = draw(st.integers(-(1 << 64), 1 << 64))
        value = core.Integer(n, explicit=number)
        return Cons(CONTEXT, number, (Prim(UNIVERSAL, 2, core.Integer(n).contents),)), value.dump()
    if kind == "null":
        return Prim(UNIVERSAL, 5, b""), core.Null().dump()
    if kind == "utf8":
        text = draw(st.text(max_size=40))
        return Prim(UNIVERSAL, 12, text.encode("utf-8")), core.UTF8String(text).dump()
    kids = draw(st.lists(asn1crypto_values(depth + 1), max_size=4))
    value = core.Sequence(contents=b"".join(encoding for _, encoding in kids))
    return Cons(UNIVERSAL, 16, tuple(model for model, _ in kids)), value.dump()


oids = st.builds(
    lambda first, second, rest: ".".join(str(a) for a in [first, second, *rest]),
    st.integers(0, 2),
    st.integers(0, 39),
    st.lists(st.integers(0, 1 << 64), max_size=6),
)


@PROPERTIES
@given(value=asn1crypto_values(), chunk=chunks, seekable=st.booleans())
def test_der_from_asn1crypto_reads_back_to_its_values(value: tuple[Node, bytes], chunk: int, seekable: bool) -> None:
    model, encoding = value
    node, _ = read_tree(encoding, seekable=seekable, chunk=chunk)
    assert node == model


@PROPERTIES
@given(n=st.integers(-(1 << 127), (1 << 127) - 1))
def test_integers_as_asn1crypto_writes_them(n: int) -> None:
    reader = BerReader(io.BytesIO(core.Integer(n).dump()))
    assert reader.read_integer("entier") == n


@PROPERTIES
@given(dotted=oids)
def test_object_identifiers_as_asn1crypto_writes_them(dotted: str) -> None:
    encoding = core.ObjectIdentifier(dotted).dump()
    assert BerReader(io.BytesIO(encoding)).read_oid("OID") == dotted
    assert decode_oid(core.ObjectIdentifier(dotted).contents) == dotted


@PROPERTIES
@given(body=st.binary(max_size=24))
def test_oid_content_is_decoded_as_asn1crypto_does_or_refused(body: bytes) -> None:
    try:
        dotted = decode_oid(body)
    except EnvelopeError as error:
        assert error.code == "FORMAT_FAILURE"
        return
    assert core.ObjectIdentifier.load(bytes([0x06, len(body)]) + body).dotted == dotted


@PROPERTIES
@given(content=st.binary(max_size=70000), tag=st.sampled_from([0x02, 0x04, 0x0C, 0x30, 0x31, 0xA0, 0x80]))
def test_der_writers_agree_with_asn1crypto(content: bytes, tag: int) -> None:
    cls, method, number = tag >> 6, (tag >> 5) & 1, tag & 0x1F
    assert tlv(tag, content) == parser.emit(cls, method, number, content)


@PROPERTIES
@given(n=st.integers(0, (1 << 64) - 1))
def test_der_lengths_are_minimal_and_read_back(n: int) -> None:
    octets = der_length(n)
    if n < 0x80:
        assert octets == bytes([n])
    else:
        assert octets[1] != 0 and octets[0] & 0x7F == len(octets) - 1
    header = BerReader(Trickle(der_header(0x04, n), 64)).peek()  # type: ignore[arg-type]  # a RawIOBase is a binary stream
    assert header.length == n and header.raw == der_header(0x04, n)


# -- truncated, garbled, random and hostile input ------------------------------------------------------------


def _fails_cleanly(data: bytes, *, seekable: bool, chunk: int, step: int = 3) -> EnvelopeError | None:
    """Walk ``data``: None when it reads as one element, the reader's error when it fails; any other
    exception (IndexError, AssertionError, RecursionError...) fails the test. Bounded requests and no
    reading past the end are checked on the non-seekable stream."""
    stream: io.IOBase = io.BytesIO(data) if seekable else Trickle(data, step)
    try:
        reader = BerReader(stream, chunk=chunk)  # type: ignore[arg-type]  # a RawIOBase is a binary stream
        walk(reader)
        return None
    except EnvelopeError as error:
        assert error.code == "FORMAT_FAILURE"
        assert error.message("fr").startswith("Enveloppe illisible : ")
        return error
    finally:
        if isinstance(stream, Trickle):
            assert stream.largest_request <= max(chunk, SMALL_LIMIT, 64)


@PROPERTIES
@given(tree=trees, chunk=chunks, seekable=st.booleans(), data=st.data())
def test_every_truncation_fails_with_the_readers_error(
        tree: tuple[Node, bytes], chunk: int, seekable: bool, data: st.DataObject) -> None:
    _, encoding = tree
    cut = data.draw(st.integers(0, len(encoding) - 1))
    assert _fails_cleanly(encoding[:cut], seekable=seekable, chunk=chunk) is not None


@PROPERTIES
@given(tree=trees, chunk=chunks, seekable=st.booleans(), data=st.data())
def test_garbled_encodings_read_or_fail_with_the_readers_error(
        tree: tuple[Node, bytes], chunk: int, seekable: bool, data: st.DataObject) -> None:
    _, encoding = tree
    garbled = bytearray(encoding)
    for _ in range(data.draw(st.integers(1, 4))):
        garbled[data.draw(st.integers(0, len(garbled) - 1))] = data.draw(st.integers(0, 255))
    _fails_cleanly(bytes(garbled), seekable=seekable, chunk=chunk)


@PROPERTIES
@given(noise=st.binary(max_size=400), chunk=chunks, seekable=st.booleans())
def test_random_bytes_read_or_fail_with_the_readers_error(noise: bytes, chunk: int, seekable: bool) -> None:
    _fails_cleanly(noise, seekable=seekable, chunk=chunk)


#: (input, whether its outermost element is already wrong): ``skip`` and ``read_raw`` do not look
#: inside a definite-length element, so only the latter must make them fail too.
ABSURD = [
    # A primitive OCTET STRING announcing 2^63 - 1 octets (8 length octets: the most allowed).
    (bytes.fromhex("04887fffffffffffffff") + b"abc", True),
    # Nine length octets, and the reserved 0xFF (X.690 section 8.1.3.5 c).
    (bytes.fromhex("0489010000000000000000") + b"abc", True),
    (bytes.fromhex("04ff") + b"abc", True),
    # A SEQUENCE of 4 GiB holding a small INTEGER; an INTEGER of 2^60 octets inside a small SEQUENCE.
    (bytes.fromhex("3084ffffffff020101"), True),
    (bytes.fromhex("300b02880fffffffffffffff00"), False),
    # A segment longer than its segmented OCTET STRING; a segmented string never closed.
    (bytes.fromhex("2406048401000000") + b"abcd", False),
    (bytes.fromhex("2480") + bytes.fromhex("040161") * 50, True),
    # An indefinite length on a primitive element (X.690 section 8.1.3.2 a).
    (bytes.fromhex("0480") + b"abc0000", True),
    # A tag number over 2^28, and a high tag number starting with 0x80 (not minimal).
    (bytes.fromhex("1f8fffffff7f0100"), True),
    (bytes.fromhex("1f80010100"), True),
    # Nesting far deeper than any CMS object: indefinite SEQUENCEs and segmented strings, definite SEQUENCEs.
    (bytes.fromhex("3080") * 5000, True),
    (bytes.fromhex("2480") * 5000, True),
    (b"".join(bytes.fromhex("3084") + (6 * (499 - i)).to_bytes(4, "big") for i in range(500)), False),
]


@pytest.mark.parametrize(("data", "outer"), ABSURD, ids=[f"absurd{i}" for i in range(len(ABSURD))])
@pytest.mark.parametrize("seekable", [True, False], ids=["seekable", "stream"])
@pytest.mark.parametrize("chunk", [1, 4096])
def test_absurd_lengths_and_nesting_fail_with_the_readers_error(
        data: bytes, outer: bool, seekable: bool, chunk: int) -> None:
    assert _fails_cleanly(data, seekable=seekable, chunk=chunk) is not None
    for operation in ("skip", "read_raw"):
        stream: io.IOBase = io.BytesIO(data) if seekable else Trickle(data, 5)
        reader = BerReader(stream, chunk=chunk)  # type: ignore[arg-type]  # a RawIOBase is a binary stream
        try:
            if operation == "skip":
                reader.skip()
            else:
                reader.read_raw(1 << 20)
        except EnvelopeError as error:
            assert error.code == "FORMAT_FAILURE"
        else:
            assert not outer, f"{operation} accepted it"
        if isinstance(stream, Trickle):  # read_raw may read a definite element whole, within its cap
            assert stream.largest_request <= max(chunk, 64, 0 if operation == "skip" else 1 << 20)


def test_nesting_is_capped_at_the_readers_depth() -> None:
    deep = bytes.fromhex("3080") * (MAX_DEPTH + 1) + b"\x00\x00" * (MAX_DEPTH + 1)
    with pytest.raises(EnvelopeError) as caught:
        walk(BerReader(io.BytesIO(deep)))
    assert "imbrication trop profonde" in caught.value.message("fr")
    fits = bytes.fromhex("3080") * MAX_DEPTH + b"\x00\x00" * MAX_DEPTH
    node = walk(BerReader(io.BytesIO(fits)))
    for _ in range(MAX_DEPTH - 1):
        assert isinstance(node, Cons) and len(node.children) == 1
        node = node.children[0]
    assert node == Cons(UNIVERSAL, 16, ())


def test_a_huge_announced_content_is_streamed_in_chunks_not_held() -> None:
    """A segment announcing 2^40 octets over a short stream: the reader hands out chunks until the
    input ends, then fails; it never asks for the announced size."""
    data = bytes.fromhex("0486") + (1 << 40).to_bytes(6, "big") + b"z" * 10000
    stream = Trickle(data, 1000)
    reader = BerReader(stream, chunk=4096)  # type: ignore[arg-type]  # a RawIOBase is a binary stream
    received = 0
    with pytest.raises(EnvelopeError) as caught:
        for piece in reader.octet_chunks(UNIVERSAL, OCTET_STRING, "contenu"):
            assert len(piece) <= 4096
            received += len(piece)
    assert caught.value.message("fr") == "Enveloppe illisible : fichier tronqué."
    assert received <= 10000
    assert stream.largest_request <= 4096
