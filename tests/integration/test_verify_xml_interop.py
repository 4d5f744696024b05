"""XML signatures made by an independent producer (xmlsec1) in the shapes real files have: Compagnon must
agree with xmlsec1 on every one, signed and then altered.

Shapes: a trusted list (default namespace at the root, the signature prefix declared twice), a
signature in the default namespace inside another default namespace, several prefixes with
inclusive C14N 1.0 and 1.1, a reference to a sibling element by Id, office-suite layouts (an
enveloping signature whose Object holds a Manifest, references to its own KeyInfo and to
SignedProperties without ``Type``; an ODF ``document-signatures`` container), XPath and XPath
Filter 2.0 transforms. An unsupported transform gives INDETERMINATE, never TOTAL_FAILED.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from agent.tsa_client import http_timestamper
from agent.validation import Indication, SignatureReport, SubIndication, verify_file
from tests.support.pki import TestPki
from tests.support.xmlsec_templates import (
    C14N,
    C14N11,
    DS,
    ENVELOPED,
    EXC,
    SIGNED_PROPERTIES,
    filter2,
    key_info,
    reference,
    signature,
    signed_properties,
    transform,
    xmlsec_sign,
    xmlsec_verifies,
    xpath,
)

PASSED, FAILED, INDETERMINATE = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE
TSL = "http://uri.etsi.org/02231/v2#"


@dataclass(frozen=True)
class Case:
    template: Callable[[TestPki], str]
    change: tuple[bytes, bytes]  # a signed text and what it becomes in the altered copy
    id_attributes: tuple[str, ...] = ()
    xades: bool = False  # the template carries signed XAdES properties


def _trusted_list(pki: TestPki) -> str:
    sig = signature([reference("", [transform(ENVELOPED), transform(EXC)], ref_id="ref-list"),
                     reference("#props", [transform(EXC)], ref_type=SIGNED_PROPERTIES)],
                    key_info(pki) + signed_properties(pki, "sig", "props", "ref-list"))
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="no"?><TrustServiceStatusList xmlns="{TSL}" '
            f'xmlns:ns2="{DS}" xmlns:ns3="http://uri.etsi.org/01903/v1.3.2#" Id="ID0001" TSLTag="x">\n'
            f'    <SchemeInformation>\n        <TSLSequenceNumber>13</TSLSequenceNumber>\n'
            f'        <Name xml:lang="is">Neytendastofa</Name>\n    </SchemeInformation>\n{sig}'
            "</TrustServiceStatusList>")


def _trusted_list_ns2(pki: TestPki) -> str:
    """The signature uses the root's ``ns2`` prefix, declared only there."""
    sig = signature([reference("", [transform(ENVELOPED, prefix="ns2:"), transform(EXC, prefix="ns2:")],
                               prefix="ns2:")], key_info(pki, "ns2:"), prefix="ns2:", declare="")
    return (f'<TrustServiceStatusList xmlns="{TSL}" xmlns:ns2="{DS}" Id="ID0001">\n'
            f"  <SchemeInformation><TSLSequenceNumber>13</TSLSequenceNumber></SchemeInformation>\n{sig}\n"
            f"</TrustServiceStatusList>")


def _default_namespace_signature(pki: TestPki) -> str:
    sig = signature([reference("", [transform(ENVELOPED, prefix="")], prefix="")], key_info(pki, ""), prefix="",
                    c14n=C14N)
    return (f'<Offre xmlns="urn:example:offre" xmlns:m="urn:example:montants" xml:lang="fr">\n'
            f'  <m:Montant devise="EUR">125000.00</m:Montant>\n  <Lot numero="1">Ascenseurs</Lot>\n  {sig}\n</Offre>')


def _prefixes_sibling(c14n: str) -> Callable[[TestPki], str]:
    def build(pki: TestPki) -> str:
        sig = signature([reference("#lot-1", [transform(c14n)])], key_info(pki), c14n=c14n)
        return (f'<o:Offre xmlns:o="urn:example:offre" xmlns:m="urn:example:montants" xmlns="urn:example:defaut" '
                f'xml:lang="fr">\n  <o:Lot Id="lot-1" numero="1"><m:Montant devise="EUR">125000.00</m:Montant>'
                f'<Note xmlns="">sans espace de noms</Note><Texte>défaut</Texte></o:Lot>\n  {sig}\n</o:Offre>')
    return build


