"""PES V2 flows verified: every Bordereau signature on its own (signer, role, place, time, policy) and
the DGFiP checker's rules beside the ETSI indication (agent.validation.pes).

Two producers: our own signer (``--pes``), and an independent one — ``xmlsec1 --sign`` over a
template carrying XAdES 1.1.1 properties written the way the parapheurs write them (prefix ``xad``,
SHA-1 ``SigningCertificate`` with ``X509IssuerName``/``X509SerialNumber``, the DGFiP policy with its
SHA-1 hash and SPURI, SignedProperties typed ``v1.1.1#SignedProperties``: see libriciel/i-Parapheur-iOS
``iParapheur/Crypto/XadesEnvSigner.swift`` and the DGFiP producer copied in SICTIAM/stela
``pes-service/src/main/java/fr/sictiam/signature/pes/producer/SignatureGenerator.java``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from agent.consent import Secret
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.signing import xades
from agent.signing.base import SigningKey
from agent.validation import verify_file
from agent.validation.model import Indication, SignatureReport, SubIndication, VerificationReport
from agent.validation.report_html import render_report
from tests.support import xml_samples
from tests.support.agent_process import ROOT, isolated_env
from tests.support.pki import TestPki

PLACE = {"City": "Montpellier", "PostalCode": "34000", "CountryName": "France"}
POLICY = "urn:oid:1.2.250.1.131.1.5.18.21.1.4"
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"
INCLUSIVE = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


@pytest.fixture
def key(test_pki: TestPki):  # type: ignore[no-untyped-def]
    store = Pkcs12FileStore(test_pki.p12("qualified", "pw"))
    with store.open(Secret("pw")) as session:
        yield SigningKey.from_session(session, store.keys()[0])


def verify(path: Path, root: x509.Certificate, locale: str = "fr") -> VerificationReport:
    report = verify_file(path, trust_roots=[root], locale=locale)
    json.dumps(report.to_json())
    return report


def rules(signature: SignatureReport) -> dict[str, str]:
    data = signature.to_json()["conformance"]
    return {r["name"]: r["result"] for r in data["rules"]}


def message(signature: SignatureReport, name: str) -> str:
    return next(r["message"] for r in signature.to_json()["conformance"]["rules"] if r["name"] == name)


def assert_passed(signature: SignatureReport) -> None:
    failing = [(c.name, c.message) for c in signature.checks if c.status == "failed"]
    assert signature.indication is Indication.TOTAL_PASSED, failing


# ------------------------------------------------------------------ an independent producer (xmlsec1)


def _parapheur_signature(bordereau: str, cert: bytes, chain: bytes, *, role: str | None = "Ordonnateur",
                         signing_time: str | None = None, c14n: str = EXC, sign_properties: bool = True) -> str:
    """One ds:Signature template as a parapheur lays it out (XAdES 1.1.1), for xmlsec1 to fill."""
    leaf = x509.load_der_x509_certificate(cert)
    time = signing_time or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    sig = f"{bordereau}_SIG_1"
    props_ref = (f'<ds:Reference Type="http://uri.etsi.org/01903/v1.1.1#SignedProperties" URI="#{sig}_SP">'
                 f'<ds:Transforms><ds:Transform Algorithm="{c14n}"/></ds:Transforms>'
                 '<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>'
                 '</ds:Reference>') if sign_properties else ""
    role_xml = (f"<xad:SignerRole><xad:ClaimedRoles><xad:ClaimedRole>{role}</xad:ClaimedRole></xad:ClaimedRoles>"
                "</xad:SignerRole>") if role else ""
    return f"""<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="{sig}"><ds:SignedInfo>\
