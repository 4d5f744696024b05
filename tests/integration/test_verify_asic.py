"""ASiC containers (ETSI EN 319 162-1) verified by agent.validation, signatures made by independent tools.

The containers are laid out here with :mod:`zipfile` as the standard says (``mimetype`` first and
stored, data objects, ``META-INF/``); the signatures come from ``openssl cms -sign`` (CAdES over the
data object of an ASiC-S, or over the ``ASiCManifest`` of an ASiC-E) and from ``xmlsec1 --sign``
(XAdES whose references name the container's files by relative URI). Each verifies TOTAL_PASSED
with the files it covers listed; then the mutations: a data file, a manifest, an unsigned extra
file, the ``mimetype`` entry, hostile ZIPs, and a plain ZIP that holds no signature at all.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import urllib.request
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from agent.signing.xades_build import issuer_serial_v2
from agent.validation import CheckStatus, Indication, SignatureReport, SubIndication, VerificationReport, verify_file
from agent.validation.report_html import render_report
from tests.support.agent_process import ROOT, isolated_env
from tests.support.pki import TestPki
from tests.support.verifiers import openssl_cms_ok, xmlsec_ok

PASSED, FAILED, INDETERMINATE = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE
ASIC_S = "application/vnd.etsi.asic-s+zip"
ASIC_E = "application/vnd.etsi.asic-e+zip"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

MEMOIRE = b"%PDF-1.7 memoire technique de l'entreprise " * 300
PRIX = b"Lot;Prix HT\n1;125000.00\n2;48000.00\n"


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


# --- helpers ---------------------------------------------------------------------------------


def verify(path: Path, root: x509.Certificate, **options: Any) -> VerificationReport:
    started = time.monotonic()
    report = verify_file(path, trust_roots=[root], **options)
    assert time.monotonic() - started < 30
    json.dumps(report.to_json())
    return report


def dump(report: VerificationReport | SignatureReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


def only(report: VerificationReport) -> SignatureReport:
    assert len(report.signatures) == 1, dump(report)
    return report.signatures[0]


def assert_verdict(report: VerificationReport, signature: SignatureReport, indication: Indication,
                   sub: SubIndication | None = None) -> None:
    assert signature.indication is indication, dump(report)
    if sub is not None or indication is PASSED:
        assert signature.sub_indication == sub, dump(report)


def container(path: Path, entries: list[tuple[str, bytes]], mimetype: str | None = ASIC_E, *,
              mimetype_method: int = zipfile.ZIP_STORED) -> Path:
    """An ASiC container: ``mimetype`` first (stored, EN 319 162-1 A.1) then ``entries`` deflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if mimetype is not None:
            archive.writestr(zipfile.ZipInfo("mimetype"), mimetype.encode(), compress_type=mimetype_method)
        for name, data in entries:
            archive.writestr(name, data)
    return path


def openssl_detached(pki: TestPki, content: Path, out: Path, signer: str = "plain") -> bytes:
    """``openssl cms -sign -binary -outform DER``: a detached CAdES signature of ``content``."""
    subprocess.run(["openssl", "cms", "-sign", "-cades", "-binary", "-outform", "DER", "-in", str(content),
                    "-out", str(out), "-signer", str(pki.cert_pem(signer)), "-inkey", str(pki.key_pem(signer)),
                    "-certfile", str(pki.intermediate_pem), "-md", "sha256"], check=True, capture_output=True)
    assert openssl_cms_ok(out, content, pki)
    return out.read_bytes()


def asic_manifest(signature_uri: str, files: dict[str, bytes]) -> bytes:
    """An ``ASiCManifest`` (EN 319 162-1 A.4) naming the signature and the SHA-256 of each data object."""
    refs = "".join(
        f'<asic:DataObjectReference URI="{name}" MimeType="application/octet-stream">'
        f'<ds:DigestMethod Algorithm="{SHA256}"/>'
        f"<ds:DigestValue>{base64.b64encode(hashlib.sha256(data).digest()).decode()}</ds:DigestValue>"
        f"</asic:DataObjectReference>"
        for name, data in files.items())
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<asic:ASiCManifest xmlns:asic="http://uri.etsi.org/02918/v1.2.1#" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
            f'<asic:SigReference URI="{signature_uri}" MimeType="application/pkcs7-signature"/>{refs}'
            f"</asic:ASiCManifest>").encode()