def _enveloping_office(pki: TestPki) -> str:
    """OOXML-like: the signature is the document; its Object holds a Manifest; KeyInfo and the
    SignedProperties (no ``Type``) are signed too."""
    manifest = ('<Object Id="idPackageObject"><Manifest>'
                + reference("#idOfficeObject", [transform(C14N, prefix="")], prefix="") + "</Manifest>"
                '<SignatureProperties><SignatureProperty Id="idSignatureTime" Target="#idPackageSignature">'
                '<mdssi:SignatureTime xmlns:mdssi="http://schemas.openxmlformats.org/package/2006/digital-signature">'
                "<mdssi:Value>2024-03-11T09:15:02Z</mdssi:Value></mdssi:SignatureTime></SignatureProperty>"
                "</SignatureProperties></Object>")
    office = ('<Object Id="idOfficeObject"><SignatureProperties><SignatureProperty Id="idOfficeV1Details" '
              'Target="#idPackageSignature"><SignatureInfoV1 xmlns="http://schemas.microsoft.com/office/2006/'
              'digsig"><SignatureComments>Offre 2024-AO-017</SignatureComments></SignatureInfoV1>'
              "</SignatureProperty></SignatureProperties></Object>")
    return signature([reference("#idPackageObject", [transform(C14N, prefix="")], prefix="",
                                ref_type="http://www.w3.org/2000/09/xmldsig#Object"),
                      reference("#idOfficeObject", prefix="", ref_type="http://www.w3.org/2000/09/xmldsig#Object"),
                      reference("#idKeyInfo", [transform(C14N, prefix="")], prefix=""),
                      reference("#idSignedProperties", [transform(C14N, prefix="")], prefix="")],
                     key_info(pki, "", "idKeyInfo") + manifest + office
                     + signed_properties(pki, "idPackageSignature", "idSignedProperties", None, prefix=""),
                     prefix="", c14n=C14N, signature_id="idPackageSignature")


def _odf_container(pki: TestPki) -> str:
    """ODF-like: a document-signatures root holding the signature, which signs its own Object and properties."""
    sig = signature([reference("#contenu", [transform(EXC)], ref_id="ref-contenu"),
                     reference("#props", [transform(EXC)])],
                    key_info(pki) + '<ds:Object Id="contenu"><content xmlns="urn:oasis:names:tc:opendocument:xmlns:'
                    'office:1.0">Mémoire technique, version 3</content></ds:Object>'
                    + signed_properties(pki, "sig", "props", "ref-contenu"))
    return ('<document-signatures xmlns="urn:oasis:names:tc:opendocument:xmlns:digitalsignature:1.0">'
            f"{sig}</document-signatures>")


def _filter2_subtract(pki: TestPki) -> str:
    sig = signature([reference("", [filter2(("subtract", "/descendant::ds:Signature")), transform(EXC)])],
                    key_info(pki))
    return f'<Offre xmlns="urn:example:offre"><Montant>125000.00</Montant>{sig}<Annexe>plan</Annexe></Offre>'


def _filter2_intersect_here(pki: TestPki) -> str:
    sig = signature([reference("", [filter2(("intersect", "//ToBeSigned"),
                                            ("subtract", "here()/ancestor::ds:Signature[1]"),
                                            ("subtract", "//NotToBeSigned"))])], key_info(pki), c14n=C14N)
    return ('<Document><ToBeSigned><Montant>125000.00</Montant><NotToBeSigned>brouillon</NotToBeSigned>'
            f"{sig}</ToBeSigned><Commentaire>libre</Commentaire></Document>")


def _xpath_not_signature(pki: TestPki) -> str:
    sig = signature([reference("", [xpath("not(ancestor-or-self::ds:Signature)"), transform(C14N)])],
                    key_info(pki), c14n=C14N)
    return f'<Offre xmlns="urn:example:offre" xmlns:x="urn:x"><Montant>125000.00</Montant>{sig}</Offre>'


def _xpath_here(pki: TestPki) -> str:
    expression = ("count(ancestor-or-self::ds:Signature | here()/ancestor::ds:Signature[1]) &gt; "
                  "count(ancestor-or-self::ds:Signature)")
    sig = signature([reference("", [xpath(expression)])], key_info(pki), c14n=C14N)
    return f"<Offre><Montant>125000.00</Montant>{sig}</Offre>"