<ds:CanonicalizationMethod Algorithm="{c14n}"/>\
<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>\
<ds:Reference URI="#{bordereau}"><ds:Transforms>\
<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="{c14n}"/>\
</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>\
{props_ref}</ds:SignedInfo><ds:SignatureValue Id="{sig}_SV"/>\
<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{base64.b64encode(cert).decode()}</ds:X509Certificate>\
<ds:X509Certificate>{base64.b64encode(chain).decode()}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\
<ds:Object><xad:QualifyingProperties xmlns:xad="http://uri.etsi.org/01903/v1.1.1#" Target="#{sig}">\
<xad:SignedProperties Id="{sig}_SP"><xad:SignedSignatureProperties><xad:SigningTime>{time}</xad:SigningTime>\
<xad:SigningCertificate><xad:Cert><xad:CertDigest>\
<xad:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>\
<xad:DigestValue>{base64.b64encode(hashlib.sha1(cert).digest()).decode()}</xad:DigestValue></xad:CertDigest>\
<xad:IssuerSerial><ds:X509IssuerName>{leaf.issuer.rfc4514_string()}</ds:X509IssuerName>\
<ds:X509SerialNumber>{leaf.serial_number}</ds:X509SerialNumber></xad:IssuerSerial></xad:Cert></xad:SigningCertificate>\
<xad:SignaturePolicyIdentifier><xad:SignaturePolicyId><xad:SigPolicyId><xad:Identifier>{POLICY}</xad:Identifier>\
<xad:Description>Politique de signature Helios de la DGFiP</xad:Description></xad:SigPolicyId>\
<xad:SigPolicyHash><xad:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>\
<xad:DigestValue>Jkdb+aba0Hz6+ZPKmKNhPByzQ+Q=</xad:DigestValue></xad:SigPolicyHash>\
<xad:SigPolicyQualifiers><xad:SigPolicyQualifier>\
<xad:SPURI>https://portail.dgfip.finances.gouv.fr/documents/PS_Helios_DGFiP.pdf</xad:SPURI>\
</xad:SigPolicyQualifier></xad:SigPolicyQualifiers></xad:SignaturePolicyId></xad:SignaturePolicyIdentifier>\
<xad:SignatureProductionPlace><xad:City>Montpellier</xad:City><xad:PostalCode>34000</xad:PostalCode>\
<xad:CountryName>France</xad:CountryName></xad:SignatureProductionPlace>{role_xml}\
</xad:SignedSignatureProperties></xad:SignedProperties></xad:QualifyingProperties></ds:Object></ds:Signature>"""


def parapheur_pes(tmp_path: Path, pki: TestPki, ids: tuple[str, ...], name: str = "plain", **options: object) -> Path:
    """A PES_Aller whose Bordereaux are signed one by one by ``xmlsec1 --sign --node-id``."""
    cert = x509.load_pem_x509_certificate(pki.cert_pem(name).read_bytes()).public_bytes(serialization.Encoding.DER)
    chain = x509.load_pem_x509_certificate(pki.intermediate_pem.read_bytes()).public_bytes(
        serialization.Encoding.DER)
    document = xml_samples.pes_aller(ids).decode("iso-8859-1")
    for bordereau in ids:
        closing = document.index("</Bordereau>", document.index(f'Id="{bordereau}"'))
        document = document[:closing] + _parapheur_signature(bordereau, cert, chain, **options) + document[closing:]
    path = tmp_path / "PESALR2-parapheur.xml"
    path.write_bytes(document.encode("iso-8859-1"))
    for bordereau in ids:
        subprocess.run(["xmlsec1", "--sign", "--privkey-pem", str(pki.key_pem(name)), "--id-attr:Id", "Bordereau",
                        "--id-attr:Id", "http://uri.etsi.org/01903/v1.1.1#:SignedProperties",
                        "--id-attr:Id", "http://www.w3.org/2000/09/xmldsig#:Signature",
                        "--node-id", f"{bordereau}_SIG_1", "--output", str(path), str(path)],
                       check=True, capture_output=True)
    return path


# ------------------------------------------------------------------------------------------- tests


def test_pes_signed_the_parapheurs_way_is_verified(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    ids = ("BORD-2024-001", "BORD-2024-002", "BORD-2024-003")
    signed = parapheur_pes(tmp_path, test_pki, ids, name="qualified")
    report = verify(signed, root)
    assert len(report.signatures) == 3
    for signature, bordereau in zip(report.signatures, ids, strict=True):
        assert_passed(signature)
        assert signature.signer.name == "Jeanne TITULAIRE"
        assert signature.properties["location"] == f"Bordereau {bordereau}"
        assert signature.properties["claimed_role"] == "Ordonnateur"
        assert signature.properties["production_place"] == "Montpellier, 34000, France"
        assert signature.properties["signature_policy"] == POLICY
        assert signature.properties["signature_policy_hash"] == "Jkdb+aba0Hz6+ZPKmKNhPByzQ+Q="
        assert signature.signing_time is not None
        assert signature.check("signing_certificate").status == "passed"  # SHA-1 CertDigest, 1.1.1 namespace
        assert signature.check("pes_sha1").status == "warning"
        assert "SigningCertificate, SigPolicyHash" in signature.check("pes_sha1").message
        assert signature.to_json()["conformance"]["result"] == "OK", signature.to_json()["conformance"]
        assert rules(signature) == {"canonicalisation": "OK", "signed_properties": "OK", "signing_time": "OK",
                                    "claimed_role": "OK", "non_repudiation": "OK", "signature_policy": "OK"}
    # One Bordereau changed: that signature fails, the others stand.
    signed.write_bytes(signed.read_bytes().replace(b'<MtBordHT V="2000.50"/>', b'<MtBordHT V="2900.50"/>'))
    first, second, third = verify(signed, root).signatures
    assert_passed(first)
    assert_passed(third)
    assert second.indication is Indication.TOTAL_FAILED and second.sub_indication is SubIndication.HASH_FAILURE


def test_our_pes_is_verified_bordereau_by_bordereau(tmp_path: Path, root: x509.Certificate, key: SigningKey) -> None:
    signed = tmp_path / "PESALR2.xml"
    with signed.open("wb") as output:
        xades.sign_enveloped(io.BytesIO(xml_samples.pes_aller(("B1", "B2"))), output, key, pes=True,
                             claimed_role="Ordonnateur", production_place=PLACE)
    report = verify(signed, root)
    for signature, bordereau in zip(report.signatures, ("B1", "B2"), strict=True):
        assert_passed(signature)
        assert signature.level == "B-B"
        assert (signature.properties["location"], signature.properties["claimed_role"]) == (f"Bordereau {bordereau}",
                                                                                            "Ordonnateur")
        assert signature.properties["signature_policy"] == POLICY
        assert signature.to_json()["conformance"]["result"] == "OK"
        assert signature.check("pes_sha1").message == \
            "SHA-1 accepté pour SigPolicyHash, comme la politique de signature de la DGFiP l'emploie."
    english = verify(signed, root, locale="en").signatures[0]
    assert message(english, "claimed_role") == "Signer's role: Ordonnateur"
    whole = tmp_path / "PESALR2-sans-id.xml"  # Bordereaux without Id: one signature on PES_Aller
    with whole.open("wb") as output:
        xades.sign_enveloped(io.BytesIO(xml_samples.pes_aller((None, None))), output, key, pes=True,
                             claimed_role="Ordonnateur", production_place=PLACE)
    (signature,) = verify(whole, root).signatures
    assert_passed(signature)
    assert signature.properties["location"] == "PES_Aller"
    assert signature.to_json()["conformance"]["result"] == "OK"


def test_a_flow_that_breaks_the_dgfip_rules_is_nok(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    """No role, a local time, inclusive C14N, no non-repudiation usage; then no SignedProperties reference."""
    signed = parapheur_pes(tmp_path, test_pki, ("BORD-1",), name="plain", role=None,
                           signing_time="2024-03-11T10:15:00+01:00", c14n=INCLUSIVE)
    (signature,) = verify(signed, root).signatures
    conformance = signature.to_json()["conformance"]
    assert conformance["profile"] == "PES V2 (DGFiP)" and conformance["result"] == "NOK"
    assert rules(signature) == {"canonicalisation": "NOK", "signed_properties": "OK", "signing_time": "NOK",
                                "claimed_role": "NOK", "non_repudiation": "NOK", "signature_policy": "OK"}
    assert "algorithme(s) de canonisation ne sont pas corrects" in message(signature, "canonicalisation")
    assert message(signature, "signing_time") == \
        "La date de signature n'est pas au format UTC : 2024-03-11T10:15:00+01:00"
    assert message(signature, "claimed_role") == "Rôle du signataire : NON_RENSEIGNE"
    assert "non-répudiation" in message(signature, "non_repudiation")
    unsigned = parapheur_pes(tmp_path, test_pki, ("BORD-1",), name="qualified", sign_properties=False)
    (signature,) = verify(unsigned, root).signatures
    assert rules(signature)["signed_properties"] == "NOK"
    assert message(signature, "signed_properties") == "Les « SignedProperties » XAdES n'ont pas été signées."
    assert "claimed_role" not in signature.properties  # unsigned properties are never reported as declared
    assert rules(signature)["claimed_role"] == "NOK"
    # Signed properties that were changed afterwards: "Les informations XAdES ont été modifiées".
    good = parapheur_pes(tmp_path, test_pki, ("BORD-1",), name="qualified")
    good.write_bytes(good.read_bytes().replace(b">Ordonnateur<", b">Comptable<"))
    (changed,) = verify(good, root).signatures
    assert rules(changed)["signed_properties"] == "NOK"
    assert message(changed, "signed_properties") == "Les informations XAdES ont été modifiées."
    assert changed.indication is Indication.TOTAL_FAILED


def test_sha1_is_accepted_only_where_the_dgfip_policy_puts_it(tmp_path: Path, test_pki: TestPki,
                                                              root: x509.Certificate) -> None:
    signed = parapheur_pes(tmp_path, test_pki, ("BORD-1",), name="qualified")
    data = signed.read_bytes()
    # A SHA-1 digest of the signed Bordereau itself: re-signed by xmlsec1 with the weaker digest.
    template = data.replace(b'<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>',
                            b'<ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>', 1)
    signed.write_bytes(template)
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem", str(test_pki.key_pem("qualified")), "--id-attr:Id",
                    "Bordereau", "--id-attr:Id", "http://uri.etsi.org/01903/v1.1.1#:SignedProperties",
                    "--output", str(signed), str(signed)], check=True, capture_output=True)
    (signature,) = verify(signed, root).signatures
    assert signature.indication is Indication.INDETERMINATE
    assert signature.sub_indication is SubIndication.CRYPTO_CONSTRAINTS_FAILURE
    assert signature.check("pes_sha1_reference").status == "failed"


def test_cli_reports_pes_conformance_in_text_json_and_html(tmp_path: Path, test_pki: TestPki) -> None:
    signed = parapheur_pes(tmp_path, test_pki, ("BORD-1", "BORD-2"), name="qualified")
    env = isolated_env(tmp_path / "home")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agent", "verify", str(signed), "--trust", str(test_pki.root_pem),
                               *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    text = run()
    assert text.returncode == 0, text.stdout + text.stderr
    assert text.stdout.count("conformité PES V2 (DGFiP) : OK") == 2
    assert "rôle : Ordonnateur" in text.stdout and "emplacement : Bordereau BORD-2" in text.stdout
    assert f"politique : {POLICY}" in text.stdout
    english = run("--lang", "en")
    assert "conformance PES V2 (DGFiP): OK" in english.stdout and "Signer's role: Ordonnateur" in english.stdout
    data = json.loads(run("--json").stdout)
    first = data["signatures"][0]
    assert first["properties"]["claimed_role"] == "Ordonnateur"
    assert first["conformance"]["result"] == "OK" and len(first["conformance"]["rules"]) == 6
    report = tmp_path / "rapport.html"
    assert run("--report", str(report)).returncode == 0
    page = report.read_text("utf-8")
    assert page.count('class="conformance" data-result="OK"') == 2
    assert "Rôle du signataire" in page and "Ordonnateur" in page and "Politique de signature" in page
    assert render_report(data, "en").count("PES V2 (DGFiP) conformance: OK") == 2


def test_xades_1_3_2_properties_of_a_pes_are_read_too(tmp_path: Path, root: x509.Certificate, key: SigningKey) -> None:
    """A Bordereau signed with EN 319 132-1 (1.3.2) V2 properties: role, place and policy reported alike."""
    from lxml import etree

    from agent.signing.xades_build import BASELINE, DataObject, SignedAttributes, new_signature, seal
    from agent.signing.xades_xml import ENVELOPED, c14n

    tree = etree.parse(io.BytesIO(xml_samples.pes_aller(("B1",))))
    bordereau = tree.getroot().find(".//Bordereau")
    digest = hashlib.sha256(c14n(bordereau)).digest()
    attributes = SignedAttributes(signing_time=datetime.now(UTC), policy=xades.dgfip_pes_policy(),
                                  claimed_role="Ordonnateur", production_place=tuple(PLACE.items()))
    signature = new_signature(bordereau, [DataObject("#B1", digest, "text/xml", (ENVELOPED, EXC))], key, attributes,
                              BASELINE)
    seal(signature, key, "B-B", None, BASELINE)
    signed = tmp_path / "PES-132.xml"
    tree.write(str(signed), encoding="ISO-8859-1", xml_declaration=True)
    assert b"SignerRoleV2" in signed.read_bytes() and b"v1.3.2#" in signed.read_bytes()
    (report,) = verify(signed, root).signatures
    assert_passed(report)
    assert report.properties["claimed_role"] == "Ordonnateur"
    assert report.properties["production_place"] == "Montpellier, 34000, France"
    assert report.properties["signature_policy"] == POLICY
    assert report.to_json()["conformance"]["result"] == "OK", report.to_json()["conformance"]
