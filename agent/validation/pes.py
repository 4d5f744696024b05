"""PES V2 (Hélios) flows signed by others: each signature placed, described, and judged by the DGFiP's rules.

The XAdES verifier (``agent.validation.xades``) gives each ``ds:Signature`` its ETSI indication.
For a PES V2 flow (root ``PES_Aller``) this module adds, per signature:

* where it sits: the ``Bordereau`` it signs (its ``Id``) or ``PES_Aller`` itself;
* what the signer declared, from the *signed* properties only, XAdES 1.1.1 or 1.3.2: claimed role,
  production place, signing time as written, signature policy (identifier, description, hash, SPURI);
* a conformance report beside the ETSI indications: the rules of the DGFiP's PES signature checker
  (Axyus ``com.axyus.signature.pes.verifier``; copy in SICTIAM/stela
  ``pes-service/src/main/java/fr/sictiam/signature/pes/verifier/``, its report in the same project's
  ``pes-service`` tests), each OK or NOK with the checker's own message (French; English available):

  ``canonicalisation``  SignedInfo must use exclusive C14N, and no reference transform may be inclusive
                        C14N 1.0 (``XMLDsigSignatureAndReferencesProcessor.XMLDsigC14Algorithm``: inclusive
                        C14N 1.0 is "not accepted");
  ``signed_properties`` a reference must designate the SignedProperties (1.1.1, 1.2.2 or 1.3.2), and
                        its digest must match ("Les informations Xades ont été modifiées");
  ``signing_time``      present and strict UTC: a valid xsd:dateTime ending in ``Z`` (``DateUtils.isStrictUtcFormat``);
  ``claimed_role``      present ("Rôle du signataire : NON_RENSEIGNE" otherwise);
  ``non_repudiation``   the signer's certificate has the non-repudiation key usage;
  ``signature_policy``  OK either way, as the checker says it, recommending the DGFiP policy's
                        identifier, hash and SPURI when they are missing or different.

SHA-1 is what the DGFiP policy itself uses for ``SigPolicyHash`` and what the parapheurs use for
``SigningCertificate``: there, it is accepted with a warning (the XAdES verifier identifies the
certificate); a SHA-1 digest anywhere else — a signed reference — is not: INDETERMINATE
(CRYPTO_CONSTRAINTS_FAILURE, EN 319 102-1 section 5.2.8).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime
from pathlib import Path

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import x509 as asn1_x509
from lxml import etree

from ..pki.policies import DGFIP_PES_POLICY_OID, DGFIP_PES_POLICY_SHA1, DGFIP_PES_POLICY_URI
from ..pki.xml_safe import XmlRefused, parse_untrusted
from .chain import Environment
from .model import Check, CheckStatus, SignatureReport, SubIndication, failed, indeterminate, passed, warning
from .xades import MAX_XML_SIZE
from .xml_references import Misplaced, Unsupported, digest_input

__all__ = ["PES_PROFILE", "annotate_pes", "looks_like_pes"]

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NAMESPACES = ("http://uri.etsi.org/01903/v1.1.1#", "http://uri.etsi.org/01903/v1.2.2#",
                    "http://uri.etsi.org/01903/v1.3.2#")
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
#: The DGFiP checker's accepted and refused canonicalisation algorithms (``XMLDsigC14Algorithm``): ds:SignedInfo
#: must use an accepted one; a reference transform must not be a refused one.
ACCEPTED_C14N = {EXC_C14N, EXC_C14N + "WithComments"}
REFUSED_C14N = {"http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
                "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments"}
SHA1 = DS + "sha1"
_DIGESTS = {SHA1: "sha1", "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
            "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
            "http://www.w3.org/2001/04/xmlenc#sha512": "sha512"}
PES_PROFILE = "PES V2 (DGFiP)"


def looks_like_pes(head: bytes) -> bool:
    """The first bytes of an XML file name a ``PES_Aller`` element."""
    return b"PES_Aller" in head


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _child(element: etree._Element | None, name: str) -> etree._Element | None:
    """The first child called ``name`` in any XAdES version (or XMLDSig)."""
    if element is None:
        return None
    return next((c for c in element if _local(c) == name), None)


def _path(element: etree._Element | None, *names: str) -> etree._Element | None:
    for name in names:
        element = _child(element, name)
    return element


def _either(first: etree._Element | None, second: etree._Element | None) -> etree._Element | None:
    """``first`` unless it is None (an lxml element without children is falsy: never use ``or``)."""
    return first if first is not None else second


def _text(element: etree._Element | None) -> str | None:
    return "".join(element.itertext()).strip() if element is not None else None


def _top_level_signatures(tree: etree._ElementTree) -> list[etree._Element]:
    """In document order, as ``verify_xml`` reports them (counter-signatures excluded)."""
    return [s for s in tree.getroot().iter(f"{{{DS}}}Signature")
            if not any(_local(a) == "CounterSignature" for a in s.iterancestors())]


def _signed_properties(signature: etree._Element) -> tuple[etree._Element | None, list[etree._Element]]:
    """The SignedProperties element, and the references whose URI designates it."""
    qualifying = next((q for o in signature.findall(f"{{{DS}}}Object") for q in o
                       if _local(q) == "QualifyingProperties" and etree.QName(q).namespace in XADES_NAMESPACES), None)
    props = _child(qualifying, "SignedProperties")
    props_id = props.get("Id") if props is not None else None
    refs = [r for r in signature.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
            if props_id and r.get("URI") == f"#{props_id}"]
    return props, refs


def _placement(signature: etree._Element, env: Environment) -> str:
    parent = signature.getparent()
    if parent is not None and _local(parent) == "Bordereau":
        return env.t("Bordereau {i}", "Bordereau {i}", i=parent.get("Id") or "?")
    if parent is not None and _local(parent) == "PES_Aller":
        return "PES_Aller"
    return env.t("hors bordereau ({e})", "outside any bordereau ({e})", e=_local(parent) if parent is not None else "?")


def _digest_ok(reference: etree._Element, target: etree._Element) -> bool | None:
    """Whether the SignedProperties reference's digest matches (its transforms applied to a copy),
    None when it cannot be computed here (unknown digest or transform)."""
    method = reference.find(f"{{{DS}}}DigestMethod")
    name = _DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
    signature = reference.getparent().getparent()  # ds:Reference < ds:SignedInfo < ds:Signature
    if name is None or signature is None:
        return None
    try:
        octets = digest_input(target.getroottree(), target, signature,
                              reference.findall(f"{{{DS}}}Transforms/{{{DS}}}Transform"), comments=False).octets
        expected = base64.b64decode("".join((_text(reference.find(f"{{{DS}}}DigestValue")) or "").split()),
                                    validate=True)
    except (Unsupported, Misplaced):
        return None
    except (binascii.Error, ValueError):
        return False
    return hashlib.new(name, octets).digest() == expected


def _strict_utc(text: str) -> bool:
    """A valid xsd:dateTime ending in ``Z`` (the DGFiP checker's ``isStrictUtcFormat``)."""
    if not text.endswith("Z"):
        return False
    try:
        datetime.fromisoformat(text[:-1] + "+00:00")
    except ValueError:
        return False
    return True


def _certificate(signature: etree._Element, sha256: str | None) -> asn1_x509.Certificate | None:
    for element in signature.iter(f"{{{DS}}}X509Certificate"):
        try:
            der = base64.b64decode("".join((element.text or "").split()), validate=True)
        except (binascii.Error, ValueError):
            continue
        if sha256 and hashlib.sha256(der).hexdigest() == sha256.lower().replace(":", ""):
            try:
                return asn1_x509.Certificate.load(der)
            except ValueError:
                return None
    return None


def _c14n_rule(env: Environment, signature: etree._Element) -> Check:
    method = signature.find(f"{{{DS}}}SignedInfo/{{{DS}}}CanonicalizationMethod")
    main = method.get("Algorithm", "") if method is not None else ""
    refused = {main} if main not in ACCEPTED_C14N else set()
    refused |= {t.get("Algorithm", "") for t in signature.iterfind(
        f"{{{DS}}}SignedInfo/{{{DS}}}Reference/{{{DS}}}Transforms/{{{DS}}}Transform")} & REFUSED_C14N
    if refused:
        return failed("canonicalisation", env.t(
            "Le logiciel de signature n'a pas respecté les recommandations : le(s) algorithme(s) de canonisation "
            "ne sont pas corrects ({a}).",
            "The signing software did not follow the recommendations: the canonicalisation algorithm(s) are not "
            "correct ({a}).", a=", ".join(a or "?" for a in sorted(refused))))
    return passed("canonicalisation", env.t("Canonisation exclusive (xml-exc-c14n) partout.",
                                            "Exclusive canonicalisation (xml-exc-c14n) throughout."))


def _signed_properties_rule(env: Environment, signature: etree._Element) -> Check:
    props, refs = _signed_properties(signature)
    if props is None or not refs:
        return failed("signed_properties", env.t("Les « SignedProperties » XAdES n'ont pas été signées.",
                                                 "The XAdES \"SignedProperties\" were not signed."))
    results = [_digest_ok(r, props) for r in refs]
    if any(r is False for r in results):
        return failed("signed_properties", env.t("Les informations XAdES ont été modifiées.",
                                                 "The XAdES information was changed."))
    if all(r is None for r in results):
        return Check("signed_properties", CheckStatus.NOT_CHECKED, env.t(
            "« SignedProperties » signées ; leur empreinte n'a pas pu être recalculée ici (transformation).",
            "\"SignedProperties\" signed; their digest could not be recomputed here (transform)."))
    return passed("signed_properties", env.t("« SignedProperties » XAdES signées et intactes.",
                                             "XAdES \"SignedProperties\" signed and intact."))


def _policy_rule(env: Environment, policy: etree._Element | None) -> tuple[Check, dict[str, str]]:
    identifier = _text(_path(policy, "SigPolicyId", "Identifier"))
    description = _text(_path(policy, "SigPolicyId", "Description"))
    digest = _text(_path(policy, "SigPolicyHash", "DigestValue"))
    method = _path(policy, "SigPolicyHash", "DigestMethod")
    spuri = _text(_path(policy, "SigPolicyQualifiers", "SigPolicyQualifier", "SPURI"))
    facts = {k: v for k, v in (("signature_policy", identifier), ("signature_policy_description", description),
                               ("signature_policy_hash", digest), ("signature_policy_uri", spuri)) if v}
    oid = DGFIP_PES_POLICY_OID
    dgfip_hash = base64.b64encode(DGFIP_PES_POLICY_SHA1).decode()
    if not identifier:
        return warning("signature_policy", env.t(
            "Pas d'identifiant de politique de signature. Il est préconisé de mettre l'OID de la PS de la DGFiP : "
            "« urn:oid:{o} ».",
            "No signature policy identifier. The DGFiP policy OID is recommended: \"urn:oid:{o}\".", o=oid)), facts
    if identifier.removeprefix("urn:oid:") != oid:
        return warning("signature_policy", env.t(
            "Identifiant de politique de signature inconnu : {i}. Il est préconisé de mettre la politique de "
            "signature de la DGFiP (« Politique de signature Helios de la DGFiP »).",
            "Unknown signature policy identifier: {i}. The DGFiP signature policy (\"Politique de signature Helios "
            "de la DGFiP\") is recommended.", i=identifier)), facts
    notes = []
    if method is not None and method.get("Algorithm") == SHA1 and digest != dgfip_hash:
        notes.append(env.t("empreinte {d} différente de celle de la PS de la DGFiP (« {h} »)",
                           "hash {d} differs from the DGFiP policy's (\"{h}\")", d=digest or "?", h=dgfip_hash))
    elif not digest:
        notes.append(env.t("pas d'empreinte : il est préconisé de mettre celle de la PS de la DGFiP (« {h} »)",
                           "no hash: the DGFiP policy's (\"{h}\") is recommended", h=dgfip_hash))
    if not spuri:
        notes.append(env.t("pas de SigPolicyQualifier : il est préconisé de mettre « {u} »",
                           "no SigPolicyQualifier: \"{u}\" is recommended", u=DGFIP_PES_POLICY_URI))
    if notes:
        return warning("signature_policy", env.t("Politique de signature de la DGFiP ; {n}.",
                                                 "DGFiP signature policy; {n}.", n="; ".join(notes))), facts
    return passed("signature_policy", env.t("Politique de signature Helios de la DGFiP ({i}).",
                                            "DGFiP Helios signature policy ({i}).", i=identifier)), facts


def _conformance(env: Environment, signature: etree._Element, report: SignatureReport) -> tuple[list[Check],
                                                                                                 dict[str, str]]:
    props, refs = _signed_properties(signature)
    signed = props if refs else None  # only signed properties are believed
    ssp = _child(signed, "SignedSignatureProperties")
    facts: dict[str, str] = {"location": _placement(signature, env)}
    rules = [_c14n_rule(env, signature), _signed_properties_rule(env, signature)]
    time = _text(_child(ssp, "SigningTime"))
    if not time:
        rules.append(failed("signing_time", env.t("Date de la signature : NON_RENSEIGNE",
                                                  "Signing time: NOT PROVIDED")))
    elif not _strict_utc(time):
        rules.append(failed("signing_time", env.t("La date de signature n'est pas au format UTC : {t}",
                                                  "The signing time is not in UTC format: {t}", t=time)))
    else:
        rules.append(passed("signing_time", env.t("Date de signature en UTC : {t}", "Signing time in UTC: {t}",
                                                  t=time)))
    if time:
        facts["signing_time_declared"] = time
    claimed = _child(_either(_child(ssp, "SignerRole"), _child(ssp, "SignerRoleV2")), "ClaimedRoles")
    roles = [r for r in (_text(e) for e in (claimed if claimed is not None else ())) if r]
    if roles:
        facts["claimed_role"] = ", ".join(roles)
        rules.append(passed("claimed_role", env.t("Rôle du signataire : {r}", "Signer's role: {r}",
                                                  r=facts["claimed_role"])))
    else:
        rules.append(failed("claimed_role", env.t("Rôle du signataire : NON_RENSEIGNE",
                                                  "Signer's role: NOT PROVIDED")))
    place = _either(_child(ssp, "SignatureProductionPlace"), _child(ssp, "SignatureProductionPlaceV2"))
    if place is not None:
        facts["production_place"] = ", ".join(t for t in (_text(e) for e in place) if t)
    cert = _certificate(signature, report.signer.certificate_sha256)
    if cert is None:
        rules.append(Check("non_repudiation", CheckStatus.NOT_CHECKED, env.t(
            "Certificat du signataire non identifié : usage non vérifié.",
            "Signer's certificate not identified: key usage not checked.")))
    elif "non_repudiation" in (cert.key_usage_value.native if cert.key_usage_value is not None else set()):
        rules.append(passed("non_repudiation", env.t("Usage de « non-répudiation » présent dans le certificat.",
                                                     "\"Non-repudiation\" key usage present in the certificate.")))
    else:
        rules.append(failed("non_repudiation", env.t(
            "Le certificat utilisé n'a pas vocation à faire de la signature de document (l'usage de "
            "« non-répudiation » est absent).",
            "The certificate used is not meant for signing documents (the \"non-repudiation\" usage is missing).")))
    policy_check, policy_facts = _policy_rule(env, _path(ssp, "SignaturePolicyIdentifier", "SignaturePolicyId"))
    rules.append(policy_check)
    facts.update(policy_facts)
    return rules, facts


def _sha1_checks(env: Environment, signature: etree._Element) -> list[Check]:
    """SHA-1 where the DGFiP policy puts it is tolerated (warning); in a signed reference it is not."""
    props, refs = _signed_properties(signature)
    ssp = _child(props if refs else None, "SignedSignatureProperties")
    checks: list[Check] = []
    tolerated = [name for name, element in (
        ("SigningCertificate", _either(_path(ssp, "SigningCertificate", "Cert", "CertDigest", "DigestMethod"),
                                       _path(ssp, "SigningCertificateV2", "Cert", "CertDigest", "DigestMethod"))),
        ("SigPolicyHash", _path(ssp, "SignaturePolicyIdentifier", "SignaturePolicyId", "SigPolicyHash",
                                "DigestMethod"))) if element is not None and element.get("Algorithm") == SHA1]
    if tolerated:
        checks.append(warning("pes_sha1", env.t(
            "SHA-1 accepté pour {p}, comme la politique de signature de la DGFiP l'emploie.",
            "SHA-1 accepted for {p}, as the DGFiP signature policy uses it.", p=", ".join(tolerated))))
    weak = [r for r in signature.iterfind(f"{{{DS}}}SignedInfo/{{{DS}}}Reference/{{{DS}}}DigestMethod")
            if r.get("Algorithm") == SHA1]
    if weak:
        checks.append(indeterminate("pes_sha1_reference", env.t(
            "Empreinte SHA-1 sur des données signées ({n} référence(s)) : algorithme trop faible.",
            "SHA-1 digest of signed data ({n} reference(s)): algorithm too weak.", n=len(weak)),
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE))
    return checks


def annotate_pes(env: Environment, path: Path, reports: list[SignatureReport]) -> list[SignatureReport]:
    """Add to each report of a PES V2 flow its place, declared properties and the DGFiP rules.

    ``reports`` are ``verify_xml``'s, one per top-level signature in document order; a file that is
    not a PES V2 flow, or whose signatures do not line up with them, is returned as it is.
    """
    if not reports or all(r.format == "XML" for r in reports):
        return reports  # nothing the XML verifier could read as a signature (refused, too large, none)
    try:
        if path.stat().st_size > MAX_XML_SIZE:
            return reports
        with path.open("rb") as stream:
            tree = parse_untrusted(stream)
    except (OSError, XmlRefused):
        return reports
    root = tree.getroot()
    if _local(root) != "PES_Aller" and next(root.iter("{*}PES_Aller"), None) is None:
        return reports
    signatures = _top_level_signatures(tree)
    if len(signatures) != len(reports):
        return reports
    for signature, report in zip(signatures, reports, strict=True):
        rules, facts = _conformance(env, signature, report)
        report.conformance_profile = PES_PROFILE
        report.conformance = rules
        report.properties.update(facts)
        report.add(*_sha1_checks(env, signature))
    return reports
