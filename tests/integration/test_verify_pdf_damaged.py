"""One bad part never hides the rest of a PDF (security promise 12, docs/SECURITY.md).

Damaged validation material (EN 319 142-1 section 5.4.2 DSS entries, the certificates and revocation
values of a signature's CMS, RFC 5652 section 5.1) is skipped with a warning; every signature of the
file is still reported, each with its own verdict. The files are signed by pyHanko used directly
(an independent producer) and then damaged in their unsigned parts only.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from agent.validation import Indication, SignatureReport, VerificationReport, verify_file
from tests.support import pdf_producers as producers
from tests.support.pdf_damage import corrupt_dss, garble_cms_material
from tests.support.pki import TestPki
from tests.support.verifiers import nss_database


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


def dump(report: VerificationReport | SignatureReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


def _two_signatures(tmp_path: Path, pki: TestPki) -> Path:
    source = producers.source_pdf(tmp_path / "marche.pdf")
    first = producers.pyhanko_sign(source, tmp_path / "une-signature.pdf", pki, field="Acheteur")
    return producers.pyhanko_sign(first, tmp_path / "deux-signatures.pdf", pki, field="Titulaire",
                                  signer_name="plain")


def test_a_corrupt_stream_in_the_dss_hides_no_signature(tmp_path: Path, test_pki: TestPki,
                                                        root: x509.Certificate) -> None:
    signed = _two_signatures(tmp_path, test_pki)
    with_dss = producers.add_dss(signed, tmp_path / "avec-dss.pdf", test_pki, field="Titulaire")
    damaged = corrupt_dss(with_dss, tmp_path / "dss-corrompu.pdf")
    report = verify_file(damaged, trust_roots=[root])
    assert [s.id for s in report.signatures] == ["Acheteur", "Titulaire"], dump(report)
    # pdfsig (which reads no DSS) judges both signatures valid too.
    nss = nss_database(tmp_path / "nss", test_pki.root_pem)
    assert producers.pdfsig_signatures(damaged, nss) == ["Signature is Valid.", "Signature is Valid."]
    for signature in report.signatures:
        assert signature.indication is Indication.TOTAL_PASSED, dump(signature)
        skipped = signature.check("validation_data")
        assert skipped is not None and str(skipped.status) == "warning", dump(signature)
        assert "DSS" in skipped.message


def test_malformed_certificate_ocsp_and_timestamp_in_a_signature_are_skipped(tmp_path: Path, test_pki: TestPki,
                                                                            root: x509.Certificate) -> None:
    source = producers.source_pdf(tmp_path / "offre.pdf")
    signed = producers.pyhanko_sign(source, tmp_path / "offre-signee.pdf", test_pki)
    damaged = garble_cms_material(signed, tmp_path / "cms-abime.pdf")
    report = verify_file(damaged, trust_roots=[root], locale="en")
    (signature,) = report.signatures
    assert signature.id == "Signature1", dump(report)
    assert signature.indication is Indication.TOTAL_PASSED, dump(signature)
    skipped = signature.check("validation_data")
    assert skipped is not None and str(skipped.status) == "warning", dump(signature)
    assert "certificate" in skipped.message and "OCSP" in skipped.message, dump(signature)
    assert str(signature.check("timestamp").status) == "warning", dump(signature)  # type: ignore[union-attr]


def test_a_garbage_signature_is_its_own_entry_beside_a_good_one(tmp_path: Path, test_pki: TestPki,
                                                               root: x509.Certificate) -> None:
    signed = _two_signatures(tmp_path, test_pki)
    data = bytearray(signed.read_bytes())
    # The last signature's /Contents (outside every byte range) becomes a SEQUENCE of garbage.
    start = data.rindex(b"/Contents <") + len(b"/Contents <")
    data[start:start + 16] = b"300602010104010a"
    damaged = tmp_path / "une-signature-illisible.pdf"
    damaged.write_bytes(bytes(data))
    report = verify_file(damaged, trust_roots=[root])
    by_id = {s.id: s for s in report.signatures}
    assert set(by_id) == {"Acheteur", "Titulaire"}, dump(report)
    assert by_id["Titulaire"].indication is not Indication.TOTAL_PASSED, dump(report)
    assert by_id["Acheteur"].indication is Indication.TOTAL_PASSED, dump(report)
