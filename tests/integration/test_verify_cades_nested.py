"""Attached CAdES around an XML signature or around another CMS signature, made by independent tools:
``xmlsec1 --sign`` (XAdES) then ``openssl cms -sign -nodetach`` around it; ``openssl cms`` around a
``.p7m`` that ``openssl cms`` made. The outer signer is judged as CAdES and the wrapped document's
own signatures are reported as a nested entry (``contents``), as for a PDF inside a ``.p7m``; openssl
and xmlsec1 judge the same files and must agree, a changed byte inside must fail the file.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from agent.validation import Indication, SubIndication, VerificationReport, verify_file
from agent.validation.detect import MAX_NESTING
from tests.integration.test_verify import _xmlsec_template
from tests.integration.test_verify_cades_wrapped_pdf import openssl_attached, openssl_verifies
from tests.support.bounded import compagnon
from tests.support.pki import TestPki
from tests.support.verifiers import xmlsec_ok

PASSED, FAILED = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


@pytest.fixture(scope="module")
def signed_xml(tmp_path_factory: pytest.TempPathFactory, test_pki: TestPki) -> Path:
    """An enveloped XAdES B-B made by xmlsec1 with the "qualified" key."""
    folder = tmp_path_factory.mktemp("xml")
    template = folder / "template.xml"
    template.write_bytes(_xmlsec_template(test_pki))
    signed = folder / "offre.xml"
    subprocess.run(["xmlsec1", "--sign", "--privkey-pem", str(test_pki.key_pem("qualified")), "--id-attr:Id",
                    "SignedProperties", "--output", str(signed), str(template)], check=True, capture_output=True)
    assert xmlsec_ok(signed, test_pki)
    return signed


def dump(report: VerificationReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


def openssl_unwrap(path: Path, out: Path) -> Path:
    """The content of an attached signature as openssl gives it (no verification)."""
    subprocess.run(["openssl", "cms", "-verify", "-noverify", "-binary", "-inform", "DER", "-in", str(path),
                    "-out", str(out)], check=True, capture_output=True)
    return out


def outer_signer(report: VerificationReport) -> None:
    (signature,) = report.signatures
    assert (signature.format, signature.indication) == ("CAdES", PASSED), dump(report)
    assert signature.signer.name == "Paul SIMPLE", dump(report)


@pytest.mark.parametrize("form", [("-outform", "DER"), ("-stream", "-outform", "DER")], ids=["der", "ber"])
def test_xades_inside_cades_is_reported_as_nested_contents(tmp_path: Path, test_pki: TestPki, root: x509.Certificate,
                                                          signed_xml: Path, form: tuple[str, ...]) -> None:
    wrapped = openssl_attached(test_pki, signed_xml, tmp_path / "offre.xml.p7m", *form)
    assert openssl_verifies(wrapped, test_pki)
    assert openssl_unwrap(wrapped, tmp_path / "extrait.xml").read_bytes() == signed_xml.read_bytes()

    report = verify_file(wrapped, trust_roots=[root])
    outer_signer(report)
    (inner,) = report.contents
    assert inner.file == "offre.xml", dump(report)
    (xades,) = inner.signatures
    assert xades.format.startswith("XAdES") and xades.indication is PASSED, dump(report)
    assert xades.signer.name == "Jeanne TITULAIRE", dump(report)
    assert report.exit_code == 0


def test_a_changed_xades_inside_a_valid_cades_fails_the_file(tmp_path: Path, home: Path, test_pki: TestPki,
                                                            root: x509.Certificate, signed_xml: Path) -> None:
    """The XML changed after its XAdES signature, then wrapped in a valid CAdES: openssl accepts the
    CAdES, xmlsec1 refuses the XAdES, and so do we — the file fails (exit 1)."""
    changed = tmp_path / "offre.xml"
    changed.write_bytes(signed_xml.read_bytes().replace(b"125000.00", b"125900.00"))
    assert not xmlsec_ok(changed, test_pki)
    wrapped = openssl_attached(test_pki, changed, tmp_path / "offre.xml.p7m", "-outform", "DER")
    assert openssl_verifies(wrapped, test_pki)

    report = verify_file(wrapped, trust_roots=[root])
    outer_signer(report)
    (xades,) = report.contents[0].signatures
    assert (xades.indication, xades.sub_indication) == (FAILED, SubIndication.HASH_FAILURE), dump(report)
    assert report.exit_code == 1
    run = compagnon(home, "verify", "--trust", str(test_pki.root_pem), "--json", str(wrapped))
    assert run.returncode == 1, run.describe()
    assert json.loads(run.stdout)["contents"][0]["signatures"][0]["indication"] == "TOTAL_FAILED"


def test_cades_inside_cades_and_a_xades_two_levels_down(tmp_path: Path, home: Path, test_pki: TestPki,
                                                        root: x509.Certificate, signed_xml: Path) -> None:
    """``offre.xml.p7m.p7m``: openssl around openssl around xmlsec1. Each level is reported inside the
    one that wraps it, in one file's report and in a many-files run."""
    inner = openssl_attached(test_pki, signed_xml, tmp_path / "offre.xml.p7m", "-outform", "DER", signer="qualified")
    outer = openssl_attached(test_pki, inner, tmp_path / "offre.xml.p7m.p7m", "-stream", "-outform", "DER")
    assert openssl_verifies(outer, test_pki)
    assert openssl_verifies(openssl_unwrap(outer, tmp_path / "niveau2.p7m"), test_pki)

    report = verify_file(outer, trust_roots=[root])
    outer_signer(report)
    (level2,) = report.contents
    assert level2.file == "offre.xml.p7m", dump(report)
    (cades,) = level2.signatures
    assert (cades.format, cades.indication, cades.signer.name) == ("CAdES", PASSED, "Jeanne TITULAIRE"), dump(report)
    (level3,) = level2.contents
    assert level3.file == "offre.xml", dump(report)
    (xades,) = level3.signatures
    assert xades.format.startswith("XAdES") and xades.indication is PASSED, dump(report)
    assert report.exit_code == 0

    other = openssl_attached(test_pki, signed_xml, tmp_path / "autre.xml.p7m", "-outform", "DER")
    run = compagnon(home, "verify", "--trust", str(test_pki.root_pem), "--json", str(outer), str(other))
    assert run.returncode == 0, run.describe()
    entries = {e["file"]: e for e in json.loads(run.stdout)["files"]}
    double = entries["offre.xml.p7m.p7m"]
    assert (double["status"], double["indication"]) == ("signed", "TOTAL_PASSED")
    assert [c["file"] for c in double["contents"]] == ["offre.xml.p7m"]
    assert double["contents"][0]["contents"][0]["signatures"][0]["indication"] == "TOTAL_PASSED"
    assert json.loads(run.stdout)["summary"]["signatures"] == 5  # 3 in the double one, 2 in the other
    text = compagnon(home, "verify", "--trust", str(test_pki.root_pem), str(outer))
    assert text.returncode == 0 and "offre.xml (document contenu)" in text.stdout, text.describe()


