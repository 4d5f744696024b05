"""XML plumbing of the XAdES engine: namespaces, algorithm URIs, a safe parser and canonicalisation.

* Untrusted XML is parsed without DTD loading, entity expansion or network access, and any document
  carrying a DOCTYPE is refused outright (docs/SECURITY.md promise 8): no internal subset, no entity, no
  external file read. A document with more markup than ``MAX_XML_NODES`` is refused before any
  tree is built: libxml2 spends 100 to 250 bytes per node, so without entities a flood of tiny
  elements or attributes is the remaining way to make a small file cost gigabytes.
* Canonicalisation is Exclusive XML Canonicalization 1.0 without comments
  (http://www.w3.org/2001/10/xml-exc-c14n#) everywhere: it does not import ``xml:*`` attributes
  from ancestors nor unused namespace declarations, so the canonical form of a subtree computed
  by lxml is the one any XML-DSig verifier computes in place (ETSI EN 319 132-1 section 4.5 asks
  that the algorithm be named wherever a qualifying property allows it: we always name it).
"""

from __future__ import annotations

import base64
import io
from typing import BinaryIO

from lxml import etree

from ..errors import CompagnonError

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
#: XAdES 1.1.1 (ETSI TS 101 903 V1.1.1), the namespace of PES V2 signatures in the field.
XADES111 = "http://uri.etsi.org/01903/v1.1.1#"
NSMAP = {"ds": DS, "xades": XADES}

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"
#: The SignedProperties reference type of XAdES 1.1.1 (TS 101 903 V1.1.1 section 6.2.1).
SIGNED_PROPERTIES_TYPE_111 = XADES111 + "SignedProperties"

#: Digest method URIs (XMLDSig 1.1 section 6.2, RFC 6931 section 2.1).
DIGEST_URIS = {
    "sha1": "http://www.w3.org/2000/09/xmldsig#sha1",
    "sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
    "sha384": "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "sha512": "http://www.w3.org/2001/04/xmlenc#sha512",
}
#: Signature method URIs by (scheme, hash): XMLDSig 1.1 section 6.4 and RFC 6931 section 2.3.
SIGNATURE_URIS = {
    ("pkcs1v15", "sha256"): "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    ("pkcs1v15", "sha384"): "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    ("pkcs1v15", "sha512"): "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    ("ecdsa", "sha256"): "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    ("ecdsa", "sha384"): "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    ("ecdsa", "sha512"): "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    # RSASSA-PSS, MGF1 on the same hash, salt as long as the hash (RFC 6931 defaults; xmlsec1 1.2 lacks it).
    ("pss", "sha256"): "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
    ("pss", "sha384"): "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1",
    ("pss", "sha512"): "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1",
}


class XadesError(CompagnonError, ValueError):
    """A XAdES signature cannot be made; the message is for the user (French; code ``XADES_FAILURE``)."""

    code_name = "XADES_FAILURE"

    def __init__(self, message: str, english: str | None = None) -> None:
        super().__init__(self.code_name, message, english)


class XmlRefused(XadesError):
    """The input XML is refused for safety (DOCTYPE, entities) or is not well-formed (code ``XML_REFUSED``)."""

    code_name = "XML_REFUSED"


def ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


def xades(tag: str) -> str:
    return f"{{{XADES}}}{tag}"


def sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    """Append a child element (``tag`` in Clark notation) with optional text and attributes."""
    element = etree.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


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


def c14n(node: etree._Element | etree._ElementTree) -> bytes:
    """Exclusive C14N 1.0 without comments of an element's subtree, or of a whole document."""
    return etree.tostring(node, method="c14n", exclusive=True, with_comments=False)


def find_by_id(tree: etree._ElementTree, value: str) -> etree._Element:
    """The one element whose ``Id`` attribute is ``value``; refuse duplicates (no ID wrapping)."""
    found = tree.getroot().xpath("//*[@Id=$v]", v=value)
    if len(found) != 1:
        raise XadesError(f"L'identifiant {value!r} doit désigner un et un seul élément du document "
                         f"({len(found)} trouvé(s)).")
    return found[0]
