"""The signature of a trusted list (ETSI TS 119 612 clause 5.7 and annex B): checked before anything
in the list is read.

A trusted list carries one enveloped XAdES signature, last child of ``TrustServiceStatusList``,
whose reference covers the whole list (``URI=""`` or ``URI="#<Id of the list>"``, with the
enveloped-signature transform). XMLDSig core validation (XMLDSig 1.1 section 3.2) is done here:

* exactly one ``ds:Signature`` in the document, a child of the root; every reference is a
  same-document reference to the list itself or to a part of the signature (``SignedProperties``,
  ``KeyInfo``); an identifier carried by two elements is refused (no signature wrapping); a
  reference to anything else or to an external URI is refused; the transforms are those of
  ``agent.validation.xml_references`` (enveloped-signature, C14N, the XPath forms that leave the
  signature out), computed over copies so that the list itself is never modified; the reference
  to the list must leave its signature out;
* digests and signature methods of the SHA-2 family only (SHA-1 is refused);
* the ``ds:SignatureValue`` must verify with the key of one of the *allowed* certificates — pinned
  for the LOTL, given by the LOTL pointer for a Member State list (clause 5.3.13). ``KeyInfo`` is
  only used to name an unexpected signer in the refusal message, never to trust a key;
* when the signature has a signed XAdES ``SigningCertificateV2`` (or ``SigningCertificate``), it
  must designate that certificate (or one with the same key): the list and its verifier agree on
  who signed.

Comments are not signed (canonicalisation without comments) and are invisible to the parser,
which reads text with ``itertext``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from lxml import etree

from .model import DS_NS, XADES_NS, ListRefused, message
from ..xml_references import CANONICALIZATIONS, EXC_C14N, Misplaced, Unsupported, canonicalize, digest_input, id_index

__all__ = ["ListSignature", "verify_list_signature"]

NS = {"ds": DS_NS, "xades": XADES_NS}
C14N10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
SIGNED_PROPERTIES = "http://uri.etsi.org/01903#SignedProperties"

_MORE = "http://www.w3.org/2001/04/xmldsig-more#"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha224": hashes.SHA224, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}
#: Reference digest methods (XMLDSig 1.1 section 6.2, RFC 6931); SHA-1 is refused.
DIGESTS = {
    _MORE + "sha224": "sha224",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    _MORE + "sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
#: Signature methods (XMLDSig 1.1 section 6.4, RFC 6931); SHA-1 is refused.
SIGNATURE_METHODS = {
    _MORE + "rsa-sha224": ("pkcs1v15", "sha224"), _MORE + "rsa-sha256": ("pkcs1v15", "sha256"),
    _MORE + "rsa-sha384": ("pkcs1v15", "sha384"), _MORE + "rsa-sha512": ("pkcs1v15", "sha512"),
    _MORE + "ecdsa-sha224": ("ecdsa", "sha224"), _MORE + "ecdsa-sha256": ("ecdsa", "sha256"),
    _MORE + "ecdsa-sha384": ("ecdsa", "sha384"), _MORE + "ecdsa-sha512": ("ecdsa", "sha512"),
    "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1": ("pss", "sha256"),
    "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1": ("pss", "sha384"),
    "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1": ("pss", "sha512"),
}
#: Certificate digests of XAdES SigningCertificate(V2): SHA-1 is acceptable to *identify* a certificate.
_CERT_DIGESTS = {**DIGESTS, DS_NS + "sha1": "sha1"}


@dataclass(frozen=True)
class ListSignature:
    """Who signed the list (one of the allowed certificates), how, and the claimed signing time."""

    signer: x509.Certificate
    method: str
    signing_time: datetime | None


def _literal(text: str) -> str:
    """``text`` as a message template that renders to itself."""
    return text.replace("{", "{{").replace("}", "}}")


def _refuse(fr: str, en: str, **fields: object) -> ListRefused:
    return ListRefused(message(fr, en, **fields))


def _text(element: etree._Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _b64(element: etree._Element | None) -> bytes:
    try:
        return base64.b64decode("".join(_text(element).split()), validate=True)
    except (binascii.Error, ValueError):
        raise _refuse("Signature de la liste : valeur base64 invalide.",
                      "List signature: invalid base64 value.") from None


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _subject(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string() or "?"


# -- canonicalisation -------------------------------------------------------------------------------


def _canonicalize(node: etree._Element | etree._ElementTree, algorithm: str, prefixes: list[str] | None,
                  comments_allowed: bool) -> bytes:
    return canonicalize(node, algorithm, prefixes=prefixes, comments=comments_allowed)


def _method(element: etree._Element | None) -> tuple[str, list[str] | None]:
    if element is None:
        return C14N10, None
    inclusive = element.find(f"{{{EXC_C14N}}}InclusiveNamespaces")
    prefixes = inclusive.get("PrefixList", "").split() if inclusive is not None else None
    return element.get("Algorithm", ""), prefixes


# -- references -------------------------------------------------------------------------------------


def _inside(element: etree._Element, container: etree._Element) -> bool:
    return element is container or any(a is container for a in element.iterancestors())


def _reference(ref: etree._Element, tree: etree._ElementTree, signature: etree._Element,
               ids: dict[str, list[etree._Element]]) -> etree._Element:
    """Dereference, transform and digest one ``ds:Reference``; return the element it covers."""
    root = tree.getroot()
    uri = ref.get("URI")
    if uri is None or not (uri == "" or uri.startswith("#")) or uri.startswith("#xpointer("):
        raise _refuse("Signature de la liste : référence « {u} » non admise (seules les références internes à la "
                      "liste le sont).", "List signature: reference \"{u}\" not allowed (only references inside the "
                      "list are).", u=uri if uri is not None else "")
    whole = uri == ""
    if whole:
        target = root
    else:
        found = ids.get(uri[1:], [])
        if len(found) != 1:
            raise _refuse("Signature de la liste : l'identifiant « {v} » désigne {n} éléments (emballage de "
                          "signature refusé).", "List signature: id \"{v}\" names {n} elements (signature wrapping "
                          "refused).", v=uri[1:], n=len(found))
        target = found[0]
    if target is not root and not _inside(target, signature):
        raise _refuse("Signature de la liste : la référence {u} ne couvre pas la liste entière.",
                      "List signature: reference {u} does not cover the whole list.", u=uri)
    if ref.get("Type") == SIGNED_PROPERTIES and target is not signature.find(
            "ds:Object/xades:QualifyingProperties/xades:SignedProperties", NS):
        raise _refuse("Signature de la liste : la référence SignedProperties ne désigne pas les propriétés de cette "
                      "signature.", "List signature: the SignedProperties reference does not designate this "
                      "signature's properties.")
    method = ref.find("ds:DigestMethod", NS)
    digest_name = DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
    if digest_name is None:
        raise _refuse("Signature de la liste : algorithme d'empreinte absent, faible ou inconnu ({a}).",
                      "List signature: missing, weak or unknown digest algorithm ({a}).",
                      a=method.get("Algorithm", "?") if method is not None else "?")
    try:
        computed = digest_input(tree, None if whole else target, signature,
                                ref.findall("ds:Transforms/ds:Transform", NS), comments=False, ids=ids)
    except Unsupported as unsupported:
        raise _refuse("Signature de la liste : transformation non admise ({a}).",
                      "List signature: transform not allowed ({a}).", a=message(_literal(unsupported.fr),
                                                                                   _literal(unsupported.en))) from None
    except Misplaced:
        raise _refuse("Signature de la liste : la signature n'est pas dans les données qu'elle dit envelopper "
                      "(emballage de signature refusé).", "List signature: the signature is not inside the data it "
                      "claims to envelop (signature wrapping refused).") from None
    if target is root and not computed.signature_removed:
        raise _refuse("Signature de la liste : la référence à la liste n'a pas la transformation "
                      "« enveloped-signature ».", "List signature: the reference to the list lacks the "
                      "enveloped-signature transform.")
    octets = computed.octets
    expected = _b64(ref.find("ds:DigestValue", NS))
    if hashlib.new(digest_name, octets).digest() != expected:
        what = message("la liste", "the list") if target is root else message(
            "l'élément {e} de la signature", "the signature's element {e}", e=etree.QName(target).localname)
        raise _refuse("Liste modifiée après sa signature : l'empreinte de {w} ne correspond pas.",
                      "List changed after it was signed: the digest of {w} does not match.", w=what)
    return target


# -- signature value ------------------------------------------------------------------------------


def _verifies(cert: x509.Certificate, method: str, value: bytes, data: bytes) -> bool:
    scheme, hash_name = SIGNATURE_METHODS[method]
    algorithm = _HASHES[hash_name]()
    key = cert.public_key()
    try:
        if scheme == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            if not value or len(value) % 2:
                return False
            half = len(value) // 2
            der = encode_dss_signature(int.from_bytes(value[:half], "big"), int.from_bytes(value[half:], "big"))
            key.verify(der, data, ec.ECDSA(algorithm))
        elif scheme == "pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, padding.PKCS1v15(), algorithm)
        elif scheme == "pss" and isinstance(key, rsa.RSAPublicKey):
            key.verify(value, data, padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size),
                       algorithm)
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


def _key_info(signature: etree._Element) -> list[x509.Certificate]:
    certs = []
    for element in signature.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS):
        with contextlib.suppress(ListRefused, ValueError):
            certs.append(x509.load_der_x509_certificate(_b64(element)))
    return certs


def _check_signing_certificate(properties: etree._Element, signer: x509.Certificate,
                               key_info: Sequence[x509.Certificate]) -> None:
    """A signed XAdES SigningCertificateV2/SigningCertificate must designate the verifying certificate."""
    cert_refs = properties.findall("xades:SignedSignatureProperties/xades:SigningCertificateV2/xades:Cert", NS) + \
        properties.findall("xades:SignedSignatureProperties/xades:SigningCertificate/xades:Cert", NS)
    if not cert_refs:
        return
    candidates = [signer, *(c for c in key_info if _spki(c) == _spki(signer))]
    for cert_ref in cert_refs:
        method = cert_ref.find("xades:CertDigest/ds:DigestMethod", NS)
        name = _CERT_DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
        if name is None:
            continue
        try:
            expected = _b64(cert_ref.find("xades:CertDigest/ds:DigestValue", NS))
        except ListRefused:
            continue
        if any(hashlib.new(name, c.public_bytes(Encoding.DER)).digest() == expected for c in candidates):
            return
    raise _refuse("Signature de la liste : la propriété signée SigningCertificate désigne un autre certificat que "
                  "« {s} », autorisé à signer cette liste.", "List signature: the signed SigningCertificate property "
                  "designates another certificate than \"{s}\", which is allowed to sign this list.",
                  s=_subject(signer))


def _signing_time(properties: etree._Element | None) -> datetime | None:
    if properties is None:
        return None
    text = _text(properties.find("xades:SignedSignatureProperties/xades:SigningTime", NS))
    try:
        moment = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return moment if moment is not None and moment.tzinfo is not None else None


def verify_list_signature(tree: etree._ElementTree, allowed: Sequence[x509.Certificate]) -> ListSignature:
    """Verify the enveloped signature of a trusted list against ``allowed`` certificates.

    Raises :class:`ListRefused` with the reason when anything is wrong; the list must then not be used
    at all.
    """
    root = tree.getroot()
    signatures = list(root.iter(f"{{{DS_NS}}}Signature"))
    if not signatures:
        raise _refuse("Liste non signée (TS 119 612 §5.7 : une signature enveloppée est obligatoire).",
                      "Unsigned list (TS 119 612 §5.7: an enveloped signature is mandatory).")
    if len(signatures) != 1 or signatures[0].getparent() is not root:
        raise _refuse("La liste doit porter une et une seule signature, enfant de TrustServiceStatusList ({n} "
                      "trouvée(s)).", "The list must carry exactly one signature, child of TrustServiceStatusList "
                      "({n} found).", n=len(signatures))
    if not allowed:
        raise _refuse("Aucun certificat n'est autorisé à signer cette liste.",
                      "No certificate is allowed to sign this list.")
    signature = signatures[0]
    signed_infos = signature.findall("ds:SignedInfo", NS)
    if len(signed_infos) != 1 or len(signature.findall("ds:SignatureValue", NS)) != 1:
        raise _refuse("Signature de la liste mal formée (SignedInfo ou SignatureValue).",
                      "Malformed list signature (SignedInfo or SignatureValue).")
    signed_info = signed_infos[0]
    c14n_algorithm, c14n_prefixes = _method(signed_info.find("ds:CanonicalizationMethod", NS))
    method_element = signed_info.find("ds:SignatureMethod", NS)
    method = method_element.get("Algorithm", "") if method_element is not None else ""
    if signed_info.find("ds:CanonicalizationMethod", NS) is None or c14n_algorithm not in CANONICALIZATIONS:
        raise _refuse("Signature de la liste : canonicalisation absente ou non prise en charge.",
                      "List signature: missing or unsupported canonicalization.")
    if method not in SIGNATURE_METHODS:
        raise _refuse("Signature de la liste : algorithme absent, faible ou non pris en charge ({m}).",
                      "List signature: missing, weak or unsupported algorithm ({m}).", m=method or "?")
    references = signed_info.findall("ds:Reference", NS)
    if not references:
        raise _refuse("Signature de la liste sans référence.", "List signature without a reference.")
    ids = id_index(root)
    covered = [_reference(ref, tree, signature, ids) for ref in references]
    if not any(target is root for target in covered):
        raise _refuse("La signature ne couvre pas la liste entière.", "The signature does not cover the whole list.")
    value = _b64(signature.find("ds:SignatureValue", NS))
    data = _canonicalize(signed_info, c14n_algorithm, c14n_prefixes, comments_allowed=True)
    signer = next((cert for cert in allowed if _verifies(cert, method, value, data)), None)
    key_info = _key_info(signature)
    if signer is None:
        stranger = next((cert for cert in key_info if _verifies(cert, method, value, data)), None)
        if stranger is not None:
            raise _refuse("Liste signée par « {s} », qui n'est pas autorisé à la signer.",
                          "List signed by \"{s}\", which is not allowed to sign it.", s=_subject(stranger))
        raise _refuse("Signature de la liste incorrecte : aucun des {n} certificat(s) autorisé(s) ne la vérifie.",
                      "Incorrect list signature: none of the {n} allowed certificate(s) verifies it.", n=len(allowed))
    properties = signature.find("ds:Object/xades:QualifyingProperties/xades:SignedProperties", NS)
    signed_properties = properties if properties is not None and any(t is properties for t in covered) else None
    if signed_properties is not None:
        _check_signing_certificate(signed_properties, signer, key_info)
    return ListSignature(signer=signer, method=method, signing_time=_signing_time(signed_properties))
