"""Safe parsing of untrusted XML (docs/SECURITY.md promise 8), for the signer and the verifiers alike.

Untrusted XML is parsed without DTD loading, entity expansion or network access, and any document
carrying a DOCTYPE (XML 1.0 section 2.8) is refused outright: no internal subset, no entity, no
external file read. A document with more markup than ``MAX_XML_NODES`` is refused before any tree
is built: libxml2 spends 100 to 250 bytes per node, so without entities a flood of tiny elements
or attributes is the remaining way to make a small file cost gigabytes.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from lxml import etree

from ..errors import CompagnonError

__all__ = ["MAX_XML_NODES", "XmlRefused", "markup_count", "parse_untrusted"]


class XmlRefused(CompagnonError, ValueError):
    """The input XML is refused for safety (DOCTYPE, entities) or is not well-formed (code ``XML_REFUSED``);
    the message is for the user (French)."""

    code_name = "XML_REFUSED"

    def __init__(self, message: str, english: str | None = None) -> None:
        super().__init__(self.code_name, message, english)


#: Elements plus attributes an untrusted document may announce (XML 1.0 sections 3 and 3.1: each
#: element, end tag, comment or processing instruction opens with ``<``, which is never raw in text
#: or attribute values; each attribute has an ``=``). 5 million is a PES flow of 120 MB or more,
#: and at most about 1.2 GiB of tree for the worst shapes (``<a/>`` or ``a=""`` repeated).
MAX_XML_NODES = 5_000_000

_REFUSED_DOCTYPE = ("Document XML refusé : les déclarations DOCTYPE (DTD, entités internes ou externes) "
                    "ne sont pas acceptées.")


class _PrologDone(Exception):
    """The root element starts: the prolog held no DOCTYPE."""


class _PrologProbe:
    """Parser target that stops at the DOCTYPE (refused) or at the root element (accepted), before
    any internal subset, entity declaration or content is processed."""

    def doctype(self, name: str | None, public_id: str | None, system_url: str | None) -> None:
        raise XmlRefused(_REFUSED_DOCTYPE)

    def start(self, tag: str, attrib: object, nsmap: object = None) -> None:
        raise _PrologDone

    def end(self, tag: str) -> None: ...

    def data(self, data: str) -> None: ...

    def close(self) -> None: ...


def markup_count(data: bytes) -> int:
    """An upper bound of the elements plus attributes of the XML document ``data`` (any encoding
    whose markup octets are ASCII, UTF-16 included), counted without parsing."""
    return data.count(b"<") + data.count(b"=")


def _parser(target: object | None = None) -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_blank_text=False, remove_comments=False, remove_pis=False,
                           target=target)


def parse_untrusted(source: BinaryIO) -> etree._ElementTree:
    """Parse an XML document to sign; refuse DTDs, entities and malformed input (French messages).

    A document with more than ``MAX_XML_NODES`` elements and attributes is refused unparsed. A
    first pass stops at the root element's start tag and refuses any DOCTYPE before its internal
    subset is even read; the second pass builds the tree with DTD loading, entity resolution and
    network access off, and checks again that no DTD came along.
    """
    data = source.read()
    if markup_count(data) > MAX_XML_NODES:
        raise XmlRefused("Document XML refusé : trop de nœuds (éléments et attributs) pour être chargé sans "
                         f"risque (plus de {MAX_XML_NODES}).")
    try:
        etree.parse(io.BytesIO(data), _parser(_PrologProbe()))
    except _PrologDone:
        pass
    except etree.XMLSyntaxError as exc:
        raise XmlRefused(f"Document XML illisible : {exc.msg}") from None
    try:
        tree = etree.parse(io.BytesIO(data), _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRefused(f"Document XML illisible : {exc.msg}") from None
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise XmlRefused(_REFUSED_DOCTYPE)
    return tree
