"""Reading a trusted list: hardened XML parsing, signature first, then the content (ETSI TS 119 612).

``read_list`` is the only entry point. In order:

1. size limit, then the same hardened parser as XAdES verification
   (``agent.pki.xml_safe.parse_untrusted``: any DOCTYPE refused before its internal subset is
   read, no entity expansion, no network, no huge trees);
2. the root must be ``tsl:TrustServiceStatusList``; its signature is verified against the allowed
   certificates (``signature``, clause 5.7) — nothing is read from the list before;
3. the scheme information (clause 5.3) and consistency with what the caller expects: TSLTag
   (clause 5.2.1), version 5 or 6 (clause 5.3.1), type (5.3.3), territory (5.3.10), issue date not
   in the future (5.3.14), signer certificate valid at the issue date;
4. pointers to other lists (5.3.13), providers (5.4), services (5.5) and their history (5.6),
   with the service information extensions of clause 5.5.9 (Qualifications, additional service
   information, expired certificates revocation info).

Any structural error refuses the whole list (:class:`ListRefused`): a list is never partially used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from lxml import etree

from ...pki.xml_safe import XmlRefused, parse_untrusted
from .model import (
    ECC_NS,
    KNOWN_EXTENSIONS,
    SUPPORTED_VERSIONS,
    TSL_NS,
    TSL_TAG,
    TSLX_NS,
    XADES_NS,
    Criteria,
    DigitalIdentity,
    ListRefused,
    Message,
    OtherTslPointer,
    Qualification,
    ServiceInformation,
    TrustedList,
    TrustService,
    TrustServiceProvider,
    message,
    short_uri,
)
from .signature import verify_list_signature

__all__ = ["MAX_LIST_SIZE", "read_list"]

#: Far above the largest EU list (a few MB), far below what could exhaust memory.
MAX_LIST_SIZE = 64 * 1024 * 1024
#: Clock skew tolerated on ``ListIssueDateTime``.
ISSUE_SKEW = timedelta(days=1)
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
NS = {"tsl": TSL_NS, "tslx": TSLX_NS, "ecc": ECC_NS, "xades": XADES_NS}


def _refuse(fr: str, en: str, **fields: object) -> ListRefused:
    return ListRefused(message(fr, en, **fields))


def _tag(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _text(element: etree._Element | None) -> str:
    """Text content; comments (not covered by the signature) are skipped by ``itertext``."""
    return "".join(element.itertext()).strip() if element is not None else ""


def _required(parent: etree._Element, path: str, what: str) -> etree._Element:
    element = parent.find(path, NS)
    if element is None or not _text(element):
        raise _refuse("Liste de confiance incomplète : {w} absent.", "Incomplete trusted list: {w} missing.", w=what)
    return element


def _datetime(text: str, what: str) -> datetime:
    """An ``xsd:dateTime``; TS 119 612 writes UTC, a value without zone is read as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _refuse("Liste de confiance : date invalide pour {w} ({v}).",
                      "Trusted list: invalid date for {w} ({v}).", w=what, v=text.strip()[:40]) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _names(element: etree._Element | None) -> tuple[tuple[str, str], ...]:
    """``InternationalNamesType``: (language, name) pairs."""
    if element is None:
        return ()
    return tuple((name.get(XML_LANG, ""), _text(name)) for name in element.findall("tsl:Name", NS) if _text(name))


