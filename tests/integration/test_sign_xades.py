"""XAdES signatures (agent.signing.xades) made with real keys and checked by independent tools.

Keys come from a PKCS#12 file and from the SoftHSM2 token (RSA and EC P-256); every signature is
verified by ``xmlsec1`` trusting only the test root (``--enabled-key-data x509``: an inline
KeyValue is never trusted), every B-T timestamp by ``openssl ts -verify`` against the digest of
the canonical ``ds:SignatureValue``, and the qualifying properties by the ETSI XML schema.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from agent.consent import Secret
from agent.keystores.pkcs11_store import Pkcs11Module
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.signing import xades
from agent.signing.base import SigningKey
from agent.signing.xades_xml import DS, EXC_C14N, XADES
from agent.tsa_client import http_timestamper
from tests.support import xml_samples
from tests.support.pki import TestPki

NS = {"ds": DS, "xades": XADES}
P12_PASSWORD = "mot de passe"
SIGNERS = ["p12-rsa", "p12-ec", "token-rsa", "token-ec"]
LEVELS = ["B-B", "B-T"]
PLACE = {"City": "Montpellier", "PostalCode": "34000", "CountryName": "France"}


# --------------------------------------------------------------------------------------------- keys


@pytest.fixture(params=SIGNERS)
def signer(request: pytest.FixtureRequest, test_pki: TestPki) -> Iterator[SigningKey]:
    """A SigningKey from a PKCS#12 file or from the session's SoftHSM token."""
    source, kind = request.param.split("-")
    name = "qualified_ec" if kind == "ec" else "qualified"
    if source == "p12":
        store = Pkcs12FileStore(test_pki.p12(name, P12_PASSWORD))
        session = store.open(Secret(P12_PASSWORD))
        (key,) = store.keys()
    else:
        token = request.getfixturevalue("token")
        store = next(s for s in Pkcs11Module(token.hsm.module).tokens() if s.token_label == token.label)
        key = next(k for k in store.keys() if k.certificate == token.certificates[name])
        session = store.open(Secret(token.pin))
    with session:
        yield SigningKey.from_session(session, key)


@pytest.fixture
def p12_key(test_pki: TestPki) -> Iterator[SigningKey]:
    store = Pkcs12FileStore(test_pki.p12("qualified", P12_PASSWORD))
    with store.open(Secret(P12_PASSWORD)) as session:
        yield SigningKey.from_session(session, store.keys()[0])


def _timestamper(level: str, pki: TestPki):  # type: ignore[no-untyped-def]
    return http_timestamper(pki.tsa_url) if level == "B-T" else None


# ---------------------------------------------------------------------------------------- checkers


