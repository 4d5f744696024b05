"""The verification engine (agent.validation) on signatures made by independent tools and by our engines.

Independent makers: ``openssl cms -sign -cades`` and ``-resign`` (CAdES), ``xmlsec1 --sign`` over a
XAdES template (XMLDSig), pyHanko's own ``SimpleSigner`` (PAdES). Then their tampered variants, the
test PKI's expired and revoked signers, an untrusted root, a page appended to a signed PDF, a broken
counter-signature, and hostile inputs that must give FORMAT_FAILURE/TOTAL_FAILED quickly.
Everything ``agent.signing`` produces must verify TOTAL_PASSED with the test root as the only anchor.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.server
import importlib
import io
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree

from agent.consent import Secret
from agent.keystores.base import KeySession
from agent.keystores.pkcs11_store import Pkcs11Module
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.signing import xades
from agent.signing.base import SigningKey
from agent.signing.cades import cosign, countersign, load_signature, sign_cades, signers
from agent.signing.xades_build import DataObject, SignedAttributes, issuer_serial_v2, new_signature, seal
from agent.tsa_client import http_timestamper
from agent.validation import Indication, SignatureReport, SubIndication, VerificationReport, verify_file
from tests.support import xml_samples
from tests.support.pdf import make_pdf
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken

PASSED, FAILED, INDETERMINATE = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE
DS_NS = {"ds": "http://www.w3.org/2000/09/xmldsig#", "xades": "http://uri.etsi.org/01903/v1.3.2#"}


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


@pytest.fixture(scope="module")
def other_root() -> x509.Certificate:
    """A self-signed root unrelated to the test PKI."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Autre racine")])
    now = datetime.now(UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


@pytest.fixture(scope="module")
def keys(test_pki: TestPki, token: ProvisionedToken) -> Iterator[dict[str, SigningKey]]:
    """PKCS#12 keys (qualified, plain, revoked) and the SoftHSM token's qualified RSA and EC keys."""
    sessions: list[KeySession] = []
    found: dict[str, SigningKey] = {}
    for name in ("qualified", "plain", "revoked"):
        store = Pkcs12FileStore(test_pki.p12(name, "pw"))
        (stored,) = store.unlock(Secret("pw"))
        sessions.append(store.open(Secret("pw")))
        chain = (x509.load_pem_x509_certificate(test_pki.intermediate_pem.read_bytes()),)
        found[f"p12-{name}"] = SigningKey.from_session(sessions[-1], stored, chain)
        if name == "qualified":
            found["p12-pss"] = SigningKey.from_session(sessions[-1], stored, chain, pss=True)
    store = next(s for s in Pkcs11Module(token.hsm.module).tokens() if s.token_label == token.label)
    sessions.append(store.open(Secret(token.pin)))
    by_cert = {k.certificate: k for k in store.keys()}
    found["token-rsa"] = SigningKey.from_session(sessions[-1], by_cert[token.certificates["qualified"]])
    found["token-ec"] = SigningKey.from_session(sessions[-1], by_cert[token.certificates["qualified_ec"]])
    yield found
    for session in sessions:
        session.close()


@pytest.fixture(scope="module")
def tsa(test_pki: TestPki):  # type: ignore[no-untyped-def]
    return http_timestamper(test_pki.tsa_url)


# --- helpers ---------------------------------------------------------------------------------


def verify(path: Path, root: x509.Certificate, **options: Any) -> VerificationReport:
    started = time.monotonic()
    report = verify_file(path, trust_roots=[root], **options)
    assert time.monotonic() - started < 30
    json.dumps(report.to_json())  # always serialisable
    return report


def dump(report: VerificationReport | SignatureReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


def only(report: VerificationReport) -> SignatureReport:
    assert len(report.signatures) == 1, dump(report)
    return report.signatures[0]


def status(signature: SignatureReport, name: str) -> str:
    check = signature.check(name)
    assert check is not None, dump(signature)
    return str(check.status)


def assert_verdict(signature: SignatureReport, indication: Indication, sub: SubIndication | None = None) -> None:
    assert signature.indication is indication, dump(signature)
    if sub is not None or indication is PASSED:
        assert signature.sub_indication == sub, dump(signature)


def cert_sha256(path: Path) -> str:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def flip_byte(path: Path, needle: bytes, offset_in_needle: int = -1) -> None:
    """Change one byte inside the (unique) occurrence of ``needle`` in the file."""
    data = bytearray(path.read_bytes())
    assert data.count(needle) == 1
    position = data.index(needle) + (offset_in_needle % len(needle))
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def openssl_sign(pki: TestPki, name: str, content: Path, out: Path, *extra: str) -> Path:
    subprocess.run(["openssl", "cms", "-sign", "-cades", "-binary", "-outform", "DER", "-in", str(content),
                    "-out", str(out), "-signer", str(pki.cert_pem(name)), "-inkey", str(pki.key_pem(name)),
                    "-certfile", str(pki.intermediate_pem), "-md", "sha256", *extra], check=True, capture_output=True)
    return out


def cades_file(tmp_path: Path, key: SigningKey, data: bytes, name: str = "offre.pdf", **options: Any) -> tuple[Path,
                                                                                                               Path]:
    content = tmp_path / name
    content.write_bytes(data)
    signature = tmp_path / (name + (".p7m" if options.get("attached") else ".p7s"))
    with content.open("rb") as source, signature.open("wb") as out:
        sign_cades(source, out, key, **options)
    return content, signature


# --- CAdES made by openssl -------------------------------------------------------------------


def test_openssl_cades_single_signer_and_its_tampered_variants(tmp_path: Path, test_pki: TestPki,
                                                               root: x509.Certificate,
                                                               other_root: x509.Certificate) -> None:
    content = tmp_path / "memoire.pdf"
    content.write_bytes(b"%PDF-1.7 memoire technique " * 400)
    token = openssl_sign(test_pki, "plain", content, tmp_path / "memoire.pdf.p7s")

    report = verify(token, root)  # the content is found next to the token, by name
    signature = only(report)
    assert_verdict(signature, PASSED)
    assert report.exit_code == 0
    assert (signature.format, signature.level) == ("CAdES", "B-B")
    assert signature.signer.name == "Paul SIMPLE" and signature.signer.organization == "ENTREPRISE EXEMPLE"
    assert signature.signer.certificate_sha256 == cert_sha256(test_pki.cert_pem("plain"))
    assert signature.signing_time_source == "claimed" and signature.signing_time is not None
    assert status(signature, "certificate_category") == "warning"  # not qualified, said so
    for name in ("integrity", "signature_value", "chain", "validity", "revocation", "baseline_level"):
        assert status(signature, name) == "passed", dump(signature)

    named = token.with_name("memoire.pdf - 20240311091502 - Signature 1.p7s")  # our output naming
    named.write_bytes(token.read_bytes())
    assert_verdict(only(verify(named, root)), PASSED)

    elsewhere = tmp_path / "ailleurs.bin"
    elsewhere.write_bytes(content.read_bytes())
    content.unlink()
    assert_verdict(only(verify(token, root)), INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)
    assert_verdict(only(verify(token, root, content=elsewhere)), PASSED)

    elsewhere.write_bytes(b"%PDF-1.7 memoirf" + elsewhere.read_bytes()[16:])  # one content byte
    report = verify(token, root, content=elsewhere)
    assert_verdict(only(report), FAILED, SubIndication.HASH_FAILURE)
    assert report.exit_code == 1

    elsewhere.write_bytes(b"%PDF-1.7 memoire technique " * 400)
    original = token.read_bytes()
    flip_byte(token, load_signature(original).signer_infos[0]["signature"].native)  # one signature byte
    assert_verdict(only(verify(token, root, content=elsewhere)), FAILED, SubIndication.SIG_CRYPTO_FAILURE)

    token.write_bytes(original)
    report = verify(token, other_root, content=elsewhere)  # trust only another root
    signature = only(report)
    assert_verdict(signature, INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    assert status(signature, "chain") == "failed" and report.exit_code == 2


def test_openssl_resign_adds_a_second_signer(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    content = tmp_path / "dce.zip"
    content.write_bytes(b"PK\x03\x04 dossier " * 300)
    first = openssl_sign(test_pki, "plain", content, tmp_path / "first.p7s")
    both = tmp_path / "dce.zip.p7s"
    subprocess.run(["openssl", "cms", "-resign", "-binary", "-inform", "DER", "-in", str(first), "-content",
                    str(content),
                    "-signer", str(test_pki.cert_pem("qualified")), "-inkey", str(test_pki.key_pem("qualified")),
                    "-certfile", str(test_pki.intermediate_pem), "-md", "sha256", "-outform", "DER", "-out", str(both)],
                   check=True, capture_output=True)
    report = verify(both, root)
    assert len(report.signatures) == 2, dump(report)
    by_name = {s.signer.name: s for s in report.signatures}
    assert set(by_name) == {"Paul SIMPLE", "Jeanne TITULAIRE"}
    for signature in report.signatures:
        assert_verdict(signature, PASSED)
    # openssl's -resign (without -cades) adds no signing-certificate-v2: a valid CMS signature, no CAdES level.
    assert (by_name["Jeanne TITULAIRE"].format, by_name["Jeanne TITULAIRE"].level) == ("CMS", None)
    assert status(by_name["Jeanne TITULAIRE"], "baseline_level") == "warning"
    assert status(by_name["Jeanne TITULAIRE"], "certificate_category") == "passed"  # qualified
    assert report.exit_code == 0
    content.write_bytes(b"PK\x03\x04 dossiez " + content.read_bytes()[13:])  # one byte
    for signature in verify(both, root).signatures:
        assert_verdict(signature, FAILED, SubIndication.HASH_FAILURE)


def test_signer_expired_before_signing(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    """The certificate expired in 2022; the signer's own signed time is now: INDETERMINATE/EXPIRED
    (EN 319 102-1 lists EXPIRED under INDETERMINATE)."""
    content = tmp_path / "offre.pdf"
    content.write_bytes(b"offre")
    signature = only(verify(openssl_sign(test_pki, "expired", content, tmp_path / "offre.pdf.p7s"), root))
    assert_verdict(signature, INDETERMINATE, SubIndication.EXPIRED)
    assert status(signature, "validity") == "failed"
    assert status(signature, "integrity") == status(signature, "signature_value") == "passed"


def test_signer_revoked_before_signing(tmp_path: Path, test_pki: TestPki, root: x509.Certificate,
                                       keys: dict[str, SigningKey], tsa: Any) -> None:
    """Revoked three days ago, signed now: TOTAL_FAILED/REVOKED — with openssl, and with our B-T."""
    content = tmp_path / "offre.pdf"
    content.write_bytes(b"offre")
    signature = only(verify(openssl_sign(test_pki, "revoked", content, tmp_path / "offre.pdf.p7s"), root))
    assert_verdict(signature, FAILED, SubIndication.REVOKED)
    assert status(signature, "revocation") == "failed"
    (tmp_path / "bt").mkdir()
    _, token = cades_file(tmp_path / "bt", keys["p12-revoked"], b"offre", level="B-T", timestamper=tsa)
    signature = only(verify(token, root))
    assert signature.signing_time_source == "timestamp"
    assert_verdict(signature, FAILED, SubIndication.REVOKED)


# --- CAdES made by our engine ------------------------------------------------------------------


@pytest.mark.parametrize(("key_name", "options", "level"), [
    ("p12-qualified", {}, "B-B"),
    ("token-ec", {"attached": True, "level": "B-T"}, "B-T"),
    ("token-rsa", {"level": "B-T"}, "B-T"),
    ("p12-pss", {}, "B-B"),
])
def test_our_cades_verifies(tmp_path: Path, root: x509.Certificate, keys: dict[str, SigningKey], tsa: Any,
                            key_name: str, options: dict[str, Any], level: str) -> None:
    if options.get("level") == "B-T":
        options = {**options, "timestamper": tsa}
    content, token = cades_file(tmp_path, keys[key_name], bytes(range(256)) * 4000, **options)
    if options.get("attached"):
        content.unlink()  # the content travels inside the .p7m
    signature = only(verify(token, root))
    assert_verdict(signature, PASSED)
    assert (signature.format, signature.level) == ("CAdES", level)
    assert signature.signing_time_source == ("timestamp" if level == "B-T" else "claimed")
    assert status(signature, "timestamp") == ("passed" if level == "B-T" else "not_applicable")
    assert status(signature, "certificate_category") == "passed"


def test_cosigned_and_countersigned_each_judged_on_its_own(tmp_path: Path, test_pki: TestPki, root: x509.Certificate,
                                                            keys: dict[str, SigningKey], tsa: Any) -> None:
    content = tmp_path / "offre commune.pdf"
    content.write_bytes(b"%PDF offre commune " * 1000)
    first = openssl_sign(test_pki, "plain", content, tmp_path / "first.p7s")
    out = io.BytesIO()
    with content.open("rb") as stream:
        cosign(first.read_bytes(), out, keys["token-rsa"], content=stream, level="B-T", timestamper=tsa)
    parsed = load_signature(out.getvalue())
    target = next(c for _, c in signers(parsed) if c.subject.native["common_name"] == "Jeanne TITULAIRE")
    counter = io.BytesIO()
    countersign(out.getvalue(), counter, keys["token-ec"], signer_sha256=hashlib.sha256(target.dump()).hexdigest())
    token = tmp_path / "offre commune.pdf.xp7s"
    token.write_bytes(counter.getvalue())

    report = verify(token, root)
    assert len(report.signatures) == 2 and report.exit_code == 0, dump(report)
    by_name = {s.signer.name: s for s in report.signatures}
    for signature in report.signatures:
        assert_verdict(signature, PASSED)
    assert by_name["Jeanne TITULAIRE"].level == "B-T" and by_name["Paul SIMPLE"].level == "B-B"
    assert by_name["Paul SIMPLE"].countersignatures == []
    (counter_report,) = by_name["Jeanne TITULAIRE"].countersignatures
    assert counter_report.signer.name == "Jeanne TITULAIRE EC"
    assert_verdict(counter_report, PASSED)
    assert counter_report.id.endswith("-C1") and counter_report.level == "B-B"

    # Corrupt the counter-signature's value: that counter-signer fails, its target still passes.
    infos = {c.subject.native["common_name"]: i for i, c in signers(load_signature(token.read_bytes()))}
    counter_info = next(a for a in infos["Jeanne TITULAIRE"]["unsigned_attrs"]
                        if a["type"].native == "counter_signature")["values"][0]
    flip_byte(token, counter_info["signature"].native)
    report = verify(token, root)
    by_name = {s.signer.name: s for s in report.signatures}
    assert_verdict(by_name["Jeanne TITULAIRE"], PASSED)
    assert_verdict(by_name["Paul SIMPLE"], PASSED)
    assert_verdict(by_name["Jeanne TITULAIRE"].countersignatures[0], FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    assert report.exit_code == 1
    assert sum(len(entry["countersignatures"]) for entry in report.to_json()["signatures"]) == 1


def test_large_detached_content_is_hashed_in_chunks(tmp_path: Path, root: x509.Certificate,
                                                    keys: dict[str, SigningKey]) -> None:
    content = tmp_path / "gros.zip"
    with content.open("wb") as f:
        f.write(b"PK")
        f.truncate(24 * 1024 * 1024)
    token = tmp_path / "gros.zip.p7s"
    with content.open("rb") as source, token.open("wb") as out:
        sign_cades(source, out, keys["p12-qualified"])
    calls: list[tuple[int, int]] = []
    assert_verdict(only(verify(token, root, progress=lambda d, t: calls.append((d, t)))), PASSED)
    assert len(calls) >= 20 and calls[-1] == (content.stat().st_size, content.stat().st_size)


# --- XAdES -----------------------------------------------------------------------------------


def test_our_xades_detached_b_b_and_b_t(tmp_path: Path, root: x509.Certificate, keys: dict[str, SigningKey],
                                        tsa: Any) -> None:
    data = tmp_path / "Offre technique n°1.zip"
    data.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 100)
    for level, key in (("B-B", "p12-qualified"), ("B-B", "p12-pss"), ("B-T", "token-ec")):
        token = tmp_path / f"{data.name} - 20240311091502 - Signature {key}.xml"
        with data.open("rb") as source, token.open("wb") as output:
            xades.sign_detached(source, data.name, output, keys[key], level=level,
                                timestamper=tsa if level == "B-T" else None)
        signature = only(verify(token, root))  # the file is found next to the token, by its reference
        assert_verdict(signature, PASSED)
        assert (signature.format, signature.level) == ("XAdES", level)
        assert "Offre technique n°1.zip" in signature.check("coverage").message  # type: ignore[union-attr]
    moved = tmp_path / "autre-nom.zip"
    data.rename(moved)
    assert_verdict(only(verify(token, root)), INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)
    assert_verdict(only(verify(token, root, content=moved)), PASSED)
    moved.write_bytes(moved.read_bytes()[:-1] + b"\x00")
    assert_verdict(only(verify(token, root, content=moved)), FAILED, SubIndication.HASH_FAILURE)


def test_our_xades_enveloped_and_tampering(tmp_path: Path, root: x509.Certificate, keys: dict[str, SigningKey]) -> None:
    signed = tmp_path / "offre.xml"
    with signed.open("wb") as output:
        xades.sign_enveloped(io.BytesIO(xml_samples.plain_xml()), output, keys["token-rsa"])
    signature = only(verify(signed, root))
    assert_verdict(signature, PASSED)
    assert signature.level == "B-B" and signature.signer.name == "Jeanne TITULAIRE"
    original = signed.read_bytes()
    signed.write_bytes(original.replace(b"125000.00", b"125000.01"))
    assert_verdict(only(verify(signed, root)), FAILED, SubIndication.HASH_FAILURE)
    value = etree.fromstring(original).findtext(".//ds:SignatureValue", namespaces=DS_NS)
    tampered = base64.b64encode(bytes([base64.b64decode(value)[0] ^ 1]) + base64.b64decode(value)[1:])
    signed.write_bytes(original.replace(value.encode(), tampered))
    assert_verdict(only(verify(signed, root)), FAILED, SubIndication.SIG_CRYPTO_FAILURE)


def test_our_pes_v2_two_bordereaux(tmp_path: Path, root: x509.Certificate, keys: dict[str, SigningKey],
                                   tsa: Any) -> None:
    signed = tmp_path / "PESALR2.xml"
    with signed.open("wb") as output:
        xades.sign_enveloped(io.BytesIO(xml_samples.pes_aller()), output, keys["p12-qualified"],
                             policy=xades.dgfip_pes_policy(xml_samples.policy_document()),
                             claimed_role="Ordonnateur", pes=True)
    report = verify(signed, root)
    assert len(report.signatures) == 2, dump(report)
    for signature in report.signatures:
        assert_verdict(signature, PASSED)
        assert signature.level == "B-B"  # XAdES 1.1.1 properties read
        assert status(signature, "coverage") == "warning"  # one Bordereau each, said so
    signed.write_bytes(signed.read_bytes().replace(b'<MtBordHT V="2000.50"/>', b'<MtBordHT V="2900.50"/>'))
    first, second = verify(signed, root).signatures
    assert_verdict(first, PASSED)
    assert_verdict(second, FAILED, SubIndication.HASH_FAILURE)


def test_xades_countersignature(tmp_path: Path, root: x509.Certificate, keys: dict[str, SigningKey]) -> None:
    """A XAdES CounterSignature (EN 319 132-1 section 5.4.1) built with our XAdES blocks over the
    SignatureValue of an enveloped signature: judged on its own, and corrupting it spares the target."""
    buffer = io.BytesIO()
    xades.sign_enveloped(io.BytesIO(xml_samples.plain_xml()), buffer, keys["p12-qualified"])
    tree = etree.parse(io.BytesIO(buffer.getvalue()))
    signature = tree.getroot().find("ds:Signature", DS_NS)
    value = signature.find("ds:SignatureValue", DS_NS)
    qualifying = signature.find("ds:Object/xades:QualifyingProperties", DS_NS)
    x = "{http://uri.etsi.org/01903/v1.3.2#}"
    holder = etree.SubElement(etree.SubElement(etree.SubElement(qualifying, x + "UnsignedProperties"),
                                               x + "UnsignedSignatureProperties"), x + "CounterSignature")
    digest = hashlib.sha256(etree.tostring(value, method="c14n", exclusive=True, with_comments=False)).digest()
    counter = new_signature(holder, [DataObject(uri=f"#{value.get('Id')}", digest=digest, mime_type="text/xml",
                                                transforms=("http://www.w3.org/2001/10/xml-exc-c14n#",))],
                            keys["token-ec"], SignedAttributes(signing_time=datetime.now(UTC)))
    seal(counter, keys["token-ec"], "B-B", None)
    signed = tmp_path / "contresigne.xml"
    tree.write(str(signed), xml_declaration=True, encoding="UTF-8")
    main = only(verify(signed, root))
    assert_verdict(main, PASSED)
    (counter_report,) = main.countersignatures
    assert_verdict(counter_report, PASSED)
    assert counter_report.signer.name == "Jeanne TITULAIRE EC"
    counter_value = counter.findtext("ds:SignatureValue", namespaces=DS_NS)
    broken = base64.b64encode(bytes([base64.b64decode(counter_value)[0] ^ 1]) + base64.b64decode(counter_value)[1:])
    signed.write_bytes(signed.read_bytes().replace(counter_value.encode(), broken))
    main = only(verify(signed, root))
    assert_verdict(main, PASSED)
    assert_verdict(main.countersignatures[0], FAILED, SubIndication.SIG_CRYPTO_FAILURE)


def _xmlsec_template(pki: TestPki) -> bytes:
    """An enveloped XAdES B-B template (inclusive C14N, an unused namespace at the root) for xmlsec1."""
    cert = x509.load_pem_x509_certificate(pki.cert_pem("qualified").read_bytes()) \
        .public_bytes(serialization.Encoding.DER)
    chain = base64.b64encode(x509.load_pem_x509_certificate(pki.intermediate_pem.read_bytes())
                             .public_bytes(serialization.Encoding.DER)).decode()
    signing_time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Offre xmlns="urn:example:offre" xmlns:inutile="urn:example:inutile" xml:lang="fr">
  <Montant devise="EUR">125000.00</Montant>
  <ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="sig-xmlsec">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>
      <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
      <ds:Reference Id="ref-doc" URI="">
        <ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms>
        <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>
      </ds:Reference>
      <ds:Reference URI="#props-xmlsec" Type="http://uri.etsi.org/01903#SignedProperties">
        <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue/>
    <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{base64.b64encode(cert).decode()}</ds:X509Certificate>
      <ds:X509Certificate>{chain}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    <ds:Object>
      <xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#sig-xmlsec">
        <xades:SignedProperties Id="props-xmlsec">
          <xades:SignedSignatureProperties>
            <xades:SigningTime>{signing_time}</xades:SigningTime>
            <xades:SigningCertificateV2><xades:Cert><xades:CertDigest>
              <ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>
              <ds:DigestValue>{base64.b64encode(hashlib.sha256(cert).digest()).decode()}</ds:DigestValue>
            </xades:CertDigest>
            <xades:IssuerSerialV2>{base64.b64encode(issuer_serial_v2(cert)).decode()}</xades:IssuerSerialV2>
            </xades:Cert></xades:SigningCertificateV2>
          </xades:SignedSignatureProperties>
          <xades:SignedDataObjectProperties>
            <xades:DataObjectFormat ObjectReference="#ref-doc">
              <xades:MimeType>text/xml</xades:MimeType>
            </xades:DataObjectFormat>
          </xades:SignedDataObjectProperties>
        </xades:SignedProperties>
      </xades:QualifyingProperties>
    </ds:Object>
  </ds:Signature>
</Offre>
""".encode()


def test_xmlsec1_signed_template(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    template = tmp_path / "template.xml"
    template.write_bytes(_xmlsec_template(test_pki))
    signed = tmp_path / "offre-xmlsec.xml"
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem", str(test_pki.key_pem("qualified")), "--id-attr:Id",
                    "SignedProperties", "--output", str(signed), str(template)], check=True, capture_output=True)
    signature = only(verify(signed, root))
    assert_verdict(signature, PASSED)
    assert (signature.id, signature.format, signature.level) == ("sig-xmlsec", "XAdES", "B-B")
    signed.write_bytes(signed.read_bytes().replace(b"125000.00", b"125900.00"))
    assert_verdict(only(verify(signed, root)), FAILED, SubIndication.HASH_FAILURE)


def _pes_signed(tmp_path: Path, key: SigningKey) -> Path:
    signed = tmp_path / "PES.xml"
    with signed.open("wb") as output:
        xades.sign_enveloped(io.BytesIO(xml_samples.pes_aller(("BORD-1",))), output, key, pes=True)
    return signed


def test_xml_signature_wrapping_is_refused(tmp_path: Path, root: x509.Certificate, keys: dict[str, SigningKey]) -> None:
    """The signed Bordereau is hidden in the signature's ds:Object and a forged one is shown: its digest
    still matches, but the reference no longer designates the data shown."""
    signed = _pes_signed(tmp_path, keys["p12-qualified"])
    assert_verdict(only(verify(signed, root)), PASSED)
    tree = etree.parse(str(signed))
    bordereau = tree.getroot().find(".//{*}Bordereau")
    signature = bordereau.find("ds:Signature", DS_NS)
    forged = etree.fromstring(etree.tostring(bordereau))
    for element in forged.iter("{*}MtBordHT", "{*}MtHT"):
        element.set("V", "999999.00")
    del forged.attrib["Id"]
    forged.remove(forged.find("ds:Signature", DS_NS))
    bordereau.remove(signature)
    forged.append(signature)
    bordereau.getparent().replace(bordereau, forged)
    etree.SubElement(signature, "{http://www.w3.org/2000/09/xmldsig#}Object").append(bordereau)
    wrapped = tmp_path / "wrapped.xml"
    tree.write(str(wrapped), xml_declaration=True, encoding="ISO-8859-1")
    report = verify(wrapped, root)
    result = only(report)
    assert_verdict(result, FAILED, SubIndication.FORMAT_FAILURE)
    assert status(result, "coverage") == "failed" and report.exit_code == 1

    duplicate = tmp_path / "duplicate.xml"  # a second element carrying the signed Id
    duplicate.write_bytes(signed.read_bytes().replace(b"<PES_DepenseAller>",
                                                      b'<PES_DepenseAller><Bordereau Id="BORD-1"/>'))
    assert_verdict(only(verify(duplicate, root)), FAILED, SubIndication.FORMAT_FAILURE)


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"secret")

    def log_message(self, *args: object) -> None:
        return


def test_a_uri_inside_a_signature_is_never_fetched(tmp_path: Path, root: x509.Certificate,
                                                   keys: dict[str, SigningKey]) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/intranet/secret.zip"
        key = keys["p12-qualified"]
        data = DataObject(uri=url, digest=hashlib.sha256(b"secret").digest(), mime_type="application/zip")
        signature = new_signature(None, [data], key, SignedAttributes(signing_time=datetime.now(UTC)))
        seal(signature, key, "B-B", None)
        token = tmp_path / "distant.xml"
        token.write_bytes(etree.tostring(signature, xml_declaration=True, encoding="UTF-8"))
        result = only(verify(token, root))
        assert_verdict(result, INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)
        assert _Recorder.hits == []
        given = tmp_path / "secret.zip"
        given.write_bytes(b"secret")
        assert_verdict(only(verify(token, root, content=given)), PASSED)  # explicit content is fine
    finally:
        server.shutdown()
        server.server_close()
    assert _Recorder.hits == []


# --- PAdES -----------------------------------------------------------------------------------


def _pyhanko_signed(tmp_path: Path, pki: TestPki, subfilter: str = "PADES") -> Path:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    source = tmp_path / "lettre.pdf"
    source.write_bytes(make_pdf(pages=2))
    signer = signers.SimpleSigner.load(str(pki.key_pem("qualified")), str(pki.cert_pem("qualified")),
                                       ca_chain_files=(str(pki.intermediate_pem),))
    assert signer is not None
    signed = tmp_path / f"lettre-signee-{subfilter}.pdf"
    with source.open("rb") as f, signed.open("wb") as out:
        signers.sign_pdf(IncrementalPdfFileWriter(f), signers.PdfSignatureMetadata(
            field_name="Signature1", subfilter=getattr(fields.SigSeedSubFilter, subfilter)), signer=signer, output=out)
    return signed


def _append_page(signed: Path, out: Path) -> Path:
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    with signed.open("rb") as f:
        writer = IncrementalPdfFileWriter(f)
        stream = generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 770 Td (Page ajoutee) Tj ET")
        writer.insert_page(generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
            generic.pdf_name("/Resources"): generic.DictionaryObject(),
            generic.pdf_name("/Contents"): writer.add_object(stream),
        }))
        with out.open("wb") as output:
            writer.write(output)
    return out


def test_pyhanko_signed_pdf_and_a_page_appended_after_signing(tmp_path: Path, test_pki: TestPki,
                                                              root: x509.Certificate) -> None:
    signed = _pyhanko_signed(tmp_path, test_pki)
    signature = only(verify(signed, root))
    assert_verdict(signature, PASSED)
    assert (signature.id, signature.format, signature.level) == ("Signature1", "PAdES", "B-B")
    assert status(signature, "coverage") == status(signature, "modification") == "passed"
    assert signature.signing_time_source == "claimed"  # /M

    appended = only(verify(_append_page(signed, tmp_path / "page-ajoutee.pdf"), root))
    assert appended.indication is not PASSED, dump(appended)
    assert_verdict(appended, FAILED, SubIndication.FORMAT_FAILURE)
    assert status(appended, "modification") == "failed"
    assert status(appended, "integrity") == "passed"  # the signed revision itself is intact

    legacy = only(verify(_pyhanko_signed(tmp_path, test_pki, "ADOBE_PKCS7_DETACHED"), root))
    assert_verdict(legacy, PASSED)
    assert (legacy.format, legacy.level) == ("PDF", "PDF (ISO 32000-1)")  # adbe.pkcs7.detached: not PAdES

    data = bytearray(signed.read_bytes())
    data[data.index(b"(Page 2)") + 1] ^= 0x01
    changed = tmp_path / "octet-change.pdf"
    changed.write_bytes(bytes(data))
    assert_verdict(only(verify(changed, root)), FAILED, SubIndication.HASH_FAILURE)


def _sign_pdf():  # type: ignore[no-untyped-def]
    """agent.signing.pades.sign_pdf, written concurrently: a clear failure, not a skip, when absent."""
    try:
        return importlib.import_module("agent.signing.pades").sign_pdf
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"agent.signing.pades.sign_pdf is missing or broken, PAdES output cannot be verified: {exc!r}")


def test_our_pades_every_level(tmp_path: Path, root: x509.Certificate, keys: dict[str, SigningKey], tsa: Any) -> None:
    sign_pdf = _sign_pdf()
    source = tmp_path / "in.pdf"
    source.write_bytes(make_pdf(pages=2))
    for level, key in (("B-B", "p12-qualified"), ("B-T", "token-ec"), ("B-LT", "token-rsa"), ("B-LTA",
                                                                                              "p12-qualified")):
        out = tmp_path / f"{level}.pdf"
        with source.open("rb") as src, out.open("w+b") as dst:
            sign_pdf(src, dst, keys[key], level=level, timestamper=tsa, trust_roots=[root])
        report = verify(out, root)
        regular = [s for s in report.signatures if s.format == "PAdES"]
        assert len(regular) == 1, dump(report)
        assert_verdict(regular[0], PASSED)
        assert regular[0].level == level, dump(regular[0])
        for stamp in report.signatures[1:]:
            assert stamp.format == "PAdES-DocTimeStamp"
            assert_verdict(stamp, PASSED)
        assert report.exit_code == 0, dump(report)
        if level == "B-LT":
            offline = only(verify(out, root, allow_fetching=False))  # revocation data from the DSS
            assert_verdict(offline, PASSED)
        if level == "B-B":
            offline = only(verify(out, root, allow_fetching=False))  # nothing in the file, no network
            assert_verdict(offline, INDETERMINATE, SubIndication.TRY_LATER)


def test_our_pades_second_signature_keeps_the_first_valid(tmp_path: Path, root: x509.Certificate,
                                                          keys: dict[str, SigningKey], tsa: Any) -> None:
    sign_pdf = _sign_pdf()
    source = tmp_path / "offre.pdf"
    source.write_bytes(make_pdf(pages=2))
    first, second = tmp_path / "first.pdf", tmp_path / "second.pdf"
    with source.open("rb") as src, first.open("w+b") as dst:
        sign_pdf(src, dst, keys["p12-plain"], level="B-T", timestamper=tsa)
    with first.open("rb") as src, second.open("w+b") as dst:
        sign_pdf(src, dst, keys["token-ec"], level="B-B")
    report = verify(second, root)
    assert [s.signer.name for s in report.signatures] == ["Paul SIMPLE", "Jeanne TITULAIRE EC"]
    for signature in report.signatures:
        assert_verdict(signature, PASSED)
        assert status(signature, "modification") == "passed"
    assert "2 sur 3" in report.signatures[0].check("coverage").message  # type: ignore[union-attr]


# --- bad input -------------------------------------------------------------------------------


def _bad_inputs(tmp_path: Path, signed_pdf: Path, signed_p7s: Path) -> dict[str, Path]:
    files: dict[str, bytes] = {
        "garbage.p7s": b"\x13\x37 ceci n'est pas une signature",
        "empty.p7s": b"",
        "truncated.p7s": signed_p7s.read_bytes()[: len(signed_p7s.read_bytes()) // 2],
        "deep.p7s": b"\x30\x80" * 200_000,
        "pem-garbage.p7s": b"-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n",
        "not-a-pdf.pdf": b"%PDF-1.7\n" + bytes(range(256)) * 40,
        "xxe.xml": xml_samples.xxe_document(tmp_path / "secret.txt"),
        "laughs.xml": xml_samples.billion_laughs(),
        "broken.xml": b"<Offre><ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'>",
        "deep.xml": b"<a>" * 100_000 + b"</a>" * 100_000,
    }
    pdf = signed_pdf.read_bytes()
    start = pdf.rindex(b"startxref")
    files["broken-xref.pdf"] = pdf[:start] + b"startxref\n999999999\n%%EOF\n"
    xref = pdf.index(b"xref\n0 ")
    files["garbled-xref.pdf"] = pdf[:xref] + b"xref\n0 9\nzzzzzzzzzz garbage\n" + pdf[xref + 40:]
    files["truncated.pdf"] = pdf[: len(pdf) // 2]
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / name
        paths[name].write_bytes(data)
    return paths


def test_bad_inputs_fail_quickly_with_a_message(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    (tmp_path / "secret.txt").write_text("MOT-DE-PASSE-CONFIDENTIEL")
    content = tmp_path / "x.bin"
    content.write_bytes(b"x")
    signed_p7s = openssl_sign(test_pki, "plain", content, tmp_path / "x.bin.p7s")
    for name, path in _bad_inputs(tmp_path, _pyhanko_signed(tmp_path, test_pki), signed_p7s).items():
        started = time.monotonic()
        report = verify_file(path, trust_roots=[root])
        elapsed = time.monotonic() - started
        assert elapsed < 5, f"{name}: {elapsed:.1f} s"
        assert report.signatures, name
        verdicts = {(s.indication, s.sub_indication) for s in report.signatures}
        assert verdicts == {(FAILED, SubIndication.FORMAT_FAILURE)} or all(i is FAILED for i, _ in verdicts), \
            f"{name}: {dump(report)}"
        assert report.exit_code == 1, name
        text = json.dumps(report.to_json(), ensure_ascii=False)
        assert "CONFIDENTIEL" not in text
        assert all(c["message"] for s in report.to_json()["signatures"] for c in s["checks"]), name


def test_an_xml_file_without_any_signature_is_unsigned_not_broken(tmp_path: Path, root: x509.Certificate) -> None:
    """Like an unsigned PDF: no signature to judge, not a failed one (exit code 2, not 1)."""
    path = tmp_path / "nosig.xml"
    path.write_bytes(b"<Offre/>")
    report = verify_file(path, trust_roots=[root])
    assert report.signatures == [] and report.contents == [] and report.exit_code == 2


# --- the report ------------------------------------------------------------------------------


def test_json_report_shape_english_and_exit_codes(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    content = tmp_path / "a.txt"
    content.write_bytes(b"a")
    token = openssl_sign(test_pki, "qualified", content, tmp_path / "a.txt.p7s")
    document = verify(token, root, locale="en").to_json()
    assert set(document) == {"file", "signatures"} and document["file"] == "a.txt.p7s"
    (entry,) = document["signatures"]
    assert set(entry) == {"id", "format", "level", "signer", "signing_time", "signing_time_source", "indication",
                          "sub_indication", "checks", "countersignatures"}
    assert set(entry["signer"]) == {"name", "organization", "certificate_sha256"}
    assert entry["indication"] == "TOTAL_PASSED" and entry["sub_indication"] is None
    assert entry["signing_time"].endswith("Z") and entry["signing_time_source"] == "claimed"
    names = [c["name"] for c in entry["checks"]]
    for name in ("format", "integrity", "signature_value", "chain", "certificate_category", "validity", "revocation",
                 "timestamp", "baseline_level"):
        assert name in names
    assert all(set(c) == {"name", "status", "message"} for c in entry["checks"])
    assert {c["status"] for c in entry["checks"]} <= {"passed", "failed", "warning", "not_checked", "not_applicable"}
    english = " ".join(c["message"] for c in entry["checks"])
    french = " ".join(c["message"] for c in verify(token, root).to_json()["signatures"][0]["checks"])
    assert "Certificate chain" in english and "Qualified certificate" in english and "é" not in english
    assert "Chaîne de confiance" in french and "Certificat qualifié" in french
    empty = VerificationReport(file="vide.pdf")
    assert empty.exit_code == 2

    async def from_a_coroutine() -> VerificationReport:  # by mistake, from inside an event loop
        return verify_file(token, trust_roots=[root])

    assert asyncio.run(from_a_coroutine()).exit_code == 0
