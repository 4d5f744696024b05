"""One XAdES ``ds:Signature``: built, then sealed with a sign-digest key (XMLDSig 1.1, ETSI EN 319 132-1).

``new_signature`` lays out the element (section 4.3 containers): ``ds:SignedInfo`` with a
reference per signed data object plus the ``SignedProperties`` reference, ``ds:KeyInfo`` with the
certificate chain, and ``ds:Object/QualifyingProperties`` carrying the baseline B-B properties:

* ``SigningTime`` (section 5.2.1), ``SigningCertificateV2`` (5.2.2: SHA-256 of the certificate and
  ``IssuerSerialV2``), ``SignaturePolicyIdentifier`` (5.2.9), ``SignatureProductionPlaceV2`` (5.2.5),
  ``SignerRoleV2/ClaimedRoles`` (5.2.6), in the schema's order;
* one ``DataObjectFormat`` with its ``MimeType`` per signed data reference (5.2.4).

``seal`` must run once the element sits in its final tree (digests of same-document nodes are
taken in place): it digests ``SignedProperties``, canonicalises ``ds:SignedInfo``, has the key
sign the digest, converts ECDSA signatures to the raw ``r || s`` that XMLDSig wants (RFC 4050,
XMLDSig 1.1 section 6.4.3), checks the value against the certificate, and for B-T adds the
``SignatureTimeStamp`` over the canonicalised ``ds:SignatureValue`` element (section 5.3).

A ``Profile`` chooses the XAdES version the properties are written in: ``BASELINE`` (1.3.2, the
V2 properties above) or ``PES`` (1.1.1, as PES V2 flows are signed for Hélios: ``SigningCertificate``
with ``IssuerSerial``, ``SignatureProductionPlace``, ``SignerRole``; see ``agent.signing.xades``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature
from lxml import etree

from .base import SigningKey, Timestamper
from .xades_policy import SignaturePolicy
from .xades_xml import (
    DIGEST_URIS,
    DS,
    EXC_C14N,
    SIGNATURE_URIS,
    SIGNED_PROPERTIES_TYPE,
    SIGNED_PROPERTIES_TYPE_111,
    XADES,
    XADES111,
    XadesError,
    b64,
    c14n,
    ds,
    sub,
)

#: Elements of SignatureProductionPlaceV2 in schema order (EN 319 132-1 section 5.2.5).
PLACE_FIELDS = ("City", "StreetAddress", "StateOrProvince", "PostalCode", "CountryName")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha256": hashes.SHA256, "sha384": hashes.SHA384,
                                                   "sha512": hashes.SHA512}


@dataclass(frozen=True)
class Profile:
    """How the qualifying properties are written: XAdES version, prefix and property forms."""

    namespace: str
    prefix: str
    signed_properties_type: str
    #: EN 319 132-1 V2 forms (SigningCertificateV2, SignerRoleV2, SignatureProductionPlaceV2); else
    #: the TS 101 903 V1.1.1 forms (SigningCertificate with IssuerSerial, SignerRole, SignatureProductionPlace).
    v2: bool

    def tag(self, name: str) -> str:
        return f"{{{self.namespace}}}{name}"

    def digest_tag(self, name: str) -> str:
        """``DigestMethod``/``DigestValue`` of DigestAlgAndValueType: ``ds:`` elements from XAdES 1.2.2
        on; local elements of the XAdES namespace in the V1.1.1 schema."""
        return f"{{{DS if self.v2 else self.namespace}}}{name}"


BASELINE = Profile(XADES, "xades", SIGNED_PROPERTIES_TYPE, v2=True)
PES = Profile(XADES111, "xad", SIGNED_PROPERTIES_TYPE_111, v2=False)


@dataclass(frozen=True)
class DataObject:
    """A signed data object: its ``ds:Reference`` (digest already computed, SHA-256) and format."""

    uri: str
    digest: bytes
    mime_type: str
    transforms: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True)
class SignedAttributes:
    """The signer's choices that go in ``SignedSignatureProperties``."""

    signing_time: datetime
    policy: SignaturePolicy | None = None
    claimed_role: str | None = None
    #: (element name, value) pairs in ``PLACE_FIELDS`` order.
    production_place: tuple[tuple[str, str], ...] = ()


def new_id(prefix: str) -> str:
    """A fresh XML ``Id`` (NCName), random so it cannot collide with the document's own ids."""
    return f"{prefix}-{secrets.token_hex(12)}"


