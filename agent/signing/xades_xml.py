"""XML plumbing of the XAdES engine: namespaces, algorithm URIs and canonicalisation.

* Untrusted XML is parsed by ``agent.pki.xml_safe.parse_untrusted`` (no DTD, no entity, no network,
  a cap on the markup), shared with the verifiers.
* Canonicalisation is Exclusive XML Canonicalization 1.0 without comments
  (http://www.w3.org/2001/10/xml-exc-c14n#) everywhere: it does not import ``xml:*`` attributes
  from ancestors nor unused namespace declarations, so the canonical form of a subtree computed
  by lxml is the one any XML-DSig verifier computes in place (ETSI EN 319 132-1 section 4.5 asks
  that the algorithm be named wherever a qualifying property allows it: we always name it).
"""

from __future__ import annotations

import base64

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