CASES = {
    "trusted-list": Case(_trusted_list, (b"<TSLSequenceNumber>13<", b"<TSLSequenceNumber>14<"), xades=True),
    "trusted-list-ns2-prefix": Case(_trusted_list_ns2, (b">13<", b">14<")),
    "default-namespace-signature": Case(_default_namespace_signature, (b"125000.00", b"125900.00")),
    "prefixes-sibling-c14n": Case(_prefixes_sibling(C14N), (b"125000.00", b"125900.00"),
                                  ("urn:example:offre:Lot",)),
    "prefixes-sibling-c14n11": Case(_prefixes_sibling(C14N11), (b"125000.00", b"125900.00"),
                                    ("urn:example:offre:Lot",)),
    "prefixes-sibling-exc": Case(_prefixes_sibling(EXC), (b"125000.00", b"125900.00"), ("urn:example:offre:Lot",)),
    "office-enveloping-manifest-keyinfo": Case(_enveloping_office, (b"2024-AO-017", b"2024-AO-018"), xades=True),
    "odf-container": Case(_odf_container, (b"version 3", b"version 4"), xades=True),
    "xpath-filter2-subtract": Case(_filter2_subtract, (b"plan", b"plat")),
    "xpath-filter2-intersect-here": Case(_filter2_intersect_here, (b"125000.00", b"125900.00")),
    "xpath-not-signature": Case(_xpath_not_signature, (b"125000.00", b"125900.00")),
    "xpath-here": Case(_xpath_here, (b"125000.00", b"125900.00")),
}


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


def _dump(signature_report: SignatureReport) -> str:
    return json.dumps(signature_report.to_json(), indent=1, ensure_ascii=False)


def _only(path: Path, root: x509.Certificate) -> SignatureReport:
    report = verify_file(path, trust_roots=[root], locale="en")
    assert len(report.signatures) == 1, [_dump(s) for s in report.signatures]
    return report.signatures[0]


@pytest.mark.parametrize("name", list(CASES))
def test_xmlsec1_signatures_agree(name: str, test_pki: TestPki, root: x509.Certificate, tmp_path: Path) -> None:
    case = CASES[name]
    signed = xmlsec_sign(case.template(test_pki), tmp_path / f"{name}.xml", test_pki, case.id_attributes)
    assert xmlsec_verifies(signed, test_pki, case.id_attributes)
    result = _only(signed, root)
    assert result.indication is PASSED, _dump(result)
    assert result.check("integrity").status == "passed", _dump(result)  # type: ignore[union-attr]
    assert result.check("signature_value").status == "passed", _dump(result)  # type: ignore[union-attr]
    assert (result.format == "XAdES") is case.xades, _dump(result)

    original, changed = case.change
    data = signed.read_bytes()
    assert data.count(original) == 1
    altered = tmp_path / f"{name}-altered.xml"
    altered.write_bytes(data.replace(original, changed))
    assert not xmlsec_verifies(altered, test_pki, case.id_attributes)
    result = _only(altered, root)
    assert result.indication is FAILED, _dump(result)
    assert result.sub_indication in (SubIndication.HASH_FAILURE, SubIndication.SIG_CRYPTO_FAILURE), _dump(result)


def test_unsupported_xpath_is_indeterminate(test_pki: TestPki, root: x509.Certificate, tmp_path: Path) -> None:
    """xmlsec1 computes any XPath; Compagnon computes only the forms producers use: another expression
    leaves the signed data unknown — INDETERMINATE/SIGNED_DATA_NOT_FOUND with the reason, not a failure."""
    sig = signature([reference("", [xpath("not(ancestor-or-self::ds:Signature) and not(self::comment())"),
                                    transform(C14N)])], key_info(test_pki), c14n=C14N)
    signed = xmlsec_sign(f"<Offre><Montant>125000.00</Montant>{sig}</Offre>", tmp_path / "xpath.xml", test_pki)
    assert xmlsec_verifies(signed, test_pki)
    result = _only(signed, root)
    assert (result.indication, result.sub_indication) == (INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND), \
        _dump(result)
    message = result.check("integrity").message  # type: ignore[union-attr]
    assert "XPath" in message and "not checked" in message, _dump(result)


def test_filter2_with_a_forbidden_function_is_indeterminate(test_pki: TestPki, root: x509.Certificate,
                                                            tmp_path: Path) -> None:
    sig = signature([reference("", [filter2(("subtract", "/descendant::ds:Signature"),
                                            ("subtract", "//*[string-length(name()) &gt; 100]"))])],
                    key_info(test_pki))
    signed = xmlsec_sign(f"<Offre><Montant>125000.00</Montant>{sig}</Offre>", tmp_path / "f2.xml", test_pki)
    assert xmlsec_verifies(signed, test_pki)
    result = _only(signed, root)
    assert (result.indication, result.sub_indication) == (INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND), \
        _dump(result)
    assert "string-length" in result.check("integrity").message  # type: ignore[union-attr]


def _content_stamp_template(pki: TestPki, stamps: str) -> str:
    sig = signature([reference("", [transform(ENVELOPED), transform(EXC)], ref_id="ref-doc"),
                     reference("#props", [transform(EXC)], ref_type=SIGNED_PROPERTIES)],
                    key_info(pki) + signed_properties(pki, "sig", "props", "ref-doc").replace(
                        "</xades:DataObjectFormat>", "</xades:DataObjectFormat>" + stamps))
    return f'<Offre xmlns="urn:example:offre"><Montant>125000.00</Montant>{sig}</Offre>'