def xades_template(pki: TestPki, files: list[str]) -> bytes:
    """``META-INF/signatures.xml`` (EN 319 162-1 A.5) holding one XAdES B-B template whose references
    name container files by relative URI, for ``xmlsec1 --sign``."""
    cert = x509.load_pem_x509_certificate(pki.cert_pem("qualified").read_bytes()) \
        .public_bytes(serialization.Encoding.DER)
    chain = base64.b64encode(x509.load_pem_x509_certificate(pki.intermediate_pem.read_bytes())
                             .public_bytes(serialization.Encoding.DER)).decode()
    signing_time = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    refs = "".join(f'<ds:Reference Id="ref-{i}" URI="{name}"><ds:DigestMethod Algorithm="{SHA256}"/>'
                   f"<ds:DigestValue/></ds:Reference>" for i, name in enumerate(files))
    formats = "".join(f'<xades:DataObjectFormat ObjectReference="#ref-{i}"><xades:MimeType>application/octet-stream'
                      f"</xades:MimeType></xades:DataObjectFormat>" for i in range(len(files)))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<asic:XAdESSignatures xmlns:asic="http://uri.etsi.org/02918/v1.2.1#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">
  <ds:Signature Id="sig-asic">
    <ds:SignedInfo>
      <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
      <ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>
      {refs}
      <ds:Reference URI="#props-asic" Type="http://uri.etsi.org/01903#SignedProperties">
        <ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>
        <ds:DigestMethod Algorithm="{SHA256}"/><ds:DigestValue/>
      </ds:Reference>
    </ds:SignedInfo>
    <ds:SignatureValue/>
    <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{base64.b64encode(cert).decode()}</ds:X509Certificate>
      <ds:X509Certificate>{chain}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    <ds:Object>
      <xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" Target="#sig-asic">
        <xades:SignedProperties Id="props-asic">
          <xades:SignedSignatureProperties>
            <xades:SigningTime>{signing_time}</xades:SigningTime>
            <xades:SigningCertificateV2><xades:Cert><xades:CertDigest>
              <ds:DigestMethod Algorithm="{SHA256}"/>
              <ds:DigestValue>{base64.b64encode(hashlib.sha256(cert).digest()).decode()}</ds:DigestValue>
            </xades:CertDigest>
            <xades:IssuerSerialV2>{base64.b64encode(issuer_serial_v2(cert)).decode()}</xades:IssuerSerialV2>
            </xades:Cert></xades:SigningCertificateV2>
          </xades:SignedSignatureProperties>
          <xades:SignedDataObjectProperties>{formats}</xades:SignedDataObjectProperties>
        </xades:SignedProperties>
      </xades:QualifyingProperties>
    </ds:Object>
  </ds:Signature>