def test_a_changed_cades_inside_a_valid_cades_fails_the_file(tmp_path: Path, test_pki: TestPki,
                                                            root: x509.Certificate) -> None:
    content = tmp_path / "prix.txt"
    content.write_bytes(b"Prix global et forfaitaire : 125000.00 EUR\n")
    inner = openssl_attached(test_pki, content, tmp_path / "prix.txt.p7m", "-outform", "DER", signer="qualified")
    data = inner.read_bytes()
    changed = tmp_path / "changed" / "prix.txt.p7m"
    changed.parent.mkdir()
    changed.write_bytes(data.replace(b"125000.00", b"125900.00"))
    assert not openssl_verifies(changed, test_pki)
    outer = openssl_attached(test_pki, changed, tmp_path / "prix.txt.p7m.p7m", "-outform", "DER")
    assert openssl_verifies(outer, test_pki)

    report = verify_file(outer, trust_roots=[root])
    outer_signer(report)
    (cades,) = report.contents[0].signatures
    assert (cades.indication, cades.sub_indication) == (FAILED, SubIndication.HASH_FAILURE), dump(report)
    assert report.contents[0].contents == []  # plain text inside: no further document to look into
    assert report.exit_code == 1


def test_nesting_is_verified_to_a_bounded_depth(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    """CMS inside CMS, one level more than verified: the deepest is "not checked", never dropped silently."""
    current = tmp_path / "prix.txt"
    current.write_bytes(b"Prix : 125000.00 EUR\n")
    for _ in range(MAX_NESTING + 1):
        current = openssl_attached(test_pki, current, current.with_name(current.name + ".p7m"), "-outform", "DER")
    report = verify_file(current, trust_roots=[root])
    level = report
    for _ in range(MAX_NESTING - 1):
        assert [s.indication for s in level.signatures] == [PASSED], dump(report)
        (level,) = level.contents
    assert [s.indication for s in level.signatures] == [PASSED], dump(report)
    (deepest,) = level.contents
    (unchecked,) = deepest.signatures
    assert unchecked.indication is Indication.INDETERMINATE, dump(report)
    assert str(unchecked.checks[0].status) == "not_checked" and str(MAX_NESTING) in unchecked.checks[0].message
    assert report.exit_code == 2


def test_an_unreadable_or_unsigned_xml_inside_cades(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    """Content that starts like XML but is none: not checked (INDETERMINATE); a well-formed XML without
    signature: a nested entry with no signature, the file as valid as its CAdES signer."""
    broken = tmp_path / "page.xml"
    broken.write_bytes(b"<html><body><p>Offre<br></body></html>\n")
    report = verify_file(openssl_attached(test_pki, broken, tmp_path / "page.xml.p7m", "-outform", "DER"),
                         trust_roots=[root])
    outer_signer(report)
    (unread,) = report.contents[0].signatures
    assert unread.indication is Indication.INDETERMINATE and str(unread.checks[0].status) == "not_checked", \
        dump(report)
    assert "XML" in unread.checks[0].message and report.exit_code == 2

    plain = tmp_path / "bordereau.xml"
    plain.write_bytes(b'<?xml version="1.0"?>\n<bordereau xmlns="urn:exemple"><prix>1</prix></bordereau>\n')
    report = verify_file(openssl_attached(test_pki, plain, tmp_path / "bordereau.xml.p7m", "-outform", "DER"),
                         trust_roots=[root])
    outer_signer(report)
    (inner,) = report.contents
    assert (inner.file, inner.signatures) == ("bordereau.xml", []), dump(report)
    assert report.exit_code == 0
