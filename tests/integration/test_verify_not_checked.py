"""A report never claims what was not checked (EN 319 102-1 sections 5.2.5 and 5.2.6).

Signatures made by ``openssl cms -sign`` with certificates issued in the test by the test PKI's CA:
one without any CRL distribution point or OCSP address, one whose CRL and OCSP addresses are a
closed port on 127.0.0.1, one checked offline. Revocation is then "non vérifiée" (status
``not_checked``) with the reason, the verdict INDETERMINATE/TRY_LATER, in the JSON, the HTML report
and the command line's text; openssl, asked to check CRLs, agrees that revocation cannot be
established for them.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from agent.validation import CheckStatus, Indication, SignatureReport, SubIndication, verify_file
from agent.validation.report_html import render_report
from tests.support.agent_process import ROOT, isolated_env
from tests.support.leaf_certs import Leaf, issue_leaf
from tests.support.pki import TestPki


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def openssl_sign(pki: TestPki, leaf: Leaf, content: Path) -> Path:
    out = content.with_name(content.name + ".p7s")
    subprocess.run(["openssl", "cms", "-sign", "-cades", "-binary", "-outform", "DER", "-in", str(content),
                    "-out", str(out), "-signer", str(leaf.cert_pem), "-inkey", str(leaf.key_pem),
                    "-certfile", str(pki.intermediate_pem), "-md", "sha256"], check=True, capture_output=True)
    return out


def signed(tmp_path: Path, pki: TestPki, name: str, **options: object) -> Path:
    content = tmp_path / "offre.pdf"
    content.write_bytes(b"%PDF-1.7 offre " * 100)
    leaf = issue_leaf(pki, tmp_path / "certs", name, key_usage={"digital_signature", "content_commitment"},
                      **options)  # type: ignore[arg-type]
    return openssl_sign(pki, leaf, content)


def only(path: Path, root: x509.Certificate, **options: object) -> SignatureReport:
    report = verify_file(path, trust_roots=[root], **options)  # type: ignore[arg-type]
    assert len(report.signatures) == 1, report.to_json()
    return report.signatures[0]


def revocation(signature: SignatureReport) -> tuple[str, str]:
    check = signature.check("revocation")
    assert check is not None, signature.to_json()
    return str(check.status), check.message


def openssl_crl_check(pki: TestPki, leaf_pem: Path) -> subprocess.CompletedProcess[str]:
    """``openssl verify -crl_check`` with the CRLs openssl can be given (none for these leaves)."""
    return subprocess.run(["openssl", "verify", "-crl_check", "-CAfile", str(pki.root_pem), "-untrusted",
                           str(pki.intermediate_pem), str(leaf_pem)], capture_output=True, text=True)


def test_no_distribution_point_nor_ocsp_is_not_checked_with_the_reason(tmp_path: Path, test_pki: TestPki,
                                                                       root: x509.Certificate) -> None:
    token = signed(tmp_path, test_pki, "Sans Revocation")
    signature = only(token, root)
    status, message = revocation(signature)
    assert status == "not_checked", signature.to_json()
    assert message.startswith("Non vérifiée"), message
    assert "ni point de distribution de CRL ni service OCSP" in message and "Sans Revocation" in message
    assert "Non révoqué" not in json.dumps(signature.to_json(), ensure_ascii=False)
    assert signature.indication is Indication.INDETERMINATE
    assert signature.sub_indication is SubIndication.TRY_LATER
    english = only(token, root, locale="en")
    assert revocation(english)[1].startswith("Not checked") and "neither a CRL distribution point nor an OCSP" \
        in revocation(english)[1]
    # openssl, asked for revocation, cannot establish it either.
    judged = openssl_crl_check(test_pki, tmp_path / "certs" / "Sans_Revocation.cert.pem")
    assert judged.returncode != 0 and "unable to get certificate CRL" in judged.stdout + judged.stderr

    html = render_report(verify_file(token, trust_roots=[root]).to_json(), "fr")
    assert '<td class=not_checked>non vérifié</td>' in html
    assert "ni point de distribution de CRL ni service OCSP" in html and "Non révoqué" not in html


def test_unreachable_services_are_named_with_their_error(tmp_path: Path, test_pki: TestPki,
                                                         root: x509.Certificate) -> None:
    port = closed_port()
    ocsp, crl = f"http://127.0.0.1:{port}/ocsp", f"http://127.0.0.1:{port}/ca.crl"
    token = signed(tmp_path, test_pki, "Services Fermes", crl_urls=[crl], ocsp_urls=[ocsp])
    signature = only(token, root)
    status, message = revocation(signature)
    assert status == "not_checked", signature.to_json()
    assert ocsp in message and crl in message, message
    assert "injoignable" in message and "connexion refusée" in message.lower(), message
    assert (signature.indication, signature.sub_indication) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)
    assert "Non révoqué" not in json.dumps(signature.to_json(), ensure_ascii=False)


def test_offline_check_says_which_services_were_not_asked(tmp_path: Path, test_pki: TestPki,
                                                         root: x509.Certificate) -> None:
    token = signed(tmp_path, test_pki, "Hors Ligne", crl_urls=[test_pki.crl_url], ocsp_urls=[test_pki.ocsp_url])
    online = only(token, root)
    assert revocation(online)[0] == "passed" and online.indication is Indication.TOTAL_PASSED, online.to_json()
    offline = only(token, root, allow_fetching=False)
    status, message = revocation(offline)
    # Offline, the first certificate without revocation data is named with the service not asked.
    assert status == "not_checked" and "hors ligne" in message and "non interrogé" in message, message
    assert test_pki.base_url in message, message
    assert (offline.indication, offline.sub_indication) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)


def test_command_line_and_json_show_the_third_state(tmp_path: Path, test_pki: TestPki) -> None:
    token = signed(tmp_path, test_pki, "Ligne Commande")
    env = isolated_env(tmp_path / "home")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agent", "verify", str(token), "--trust", str(test_pki.root_pem),
                               *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    text = run()
    assert text.returncode == 2, text.stderr
    line = next(line for line in text.stdout.splitlines() if "Révocation du certificat" in line)
    assert "non vérifié" in line and "ni point de distribution de CRL ni service OCSP" in line, text.stdout
    report = json.loads(run("--json").stdout)
    (check,) = [c for c in report["signatures"][0]["checks"] if c["name"] == "revocation"]
    assert check["status"] == str(CheckStatus.NOT_CHECKED) == "not_checked"
    assert report["signatures"][0]["indication"] == "INDETERMINATE"


def _with_crls(signature: Path, crls: list[bytes]) -> None:
    """Add CRLs to the SignedData's ``crls`` field (RFC 5652 section 5.1: outside the signed part)."""
    from asn1crypto import cms, crl as asn1_crl

    info = cms.ContentInfo.load(signature.read_bytes())
    signed_data = info["content"]
    signed_data["crls"] = cms.RevocationInfoChoices(
        [cms.RevocationInfoChoice(name="crl", value=asn1_crl.CertificateList.load(der)) for der in crls])
    signature.write_bytes(info.dump())


