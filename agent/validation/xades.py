"""XAdES / XMLDSig validation: every ``ds:Signature`` of an XML file, and its XAdES counter-signatures.

XMLDSig core validation (XMLDSig 1.1 section 3.2) is done here with lxml, not by trusting a
library: reference validation (dereference, transforms, digest) then signature validation over the
canonical ``ds:SignedInfo``. The signing certificate is the one XAdES ``SigningCertificateV2`` (or
``SigningCertificate``) designates among the ``X509Certificate`` elements — an inline ``KeyValue``
is never used — and it is validated like any other (``chain``, ETSI EN 319 102-1 section 5.2.6).

Hostile input is refused with FORMAT_FAILURE, never fetched or expanded:

* DOCTYPE (DTD, entities, billion laughs) refused before the internal subset is read
  (``agent.pki.xml_safe.parse_untrusted``), no network, no huge trees;
* transforms and canonicalisation are those of ``agent.validation.xml_references``, computed over
  copies (enveloped-signature, C14N 1.0/1.1, exclusive C14N, base64, the XPath forms producers use,
  XPath Filter 2.0 within a bounded subset); another transform leaves the signed data unknown:
  INDETERMINATE/SIGNED_DATA_NOT_FOUND with the reason (EN 319 102-1 section 5.2.7), never a failure;
* references: ``""`` (the document), ``#id`` (one element; an id carried by more than one element is
  refused), ``#xpointer(/)``/``#xpointer(id('x'))``, or a *plain file name* resolved next to the
  token or taken from the content given explicitly. A URI naming a scheme or a path (``http:``,
  ``file:``, ``../``) is never fetched. A container (ASiC, ``agent.validation.asic``) passes a
  ``resolver`` instead: detached references then resolve among the container's files only;
* signature wrapping: the node whose digest is checked is the node used. A same-document reference
  may designate the document, an element containing the signature (enveloped, e.g. a PES
  ``Bordereau``), another element named by a unique Id (reported as the only part covered), or
  this signature's own ``SignedProperties`` (with or without ``Type``: the properties read are the
  ones digested), ``KeyInfo``, ``ds:Object`` or ``Manifest``. Refused with TOTAL_FAILED/
  FORMAT_FAILURE: an enveloped transform whose signature is no longer inside the referenced data
  (the signed data was moved), properties given twice, and a signature embedded in a foreign
  document that signs only its own objects (the data shown is not the data signed).

Levels: the EN 319 132-1 baseline levels (section 6): B-B (signed ``SignedProperties`` with
``SigningTime``, ``SigningCertificateV2`` and a ``DataObjectFormat``/``MimeType`` for every signed
data object), B-T (valid ``SignatureTimeStamp`` over the canonical ``ds:SignatureValue``), B-LT
(``CertificateValues`` and ``RevocationValues``), B-LTA (``ArchiveTimeStamp``: reported, not
verified); else the ETSI TS 101 903 form (BES, EPES, T, C, X, XL, A); plain XMLDSig without signed
XAdES properties. Content time-stamps (``AllDataObjectsTimeStamp``,
``IndividualDataObjectsTimeStamp``, EN 319 132-1 section 5.2.8) are verified over the referenced
data and reported in a ``content_timestamp`` check.

Kept as one module: it follows XMLDSig 1.1 core validation (section 3.2) and then the XAdES
properties of one ``ds:Signature`` in order; the transforms and canonicalisation already live apart
(``xml_references.py``).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import algos, cms, crl as asn1_crl, ocsp as asn1_ocsp, x509 as asn1_x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from lxml import etree
from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator, SignatureValidationContext

from ..pki.cms import PARSE_ERRORS, CmsMaterial
from ..pki.streams import Progress
from ..pki.xml_safe import XmlRefused, parse_untrusted
from .cades import (
    TimestampOutcome,
    format_failure,
    hash_chunks,
    hash_file,
    timestamp_check,
    verify_timestamp,
)
from .chain import ChainResult, Environment, SigningTimes, certificate_category, signer_identity, validate_certificate
from .model import Check, SignatureReport, SubIndication, indeterminate, passed, total_failed, warning
from .xml_references import (
    C14N10,
    CANONICALIZATIONS,
    EXC_C14N,
    Misplaced,
    Unsupported,
    canonicalize,
    digest_input,
    id_index,
)

__all__ = ["DetachedData", "MAX_XML_SIZE", "Resolver", "verify_xml", "verify_xml_stream"]

CONTENT_CHUNK = 1024 * 1024

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
XADES141 = "http://uri.etsi.org/01903/v1.4.1#"
#: XAdES 1.1.1 (ETSI TS 101 903 V1.1.1): PES V2 flows signed for Hélios use it.
XADES111 = "http://uri.etsi.org/01903/v1.1.1#"
NS = {"ds": DS, "xades": XADES, "xades141": XADES141}
NS111 = {**NS, "xades": XADES111}
MAX_XML_SIZE = 256 * 1024 * 1024

SIGNED_PROPERTIES = "http://uri.etsi.org/01903#SignedProperties"
#: Reference types naming SignedProperties: XAdES 1.2.2 on, and XAdES 1.1.1 (TS 101 903 V1.1.1 section 6.2.1).
SIGNED_PROPERTIES_TYPES = {SIGNED_PROPERTIES, XADES111 + "SignedProperties"}
COUNTERSIGNED = "http://uri.etsi.org/01903#CountersignedSignature"

DIGESTS = {
    DS + "sha1": "sha1",
    "http://www.w3.org/2001/04/xmldsig-more#sha224": "sha224",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
#: SignatureMethod URI -> (kind, hash) (XMLDSig 1.1 section 6.4, RFC 6931).
SIGNATURE_METHODS = {
    DS + "rsa-sha1": ("rsa", "sha1"),
    _MORE + "rsa-sha224": ("rsa", "sha224"), _MORE + "rsa-sha256": ("rsa", "sha256"),
    _MORE + "rsa-sha384": ("rsa", "sha384"), _MORE + "rsa-sha512": ("rsa", "sha512"),
    _MORE + "ecdsa-sha1": ("ecdsa", "sha1"), _MORE + "ecdsa-sha224": ("ecdsa", "sha224"),
    _MORE + "ecdsa-sha256": ("ecdsa", "sha256"), _MORE + "ecdsa-sha384": ("ecdsa", "sha384"),
    _MORE + "ecdsa-sha512": ("ecdsa", "sha512"),
    "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1": ("pss", "sha256"),
    "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1": ("pss", "sha384"),
    "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1": ("pss", "sha512"),
}
_WEAK = {"sha1"}


class _Refused(Exception):
    """A reference or structure that is refused: (sub-indication, message)."""

    def __init__(self, sub: SubIndication, message: str) -> None:
        super().__init__(message)
        self.sub = sub
        self.message = message


def _ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


def _ns(element: etree._Element | None) -> dict[str, str]:
    """The prefixes for a XAdES element's own version: 1.1.1 properties are read like 1.3.2 ones."""
    return NS111 if element is not None and etree.QName(element).namespace == XADES111 else NS


