"""PDF document time-stamps and VRI time-stamps found, verified and reported; PAdES levels named.

Files from pyHanko used directly: a signature, ``add_validation_info`` (DSS + VRI), a ``/TS``
time-stamp in the VRI entry (EN 319 142-1 section 5.4.2.2) from the test PKI's TSA, and
``PdfTimeStamper`` document time-stamps (ISO 32000-2 section 12.8.5). The levels follow
EN 319 142-1 section 6: a document time-stamp makes a B-B signature B-T; DSS then a document
time-stamp over it, B-LTA.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509

from agent.validation import Indication, SignatureReport, VerificationReport, verify_file
from tests.support import pdf_producers as producers
from tests.support.pki import TestPki

PASSED = Indication.TOTAL_PASSED


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


def dump(report: VerificationReport | SignatureReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


def by_id(report: VerificationReport) -> dict[str, SignatureReport]:
    return {s.id: s for s in report.signatures}


def test_vri_timestamp_is_verified_and_reported(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    source = producers.source_pdf(tmp_path / "offre.pdf")
    signed = producers.pyhanko_sign(source, tmp_path / "signe.pdf", test_pki, timestamp=True)
    with_dss = producers.add_dss(signed, tmp_path / "dss.pdf", test_pki)
    with_ts = producers.add_vri_timestamp(with_dss, tmp_path / "vri-ts.pdf", test_pki)
    (signature,) = verify_file(with_ts, trust_roots=[root], locale="en").signatures
    assert signature.indication is PASSED, dump(signature)
    check = signature.check("vri_timestamp")
    assert check is not None and str(check.status) == "passed", dump(signature)
    assert "Compagnon" in check.message or "TSA" in check.message or "time-stamp" in check.message
    assert signature.level == "B-LT", dump(signature)  # a VRI time-stamp gives no level of its own

    wrong = producers.add_vri_timestamp(with_dss, tmp_path / "vri-ts-faux.pdf", test_pki, over=b"autre chose")
    (signature,) = verify_file(wrong, trust_roots=[root]).signatures
    assert signature.indication is PASSED, dump(signature)
    assert str(signature.check("vri_timestamp").status) == "warning", dump(signature)  # type: ignore[union-attr]


def test_document_timestamps_give_b_t_then_b_lta(tmp_path: Path, test_pki: TestPki, root: x509.Certificate) -> None:
    source = producers.source_pdf(tmp_path / "marche.pdf")
    signed = producers.pyhanko_sign(source, tmp_path / "signe-bb.pdf", test_pki)
    (signature,) = verify_file(signed, trust_roots=[root]).signatures
    assert signature.level == "B-B", dump(signature)

    stamped = producers.add_doc_timestamp(signed, tmp_path / "horodate.pdf", test_pki, field="Horodatage1",
                                          with_dss=False)
    report = verify_file(stamped, trust_roots=[root])
    signatures = by_id(report)
    assert set(signatures) == {"Signature1", "Horodatage1"}, dump(report)
    assert all(s.indication is PASSED for s in report.signatures), dump(report)
    assert signatures["Signature1"].level == "B-T" and signatures["Signature1"].signing_time_source == "timestamp"
    assert signatures["Horodatage1"].format == "PAdES-DocTimeStamp"
    assert signatures["Horodatage1"].signer.name is not None

    archived = producers.add_doc_timestamp(producers.add_dss(stamped, tmp_path / "dss.pdf", test_pki),
                                           tmp_path / "archive.pdf", test_pki, field="Horodatage2")
    report = verify_file(archived, trust_roots=[root], allow_fetching=False)
    signatures = by_id(report)
    assert set(signatures) == {"Signature1", "Horodatage1", "Horodatage2"}, dump(report)
    assert all(s.indication is PASSED for s in report.signatures), dump(report)
    assert signatures["Signature1"].level == "B-LTA", dump(report)