def xmlsec_verify(path: Path, pki: TestPki, *extra: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """xmlsec1 trusting only the test root; certificates come from the signature's X509Data."""
    return subprocess.run(
        ["xmlsec1", "--verify", "--enabled-key-data", "x509", "--trusted-pem", str(pki.root_pem),
         "--untrusted-pem", str(pki.intermediate_pem), *extra, str(path)],
        cwd=cwd, capture_output=True, text=True, timeout=120)


def assert_valid(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0 and result.stderr.startswith("OK"), result.stderr


def assert_invalid(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode != 0, result.stderr


def pes_verify(path: Path, pki: TestPki, signature_id: str) -> subprocess.CompletedProcess[str]:
    """One signature of a PES: Bordereau/@Id and ds:Signature/@Id declared as XML IDs for xmlsec1."""
    return xmlsec_verify(path, pki, "--id-attr:Id", "Bordereau", "--id-attr:Id", f"{DS}:Signature",
                         "--node-id", signature_id)


def signatures(path: Path) -> list[etree._Element]:
    return etree.parse(str(path)).getroot().xpath("//ds:Signature", namespaces=NS)


def check_structure(signature: etree._Element, key: SigningKey, mime_type: str) -> None:
    """Baseline B-B content: references, SignedProperties, DataObjectFormat, KeyInfo (leaf first)."""
    refs = signature.findall("ds:SignedInfo/ds:Reference", NS)
    data_refs = [r for r in refs if r.get("Type") is None]
    (props_ref,) = [r for r in refs if r.get("Type") == "http://uri.etsi.org/01903#SignedProperties"]
    props = signature.find("ds:Object/xades:QualifyingProperties/xades:SignedProperties", NS)
    assert props_ref.get("URI") == f"#{props.get('Id')}"
    assert signature.find("ds:Object/xades:QualifyingProperties", NS).get("Target") == f"#{signature.get('Id')}"
    formats = props.findall("xades:SignedDataObjectProperties/xades:DataObjectFormat", NS)
    assert sorted(f.get("ObjectReference") for f in formats) == sorted(f"#{r.get('Id')}" for r in data_refs)
    assert {f.findtext("xades:MimeType", namespaces=NS) for f in formats} == {mime_type}
    ssp = props.find("xades:SignedSignatureProperties", NS)
    assert ssp.findtext("xades:SigningTime", namespaces=NS).endswith("Z")
    cert_der = base64.b64decode(signature.findtext("ds:KeyInfo/ds:X509Data/ds:X509Certificate", namespaces=NS))
    assert x509.load_der_x509_certificate(cert_der) == key.certificate  # leaf first
    digest = ssp.findtext("xades:SigningCertificateV2/xades:Cert/xades:CertDigest/ds:DigestValue", namespaces=NS)
    assert base64.b64decode(digest) == hashlib.sha256(cert_der).digest()
    issuer_serial = tsp.IssuerSerial.load(base64.b64decode(
        ssp.findtext("xades:SigningCertificateV2/xades:Cert/xades:IssuerSerialV2", namespaces=NS)))
    assert issuer_serial["serial_number"].native == key.certificate.serial_number
    assert issuer_serial["issuer"][0].name == "directory_name"
    assert issuer_serial["issuer"][0].chosen.untag().dump() == key.certificate.issuer.public_bytes()
    assert signature.find(".//ds:KeyValue", NS) is None
    value = base64.b64decode(signature.findtext("ds:SignatureValue", namespaces=NS))
    if key.scheme == "ecdsa":
        assert len(value) == 64  # raw r || s for P-256, not DER
    schema_check(signature)


_SCHEMA: list[etree.XMLSchema] = []


def schema_check(signature: etree._Element) -> None:
    """QualifyingProperties valid against XAdES01903v132-201601.xsd (the copy shipped by signxml)."""
    if not _SCHEMA:
        import signxml  # a test dependency: the schema check always runs
        xsd = Path(signxml.__file__).parent / "xades" / "schemas" / "XAdES01903v132-201601.xsd"
        _SCHEMA.append(etree.XMLSchema(etree.parse(str(xsd))))
    qualifying = signature.find("ds:Object/xades:QualifyingProperties", NS)
    assert _SCHEMA[0].validate(etree.ElementTree(qualifying)), _SCHEMA[0].error_log


def check_timestamps(path: Path, pki: TestPki, tmp_path: Path) -> int:
    """Each SignatureTimeStamp verifies with openssl over SHA-256(exc-C14N(ds:SignatureValue))."""
    chain = tmp_path / "tsa-chain.pem"
    chain.write_bytes(pki.intermediate_pem.read_bytes() + pki.cert_pem("tsa").read_bytes())
    count = 0
    for signature in signatures(path):
        stamp = signature.find(".//xades:UnsignedSignatureProperties/xades:SignatureTimeStamp", NS)
        assert stamp.find("ds:CanonicalizationMethod", NS).get("Algorithm") == EXC_C14N
        token = tmp_path / f"token-{count}.der"
        token.write_bytes(base64.b64decode(stamp.findtext("xades:EncapsulatedTimeStamp", namespaces=NS)))
        value = signature.find("ds:SignatureValue", NS)
        digest = hashlib.sha256(etree.tostring(value, method="c14n", exclusive=True)).hexdigest()
        for candidate, expected in ((digest, True), (hashlib.sha256(b"autre").hexdigest(), False)):
            result = subprocess.run(
                ["openssl", "ts", "-verify", "-digest", candidate, "-in", str(token), "-token_in",
                 "-CAfile", str(pki.root_pem), "-untrusted", str(chain)], capture_output=True, text=True)
            assert ("Verification: OK" in result.stdout) is expected, result.stdout + result.stderr
        count += 1
    return count


def tamper(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) >= 1
    path.write_bytes(data.replace(old, new, 1))


# ------------------------------------------------------------------------------------------ detached


def _zip(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("memoire_technique.txt", "Mémoire technique de l'entreprise\n" * 200)
        archive.writestr("bpu.csv", "lot;prix\n1;125000.00\n")


@pytest.mark.parametrize("level", LEVELS)
def test_detached_zip(tmp_path: Path, test_pki: TestPki, signer: SigningKey, level: str) -> None:
    data = tmp_path / "Offre technique n°1.zip"  # space and non-ASCII: the URI is escaped
    _zip(data)
    token = tmp_path / f"{data.name} - Signature 1.xml"
    with data.open("rb") as source, token.open("wb") as output:
        xades.sign_detached(source, data.name, output, signer, level=level, timestamper=_timestamper(level, test_pki))
    (signature,) = signatures(token)
    data_ref = signature.find("ds:SignedInfo/ds:Reference[@Id]", NS)
    assert data_ref.get("URI") == quote(data.name, safe="") == "Offre%20technique%20n%C2%B01.zip"
    assert data_ref.find("ds:Transforms", NS) is None  # raw bytes
    digest = base64.b64decode(data_ref.findtext("ds:DigestValue", namespaces=NS))
    assert digest == hashlib.sha256(data.read_bytes()).digest()
    check_structure(signature, signer, "application/zip")
    assert_valid(xmlsec_verify(token, test_pki, cwd=tmp_path))  # xmlsec1 resolves the file next to the token
    if level == "B-T":
        assert check_timestamps(token, test_pki, tmp_path) == 1
    else:
        assert signature.find(".//xades:UnsignedProperties", NS) is None
    tamper(data, data.read_bytes()[40:44], b"\x00\x01\x02\x03")
    assert_invalid(xmlsec_verify(token, test_pki, cwd=tmp_path))


@pytest.mark.parametrize("level", LEVELS)
def test_detached_binary(tmp_path: Path, test_pki: TestPki, signer: SigningKey, level: str) -> None:
    data = tmp_path / "donnees.bin"
    data.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several chunks
    token = tmp_path / "donnees.bin.xml"
    seen: list[tuple[int, int]] = []
    with data.open("rb") as source, token.open("wb") as output:
        xades.sign_detached(source, data.name, output, signer, level=level,
                            timestamper=_timestamper(level, test_pki), progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (data.stat().st_size, data.stat().st_size) and len(seen) == 4
    (signature,) = signatures(token)
    check_structure(signature, signer, "application/octet-stream")
    assert_valid(xmlsec_verify(token, test_pki, cwd=tmp_path))
    if level == "B-T":
        assert check_timestamps(token, test_pki, tmp_path) == 1
    with data.open("r+b") as f:
        f.seek(2 * 1024 * 1024)
        byte = f.read(1)
        f.seek(-1, io.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0x01]))
    assert_invalid(xmlsec_verify(token, test_pki, cwd=tmp_path))


def test_detached_mime_type_override_and_url_map(tmp_path: Path, test_pki: TestPki, p12_key: SigningKey) -> None:
    data = tmp_path / "annexe.dat"
    data.write_bytes(b"%PDF-1.7 pas vraiment\n")
    token = tmp_path / "jetons" / "annexe.xml"
    token.parent.mkdir()
    with data.open("rb") as source, token.open("wb") as output:
        xades.sign_detached(source, data.name, output, p12_key, mime_type="application/pdf")
    (signature,) = signatures(token)
    check_structure(signature, p12_key, "application/pdf")
    assert_valid(xmlsec_verify(token, test_pki, "--url-map:annexe.dat", str(data)))


def test_signed_properties_are_covered_by_the_signature(tmp_path: Path, test_pki: TestPki,
                                                         p12_key: SigningKey) -> None:
    """xmlsec1 checks the SignedProperties reference: changing a signed property breaks the signature."""
    data = tmp_path / "dce.zip"
    _zip(data)
    token = tmp_path / "dce.zip.xml"
    with data.open("rb") as source, token.open("wb") as output:
        xades.sign_detached(source, data.name, output, p12_key)
    assert_valid(xmlsec_verify(token, test_pki, cwd=tmp_path))
    original = token.read_bytes()
    for old, new in ((b"<xades:MimeType>application/zip<", b"<xades:MimeType>application/pdf<"),
                     (b"<xades:SigningTime>20", b"<xades:SigningTime>19")):
        token.write_bytes(original)
        tamper(token, old, new)
        assert_invalid(xmlsec_verify(token, test_pki, cwd=tmp_path))


def test_detached_200_mb_in_constant_memory(tmp_path: Path, test_pki: TestPki, p12_key: SigningKey) -> None:
    size = 200 * 1024 * 1024
    data = tmp_path / "gros.zip"
    with data.open("wb") as f:
        f.write(os.urandom(1024))
        f.truncate(size)  # sparse: quick to make, read back as zeros
    token = tmp_path / "gros.zip.xml"
    calls: list[int] = []
    tracemalloc.start()
    try:
        with data.open("rb") as source, token.open("wb") as output:
            xades.sign_detached(source, data.name, output, p12_key, progress=lambda done, total: calls.append(done))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    assert calls[-1] == size and len(calls) == 200
    assert_valid(xmlsec_verify(token, test_pki, cwd=tmp_path))


# ----------------------------------------------------------------------------------------- enveloped


@pytest.mark.parametrize("level", LEVELS)
def test_enveloped_xml(tmp_path: Path, test_pki: TestPki, signer: SigningKey, level: str) -> None:
    signed = tmp_path / "offre-signee.xml"
    with signed.open("wb") as output:
        xades.sign_enveloped(io.BytesIO(xml_samples.plain_xml()), output, signer, level=level,
                             timestamper=_timestamper(level, test_pki))
    (signature,) = signatures(signed)
    root = signature.getroottree().getroot()
    assert signature.getparent() is root and root[-1] is signature
    data_ref = signature.find("ds:SignedInfo/ds:Reference[@Id]", NS)
    assert data_ref.get("URI") == ""
    assert [t.get("Algorithm") for t in data_ref.findall("ds:Transforms/ds:Transform", NS)] == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature", EXC_C14N]
    check_structure(signature, signer, "text/xml")
    # The document is intact around the signature (comment and processing instruction included).
    root.remove(signature)
    original = etree.parse(io.BytesIO(xml_samples.plain_xml()))
    assert etree.tostring(root.getroottree(), method="c14n") == etree.tostring(original, method="c14n")
    assert_valid(xmlsec_verify(signed, test_pki))
    if level == "B-T":
        assert check_timestamps(signed, test_pki, tmp_path) == 1
    tamper(signed, b"125000.00", b"125000.01")
    assert_invalid(xmlsec_verify(signed, test_pki))


# PES V2 profile, as documented in agent.signing.xades from the DGFiP's producer and checker
# (SICTIAM/stela copy of com.axyus.signature.pes) and Libriciel's i-Parapheur signer.
XAD = "http://uri.etsi.org/01903/v1.1.1#"
PES_NS = {"ds": DS, "xad": XAD}
PES_PLACE = {"City": "Montpellier", "PostalCode": "34000", "CountryName": "France"}


def _sign_pes(document: bytes, key: SigningKey, path: Path, **options: object) -> list[etree._Element]:
    options = {"claimed_role": "Ordonnateur", "production_place": PES_PLACE, **options}
    with path.open("wb") as output:
        xades.sign_enveloped(io.BytesIO(document), output, key, pes=True, **options)  # type: ignore[arg-type]
    return signatures(path)


def check_pes_profile(signature: etree._Element, key: SigningKey, uri: str) -> None:
    """Each property and algorithm of the PES V2 profile, element by element."""
    exc = "http://www.w3.org/2001/10/xml-exc-c14n#"
    sha256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    signed_info = signature.find("ds:SignedInfo", NS)
    assert signed_info.find("ds:CanonicalizationMethod", NS).get("Algorithm") == exc
    assert signed_info.find("ds:SignatureMethod", NS).get("Algorithm").endswith(f"-{key.hash_name}")
    data_ref, props_ref = signed_info.findall("ds:Reference", NS)
    assert data_ref.get("URI") == uri and data_ref.get("Type") is None
    assert [t.get("Algorithm") for t in data_ref.findall("ds:Transforms/ds:Transform", NS)] == [
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature", exc]
    assert props_ref.get("Type") == XAD + "SignedProperties"
    assert [t.get("Algorithm") for t in props_ref.findall("ds:Transforms/ds:Transform", NS)] == [exc]
    assert {r.find("ds:DigestMethod", NS).get("Algorithm") for r in (data_ref, props_ref)} == {sha256}
    qualifying = signature.find("ds:Object/xad:QualifyingProperties", PES_NS)
    assert qualifying is not None and qualifying.get("Target") == f"#{signature.get('Id')}"
    assert signature.find(".//{http://uri.etsi.org/01903/v1.3.2#}SignedProperties") is None
    props = qualifying.find("xad:SignedProperties", PES_NS)
    assert props_ref.get("URI") == f"#{props.get('Id')}"
    assert etree.QName(signature.find("ds:Object/*", NS)).namespace == XAD
    ssp = props.find("xad:SignedSignatureProperties", PES_NS)
    assert [etree.QName(e).localname for e in ssp] == [
        "SigningTime", "SigningCertificate", "SignaturePolicyIdentifier", "SignatureProductionPlace", "SignerRole"]
    signing_time = ssp.findtext("xad:SigningTime", namespaces=PES_NS)
    assert signing_time.endswith("Z") and len(signing_time) == 20  # strict UTC, no offset, no fraction
    cert = ssp.find("xad:SigningCertificate/xad:Cert", PES_NS)
    der = key.certificate.public_bytes(serialization.Encoding.DER)
    assert cert.find("xad:CertDigest/xad:DigestMethod", PES_NS).get("Algorithm") == sha256  # 1.1.1 schema
    assert base64.b64decode(cert.findtext("xad:CertDigest/xad:DigestValue", namespaces=PES_NS)) == \
        hashlib.sha256(der).digest()
    assert cert.findtext("xad:IssuerSerial/ds:X509IssuerName", namespaces=PES_NS) == \
        key.certificate.issuer.rfc4514_string()
    assert cert.findtext("xad:IssuerSerial/ds:X509SerialNumber", namespaces=PES_NS) == \
        str(key.certificate.serial_number)
    policy = ssp.find("xad:SignaturePolicyIdentifier/xad:SignaturePolicyId", PES_NS)
    assert policy.findtext("xad:SigPolicyId/xad:Identifier", namespaces=PES_NS) == \
        "urn:oid:1.2.250.1.131.1.5.18.21.1.4"
    assert policy.findtext("xad:SigPolicyId/xad:Description", namespaces=PES_NS) == \
        "Politique de signature Helios de la DGFiP"
    assert policy.find("xad:SigPolicyHash/xad:DigestMethod", PES_NS).get("Algorithm") == \
        "http://www.w3.org/2000/09/xmldsig#sha1"
    assert policy.findtext("xad:SigPolicyHash/xad:DigestValue", namespaces=PES_NS) == "Jkdb+aba0Hz6+ZPKmKNhPByzQ+Q="
    assert policy.findtext("xad:SigPolicyQualifiers/xad:SigPolicyQualifier/xad:SPURI", namespaces=PES_NS) == \
        "https://portail.dgfip.finances.gouv.fr/documents/PS_Helios_DGFiP.pdf"
    place = ssp.find("xad:SignatureProductionPlace", PES_NS)
    assert [(etree.QName(e).localname, e.text) for e in place] == list(PES_PLACE.items())
    assert ssp.findtext("xad:SignerRole/xad:ClaimedRoles/xad:ClaimedRole", namespaces=PES_NS) == "Ordonnateur"
    assert qualifying.find("xad:UnsignedProperties", PES_NS) is None
    assert base64.b64decode(props_ref.findtext("ds:DigestValue", namespaces=NS)) == hashlib.sha256(
        etree.tostring(props, method="c14n", exclusive=True)).digest()


def test_pes_v2_bordereaux_signed_as_helios_expects(tmp_path: Path, test_pki: TestPki, signer: SigningKey) -> None:
    ids = ("BORD-2024-001", "BORD-2024-002", "BORD-2024-003")
    signed = tmp_path / "PESALR2-signe.xml"
    seen: list[tuple[int, int]] = []
    sigs = _sign_pes(xml_samples.pes_aller(ids), signer, signed, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert signed.read_bytes().startswith(b"<?xml version='1.0' encoding='ISO-8859-1'?>")
    assert len(sigs) == 3
    for signature, bordereau_id in zip(sigs, ids, strict=True):
        bordereau = signature.getparent()
        assert etree.QName(bordereau).localname == "Bordereau" and bordereau.get("Id") == bordereau_id
        assert bordereau[-1] is signature
        check_pes_profile(signature, signer, f"#{bordereau_id}")
        assert_valid(pes_verify(signed, test_pki, signature.get("Id")))
    # A changed amount in the second Bordereau breaks its signature only.
    tamper(signed, b'<MtBordHT V="2000.50"/>', b'<MtBordHT V="2900.50"/>')
    assert_valid(pes_verify(signed, test_pki, sigs[0].get("Id")))
    assert_invalid(pes_verify(signed, test_pki, sigs[1].get("Id")))
    assert_valid(pes_verify(signed, test_pki, sigs[2].get("Id")))


def test_pes_signed_properties_are_covered(tmp_path: Path, test_pki: TestPki, p12_key: SigningKey) -> None:
    signed = tmp_path / "pes.xml"
    (first, _) = _sign_pes(xml_samples.pes_aller(), p12_key, signed)
    original = signed.read_bytes()
    for old, new in ((b">Ordonnateur<", b">Comptable<"), (b">34000<", b">34070<")):
        signed.write_bytes(original)
        tamper(signed, old, new)
        assert_invalid(pes_verify(signed, test_pki, first.get("Id")))


def test_pes_without_bordereau_ids_signs_pes_aller(tmp_path: Path, test_pki: TestPki, p12_key: SigningKey) -> None:
    for ids in ((None, None), ("BORD-1", None)):  # a Bordereau without Id: the whole flow is signed once
        signed = tmp_path / "pes.xml"
        (signature,) = _sign_pes(xml_samples.pes_aller(ids), p12_key, signed)
        assert etree.QName(signature.getparent()).localname == "PES_Aller"
        check_pes_profile(signature, p12_key, "")
        assert_valid(xmlsec_verify(signed, test_pki))
        tamper(signed, b'<IdBord V="2"/>', b'<IdBord V="3"/>')
        assert_invalid(xmlsec_verify(signed, test_pki))


def test_pes_is_b_b_and_says_what_it_lacks(tmp_path: Path, test_pki: TestPki, p12_key: SigningKey) -> None:
    output = io.BytesIO()
    with pytest.raises(xades.XadesError, match="B-B"):
        xades.sign_enveloped(io.BytesIO(xml_samples.pes_aller()), output, p12_key, pes=True, level="B-T",
                             timestamper=http_timestamper(test_pki.tsa_url), claimed_role="Ordonnateur",
                             production_place=PES_PLACE)
    assert output.getvalue() == b""
    assert xades.missing_pes_fields("Ordonnateur", PES_PLACE) == []
    assert xades.missing_pes_fields("  ", {"city": "Montpellier", "CountryName": " "}) == [
        "claimed_role", "PostalCode", "CountryName"]
    assert xades.missing_pes_fields(None, None) == ["claimed_role", "City", "PostalCode", "CountryName"]


def test_pes_refuses_other_documents_and_duplicate_ids(p12_key: SigningKey) -> None:
    options = {"claimed_role": "Ordonnateur", "production_place": PES_PLACE}
    with pytest.raises(xades.XadesError, match="PES_Aller"):
        xades.sign_enveloped(io.BytesIO(xml_samples.plain_xml()), io.BytesIO(), p12_key, pes=True, **options)
    twice = xml_samples.pes_aller(("BORD-1", "BORD-1"))
    with pytest.raises(xades.XadesError, match="BORD-1"):
        xades.sign_enveloped(io.BytesIO(twice), io.BytesIO(), p12_key, pes=True, **options)


# -------------------------------------------------------------------------------- policy and options


def test_policy_hash_comes_from_the_document_given(tmp_path: Path, p12_key: SigningKey) -> None:
    built_in = xades.dgfip_pes_policy()
    assert (built_in.oid, built_in.digest_algorithm, base64.b64encode(built_in.digest)) == (
        "1.2.250.1.131.1.5.18.21.1.4", "sha1", b"Jkdb+aba0Hz6+ZPKmKNhPByzQ+Q=")
    document = xml_samples.policy_document(1)
    policy = xades.dgfip_pes_policy(document)  # an administrator's copy of the document overrides it
    assert policy.oid == xades.DGFIP_PES_POLICY_OID
    assert (policy.digest_algorithm, policy.digest) == ("sha256", hashlib.sha256(document).digest())
    other = xades.dgfip_pes_policy(xml_samples.policy_document(2))
    assert other.digest != policy.digest  # not a hard-coded constant
    signed = tmp_path / "pes.xml"
    (signature, _) = _sign_pes(xml_samples.pes_aller(), p12_key, signed, policy=policy)
    assert base64.b64decode(signature.findtext(".//xad:SigPolicyHash/xad:DigestValue", namespaces=PES_NS)) == \
        hashlib.sha256(document).digest()
    custom = xades.SignaturePolicy.from_document("1.2.3.4.5", "https://politiques.example/ps.pdf", b"ma politique")
    output = io.BytesIO()
    xades.sign_enveloped(io.BytesIO(xml_samples.plain_xml()), output, p12_key, policy=custom)
    policy_id = etree.fromstring(output.getvalue()).find(
        ".//xades:SignaturePolicyIdentifier/xades:SignaturePolicyId", NS)
    assert policy_id.findtext("xades:SigPolicyId/xades:Identifier", namespaces=NS) == "urn:oid:1.2.3.4.5"
    assert policy_id.find("xades:SigPolicyId/xades:Identifier", NS).get("Qualifier") == "OIDAsURN"
    assert base64.b64decode(policy_id.findtext("xades:SigPolicyHash/ds:DigestValue", namespaces=NS)) == \
        hashlib.sha256(b"ma politique").digest()
    assert policy_id.findtext("xades:SigPolicyQualifiers/xades:SigPolicyQualifier/xades:SPURI",
                              namespaces=NS) == "https://politiques.example/ps.pdf"
    with pytest.raises(xades.XadesError):
        xades.SignaturePolicy.from_document("pas un oid", "https://x.example", document)
    with pytest.raises(xades.XadesError):
        xades.dgfip_pes_policy(b"")


def test_levels_and_options_are_checked(p12_key: SigningKey) -> None:
    for level in ("B-LT", "B-LTA", "b-b"):
        with pytest.raises(ValueError, match="Niveau XAdES"):
            xades.sign_detached(io.BytesIO(b"x"), "x.bin", io.BytesIO(), p12_key, level=level)
    output = io.BytesIO()
    with pytest.raises(ValueError, match="horodatage"):
        xades.sign_enveloped(io.BytesIO(xml_samples.plain_xml()), output, p12_key, level="B-T")
    with pytest.raises(xades.XadesError, match="Lieu de signature"):
        xades.sign_enveloped(io.BytesIO(xml_samples.plain_xml()), output, p12_key, production_place={"Ville": "Lyon"})
    with pytest.raises(xades.XadesError, match="Nom de fichier"):
        xades.sign_detached(io.BytesIO(b"x"), "../x.bin", output, p12_key)
    with pytest.raises(xades.XadesError, match="Nom de fichier"):
        xades.sign_detached(io.BytesIO(b"x"), "..", output, p12_key)
    assert output.getvalue() == b""
    assert [xades.guess_mime_type(n) for n in ("a.ZIP", "b.pdf", "c.xml", "d.docx", "e")] == [
        "application/zip", "application/pdf", "text/xml", "application/octet-stream", "application/octet-stream"]


def test_a_key_that_does_not_match_the_certificate_is_refused(test_pki: TestPki, p12_key: SigningKey) -> None:
    other = x509.load_pem_x509_certificate(test_pki.cert_pem("plain").read_bytes())
    wrong = SigningKey(other, (), p12_key.scheme, p12_key.sign_digest)
    output = io.BytesIO()
    with pytest.raises(xades.XadesError, match="ne correspond pas au certificat"):
        xades.sign_detached(io.BytesIO(b"contenu"), "a.txt", output, wrong)
    assert output.getvalue() == b""


# ------------------------------------------------------------------------------------- hostile XML


class _RecordingResolver(etree.Resolver):
    """Records every external resource libxml2 asks for (and serves none)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def resolve(self, system_url, public_id, context):  # type: ignore[no-untyped-def]
        self.asked.append(system_url)
        return self.resolve_string("", context)


def test_doctype_and_external_entities_are_refused(tmp_path: Path, p12_key: SigningKey,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from agent.pki import xml_safe

    secret = tmp_path / "secret.txt"
    secret.write_text("MOT-DE-PASSE-CONFIDENTIEL")
    recorder = _RecordingResolver()
    real_parser = xml_safe._parser

    def probed_parser(target: object | None = None) -> etree.XMLParser:
        parser = real_parser(target)
        parser.resolvers.add(recorder)
        return parser

    monkeypatch.setattr(xml_safe, "_parser", probed_parser)
    for document in (xml_samples.xxe_document(secret), xml_samples.billion_laughs()):
        output = io.BytesIO()
        with pytest.raises(xades.XmlRefused, match="DOCTYPE") as refused:
            xades.sign_enveloped(io.BytesIO(document), output, p12_key)
        assert output.getvalue() == b"" and "CONFIDENTIEL" not in str(refused.value)
    assert recorder.asked == []  # the external entity was never even looked up
    with pytest.raises(xades.XmlRefused, match="illisible"):
        xades.sign_enveloped(io.BytesIO(b"<Offre><pas-fermee></Offre>"), io.BytesIO(), p12_key)


def signxml_verify(signed: bytes, pki: TestPki, tmp_path: Path, files: dict[str, bytes] | None = None) -> None:
    """A second, independent verifier: signxml (its own C14N, digests and chain check to the test root).

    signxml canonicalises ``URI=""`` without the prolog's comments and processing instructions,
    which XMLDSig includes (xmlsec1 agrees with us), so enveloped samples here have no prolog.
    """
    from signxml import SignatureConfiguration, XMLVerifier

    ca = tmp_path / "signxml-ca.pem"
    ca.write_bytes(pki.root_pem.read_bytes() + pki.intermediate_pem.read_bytes())
    resolver = (lambda uri: (files or {}).get(unquote(uri))) if files else None
    results = XMLVerifier().verify(signed, ca_pem_file=str(ca), uri_resolver=resolver,
                                   expect_config=SignatureConfiguration(expect_references=2))
    assert results


@pytest.mark.parametrize("level", LEVELS)
def test_signxml_independently_verifies_detached_and_enveloped(
    tmp_path: Path, test_pki: TestPki, signer: SigningKey, level: str
) -> None:
    from signxml.exceptions import InvalidDigest, InvalidSignature

    data = b"PK\x03\x04 offre technique " * 1000
    token = io.BytesIO()
    xades.sign_detached(io.BytesIO(data), "offre technique.zip", token, signer, level=level,
                        timestamper=_timestamper(level, test_pki))
    signxml_verify(token.getvalue(), test_pki, tmp_path, {"offre technique.zip": data})
    with pytest.raises((InvalidDigest, InvalidSignature)):
        signxml_verify(token.getvalue(), test_pki, tmp_path, {"offre technique.zip": data[:-1] + b"!"})
    document = b'<?xml version="1.0" encoding="UTF-8"?><offre lot="3"><montant>125000.00</montant></offre>'
    enveloped = io.BytesIO()
    xades.sign_enveloped(io.BytesIO(document), enveloped, signer, level=level, timestamper=_timestamper(level, test_pki))
    signxml_verify(enveloped.getvalue(), test_pki, tmp_path)
    with pytest.raises((InvalidDigest, InvalidSignature)):
        signxml_verify(enveloped.getvalue().replace(b"125000.00", b"125000.01"), test_pki, tmp_path)