def _xmlsec_pre_digest(path: Path, pki: TestPki) -> bytes:
    """What xmlsec1 digested for the first reference (``--store-references``)."""
    result = subprocess.run(["xmlsec1", "--verify", "--store-references", "--enabled-key-data", "x509",
                             "--trusted-pem", str(pki.root_pem), "--untrusted-pem", str(pki.intermediate_pem),
                             str(path)], capture_output=True)
    out = result.stdout + result.stderr
    start = out.index(b"== PreDigest data - start buffer:\n") + len(b"== PreDigest data - start buffer:\n")
    return out[start:out.index(b"\n== PreDigest data - end buffer", start)]


def test_content_timestamps_are_verified(test_pki: TestPki, root: x509.Certificate, tmp_path: Path) -> None:
    """AllDataObjectsTimeStamp and IndividualDataObjectsTimeStamp (EN 319 132-1 section 5.2.8) over the data
    xmlsec1 itself digested, time-stamped by the test PKI's TSA: verified and reported; a token over
    other data is reported as ignored."""
    first = xmlsec_sign(_content_stamp_template(test_pki, ""), tmp_path / "plain.xml", test_pki)
    data = _xmlsec_pre_digest(first, test_pki)
    assert data.startswith(b'<Offre xmlns="urn:example:offre">') and b"Signature" not in data
    tsa = http_timestamper(test_pki.tsa_url)
    good = base64.b64encode(tsa(hashlib.sha256(data).digest(), "sha256")).decode()
    other = base64.b64encode(tsa(hashlib.sha256(data + b" ").digest(), "sha256")).decode()

    def stamps(all_token: str, individual_token: str) -> str:
        method = f'<ds:CanonicalizationMethod Algorithm="{EXC}"/>'
        return (f"<xades:AllDataObjectsTimeStamp>{method}<xades:EncapsulatedTimeStamp>{all_token}"
                "</xades:EncapsulatedTimeStamp></xades:AllDataObjectsTimeStamp>"
                f'<xades:IndividualDataObjectsTimeStamp><xades:Include URI="#ref-doc"/>{method}'
                f"<xades:EncapsulatedTimeStamp>{individual_token}</xades:EncapsulatedTimeStamp>"
                "</xades:IndividualDataObjectsTimeStamp>")

    signed = xmlsec_sign(_content_stamp_template(test_pki, stamps(good, good)), tmp_path / "stamped.xml", test_pki)
    assert xmlsec_verifies(signed, test_pki)
    result = _only(signed, root)
    assert result.indication is PASSED, _dump(result)
    check = result.check("content_timestamp")
    assert check is not None and check.status == "passed", _dump(result)
    assert result.format == "XAdES" and result.level == "B-B", _dump(result)

    wrong = xmlsec_sign(_content_stamp_template(test_pki, stamps(good, other)), tmp_path / "wrong.xml", test_pki)
    assert xmlsec_verifies(wrong, test_pki)
    result = _only(wrong, root)
    check = result.check("content_timestamp")
    assert check is not None and check.status == "warning", _dump(result)
    assert "ignored" in check.message, _dump(result)


def test_xades_forms_are_named(test_pki: TestPki, root: x509.Certificate, tmp_path: Path) -> None:
    """A XAdES signature that is not baseline (no DataObjectFormat) is named by its ETSI TS 101 903
    form — BES, or EPES with a SignaturePolicyIdentifier — not reported as plain XMLDSig."""
    bes = signature([reference("", [transform(ENVELOPED), transform(EXC)]),
                     reference("#props", [transform(EXC)], ref_type=SIGNED_PROPERTIES)],
                    key_info(test_pki) + signed_properties(test_pki, "sig", "props", None))
    signed = xmlsec_sign(f"<Offre><Montant>125000.00</Montant>{bes}</Offre>", tmp_path / "bes.xml", test_pki)
    result = _only(signed, root)
    assert (result.indication, result.format, result.level) == (PASSED, "XAdES", "BES"), _dump(result)
    assert "XAdES-BES" in result.check("baseline_level").message  # type: ignore[union-attr]

    policy = ("<xades:SignaturePolicyIdentifier><xades:SignaturePolicyImplied/></xades:SignaturePolicyIdentifier>"
              "</xades:SignedSignatureProperties>")
    epes = bes.replace("</xades:SignedSignatureProperties>", policy)
    signed = xmlsec_sign(f"<Offre><Montant>125000.00</Montant>{epes}</Offre>", tmp_path / "epes.xml", test_pki)
    result = _only(signed, root)
    assert (result.indication, result.format, result.level) == (PASSED, "XAdES", "EPES"), _dump(result)