def test_revocation_data_in_the_file_too_old(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    """The file carries a CRL that covers the signer but whose nextUpdate is past, and the CRL
    address is out of reach: not checked, with the date until which the file's data was usable."""
    import urllib.request
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives import hashes, serialization

    port = closed_port()
    token = signed(tmp_path, test_pki, "Donnees Perimees", crl_urls=[f"http://127.0.0.1:{port}/ca.crl"])
    issuer_key = serialization.load_pem_private_key(test_pki.key_pem("intermediate").read_bytes(), None)
    issuer = x509.load_pem_x509_certificate(test_pki.intermediate_pem.read_bytes())
    now = datetime.now(UTC).replace(microsecond=0)
    stale = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
             .last_update(now - timedelta(days=10)).next_update(now - timedelta(days=3))
             .add_extension(x509.CRLNumber(7), critical=False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key()),  # type: ignore[arg-type]
                            critical=False)
             .sign(issuer_key, hashes.SHA256()))  # type: ignore[arg-type]
    with urllib.request.urlopen(test_pki.root_crl_url, timeout=10) as answer:  # the CA's own, fresh
        root_crl = answer.read()
    _with_crls(token, [stale.public_bytes(serialization.Encoding.DER), root_crl])
    signature = only(token, root)
    status, message = revocation(signature)
    assert status == "not_checked", signature.to_json()
    assert "trop anciennes" in message and f"127.0.0.1:{port}/ca.crl injoignable" in message, message
    assert (signature.indication, signature.sub_indication) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)


def test_signature_value_without_the_signed_data_is_not_checked(tmp_path: Path, test_pki: TestPki,
                                                                 root: x509.Certificate) -> None:
    """A CMS signature without signed attributes signs the content itself (RFC 5652 section 5.4):
    without the content its value cannot be checked, and the report says so."""
    content = tmp_path / "piece.bin"
    content.write_bytes(b"piece jointe " * 50)
    token = tmp_path / "piece.bin.p7s"
    subprocess.run(["openssl", "cms", "-sign", "-noattr", "-binary", "-outform", "DER", "-in", str(content), "-out",
                    str(token), "-signer", str(test_pki.cert_pem("plain")), "-inkey", str(test_pki.key_pem("plain")),
                    "-certfile", str(test_pki.intermediate_pem), "-md", "sha256"], check=True, capture_output=True)
    assert only(token, root).check("signature_value").status == "passed"  # type: ignore[union-attr]
    content.unlink()
    signature = only(token, root)
    value = signature.check("signature_value")
    assert value is not None and value.status == "not_checked", signature.to_json()
    assert value.message.startswith("Non vérifiée") and "données signées" in value.message
    assert (signature.indication, signature.sub_indication) == (Indication.INDETERMINATE,
                                                                SubIndication.SIGNED_DATA_NOT_FOUND)