def _label(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _b64(text: str) -> bytes:
    return base64.b64decode("".join(text.split()), validate=True)


def _xml_refusal(refused: XmlRefused) -> Message:
    text = str(refused)
    if "DOCTYPE" in text:
        return message(text, "XML document refused: DOCTYPE declarations (DTD, internal or external entities) are "
                             "not accepted.")
    return message(text, "Unreadable XML document: " + text.split(":", 1)[-1].strip())


# -- digital identities and extensions --------------------------------------------------------------


def _identity(element: etree._Element | None, warnings: list[Message]) -> DigitalIdentity:
    """``ServiceDigitalIdentity`` (clause 5.5.3) or one ``ServiceDigitalIdentities`` entry (5.3.13)."""
    if element is None:
        return DigitalIdentity()
    certificates: list[x509.Certificate] = []
    subjects: list[str] = []
    skis: list[bytes] = []
    for digital_id in element.findall("tsl:DigitalId", NS):
        for cert in digital_id.findall("tsl:X509Certificate", NS):
            try:
                certificates.append(x509.load_der_x509_certificate(_b64(_text(cert))))
            except (binascii.Error, ValueError):
                warnings.append(message("certificat illisible ignoré dans une identité numérique",
                                        "unreadable certificate ignored in a digital identity"))
        subjects += [_text(s) for s in digital_id.findall("tsl:X509SubjectName", NS) if _text(s)]
        for ski in digital_id.findall("tsl:X509SKI", NS):
            try:
                skis.append(_b64(_text(ski)))
            except (binascii.Error, ValueError):
                warnings.append(message("X509SKI illisible ignoré", "unreadable X509SKI ignored"))
    return DigitalIdentity(tuple(certificates), tuple(subjects), tuple(skis))


def _oid(identifier: etree._Element | None) -> str:
    """A ``xades:ObjectIdentifierType`` identifier: ``urn:oid:1.2.3`` (OIDAsURN) or a plain OID."""
    value = _text(identifier)
    return value[len("urn:oid:"):] if value.lower().startswith("urn:oid:") else value


def _criteria(element: etree._Element) -> Criteria:
    """``ecc:CriteriaList`` (clause 5.5.9.2.2)."""
    key_usages: list[tuple[tuple[str, bool], ...]] = []
    policy_sets: list[tuple[str, ...]] = []
    ekus: list[tuple[str, ...]] = []
    subject_attributes: list[tuple[str, ...]] = []
    nested: list[Criteria] = []
    unsupported: list[str] = []
    for child in element.iterchildren(etree.Element):
        tag = child.tag
        if tag == _tag(ECC_NS, "KeyUsage"):
            key_usages.append(tuple((bit.get("name", ""), _text(bit).lower() == "true")
                                    for bit in child.findall("ecc:KeyUsageBit", NS)))
        elif tag == _tag(ECC_NS, "PolicySet"):
            policy_sets.append(tuple(_oid(p.find("xades:Identifier", NS))
                                     for p in child.findall("ecc:PolicyIdentifier", NS)))
        elif tag == _tag(ECC_NS, "CriteriaList"):
            nested.append(_criteria(child))
        elif tag == _tag(ECC_NS, "Description"):
            continue
        elif tag == _tag(ECC_NS, "otherCriteriaList"):
            for other in child.iterchildren(etree.Element):
                if other.tag == _tag(TSLX_NS, "ExtendedKeyUsage"):
                    ekus.append(tuple(_oid(k.find("xades:Identifier", NS))
                                      for k in other.findall("tslx:KeyPurposeId", NS)))
                elif other.tag == _tag(TSLX_NS, "CertSubjectDNAttribute"):
                    subject_attributes.append(tuple(_oid(a.find("xades:Identifier", NS))
                                                    for a in other.findall("tslx:AttributeOID", NS)))
                else:
                    unsupported.append(etree.QName(other).localname)
        else:
            unsupported.append(etree.QName(child).localname)
    return Criteria(assert_=element.get("assert", "all"), key_usages=tuple(key_usages),
                    policy_sets=tuple(policy_sets), extended_key_usages=tuple(ekus),
                    subject_attributes=tuple(subject_attributes), nested=tuple(nested), unsupported=tuple(unsupported))


def _qualifications(element: etree._Element) -> list[Qualification]:
    """``ecc:Qualifications`` (clause 5.5.9.2): qualifiers and the certificates they apply to."""
    found = []
    for item in element.findall("ecc:QualificationElement", NS):
        qualifiers = tuple(q.get("uri", "").strip() for q in item.findall("ecc:Qualifiers/ecc:Qualifier", NS)
                           if q.get("uri", "").strip())
        criteria = item.find("ecc:CriteriaList", NS)
        found.append(Qualification(qualifiers, _criteria(criteria) if criteria is not None
                                   else Criteria(unsupported=("CriteriaList",))))
    return found


def _service_information(element: etree._Element, warnings: list[Message]) -> ServiceInformation:
    """``ServiceInformation`` (clause 5.5) or ``ServiceHistoryInstance`` (clause 5.6)."""
    type_identifier = _text(_required(element, "tsl:ServiceTypeIdentifier", "ServiceTypeIdentifier"))
    status = _text(_required(element, "tsl:ServiceStatus", "ServiceStatus"))
    start = _datetime(_text(_required(element, "tsl:StatusStartingTime", "StatusStartingTime")),
                      "StatusStartingTime")
    qualifications: list[Qualification] = []
    additional: list[str] = []
    expired_info: datetime | None = None
    unsupported: list[str] = []
    for extension in element.findall("tsl:ServiceInformationExtensions/tsl:Extension", NS):
        critical = extension.get("Critical", "false").strip().lower() in ("true", "1")
        for child in extension.iterchildren(etree.Element):
            if child.tag == _tag(ECC_NS, "Qualifications"):
                qualifications += _qualifications(child)
            elif child.tag == _tag(TSL_NS, "AdditionalServiceInformation"):
                uri = _text(child.find("tsl:URI", NS))
                if uri:
                    additional.append(uri)
            elif child.tag == _tag(TSL_NS, "ExpiredCertsRevocationInfo"):
                expired_info = _datetime(_text(child), "ExpiredCertsRevocationInfo")
            elif child.tag not in KNOWN_EXTENSIONS and critical:
                unsupported.append(etree.QName(child).localname)
    return ServiceInformation(
        type_identifier=type_identifier, names=_names(element.find("tsl:ServiceName", NS)),
        identity=_identity(element.find("tsl:ServiceDigitalIdentity", NS), warnings), status=status,
        status_start=start, qualifications=tuple(qualifications), additional_information=tuple(additional),
        expired_certs_revocation_info=expired_info, unsupported_critical=tuple(unsupported))


def _providers(root: etree._Element, warnings: list[Message]) -> tuple[TrustServiceProvider, ...]:
    providers = []
    for tsp in root.findall("tsl:TrustServiceProviderList/tsl:TrustServiceProvider", NS):
        services = []
        for service in tsp.findall("tsl:TSPServices/tsl:TSPService", NS):
            info = service.find("tsl:ServiceInformation", NS)
            if info is None:
                raise _refuse("Liste de confiance incomplète : ServiceInformation absent.",
                              "Incomplete trusted list: ServiceInformation missing.")
            history = tuple(_service_information(h, warnings)
                            for h in service.findall("tsl:ServiceHistory/tsl:ServiceHistoryInstance", NS))
            services.append(TrustService(_service_information(info, warnings), history))
        providers.append(TrustServiceProvider(
            names=_names(tsp.find("tsl:TSPInformation/tsl:TSPName", NS)),
            trade_names=_names(tsp.find("tsl:TSPInformation/tsl:TSPTradeName", NS)), services=tuple(services)))
    return tuple(providers)


def _pointers(scheme: etree._Element, warnings: list[Message]) -> tuple[OtherTslPointer, ...]:
    """``PointersToOtherTSL`` (clause 5.3.13) with their ``AdditionalInformation``."""
    pointers = []
    for pointer in scheme.findall("tsl:PointersToOtherTSL/tsl:OtherTSLPointer", NS):
        location = _text(pointer.find("tsl:TSLLocation", NS))
        if not location:
            continue
        certificates: list[x509.Certificate] = []
        for identity in pointer.findall("tsl:ServiceDigitalIdentities/tsl:ServiceDigitalIdentity", NS):
            certificates += _identity(identity, warnings).certificates
        info: dict[str, str] = {}
        operator: tuple[tuple[str, str], ...] = ()
        for other in pointer.findall("tsl:AdditionalInformation/tsl:OtherInformation", NS):
            for child in other.iterchildren(etree.Element):
                name = etree.QName(child).localname
                if name == "SchemeOperatorName":
                    operator = _names(child)
                elif name in ("TSLType", "SchemeTerritory", "MimeType"):
                    info.setdefault(name, _text(child))
        pointers.append(OtherTslPointer(location=location, certificates=tuple(certificates),
                                        territory=info.get("SchemeTerritory") or None,
                                        tsl_type=info.get("TSLType") or None, mime_type=info.get("MimeType") or None,
                                        operator_names=operator))
    return tuple(pointers)


# -- the list -------------------------------------------------------------------------------------


def read_list(data: bytes, allowed: Sequence[x509.Certificate], *, source: str = "",
              expected_type: str | None = None, expected_territory: str | None = None,
              now: datetime | None = None) -> TrustedList:
    """Parse ``data``, verify its signature against ``allowed``, then read it (see the module docstring).

    ``expected_type``/``expected_territory`` come from the LOTL pointer (or the LOTL type for the
    LOTL itself). Raises :class:`ListRefused` with the reason.
    """
    now = now or datetime.now(UTC)
    if len(data) > MAX_LIST_SIZE:
        raise _refuse("Liste de confiance trop volumineuse ({n} octets).", "Trusted list too large ({n} bytes).",
                      n=len(data))
    try:
        tree = parse_untrusted(io.BytesIO(data))
    except XmlRefused as refused:
        raise ListRefused(_xml_refusal(refused)) from None
    root = tree.getroot()
    if root.tag != _tag(TSL_NS, "TrustServiceStatusList"):
        raise _refuse("Ce document n'est pas une liste de confiance ETSI TS 119 612 (élément racine {r}).",
                      "This document is not an ETSI TS 119 612 trusted list (root element {r}).",
                      r=etree.QName(root).localname)
    signature = verify_list_signature(tree, allowed)
    # From here on, the content is the one its operator signed.
    if root.get("TSLTag") != TSL_TAG:
        raise _refuse("Liste de confiance : TSLTag « {t} » inattendu (TS 119 612 v2 attendu).",
                      "Trusted list: unexpected TSLTag \"{t}\" (TS 119 612 v2 expected).", t=root.get("TSLTag", ""))
    scheme = root.find("tsl:SchemeInformation", NS)
    if scheme is None:
        raise _refuse("Liste de confiance incomplète : SchemeInformation absent.",
                      "Incomplete trusted list: SchemeInformation missing.")
    try:
        version = int(_text(_required(scheme, "tsl:TSLVersionIdentifier", "TSLVersionIdentifier")))
        sequence = int(_text(_required(scheme, "tsl:TSLSequenceNumber", "TSLSequenceNumber")))
    except ValueError:
        raise _refuse("Liste de confiance : version ou numéro de séquence non numérique.",
                      "Trusted list: non-numeric version or sequence number.") from None
    if version not in SUPPORTED_VERSIONS:
        raise _refuse("Version de liste de confiance non prise en charge : {v} (5 ou 6 attendue).",
                      "Unsupported trusted list version: {v} (5 or 6 expected).", v=version)
    if sequence < 1:
        raise _refuse("Liste de confiance : numéro de séquence invalide ({n}).",
                      "Trusted list: invalid sequence number ({n}).", n=sequence)
    tsl_type = _text(_required(scheme, "tsl:TSLType", "TSLType"))
    territory = _text(_required(scheme, "tsl:SchemeTerritory", "SchemeTerritory")).upper()
    issued = _datetime(_text(_required(scheme, "tsl:ListIssueDateTime", "ListIssueDateTime")), "ListIssueDateTime")
    next_text = _text(scheme.find("tsl:NextUpdate/tsl:dateTime", NS))
    next_update = _datetime(next_text, "NextUpdate") if next_text else None
    if expected_type is not None and tsl_type != expected_type:
        raise _refuse("Type de liste inattendu : {t} au lieu de {e}.", "Unexpected list type: {t} instead of {e}.",
                      t=short_uri(tsl_type), e=short_uri(expected_type))
    if expected_territory is not None and territory != expected_territory.upper():
        raise _refuse("La liste annonce le territoire {t} alors que la liste des listes l'attend pour {e}.",
                      "The list claims territory {t} while the list of lists expects it for {e}.", t=territory,
                      e=expected_territory.upper())
    if issued > now + ISSUE_SKEW:
        raise _refuse("Liste de confiance émise dans le futur ({d}).", "Trusted list issued in the future ({d}).",
                      d=issued)
    signer = signature.signer
    if not signer.not_valid_before_utc <= issued <= signer.not_valid_after_utc:
        raise _refuse("Le certificat signataire « {s} » n'était pas valide à la date d'émission de la liste ({d}).",
                      "The signer certificate \"{s}\" was not valid on the list's issue date ({d}).",
                      s=_label(signer), d=issued)
    warnings: list[Message] = []
    pointers = _pointers(scheme, warnings)
    providers = _providers(root, warnings)
    return TrustedList(
        version=version, sequence_number=sequence, tsl_type=tsl_type, territory=territory,
        operator_names=_names(scheme.find("tsl:SchemeOperatorName", NS)), issued=issued, next_update=next_update,
        pointers=pointers, providers=providers, signer=signer, sha256=hashlib.sha256(data).hexdigest(),
        signing_time=signature.signing_time, source=source, warnings=tuple(warnings))