def qualifying_properties(signature: etree._Element) -> etree._Element | None:
    """``ds:Object/QualifyingProperties`` of a signature, XAdES 1.3.2 (EN 319 132-1) or 1.1.1."""
    found = signature.find("ds:Object/xades:QualifyingProperties", NS)
    return found if found is not None else signature.find("ds:Object/xades:QualifyingProperties", NS111)


def _text(element: etree._Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _b64(element: etree._Element | None) -> bytes:
    try:
        return base64.b64decode("".join(_text(element).split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("base64 invalide / invalid base64") from None


# -- canonicalisation and the document --------------------------------------------------------


@dataclass(frozen=True)
class DetachedData:
    """A detached data object a reference names: its path in its container, its size and its bytes
    (``chunks()`` streams them afresh at each call)."""

    name: str
    size: int
    chunks: Callable[[], Iterable[bytes]]


#: Maps a reference's ``URI`` to the data it names (None: no such data), instead of the token's folder.
Resolver = Callable[[str], DetachedData | None]


@dataclass
class _Document:
    tree: etree._ElementTree
    token: Path | None
    content: Path | None
    ids: dict[str, list[etree._Element]] = field(default_factory=dict)
    resolver: Resolver | None = None

    @classmethod
    def load(cls, tree: etree._ElementTree, token: Path | None, content: Path | None) -> _Document:
        return cls(tree, token, content, id_index(tree.getroot()))

    def by_id(self, value: str, env: Environment) -> etree._Element:
        found = self.ids.get(value, [])
        if len(found) != 1:
            raise _Refused(SubIndication.FORMAT_FAILURE, env.t(
                "L'identifiant « {v} » désigne {n} éléments : référence ambiguë refusée (emballage de signature).",
                "Id \"{v}\" names {n} elements: ambiguous reference refused (signature wrapping).", v=value,
                n=len(found)))
        return found[0]


def _canonicalize(node: etree._Element | etree._ElementTree, algorithm: str, *, comments_allowed: bool,
                  prefixes: list[str] | None = None) -> bytes:
    return canonicalize(node, algorithm, prefixes=prefixes, comments=comments_allowed)


def _c14n_of(method: etree._Element | None) -> tuple[str, list[str] | None]:
    """Algorithm and exclusive-C14N ``InclusiveNamespaces PrefixList`` of a method element."""
    if method is None:
        return C14N10, None
    algorithm = method.get("Algorithm", "")
    inclusive = method.find(f"{{{EXC_C14N}}}InclusiveNamespaces")
    prefixes = inclusive.get("PrefixList", "").split() if inclusive is not None else None
    return algorithm, prefixes


# -- references -----------------------------------------------------------------------------------


@dataclass
class _Reference:
    uri: str | None
    type: str | None
    id: str | None
    digest_ok: bool
    covers: str
    target: etree._Element | None = None
    external: Path | None = None
    #: "data" (the signed data objects), "properties" (this signature's SignedProperties),
    #: "key_info" (its own KeyInfo), "own" (a ds:Object, Manifest... of this signature) or "countersigned".
    role: str = "data"
    element: etree._Element | None = None  # the ds:Reference
    comments: bool = False
    detached: DetachedData | None = None  # the container file a resolver gave


def _is_ancestor(candidate: etree._Element, element: etree._Element) -> bool:
    return any(a is candidate for a in element.iterancestors())


def _describe(element: etree._Element) -> str:
    name = etree.QName(element).localname
    ident = element.get("Id") or element.get("ID") or element.get("id")
    return f"<{name} Id={ident}>" if ident else f"<{name}>"


def _own_properties(signature: etree._Element) -> etree._Element | None:
    qualifying = qualifying_properties(signature)
    return qualifying.find("xades:SignedProperties", _ns(qualifying)) if qualifying is not None else None


def _role(env: Environment, target: etree._Element, signature: etree._Element, ref_type: str | None,
          countersigned: etree._Element | None) -> str:
    """Signature-wrapping defence: what a same-document reference designates, or a refusal.

    Accepted: the document or an element containing the signature (enveloped); this signature's own
    ``SignedProperties`` (with or without ``Type``), ``KeyInfo``, ``ds:Object`` or ``Manifest``; an
    element elsewhere in the document named by a unique Id (detached same-document data). A
    reference whose transforms remove its signature must contain it (checked in ``digest_input``);
    ``SignedProperties``/``CountersignedSignature`` references must designate this signature's.
    """
    properties = _own_properties(signature)
    if target is properties and properties is not None:
        return "properties"
    if ref_type == SIGNED_PROPERTIES:
        raise _Refused(SubIndication.FORMAT_FAILURE, env.t(
            "La référence SignedProperties ne désigne pas les propriétés de cette signature.",
            "The SignedProperties reference does not designate this signature's properties."))
    if countersigned is not None:
        if target is countersigned:
            return "countersigned"
        raise _Refused(SubIndication.FORMAT_FAILURE, env.t(
            "La contre-signature ne porte pas sur la valeur de la signature contre-signée.",
            "The counter-signature does not cover the counter-signed signature value."))
    if _is_ancestor(signature, target):
        key_info = signature.find("ds:KeyInfo", NS)
        if key_info is not None and (target is key_info or _is_ancestor(key_info, target)):
            return "key_info"
        if any(o is target or _is_ancestor(o, target) for o in signature.findall("ds:Object", NS)):
            return "own"
        raise _Refused(SubIndication.FORMAT_FAILURE, env.t(
            "La référence {r} désigne une partie de la signature elle-même.",
            "Reference {r} designates a part of the signature itself.", r=_describe(target)))
    return "data"


def _unsupported(env: Environment, refused: Unsupported) -> _Refused:
    return _Refused(SubIndication.SIGNED_DATA_NOT_FOUND, env.t(
        "Données signées non calculables ici ({m}) : intégrité non vérifiée.",
        "Signed data cannot be computed here ({m}): integrity not checked.", m=env.t(refused.fr, refused.en)))


def _wrapped(env: Environment, target: etree._Element | None) -> _Refused:
    where = _describe(target) if target is not None else env.t("le document", "the document")
    return _Refused(SubIndication.FORMAT_FAILURE, env.t(
        "La référence à {r} retire une signature enveloppée qui n'est plus à l'intérieur : les données affichées "
        "peuvent différer des données signées (emballage de signature, « XML signature wrapping »).",
        "The reference to {r} removes an enveloped signature that is no longer inside it: the data shown may differ "
        "from the data signed (XML signature wrapping).", r=where))


def _process_reference(env: Environment, ref: etree._Element, signature: etree._Element, doc: _Document,
                       externals: int, countersigned: etree._Element | None, progress: Progress | None) -> _Reference:
    uri = ref.get("URI")
    ref_type = SIGNED_PROPERTIES if ref.get("Type") in SIGNED_PROPERTIES_TYPES else ref.get("Type")
    method = ref.find("ds:DigestMethod", NS)
    digest_name = DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
    if digest_name is None:
        raise _Refused(SubIndication.FORMAT_FAILURE, env.t("Méthode d'empreinte inconnue.", "Unknown digest method."))
    expected = _b64(ref.find("ds:DigestValue", NS))
    transforms = ref.findall("ds:Transforms/ds:Transform", NS)
    # Dereference (XMLDSig section 4.4.3.3).
    target: etree._Element | None = None
    whole = False
    comments = False
    if uri is None or not (uri == "" or uri.startswith("#")):
        if transforms:
            raise _unsupported(env, Unsupported("transformations sur des données externes",
                                                "transforms over external data"))
        if doc.resolver is not None:
            data = _resolved(uri, env, doc.resolver)
            digest = hash_chunks(data.chunks(), [digest_name], progress, data.size)[digest_name]
            return _Reference(uri, ref_type, ref.get("Id"), digest == expected,
                              env.t("fichier « {n} » ({s} octets)", "file \"{n}\" ({s} bytes)", n=data.name,
                                    s=data.size), element=ref, detached=data)
        path = _external_path(uri, doc, externals, env)
        digest = hash_file(path, [digest_name], progress)[digest_name]
        size = path.stat().st_size
        return _Reference(uri, ref_type, ref.get("Id"), digest == expected,
                          env.t("fichier « {n} » ({s} octets)", "file \"{n}\" ({s} bytes)", n=path.name, s=size),
                          external=path, element=ref)
    if uri == "":
        whole = True
    elif uri == "#xpointer(/)":
        whole, comments = True, True
    elif uri.startswith("#xpointer(id(") and uri.endswith("))"):
        target, comments = doc.by_id(uri[len("#xpointer(id("):-2].strip("'\""), env), True
    elif uri.startswith("#xpointer("):
        raise _unsupported(env, Unsupported(f"XPointer {uri}", f"XPointer {uri}"))
    else:
        target = doc.by_id(uri[1:], env)
    role = "data" if target is None else _role(env, target, signature, ref_type, countersigned)
    try:
        octets = digest_input(doc.tree, target, signature, transforms, comments=comments, ids=doc.ids).octets
    except Unsupported as unsupported:
        raise _unsupported(env, unsupported) from None
    except Misplaced:
        raise _wrapped(env, target) from None
    digest = hashlib.new(digest_name, octets).digest()
    if whole:
        covers = env.t("document entier", "whole document")
    elif role == "properties":
        covers = env.t("propriétés signées XAdES", "XAdES signed properties")
    elif role == "countersigned":
        covers = env.t("valeur de la signature contre-signée", "counter-signed signature value")
    elif role == "key_info":
        covers = env.t("informations de clé de la signature (KeyInfo)", "the signature's key information (KeyInfo)")
    else:
        covers = env.t("élément {e}", "element {e}", e=_describe(target))
    return _Reference(uri, ref_type, ref.get("Id"), digest == expected, covers, target=target, role=role, element=ref,
                      comments=comments)


def _resolved(uri: str | None, env: Environment, resolver: Resolver) -> DetachedData:
    data = resolver(uri or "")
    if data is None:
        raise _Refused(SubIndication.SIGNED_DATA_NOT_FOUND, env.t(
            "Données signées « {u} » absentes du conteneur.", "Signed data \"{u}\" is not in the container.",
            u=uri or ""))
    return data


def _external_path(uri: str | None, doc: _Document, externals: int, env: Environment) -> Path:
    name = unquote(uri or "")
    if doc.content is not None and (externals == 1 or name == doc.content.name):
        return doc.content
    plain = name and "/" not in name and "\\" not in name and ":" not in name and not name.startswith(".") \
        and "?" not in name and "#" not in name
    if plain and doc.token is not None:
        candidate = doc.token.parent / name
        if candidate.is_file():
            return candidate
    raise _Refused(SubIndication.SIGNED_DATA_NOT_FOUND, env.t(
        "Données signées « {u} » introuvables à côté de la signature (aucune adresse n'est jamais téléchargée) ; "
        "indiquez le fichier explicitement.",
        "Signed data \"{u}\" not found next to the signature (no address is ever downloaded); "
        "give the file explicitly.",
        u=uri or ""))


# -- signature value ------------------------------------------------------------------------------


def _algorithm(uri: str) -> tuple[algos.SignedDigestAlgorithm, str, str]:
    kind, hash_name = SIGNATURE_METHODS[uri]
    if kind == "rsa":
        return algos.SignedDigestAlgorithm({"algorithm": f"{hash_name}_rsa"}), kind, hash_name
    if kind == "ecdsa":
        return algos.SignedDigestAlgorithm({"algorithm": f"{hash_name}_ecdsa"}), kind, hash_name
    digest = algos.DigestAlgorithm({"algorithm": hash_name})
    return algos.SignedDigestAlgorithm({"algorithm": "rsassa_pss", "parameters": algos.RSASSAPSSParams({
        "hash_algorithm": digest, "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": digest},
        "salt_length": hashlib.new(hash_name).digest_size, "trailer_field": "trailer_field_bc"})}), kind, hash_name


def _verify_value(signature: etree._Element, cert: asn1_x509.Certificate) -> bool:
    signed_info = signature.find("ds:SignedInfo", NS)
    algorithm, prefixes = _c14n_of(signed_info.find("ds:CanonicalizationMethod", NS))
    method = signed_info.find("ds:SignatureMethod", NS).get("Algorithm", "")
    asn1_algorithm, kind, hash_name = _algorithm(method)
    value = _b64(signature.find("ds:SignatureValue", NS))
    if kind == "ecdsa":
        half = len(value) // 2
        if not value or len(value) % 2:
            return False
        value = encode_dss_signature(int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big"))
    data = _canonicalize(signed_info, algorithm, comments_allowed=True, prefixes=prefixes)
    try:
        DefaultSignatureValidator().validate_signature(value, data, cert.public_key, asn1_algorithm,
                                                       SignatureValidationContext(contextual_md_algorithm=hash_name))
    except (InvalidSignature, ValueError, TypeError, AssertionError, UnsupportedAlgorithm):
        return False  # UnsupportedAlgorithm: a KeyInfo certificate whose key cannot be loaded
    return True


# -- XAdES properties --------------------------------------------------------------------------------


def _certificates(signature: etree._Element) -> tuple[list[asn1_x509.Certificate], CmsMaterial]:
    """KeyInfo certificates, and the B-LT values of the unsigned properties."""
    key_info = []
    for element in signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS):
        try:
            key_info.append(asn1_x509.Certificate.load(_b64(element)))
        except PARSE_ERRORS:
            continue
    found = CmsMaterial(certificates=list(key_info))
    unsigned = signature.find("ds:Object/xades:QualifyingProperties/xades:UnsignedProperties/"
                              "xades:UnsignedSignatureProperties", NS)
    if unsigned is not None:
        for element in unsigned.iterfind(".//xades:EncapsulatedX509Certificate", NS):
            with contextlib.suppress(*PARSE_ERRORS):
                found.certificates.append(asn1_x509.Certificate.load(_b64(element)))
        for element in unsigned.iterfind(".//xades:CRLValues/xades:EncapsulatedCRLValue", NS):
            with contextlib.suppress(*PARSE_ERRORS):
                found.crls.append(asn1_crl.CertificateList.load(_b64(element)))
        for element in unsigned.iterfind(".//xades:OCSPValues/xades:EncapsulatedOCSPValue", NS):
            with contextlib.suppress(*PARSE_ERRORS):
                found.ocsps.append(asn1_ocsp.OCSPResponse.load(_b64(element)))
    return key_info, found


def _signing_certificate(env: Environment, properties: etree._Element | None, candidates: list[asn1_x509.Certificate],
                         signature: etree._Element) -> tuple[asn1_x509.Certificate | None, Check]:
    """EN 319 102-1 section 5.2.3 with XAdES SigningCertificateV2/SigningCertificate (EN 319 132-1 5.2.2)."""
    ns = _ns(properties)
    ssp = properties.find("xades:SignedSignatureProperties", ns) if properties is not None else None
    cert_ref = None
    label = ""
    if ssp is not None:
        for name in ("SigningCertificateV2", "SigningCertificate"):
            cert_ref = ssp.find(f"xades:{name}/xades:Cert", ns)
            if cert_ref is not None:
                label = name
                break
    if cert_ref is None:
        # Plain XMLDSig: the KeyInfo certificate whose key verifies the signature (never a KeyValue).
        leaves = [c for c in candidates if not c.ca] or candidates
        for cert in leaves:
            if _verify_value(signature, cert):
                return cert, warning("signing_certificate", env.t(
                    "Certificat pris dans KeyInfo, non lié à la signature par une propriété XAdES signée.",
                    "Certificate taken from KeyInfo, not bound to the signature by a signed XAdES property."))
        if leaves:
            return leaves[0], warning("signing_certificate", env.t(
                "Certificat pris dans KeyInfo (aucune propriété XAdES SigningCertificate).",
                "Certificate taken from KeyInfo (no XAdES SigningCertificate property)."))
        return None, indeterminate("signing_certificate", env.t("Aucun certificat X.509 dans la signature.",
                                                                "No X.509 certificate in the signature."),
                                   SubIndication.NO_SIGNING_CERTIFICATE_FOUND)
    # XAdES 1.1.1 declares CertDigest's DigestMethod and DigestValue in its own namespace.
    digest_ns = "ds" if cert_ref.find("xades:CertDigest/ds:DigestValue", ns) is not None else "xades"
    method = cert_ref.find(f"xades:CertDigest/{digest_ns}:DigestMethod", ns)
    digest_name = DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
    try:
        expected = _b64(cert_ref.find(f"xades:CertDigest/{digest_ns}:DigestValue", ns))
    except ValueError:
        expected = b""
    for cert in candidates:
        if digest_name and hashlib.new(digest_name, cert.dump()).digest() == expected:
            return cert, passed("signing_certificate", env.t("Certificat du signataire identifié ({n}).",
                                                             "Signer's certificate identified ({n}).", n=label))
    return None, indeterminate("signing_certificate", env.t(
        "Le certificat désigné par {n} n'est pas dans la signature.",
        "The certificate designated by {n} is not in the signature.", n=label),
        SubIndication.NO_SIGNING_CERTIFICATE_FOUND)


def _claimed_time(properties: etree._Element | None) -> datetime | None:
    if properties is None:
        return None
    text = properties.findtext("xades:SignedSignatureProperties/xades:SigningTime", namespaces=_ns(properties))
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


async def _timestamps(env: Environment, signature: etree._Element, found: CmsMaterial
                      ) -> tuple[TimestampOutcome | None, list[TimestampOutcome]]:
    """``SignatureTimeStamp`` (EN 319 132-1 section 5.3) over the canonical ``ds:SignatureValue``."""
    value = signature.find("ds:SignatureValue", NS)
    outcomes = []
    for stamp in signature.iterfind("ds:Object/xades:QualifyingProperties/xades:UnsignedProperties/"
                                    "xades:UnsignedSignatureProperties/xades:SignatureTimeStamp", NS):
        algorithm, prefixes = _c14n_of(stamp.find("ds:CanonicalizationMethod", NS))
        try:
            if algorithm not in CANONICALIZATIONS:
                raise ValueError(algorithm)
            data = _canonicalize(value, algorithm, comments_allowed=True, prefixes=prefixes)
            token = cms.ContentInfo.load(_b64(stamp.find("xades:EncapsulatedTimeStamp", NS)))

            def expected(name: str, data: bytes = data) -> bytes | None:
                try:
                    return hashlib.new(name, data).digest()
                except ValueError:
                    return None

            outcomes.append(await verify_timestamp(env, token, expected, found))
        except PARSE_ERRORS as exc:
            outcomes.append(TimestampOutcome(False, None, env.t("horodatage illisible ({e})",
                                                                "unreadable time-stamp ({e})", e=exc)))
    valid = [o for o in outcomes if o.ok and o.time is not None]
    return (min(valid, key=lambda o: o.time) if valid else None), outcomes  # type: ignore[arg-type, return-value]


def _content_digest(refs: list[_Reference], doc: _Document, signature: etree._Element, algorithm: str,
                    prefixes: list[str] | None) -> Callable[[str], bytes | None]:
    """``expected(hash_name)`` of a XAdES content time-stamp: the hash of the concatenated data objects of
    ``refs`` after their transforms, a node-set canonicalised with the time-stamp's algorithm
    (EN 319 132-1 sections 5.2.8.1 and 5.2.8.2)."""

    def expected(name: str) -> bytes | None:
        try:
            hasher = hashlib.new(name)
        except ValueError:
            return None
        for ref in refs:
            if ref.detached is not None:
                for chunk in ref.detached.chunks():
                    hasher.update(chunk)
                continue
            if ref.external is not None:
                with ref.external.open("rb") as stream:
                    while chunk := stream.read(CONTENT_CHUNK):
                        hasher.update(chunk)
                continue
            transforms = ref.element.findall("ds:Transforms/ds:Transform", NS) if ref.element is not None else []
            hasher.update(digest_input(doc.tree, ref.target, signature, transforms, comments=ref.comments, ids=doc.ids,
                                       final=algorithm, final_prefixes=prefixes).octets)
        return hasher.digest()

    return expected


async def _content_timestamps(env: Environment, signature: etree._Element, properties: etree._Element | None,
                              processed: list[_Reference], doc: _Document, found: CmsMaterial) -> Check | None:
    """Signed ``AllDataObjectsTimeStamp`` and ``IndividualDataObjectsTimeStamp`` (EN 319 132-1 section 5.2.8):
    imprint over the referenced data, TSA signature and chain. A refused one is ignored, with a warning."""
    if properties is None:
        return None
    ns = _ns(properties)
    stamps = [s for s in properties.iterfind("xades:SignedDataObjectProperties/*", ns)
              if etree.QName(s).localname in ("AllDataObjectsTimeStamp", "IndividualDataObjectsTimeStamp")]
    if not stamps:
        return None
    by_uri = {f"#{r.id}": r for r in processed if r.id}
    outcomes: list[TimestampOutcome] = []
    for stamp in stamps:
        algorithm, prefixes = _c14n_of(stamp.find("ds:CanonicalizationMethod", NS))
        try:
            if algorithm not in CANONICALIZATIONS:
                raise ValueError(algorithm)
            if etree.QName(stamp).localname == "AllDataObjectsTimeStamp":
                refs = [r for r in processed if r.role != "properties"]
            else:
                refs = [by_uri[i.get("URI", "")] for i in stamp.findall("xades:Include", ns)]
                if not refs:
                    raise ValueError("Include")
            token = cms.ContentInfo.load(_b64(stamp.find("xades:EncapsulatedTimeStamp", ns)))
            outcomes.append(await verify_timestamp(env, token, _content_digest(refs, doc, signature, algorithm,
                                                                               prefixes), found))
        except (Unsupported, Misplaced, KeyError) as exc:
            outcomes.append(TimestampOutcome(False, None, env.t(
                "données horodatées non calculables ({e})", "time-stamped data cannot be computed ({e})", e=exc)))
        except PARSE_ERRORS as exc:
            outcomes.append(TimestampOutcome(False, None, env.t("horodatage illisible ({e})",
                                                                "unreadable time-stamp ({e})", e=exc)))
    refused = [o for o in outcomes if not o.ok]
    if refused:
        return warning("content_timestamp", env.t(
            "Horodatage du contenu ignoré, {m}.", "Content time-stamp ignored, {m}.", m=refused[0].message))
    return passed("content_timestamp", env.t("Contenu horodaté avant la signature : {m}.",
                                             "Content time-stamped before signing: {m}.",
                                             m="; ".join(o.message for o in outcomes)))


def _unsigned_has(signature: etree._Element, tag: str) -> bool:
    qualifying = qualifying_properties(signature)
    ns = _ns(qualifying)
    unsigned = qualifying.find("xades:UnsignedProperties/xades:UnsignedSignatureProperties", ns) \
        if qualifying is not None else None
    return unsigned is not None and (unsigned.find(f"xades:{tag}", ns) is not None
                                     or unsigned.find(f"xades141:{tag}", ns) is not None)


def _form(signature: etree._Element, properties: etree._Element | None) -> str | None:
    """The XAdES form of ETSI TS 101 903 (EN 319 132-2 annex): BES, EPES, T, C, X, XL or A, read from the
    properties present (their time-stamps are judged by the other checks)."""
    ns = _ns(properties)
    ssp = properties.find("xades:SignedSignatureProperties", ns) if properties is not None else None
    if ssp is None or (ssp.find("xades:SigningCertificateV2", ns) is None
                       and ssp.find("xades:SigningCertificate", ns) is None):
        return None
    form = "EPES" if ssp.find("xades:SignaturePolicyIdentifier", ns) is not None else "BES"
    if not _unsigned_has(signature, "SignatureTimeStamp"):
        return form
    form = "T"
    certificate_refs = any(_unsigned_has(signature, tag) for tag in ("CompleteCertificateRefs",
                                                                      "CompleteCertificateRefsV2"))
    if not (certificate_refs and _unsigned_has(signature, "CompleteRevocationRefs")):
        return form
    form = "C"
    if not any(_unsigned_has(signature, tag) for tag in ("SigAndRefsTimeStamp", "SigAndRefsTimeStampV2",
                                                          "RefsOnlyTimeStamp", "RefsOnlyTimeStampV2")):
        return form
    form = "X"
    if not (_unsigned_has(signature, "CertificateValues") and _unsigned_has(signature, "RevocationValues")):
        return form
    return "A" if _unsigned_has(signature, "ArchiveTimeStamp") else "XL"


def _level(env: Environment, signature: etree._Element, properties: etree._Element | None, data_refs: list[_Reference],
           timestamped: bool, found: CmsMaterial, chain: ChainResult, counter: bool) -> tuple[str | None, Check]:
    """The EN 319 132-1 baseline level (section 6.3), else the XAdES form (``_form``), else none (XMLDSig)."""
    missing = []
    ns = _ns(properties)
    if properties is None:
        missing.append(env.t("propriétés signées XAdES", "signed XAdES properties"))
    else:
        ssp = properties.find("xades:SignedSignatureProperties", ns)
        if ssp is None or ssp.find("xades:SigningTime", ns) is None:
            missing.append("SigningTime")
        if ssp is None or (ssp.find("xades:SigningCertificateV2", ns) is None and ssp.find("xades:SigningCertificate",
                                                                                           ns)
                           is None):
            missing.append("SigningCertificateV2")
        if not counter:
            formats = {f.get("ObjectReference"): f for f in properties.iterfind(
                "xades:SignedDataObjectProperties/xades:DataObjectFormat", ns)}
            for ref in data_refs:
                fmt = formats.get(f"#{ref.id}") if ref.id else None
                if fmt is None or not fmt.findtext("xades:MimeType", namespaces=ns):
                    missing.append(env.t("DataObjectFormat/MimeType de {c}", "DataObjectFormat/MimeType of {c}",
                                         c=ref.covers))
    if missing:
        form = _form(signature, properties)
        if form is not None:
            return form, warning("baseline_level", env.t(
                "Forme XAdES-{f} (ETSI TS 101 903) ; pas de niveau de base EN 319 132-1 : {m} absent(s).",
                "XAdES-{f} form (ETSI TS 101 903); no EN 319 132-1 baseline level: {m} missing.",
                f=form, m=", ".join(missing)))
        return None, warning("baseline_level", env.t("Pas de niveau XAdES de base (EN 319 132-1) : {m} absent(s).",
                                                     "No XAdES baseline level (EN 319 132-1): {m} missing.",
                                                     m=", ".join(missing)))
    if not timestamped:
        return "B-B", passed("baseline_level", env.t(
            "B-B : SigningTime, SigningCertificateV2 et DataObjectFormat signés.",
            "B-B: signed SigningTime, SigningCertificateV2 and DataObjectFormat."))
    present = {c.dump() for c in found.certificates}
    long_term = _unsigned_has(signature, "CertificateValues") and _unsigned_has(signature, "RevocationValues") \
        and bool(chain.path) and all(c.dump() in present for c in chain.path[:-1])
    if not long_term:
        return "B-T", passed("baseline_level", env.t("B-T : B-B et horodatage de signature valide.",
                                                     "B-T: B-B and a valid signature time-stamp."))
    if _unsigned_has(signature, "ArchiveTimeStamp"):
        return "B-LT", warning("baseline_level", env.t(
            "B-LT : données de validation incluses ; horodatage d'archive présent mais non vérifié (B-LTA non évalué).",
            "B-LT: validation data included; archive time-stamp present but not verified (B-LTA not assessed)."))
    return "B-LT", passed("baseline_level", env.t("B-LT : B-T, CertificateValues et RevocationValues.",
                                                  "B-LT: B-T, CertificateValues and RevocationValues."))


# -- one signature --------------------------------------------------------------------------------


def _structure(env: Environment, signature: etree._Element) -> None:
    signed_info = signature.findall("ds:SignedInfo", NS)
    if len(signed_info) != 1:
        raise _Refused(SubIndication.FORMAT_FAILURE, env.t("ds:SignedInfo absent ou multiple.",
                                                           "ds:SignedInfo missing or repeated."))
    algorithm, _ = _c14n_of(signed_info[0].find("ds:CanonicalizationMethod", NS))
    if signed_info[0].find("ds:CanonicalizationMethod", NS) is None or algorithm not in CANONICALIZATIONS:
        raise _Refused(SubIndication.FORMAT_FAILURE,
                       env.t("Méthode de canonicalisation absente ou non prise en charge.",
                                                           "Missing or unsupported canonicalization method."))
    method = signed_info[0].find("ds:SignatureMethod", NS)
    if method is None or method.get("Algorithm") not in SIGNATURE_METHODS:
        raise _Refused(SubIndication.FORMAT_FAILURE, env.t("Algorithme de signature absent ou non pris en charge.",
                                                           "Missing or unsupported signature algorithm."))
    if len(signature.findall("ds:SignatureValue", NS)) != 1 or not signed_info[0].findall("ds:Reference", NS):
        raise _Refused(SubIndication.FORMAT_FAILURE, env.t("SignatureValue ou références absentes.",
                                                           "SignatureValue or references missing."))


def _may_sign_own_objects(signature: etree._Element, processed: list[_Reference], doc: _Document) -> bool:
    """An enveloping signature (XMLDSig section 2.1) signs its own ``ds:Object``: it is the document, or
    one of the signatures of a signature container (a root holding only ``ds:Signature`` elements, as
    ODF ``document-signatures`` or ASiC ``XAdESSignatures``), or it also signs the document or an
    element containing it, directly or through a verified reference of its signed ``Manifest``."""
    parent = signature.getparent()
    if parent is None:
        return True
    if parent.getparent() is None and all(c.tag == _ds("Signature") for c in parent if isinstance(c.tag, str)):
        return True
    if any(r.role == "data" and r.external is None and (r.target is None or _is_ancestor(r.target, signature))
           for r in processed):
        return True
    return _manifest_covers_document(signature, processed, doc)


def _manifest_covers_document(signature: etree._Element, processed: list[_Reference], doc: _Document) -> bool:
    """A signed ``ds:Manifest`` of the signature holds a reference to the document (or to an element
    containing the signature) whose digest matches (XMLDSig section 5.1: the application checks it)."""
    for ref in processed:
        if ref.role != "own" or ref.target is None or not ref.digest_ok:
            continue
        for manifest in ref.target.iter(_ds("Manifest")):
            for inner in manifest.findall("ds:Reference", NS):
                uri = inner.get("URI")
                if uri is None or not (uri == "" or uri.startswith("#")) or uri.startswith("#xpointer("):
                    continue
                found = doc.ids.get(uri[1:], []) if uri else []
                target = found[0] if len(found) == 1 else None
                if uri and (target is None or not _is_ancestor(target, signature)):
                    continue
                method = inner.find("ds:DigestMethod", NS)
                name = DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
                if name is None:
                    continue
                try:
                    octets = digest_input(doc.tree, target, signature, inner.findall("ds:Transforms/ds:Transform", NS),
                                          comments=False, ids=doc.ids).octets
                    if hashlib.new(name, octets).digest() == _b64(inner.find("ds:DigestValue", NS)):
                        return True
                except (Unsupported, Misplaced, ValueError):
                    continue
    return False


async def _verify_signature(env: Environment, signature: etree._Element, doc: _Document, id_: str,
                            progress: Progress | None, countersigned: etree._Element | None = None) -> SignatureReport:
    report = SignatureReport(id=signature.get("Id") or id_, format="XAdES")
    counter = countersigned is not None
    try:
        _structure(env, signature)
    except _Refused as refused:
        report.format = "XMLDSig"
        report.add(total_failed("format", refused.message, refused.sub))
        return report
    report.add(passed("format", env.t("Signature XMLDSig lisible.", "Readable XMLDSig signature.")))
    qualifyings = [q for namespaces in (NS, NS111)
                   for q in signature.findall("ds:Object/xades:QualifyingProperties", namespaces)]
    qualifying = qualifyings[0] if qualifyings else None
    properties = _own_properties(signature)
    refs = signature.findall("ds:SignedInfo/ds:Reference", NS)
    externals = sum(1 for r in refs if r.get("URI") is None or not (r.get("URI") == "" or r.get("URI",
                                                                                                "").startswith("#")))
    processed: list[_Reference] = []
    problem: Check | None = None
    for ref in refs:
        try:
            processed.append(_process_reference(env, ref, signature, doc, externals,
                                                countersigned if ref.get("Type") == COUNTERSIGNED or
                                                (counter and ref.get("Type") not in SIGNED_PROPERTIES_TYPES) else None,
                                                progress))
        except _Refused as refused:
            problem = problem or (total_failed("coverage", refused.message, refused.sub)
                                  if refused.sub is SubIndication.FORMAT_FAILURE
                                  else indeterminate("integrity", refused.message, refused.sub))
        except PARSE_ERRORS as exc:
            problem = problem or total_failed("format", env.t("Référence illisible : {e}", "Unreadable reference: {e}",
                                                              e=exc), SubIndication.FORMAT_FAILURE)
    props_signed = properties is not None and any(r.role == "properties" for r in processed)
    report.format = "XAdES" if props_signed else "XMLDSig"
    repeated = qualifying is not None and len(qualifying.findall("xades:SignedProperties", _ns(qualifying))) > 1
    if len(qualifyings) > 1 or repeated:
        problem = problem or total_failed("format", env.t(
            "Propriétés XAdES en plusieurs exemplaires : refusées (emballage de signature).",
            "XAdES properties given more than once: refused (signature wrapping)."), SubIndication.FORMAT_FAILURE)
    targets = (f"#{signature.get('Id')}", None)
    if properties is not None and qualifying is not None and qualifying.get("Target") not in targets:
        problem = problem or total_failed("format", env.t("QualifyingProperties ne vise pas cette signature.",
                                                          "QualifyingProperties does not target this signature."),
                                          SubIndication.FORMAT_FAILURE)
    own = [r for r in processed if r.role == "own"]
    if own and problem is None and not _may_sign_own_objects(signature, processed, doc):
        problem = total_failed("coverage", env.t(
            "La signature porte sur son propre contenu ({c}) alors qu'elle est insérée dans un autre document, "
            "qui n'est pas signé : les données affichées peuvent différer des données signées (emballage de "
            "signature, « XML signature wrapping »).",
            "The signature covers its own content ({c}) while it sits inside another document, which is not signed: "
            "the data shown may differ from the data signed (XML signature wrapping).",
            c=", ".join(r.covers for r in own)), SubIndication.FORMAT_FAILURE)
    data_refs = [r for r in processed if r.role in ("data", "own", "countersigned")]
    report.covers = [r.detached.name for r in data_refs if r.detached is not None]
    # Coverage: what the signature covers (the data shown must be the data signed).
    if problem is not None and problem.name == "coverage":
        report.add(problem)
    elif data_refs:
        covered = ", ".join(r.covers for r in data_refs)
        partial = [r for r in data_refs if r.role == "data" and r.target is not None
                   and r.target is not doc.tree.getroot() and countersigned is None
                   and signature.getparent() is not None]
        if partial:
            report.add(warning("coverage", env.t(
                "La signature couvre : {c} ; le reste du document n'est pas couvert par cette signature.",
                "The signature covers: {c}; the rest of the document is not covered by this signature.", c=covered)))
        else:
            report.add(passed("coverage", env.t("La signature couvre : {c}.", "The signature covers: {c}.", c=covered)))
    if problem is not None and problem.name == "format":
        report.add(problem)
    if properties is not None and not props_signed:
        report.add(warning("format", env.t("Propriétés XAdES présentes mais non signées : ignorées.",
                                           "XAdES properties present but not signed: ignored.")))
        properties = None
    key_info, found = _certificates(signature)
    cert, identified = _signing_certificate(env, properties, found.certificates if properties is not None else key_info,
                                            signature)
    report.signer = signer_identity(cert)
    report.add(identified)
    if problem is not None and problem.name == "integrity":
        report.add(problem)
    elif processed:
        bad = [r for r in processed if not r.digest_ok]
        if bad:
            report.add(total_failed("integrity", env.t(
                "Données modifiées après la signature : empreinte différente pour {c}.",
                "Data changed after signing: digest differs for {c}.", c=", ".join(r.covers for r in bad)),
                SubIndication.HASH_FAILURE))
        elif problem is None:
            report.add(passed("integrity", env.t("Empreintes conformes ({n} référence(s)).",
                                                 "Digests match ({n} reference(s)).", n=len(processed))))
    if cert is None:
        return report
    method = signature.find("ds:SignedInfo/ds:SignatureMethod", NS).get("Algorithm", "")
    if _verify_value(signature, cert):
        if SIGNATURE_METHODS[method][1] in _WEAK:
            report.add(indeterminate("signature_value", env.t("Valeur correcte mais algorithme faible ({m}).",
                                                              "Correct value but weak algorithm ({m}).", m=method),
                                     SubIndication.CRYPTO_CONSTRAINTS_FAILURE))
        else:
            report.add(passed("signature_value", env.t("Valeur de signature correcte ({m}).",
                                                       "Signature value is correct ({m}).", m=method.rsplit("#",
                                                                                                            1)[-1])))
    else:
        report.add(total_failed("signature_value", env.t(
            "Valeur de signature incorrecte : SignedInfo ou la signature ont été modifiés.",
            "Incorrect signature value: SignedInfo or the signature was changed."), SubIndication.SIG_CRYPTO_FAILURE))
    best, outcomes = await _timestamps(env, signature, found)
    times = SigningTimes(claimed=_claimed_time(properties), poe=best.time if best else None)
    report.signing_time = times.best
    report.signing_time_source = "timestamp" if times.poe else ("claimed" if times.claimed else None)
    chain = await validate_certificate(env, cert, found.certificates, times, crls=found.crls, ocsps=found.ocsps)
    report.add(*chain.checks)
    report.add(certificate_category(cert, env, chain.path, times.best))
    report.add(timestamp_check(env, best, outcomes))
    content_stamped = await _content_timestamps(env, signature, properties, processed, doc, found)
    if content_stamped is not None:
        report.add(content_stamped)
    report.level, level_check = _level(env, signature, properties, data_refs, times.poe is not None, found, chain,
                                       counter)
    report.add(level_check)
    if report.level is None:
        report.format = "XMLDSig"
    value = signature.find("ds:SignatureValue", NS)
    for index, inner in enumerate(signature.iterfind(
            "ds:Object/xades:QualifyingProperties/xades:UnsignedProperties/xades:UnsignedSignatureProperties/"
            "xades:CounterSignature/ds:Signature", NS), start=1):
        report.countersignatures.append(await _guarded(env, inner, doc, f"{report.id}-C{index}", progress, value))
    return report


async def _guarded(env: Environment, signature: etree._Element, doc: _Document, id_: str, progress: Progress | None,
                   countersigned: etree._Element | None = None) -> SignatureReport:
    try:
        return await _verify_signature(env, signature, doc, id_, progress, countersigned)
    except PARSE_ERRORS as exc:
        return format_failure(env, signature.get("Id") or id_, "XMLDSig",
                              env.t("Signature XML mal formée : {e}", "Malformed XML signature: {e}", e=exc))


async def verify_xml(env: Environment, path: Path, content: Path | None, progress: Progress | None
                     ) -> list[SignatureReport]:
    """Every top-level ``ds:Signature`` of the XML file (counter-signatures under their target)."""
    if path.stat().st_size > MAX_XML_SIZE:
        return [format_failure(env, "S1", "XML", env.t("Document XML trop volumineux.", "XML document too large."))]
    with path.open("rb") as stream:
        return await verify_xml_stream(env, stream, progress, token=path, content=content)


async def verify_xml_stream(env: Environment, stream: BinaryIO, progress: Progress | None, *,
                            token: Path | None = None, content: Path | None = None,
                            resolver: Resolver | None = None) -> list[SignatureReport]:
    """Every top-level ``ds:Signature`` of the XML read from ``stream``. Detached references resolve
    through ``resolver`` when given, else next to the file ``token`` (or to ``content``).

    A well-formed document without any ``ds:Signature`` holds no signature: no report (as an
    unsigned PDF), never a failed one; a caller that expects a signature there says so itself."""
    try:
        tree = parse_untrusted(stream)
    except XmlRefused as refused:
        return [format_failure(env, "S1", "XML",
                               str(refused) if env.locale != "en" else _english_refusal(str(refused)))]
    doc = _Document.load(tree, token, content)
    doc.resolver = resolver
    signatures = [s for s in tree.getroot().iter(_ds("Signature"))
                  if not any(etree.QName(a).localname == "CounterSignature" for a in s.iterancestors())]
    return [await _guarded(env, signature, doc, f"S{index}", progress) for index, signature in enumerate(signatures, 1)]


def _english_refusal(message: str) -> str:
    if "DOCTYPE" in message:
        return "XML document refused: DOCTYPE declarations (DTD, internal or external entities) are not accepted."
    if "nœuds" in message:
        return "XML document refused: too many elements and attributes to be loaded safely."
    return "Unreadable XML document: " + message.split(":", 1)[-1].strip()