</asic:XAdESSignatures>
""".encode()


def xmlsec_signatures(pki: TestPki, staging: Path, files: dict[str, bytes]) -> bytes:
    """The data files laid out in ``staging`` as in the container, and ``META-INF/signatures.xml``
    signed there by xmlsec1 (relative URIs resolve from its working folder); xmlsec1 verifies it too."""
    for name, data in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    (staging / "template.xml").write_bytes(xades_template(pki, list(files)))
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem", str(pki.key_pem("qualified")), "--id-attr:Id",
                    "SignedProperties", "--output", "signatures.xml", "template.xml"], cwd=staging, check=True,
                   capture_output=True)
    signed = staging / "signatures.xml"
    assert xmlsec_ok(signed, pki)
    return signed.read_bytes()


def container_check(report: VerificationReport, name: str) -> Any:
    assert report.container is not None, dump(report)
    return next((c for c in report.container.checks if c.name == name), None)


# --- ASiC-S ----------------------------------------------------------------------------------


def test_asic_s_with_cades_made_by_openssl(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    data = tmp_path / "memoire.pdf"
    data.write_bytes(MEMOIRE)
    p7s = openssl_detached(test_pki, data, tmp_path / "signature.p7s")
    path = container(tmp_path / "offre.asics", [("memoire.pdf", MEMOIRE), ("META-INF/signature.p7s", p7s)], ASIC_S)

    report = verify(path, root)
    signature = only(report)
    assert_verdict(report, signature, PASSED)
    assert (signature.format, signature.level) == ("CAdES", "B-B")
    assert signature.covers == ["memoire.pdf"]
    assert report.container is not None and report.container.type == "ASiC-S"
    assert report.container.files == ["memoire.pdf"] and report.container.uncovered == []
    assert report.exit_code == 0
    as_json = report.to_json()
    assert as_json["container"]["type"] == "ASiC-S" and as_json["signatures"][0]["covers"] == ["memoire.pdf"]
    page = render_report(as_json, "fr")
    assert "ASiC-S" in page and "memoire.pdf" in page

    changed = container(tmp_path / "changee.scs", [("memoire.pdf", MEMOIRE.replace(b"technique", b"techniquE", 1)),
                                                    ("META-INF/signature.p7s", p7s)], ASIC_S)
    report = verify(changed, root)
    assert_verdict(report, only(report), FAILED, SubIndication.HASH_FAILURE)
    assert report.exit_code == 1


def test_asic_s_with_xades_made_by_xmlsec1(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    staging = tmp_path / "staging"
    staging.mkdir()
    signatures = xmlsec_signatures(test_pki, staging, {"prix.csv": PRIX})
    path = container(tmp_path / "prix.asics", [("prix.csv", PRIX), ("META-INF/signatures.xml", signatures)], ASIC_S)

    report = verify(path, root)
    signature = only(report)
    assert_verdict(report, signature, PASSED)
    assert (signature.format, signature.level) == ("XAdES", "B-B")
    assert signature.covers == ["prix.csv"]
    assert report.container is not None and report.container.type == "ASiC-S"
    assert report.container.uncovered == []

    changed = container(tmp_path / "changee.asics", [("prix.csv", PRIX.replace(b"125000", b"125900")),
                                                      ("META-INF/signatures.xml", signatures)], ASIC_S)
    report = verify(changed, root)
    assert_verdict(report, only(report), FAILED, SubIndication.HASH_FAILURE)


def test_asic_s_with_a_time_stamp_token(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    """``META-INF/timestamp.tst``: an RFC 3161 token over the data object, asked with ``openssl ts``."""
    data = tmp_path / "memoire.pdf"
    data.write_bytes(MEMOIRE)
    query = subprocess.run(["openssl", "ts", "-query", "-data", str(data), "-sha256", "-cert"], check=True,
                           capture_output=True).stdout
    request = urllib.request.Request(test_pki.tsa_url, data=query,
                                     headers={"Content-Type": "application/timestamp-query"})
    with urllib.request.urlopen(request, timeout=30) as response:
        (tmp_path / "reply.tsr").write_bytes(response.read())
    subprocess.run(["openssl", "ts", "-reply", "-in", str(tmp_path / "reply.tsr"), "-token_out", "-out",
                    str(tmp_path / "timestamp.tst")], check=True, capture_output=True)
    token = (tmp_path / "timestamp.tst").read_bytes()
    checked = subprocess.run(["openssl", "ts", "-verify", "-data", str(data), "-in", str(tmp_path / "timestamp.tst"),
                              "-token_in", "-CAfile", str(test_pki.root_pem), "-untrusted",
                              str(test_pki.intermediate_pem)], capture_output=True, text=True)
    assert "Verification: OK" in checked.stdout + checked.stderr

    report = verify(container(tmp_path / "horodate.asics", [("memoire.pdf", MEMOIRE),
                                                            ("META-INF/timestamp.tst", token)], ASIC_S), root)
    stamp = only(report)
    assert_verdict(report, stamp, PASSED)
    assert stamp.format == "ASiC-TimeStamp" and stamp.covers == ["memoire.pdf"]
    assert stamp.signing_time_source == "timestamp"

    changed = container(tmp_path / "change.asics", [("memoire.pdf", MEMOIRE + b" "),
                                                    ("META-INF/timestamp.tst", token)], ASIC_S)
    report = verify(changed, root)
    assert_verdict(report, only(report), FAILED, SubIndication.HASH_FAILURE)


# --- ASiC-E ----------------------------------------------------------------------------------


def test_asic_e_with_cades_and_asic_manifest(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    files = {"offre/memoire.pdf": MEMOIRE, "prix.csv": PRIX}
    manifest = asic_manifest("META-INF/signature001.p7s", files)
    (tmp_path / "ASiCManifest001.xml").write_bytes(manifest)
    p7s = openssl_detached(test_pki, tmp_path / "ASiCManifest001.xml", tmp_path / "signature001.p7s")
    layout = [*files.items(), ("META-INF/ASiCManifest001.xml", manifest), ("META-INF/signature001.p7s", p7s)]

    report = verify(container(tmp_path / "offre.asice", layout), root)
    signature = only(report)
    assert_verdict(report, signature, PASSED)
    assert signature.format == "CAdES"
    assert sorted(signature.covers) == ["offre/memoire.pdf", "prix.csv"]
    assert report.container is not None and report.container.type == "ASiC-E"
    assert sorted(report.container.files) == ["offre/memoire.pdf", "prix.csv"] and report.container.uncovered == []
    assert container_check(report, "mimetype").status is CheckStatus.PASSED

    # One data file changed: the manifest's digest for it no longer matches.
    tampered = [("offre/memoire.pdf", MEMOIRE + b"%%EOF annexe"), *layout[1:]]
    report = verify(container(tmp_path / "donnee.asice", tampered), root)
    assert_verdict(report, only(report), FAILED, SubIndication.HASH_FAILURE)
    assert "offre/memoire.pdf" in dump(report)

    # The manifest changed (a file's entry removed): the CAdES signature over it fails.
    shorter = asic_manifest("META-INF/signature001.p7s", {"offre/memoire.pdf": MEMOIRE})
    swapped = [*files.items(), ("META-INF/ASiCManifest001.xml", shorter), ("META-INF/signature001.p7s", p7s)]
    report = verify(container(tmp_path / "manifeste.asice", swapped), root)
    assert_verdict(report, only(report), FAILED, SubIndication.HASH_FAILURE)

    # A file nobody signed: the signature stays valid, the container names the file.
    extra = [*layout, ("annexe-ajoutee.txt", b"ajout posterieur a la signature")]
    report = verify(container(tmp_path / "ajout.asice", extra), root)
    assert_verdict(report, only(report), PASSED)
    assert report.container is not None and report.container.uncovered == ["annexe-ajoutee.txt"]
    uncovered = container_check(report, "uncovered_files")
    assert uncovered is not None and uncovered.status is CheckStatus.WARNING
    assert "annexe-ajoutee.txt" in uncovered.message
    assert "annexe-ajoutee.txt" in render_report(report.to_json(), "en")

    # The same from the command line: the printer and the HTML report name what is covered and what is not.
    html = tmp_path / "rapport.html"
    result = subprocess.run([sys.executable, "-m", "agent", "verify", str(tmp_path / "ajout.asice"), "--trust",
                             str(test_pki.root_pem), "--report", str(html)], cwd=ROOT, env=isolated_env(tmp_path),
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ASiC-E : 3 fichier(s)" in result.stdout
    assert "couvre : offre/memoire.pdf, prix.csv" in result.stdout
    assert "à vérifier Fichiers non signés : " in result.stdout and "annexe-ajoutee.txt" in result.stdout
    page = html.read_text()
    assert "Conteneur ASiC-E" in page and "Fichiers couverts" in page
    assert '<td><code>annexe-ajoutee.txt</code></td><td class=uncovered>aucune signature</td>' in page


def test_asic_e_with_xades_made_by_xmlsec1(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    files = {"offre/memoire.pdf": MEMOIRE, "prix.csv": PRIX}
    staging = tmp_path / "staging"
    staging.mkdir()
    signatures = xmlsec_signatures(test_pki, staging, files)
    layout = [*files.items(), ("META-INF/signatures001.xml", signatures)]

    report = verify(container(tmp_path / "offre.sce", layout), root)
    signature = only(report)
    assert_verdict(report, signature, PASSED)
    assert signature.format == "XAdES" and sorted(signature.covers) == ["offre/memoire.pdf", "prix.csv"]
    assert report.container is not None and report.container.type == "ASiC-E" and report.container.uncovered == []

    tampered = [("offre/memoire.pdf", MEMOIRE[:-1] + b"!"), *layout[1:]]
    report = verify(container(tmp_path / "donnee.asice", tampered), root)
    assert_verdict(report, only(report), FAILED, SubIndication.HASH_FAILURE)

    missing = [("prix.csv", PRIX), ("META-INF/signatures001.xml", signatures)]
    report = verify(container(tmp_path / "manque.asice", missing), root)
    assert_verdict(report, only(report), INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)


def test_a_200_mb_data_object_is_hashed_in_bounded_memory(tmp_path: Path, test_pki: TestPki,
                                                         root: x509.Certificate) -> None:
    """The data object is streamed from the archive while hashed, never loaded whole."""
    size = 200 * 1024 * 1024
    data = tmp_path / "dossier.bin"
    block = os.urandom(1024 * 1024)
    with data.open("wb") as out:
        for i in range(size // len(block)):
            out.write(struct.pack(">Q", i) + block[8:])
    p7s = openssl_detached(test_pki, data, tmp_path / "signature.p7s")
    path = tmp_path / "gros.asics"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), ASIC_S)
        with data.open("rb") as source, archive.open("dossier.bin", "w", force_zip64=True) as entry:
            while chunk := source.read(1024 * 1024):
                entry.write(chunk)
        archive.writestr("META-INF/signature.p7s", p7s)
    data.unlink()
    tracemalloc.start()
    try:
        report = verify(path, root)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_verdict(report, only(report), PASSED)
    assert only(report).covers == ["dossier.bin"]
    assert peak < 40 * 1024 * 1024, peak


# --- mimetype --------------------------------------------------------------------------------


def test_mimetype_entry(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    """EN 319 162-1 A.1: optional, but when present the first entry, stored, with the ASiC media type."""
    data = tmp_path / "memoire.pdf"
    data.write_bytes(MEMOIRE)
    p7s = openssl_detached(test_pki, data, tmp_path / "signature.p7s")
    layout = [("memoire.pdf", MEMOIRE), ("META-INF/signature.p7s", p7s)]

    report = verify(container(tmp_path / "sans.asics", layout, None), root)
    assert_verdict(report, only(report), PASSED)
    absent = container_check(report, "mimetype")
    assert absent is not None and absent.status is CheckStatus.WARNING and report.container.type == "ASiC-S"

    report = verify(container(tmp_path / "faux.asics", layout, "application/zip"), root)
    assert_verdict(report, only(report), FAILED, SubIndication.FORMAT_FAILURE)
    assert container_check(report, "mimetype").status is CheckStatus.FAILED

    report = verify(container(tmp_path / "compresse.asics", layout, ASIC_S, mimetype_method=zipfile.ZIP_DEFLATED),
                    root)
    assert_verdict(report, only(report), FAILED, SubIndication.FORMAT_FAILURE)

    late = tmp_path / "tardif.asics"
    with zipfile.ZipFile(late, "w") as archive:
        archive.writestr("memoire.pdf", MEMOIRE)
        archive.writestr("mimetype", ASIC_S)
        archive.writestr("META-INF/signature.p7s", p7s)
    report = verify(late, root)
    assert_verdict(report, only(report), FAILED, SubIndication.FORMAT_FAILURE)


# --- hostile ZIPs and plain ZIPs ---------------------------------------------------------------


def test_hostile_containers_are_format_failures(tmp_path: Path, root: x509.Certificate) -> None:
    escaping = container(tmp_path / "evasion.asice", [("../../etc/evil.txt", b"x"),
                                                       ("META-INF/signatures.xml", b"<a/>")])
    report = verify(escaping, root)
    assert_verdict(report, only(report), FAILED, SubIndication.FORMAT_FAILURE)
    assert "../../etc/evil.txt" in only(report).checks[0].message

    bomb = tmp_path / "bombe.asice"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), ASIC_E, compress_type=zipfile.ZIP_STORED)
        with archive.open("annexe.bin", "w") as entry:
            block = bytes(1024 * 1024)
            for _ in range(512):
                entry.write(block)
        archive.writestr("META-INF/signatures.xml", b"<a/>")
    assert bomb.stat().st_size < 2 * 1024 * 1024
    started = time.monotonic()
    report = verify(bomb, root, locale="en")
    assert time.monotonic() - started < 2  # refused from the headers, the 512 MiB never inflated
    assert_verdict(report, only(report), FAILED, SubIndication.FORMAT_FAILURE)
    assert "compression ratio" in only(report).checks[0].message

    truncated = tmp_path / "tronque.asice"
    whole = container(tmp_path / "entier.asice", [("a.txt", b"a" * 5000), ("META-INF/signatures.xml", b"<a/>")])
    truncated.write_bytes(whole.read_bytes()[:-30])
    report = verify(truncated, root)
    assert_verdict(report, only(report), FAILED, SubIndication.FORMAT_FAILURE)


def test_plain_zip_without_signature(tmp_path: Path, root: x509.Certificate) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("dossier/lettre.txt", "Bonjour")
        archive.writestr("tableau.csv", "a;b\n")
    path = tmp_path / "archive.zip"
    path.write_bytes(buffer.getvalue())
    report = verify(path, root, locale="en")
    assert report.signatures == [] and report.exit_code == 2
    assert report.container is not None
    assert sorted(report.container.uncovered) == ["dossier/lettre.txt", "tableau.csv"]
    found = container_check(report, "signatures")
    assert found is not None and found.status is CheckStatus.FAILED and "No signature" in found.message
    page = render_report(report.to_json(), "en")
    assert "No signature" in page and "tableau.csv" in page

    # An OpenDocument file is a ZIP with its own "mimetype": no ASiC signature, a plain ZIP for us.
    odt = tmp_path / "lettre.odt"
    with zipfile.ZipFile(odt, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content/>")
        archive.writestr("META-INF/manifest.xml", "<manifest:manifest/>")
    report = verify(odt, root)
    assert report.signatures == [] and report.container is not None and report.container.type == "ZIP"
    assert report.container.uncovered == ["content.xml"]


def test_asic_e_with_two_signatures_each_over_part_of_the_files(tmp_path: Path, test_pki: TestPki,
                                                                root: x509.Certificate) -> None:
    """Two CAdES signers, each with its own ASiCManifest over some files; a third file signed by none."""
    first = asic_manifest("META-INF/signature001.p7s", {"offre/memoire.pdf": MEMOIRE})
    second = asic_manifest("META-INF/signature002.p7s", {"offre/memoire.pdf": MEMOIRE, "prix.csv": PRIX})
    (tmp_path / "m1.xml").write_bytes(first)
    (tmp_path / "m2.xml").write_bytes(second)
    p7s_1 = openssl_detached(test_pki, tmp_path / "m1.xml", tmp_path / "s1.p7s", signer="plain")
    p7s_2 = openssl_detached(test_pki, tmp_path / "m2.xml", tmp_path / "s2.p7s", signer="qualified")
    layout = [("offre/memoire.pdf", MEMOIRE), ("prix.csv", PRIX), ("lisez-moi.txt", b"non signe"),
              ("META-INF/ASiCManifest001.xml", first), ("META-INF/ASiCManifest002.xml", second),
              ("META-INF/signature001.p7s", p7s_1), ("META-INF/signature002.p7s", p7s_2)]
    report = verify(container(tmp_path / "deux.asice", layout), root)
    assert [s.id for s in report.signatures] == ["S1", "S2"], dump(report)
    for signature in report.signatures:
        assert_verdict(report, signature, PASSED)
    assert {s.signer.name for s in report.signatures} == {"Paul SIMPLE", "Jeanne TITULAIRE"}
    assert [s.covers for s in report.signatures] == [["offre/memoire.pdf"], ["offre/memoire.pdf", "prix.csv"]]
    assert report.container is not None and report.container.uncovered == ["lisez-moi.txt"]

    # The price list changed: only the signature whose manifest names it fails.
    changed = [(n, PRIX.replace(b"48000", b"18000") if n == "prix.csv" else d) for n, d in layout]
    report = verify(container(tmp_path / "prix-change.asice", changed), root)
    assert_verdict(report, report.signatures[0], PASSED)
    assert_verdict(report, report.signatures[1], FAILED, SubIndication.HASH_FAILURE)
    assert "prix.csv" in report.signatures[1].check("manifest").message


def test_signature_file_without_any_signature_is_a_format_failure(tmp_path: Path, root: x509.Certificate) -> None:
    """A container whose ``META-INF/signatures.xml`` holds no ``ds:Signature`` claims a signature it
    does not have: a format failure of the container (an unsigned XML file, outside a container, is
    reported as holding no signature instead)."""
    path = container(tmp_path / "vide.asice", [("a.txt", b"annexe"), ("META-INF/signatures.xml",
                                                                      b"<XAdESSignatures xmlns=\"http://uri.etsi.org/"
                                                                      b"02918/v1.2.1#\"/>")])
    report = verify(path, root, locale="en")
    assert_verdict(report, only(report), FAILED, SubIndication.FORMAT_FAILURE)
    failure = only(report).check("format")
    assert failure is not None and failure.status is CheckStatus.FAILED, dump(report)
    assert "No XML signature (ds:Signature)" in failure.message and "META-INF/signatures.xml" in failure.message