def new_signature(parent: etree._Element | None, objects: Sequence[DataObject], key: SigningKey,
                  attributes: SignedAttributes, profile: Profile = BASELINE) -> etree._Element:
    """An unsigned ``ds:Signature``, last child of ``parent`` (or the root of a new document)."""
    xades = profile.tag
    nsmap = {"ds": DS, profile.prefix: profile.namespace}
    try:
        method = SIGNATURE_URIS[(key.scheme, key.hash_name)]
    except KeyError:
        raise XadesError(f"Algorithme de signature non pris en charge : {key.scheme} avec {key.hash_name}.") from None
    sig_id = new_id("xades-id")
    props_id = f"{sig_id}-signedprops"
    if parent is None:
        signature = etree.Element(ds("Signature"), {"Id": sig_id}, nsmap=nsmap)
    else:
        signature = etree.SubElement(parent, ds("Signature"), {"Id": sig_id}, nsmap=nsmap)
        signature.tail = None
    signed_info = sub(signature, ds("SignedInfo"))
    sub(signed_info, ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    sub(signed_info, ds("SignatureMethod"), Algorithm=method)
    ref_ids = []
    for index, obj in enumerate(objects):
        ref_ids.append(f"{sig_id}-ref-{index}")
        _reference(signed_info, obj.uri, obj.transforms, obj.digest, Id=ref_ids[-1])
    _reference(signed_info, f"#{props_id}", (EXC_C14N,), None, Type=profile.signed_properties_type)
    sub(signature, ds("SignatureValue"), Id=f"{sig_id}-sigvalue")
    x509_data = sub(sub(signature, ds("KeyInfo")), ds("X509Data"))
    for cert in ordered_chain(key.certificate, key.chain):
        sub(x509_data, ds("X509Certificate"), b64(cert.public_bytes(serialization.Encoding.DER)))
    qualifying = sub(sub(signature, ds("Object")), xades("QualifyingProperties"), Target=f"#{sig_id}")
    signed_props = sub(qualifying, xades("SignedProperties"), Id=props_id)
    _signed_signature_properties(sub(signed_props, xades("SignedSignatureProperties")), key, attributes, profile)
    data_props = sub(signed_props, xades("SignedDataObjectProperties"))
    for obj, ref_id in zip(objects, ref_ids, strict=True):
        data_format = sub(data_props, xades("DataObjectFormat"), ObjectReference=f"#{ref_id}")
        if obj.description:
            sub(data_format, xades("Description"), obj.description)
        sub(data_format, xades("MimeType"), obj.mime_type)
    return signature


def _reference(signed_info: etree._Element, uri: str, transforms: Sequence[str], digest: bytes | None,
               **attributes: str) -> None:
    reference = sub(signed_info, ds("Reference"), **attributes, URI=uri)
    if transforms:
        container = sub(reference, ds("Transforms"))
        for algorithm in transforms:
            sub(container, ds("Transform"), Algorithm=algorithm)
    sub(reference, ds("DigestMethod"), Algorithm=DIGEST_URIS["sha256"])
    sub(reference, ds("DigestValue"), b64(digest) if digest is not None else "")


def _digest_alg_and_value(parent: etree._Element, data: bytes, profile: Profile) -> None:
    """DigestAlgAndValueType (EN 319 132-1 section 5.1.3), SHA-256."""
    sub(parent, profile.digest_tag("DigestMethod"), Algorithm=DIGEST_URIS["sha256"])
    sub(parent, profile.digest_tag("DigestValue"), b64(hashlib.sha256(data).digest()))


def _signed_signature_properties(parent: etree._Element, key: SigningKey, attributes: SignedAttributes,
                                 profile: Profile) -> None:
    """SignedSignatureProperties in schema order; V2 forms or the TS 101 903 V1.1.1 ones."""
    xades, v2 = profile.tag, "V2" if profile.v2 else ""
    sub(parent, xades("SigningTime"), attributes.signing_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    cert = sub(sub(parent, xades(f"SigningCertificate{v2}")), xades("Cert"))
    der = key.certificate.public_bytes(serialization.Encoding.DER)
    _digest_alg_and_value(sub(cert, xades("CertDigest")), der, profile)
    if profile.v2:
        sub(cert, xades("IssuerSerialV2"), b64(issuer_serial_v2(der)))
    else:
        # ds:X509IssuerSerialType (XMLDSig section 4.4.4): RFC 4514 issuer name, decimal serial number.
        issuer_serial = sub(cert, xades("IssuerSerial"))
        sub(issuer_serial, ds("X509IssuerName"), key.certificate.issuer.rfc4514_string())
        sub(issuer_serial, ds("X509SerialNumber"), str(key.certificate.serial_number))
    if attributes.policy is not None:
        _policy(sub(parent, xades("SignaturePolicyIdentifier")), attributes.policy, profile)
    if attributes.production_place:
        place = sub(parent, xades(f"SignatureProductionPlace{v2}"))
        for name, value in attributes.production_place:
            sub(place, xades(name), value)
    if attributes.claimed_role:
        roles = sub(sub(parent, xades(f"SignerRole{v2}")), xades("ClaimedRoles"))
        sub(roles, xades("ClaimedRole"), attributes.claimed_role)


def _policy(parent: etree._Element, policy: SignaturePolicy, profile: Profile) -> None:
    """SignaturePolicyId (EN 319 132-1 sections 5.2.9.1 and 5.2.9.2): OID as URN, hash, SPURI."""
    xades = profile.tag
    policy_id = sub(parent, xades("SignaturePolicyId"))
    sig_policy_id = sub(policy_id, xades("SigPolicyId"))
    identifier = sub(sig_policy_id, xades("Identifier"), f"urn:oid:{policy.oid}")
    if profile.v2:
        identifier.set("Qualifier", "OIDAsURN")
    if policy.description:
        sub(sig_policy_id, xades("Description"), policy.description)
    policy_hash = sub(policy_id, xades("SigPolicyHash"))
    sub(policy_hash, profile.digest_tag("DigestMethod"), Algorithm=DIGEST_URIS[policy.digest_algorithm])
    sub(policy_hash, profile.digest_tag("DigestValue"), b64(policy.digest))
    if policy.uri:
        qualifier = sub(sub(policy_id, xades("SigPolicyQualifiers")), xades("SigPolicyQualifier"))
        sub(qualifier, xades("SPURI"), policy.uri)


def issuer_serial_v2(cert_der: bytes) -> bytes:
    """DER ``IssuerSerial`` (RFC 5035 section 4): the issuer as a directoryName and the serial number."""
    cert = asn1_x509.Certificate.load(cert_der)
    return tsp.IssuerSerial({
        "issuer": [asn1_x509.GeneralName(name="directory_name", value=cert.issuer)],
        "serial_number": cert.serial_number,
    }).dump()


def ordered_chain(leaf: x509.Certificate, pool: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    """``leaf`` then each issuer found in ``pool`` (checked by signature); unrelated certificates dropped."""
    chain = [leaf]
    remaining = [c for c in pool if c != leaf]
    while chain[-1].issuer != chain[-1].subject:
        current = chain[-1]
        issuer = next((c for c in remaining if c.subject == current.issuer and _issued_by(current, c)), None)
        if issuer is None:
            break
        chain.append(issuer)
        remaining.remove(issuer)
    return chain


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def seal(signature: etree._Element, key: SigningKey, level: str, timestamper: Timestamper | None,
         profile: Profile = BASELINE) -> None:
    """Digest the SignedProperties, sign ``ds:SignedInfo`` with ``key``; add the B-T timestamp."""
    xades = profile.tag
    qualifying = _child(signature, f"{ds('Object')}/{xades('QualifyingProperties')}")
    signed_info = _child(signature, ds("SignedInfo"))
    props_digest = _child(signed_info,
                          f"{ds('Reference')}[@Type='{profile.signed_properties_type}']/{ds('DigestValue')}")
    props_digest.text = b64(hashlib.sha256(c14n(_child(qualifying, xades("SignedProperties")))).digest())
    digest = hashlib.new(key.hash_name, c14n(signed_info)).digest()
    value = key.sign_digest(digest, key.hash_name)
    _check_signature(key, digest, value)
    public = key.certificate.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        r, s = decode_dss_signature(value)
        size = (public.curve.key_size + 7) // 8
        value = r.to_bytes(size, "big") + s.to_bytes(size, "big")
    signature_value = _child(signature, ds("SignatureValue"))
    signature_value.text = b64(value)
    if level == "B-T":
        if timestamper is None:
            raise XadesError("Le niveau B-T exige un service d'horodatage.")
        if not profile.v2:
            raise XadesError("Le profil XAdES 1.1.1 (PES V2) est signé au niveau B-B.")
        add_signature_timestamp(qualifying, signature_value, timestamper)


def _child(element: etree._Element, path: str) -> etree._Element:
    found = element.find(path)
    if found is None:  # only if new_signature's layout and seal disagree
        raise RuntimeError(f"XAdES element missing: {path}")
    return found


def _check_signature(key: SigningKey, digest: bytes, value: bytes) -> None:
    """The key's answer must verify with the certificate's public key (wrong card, wrong key…)."""
    public = key.certificate.public_key()
    algorithm = _HASHES[key.hash_name]()
    if not isinstance(public, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise XadesError("Type de clé non pris en charge pour une signature XAdES.")
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(value, digest, ec.ECDSA(Prehashed(algorithm)))
        elif key.scheme == "pss":
            pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=algorithm.digest_size)
            public.verify(value, digest, pss, Prehashed(algorithm))
        else:
            public.verify(value, digest, padding.PKCS1v15(), Prehashed(algorithm))
    except (InvalidSignature, ValueError):
        raise XadesError("La signature produite ne correspond pas au certificat choisi.") from None


def add_signature_timestamp(qualifying: etree._Element, signature_value: etree._Element,
                            timestamper: Timestamper) -> None:
    """SignatureTimeStamp (EN 319 132-1 section 5.3) over the exc-C14N of ``ds:SignatureValue``."""
    digest = hashlib.sha256(c14n(signature_value)).digest()
    token = timestamper(digest, "sha256")
    try:
        info = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        matches = (imprint["hash_algorithm"]["algorithm"].native == "sha256"
                   and imprint["hashed_message"].native == digest)
    except (ValueError, TypeError, KeyError):
        matches = False
    if not matches:
        raise XadesError("Le jeton d'horodatage reçu ne porte pas sur cette signature.")
    xades = BASELINE.tag
    unsigned = sub(sub(qualifying, xades("UnsignedProperties")), xades("UnsignedSignatureProperties"))
    stamp = sub(unsigned, xades("SignatureTimeStamp"), Id=new_id("xades-ts"))
    sub(stamp, ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    sub(stamp, xades("EncapsulatedTimeStamp"), b64(token))
