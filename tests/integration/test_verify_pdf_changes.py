"""Changes made to a signed PDF after signing, judged as the EU validation policy does (ISO 32000-1 §12.8.2.2).

The files come from producers other than Compagnon: pyHanko used directly (signing, certification
with DocMDP, ``add_validation_info``, ``PdfTimeStamper``) and poppler's ``pdfsig -add-signature``;
the later updates (form filling, an annotation, page pieces, a forged page) are written with
pyHanko's incremental writer. Validation data, document time-stamps, further signatures and
permitted form filling pass; annotations pass with a warning; what the signer's DocMDP forbids and
any change to a signed page's content fail. Where pyHanko or pdfsig judge, they must agree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import MDPPerm

from agent.validation import Indication, SignatureReport, SubIndication, VerificationReport, verify_file
from tests.support import pdf_producers as producers
from tests.support.pki import TestPki

PASSED, FAILED, INDETERMINATE = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED, Indication.INDETERMINATE


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


@pytest.fixture(scope="module")
def nss(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    return producers.nss_signing_database(tmp_path_factory.mktemp("nss"), test_pki)


@pytest.fixture(scope="module")
def signed(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-page PDF signed by pyHanko (approval signature, PAdES B-T: signature time-stamp)."""
    folder = tmp_path_factory.mktemp("signe")
    source = producers.source_pdf(folder / "offre.pdf")
    return producers.pyhanko_sign(source, folder / "offre-signee.pdf", test_pki, timestamp=True)


def dump(report: VerificationReport | SignatureReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


def by_id(report: VerificationReport) -> dict[str, SignatureReport]:
    return {s.id: s for s in report.signatures}


def modification(signature: SignatureReport) -> str:
    check = signature.check("modification")
    assert check is not None, dump(signature)
    return str(check.status)


def test_dss_then_document_timestamp_pass_and_pyhanko_agrees(tmp_path: Path, test_pki: TestPki,
                                                             root: x509.Certificate, signed: Path,
                                                             nss: tuple[Path, str]) -> None:
    with_dss = producers.add_dss(signed, tmp_path / "avec-dss.pdf", test_pki)
    report = verify_file(with_dss, trust_roots=[root])
    (signature,) = report.signatures
    assert signature.indication is PASSED and modification(signature) == "passed", dump(signature)
    assert signature.level == "B-LT", dump(signature)
    assert producers.pyhanko_judgement(with_dss, test_pki, "Signature1").docmdp_ok is True

    stamped = producers.add_doc_timestamp(with_dss, tmp_path / "avec-dss-horodate.pdf", test_pki)
    report = verify_file(stamped, trust_roots=[root])
    signatures = by_id(report)
    assert set(signatures) == {"Signature1", "Horodatage"}, dump(report)
    assert all(s.indication is PASSED for s in report.signatures), dump(report)
    assert signatures["Signature1"].level == "B-LTA", dump(report)
    assert modification(signatures["Signature1"]) == "passed"
    judged = producers.pyhanko_judgement(stamped, test_pki, "Signature1")
    assert judged.intact and judged.valid and judged.docmdp_ok is True
    assert judged.modification_level == ModificationLevel.LTA_UPDATES
    assert producers.pdfsig_signatures(stamped, nss[0])[0] == "Signature is Valid."


def test_form_filling_allowed_by_the_certification_passes(tmp_path: Path, test_pki: TestPki,
                                                          root: x509.Certificate) -> None:
    form = producers.add_text_field(producers.source_pdf(tmp_path / "formulaire.pdf"), tmp_path / "champ.pdf")
    certified = producers.pyhanko_sign(form, tmp_path / "certifie.pdf", test_pki, certify=MDPPerm.FILL_FORMS)
    filled = producers.fill_text_field(certified, tmp_path / "rempli.pdf", "1 200,00 EUR")
    (signature,) = verify_file(filled, trust_roots=[root]).signatures
    assert signature.indication is PASSED and modification(signature) == "passed", dump(signature)
    assert producers.pyhanko_judgement(filled, test_pki, "Signature1").docmdp_ok is True

    locked = producers.pyhanko_sign(form, tmp_path / "certifie-fige.pdf", test_pki, certify=MDPPerm.NO_CHANGES)
    refused = producers.fill_text_field(locked, tmp_path / "rempli-interdit.pdf", "1 200,00 EUR")
    (signature,) = verify_file(refused, trust_roots=[root]).signatures
    assert (signature.indication, signature.sub_indication) == (FAILED, SubIndication.FORMAT_FAILURE), dump(signature)
    assert "DocMDP" in signature.check("modification").message  # type: ignore[union-attr]
    assert producers.pyhanko_judgement(refused, test_pki, "Signature1").docmdp_ok is False


def test_a_field_the_signature_locks_cannot_be_filled_after_it(tmp_path: Path, test_pki: TestPki,
                                                                root: x509.Certificate) -> None:
    form = producers.add_text_field(producers.source_pdf(tmp_path / "formulaire.pdf"), tmp_path / "champ.pdf")
    signed = producers.pyhanko_sign(form, tmp_path / "verrouille.pdf", test_pki, lock_fields=("Montant",))
    filled = producers.fill_text_field(signed, tmp_path / "verrouille-rempli.pdf", "9 999 999,00 EUR")
    (signature,) = verify_file(filled, trust_roots=[root]).signatures
    assert (signature.indication, signature.sub_indication) == (FAILED, SubIndication.FORMAT_FAILURE), dump(signature)
    assert "Montant" in signature.check("modification").message  # type: ignore[union-attr]
    assert producers.pyhanko_judgement(filled, test_pki, "Signature1").docmdp_ok is False


def test_an_annotation_passes_with_a_warning_unless_docmdp_forbids_it(tmp_path: Path, test_pki: TestPki,
                                                                      root: x509.Certificate, signed: Path,
                                                                      nss: tuple[Path, str]) -> None:
    annotated = producers.add_annotation(signed, tmp_path / "annotee.pdf")
    (signature,) = verify_file(annotated, trust_roots=[root]).signatures
    assert signature.indication is PASSED and modification(signature) == "warning", dump(signature)
    assert "nnotation" in signature.check("modification").message  # type: ignore[union-attr]
    assert producers.pdfsig_signatures(annotated, nss[0]) == ["Signature is Valid."]
    # pyHanko's default policy is stricter than the EU one here (it treats any annotation as suspicious):
    # the cryptographic integrity, which it does judge, agrees.
    assert producers.pyhanko_judgement(annotated, test_pki, "Signature1").intact
    # An editor that also sets the page's tab order: the page's content is unchanged, still a warning.
    tabbed = producers.add_annotation(signed, tmp_path / "annotee-tabs.pdf", tab_order=True)
    (signature,) = verify_file(tabbed, trust_roots=[root]).signatures
    assert signature.indication is PASSED and modification(signature) == "warning", dump(signature)

    source = producers.source_pdf(tmp_path / "note.pdf")
    for permission, expected in ((MDPPerm.ANNOTATE, PASSED), (MDPPerm.FILL_FORMS, FAILED)):
        certified = producers.pyhanko_sign(source, tmp_path / f"certifie-{permission.value}.pdf", test_pki,
                                           certify=permission)
        (signature,) = verify_file(producers.add_annotation(certified, tmp_path / f"note-{permission.value}.pdf"),
                                   trust_roots=[root]).signatures
        assert signature.indication is expected, dump(signature)


def test_another_signature_added_by_pdfsig_keeps_both_valid(tmp_path: Path, test_pki: TestPki,
                                                            root: x509.Certificate, signed: Path,
                                                            nss: tuple[Path, str]) -> None:
    both = producers.pdfsig_add_signature(signed, tmp_path / "cosigne-poppler.pdf", nss[0], nss[1])
    report = verify_file(both, trust_roots=[root])
    signatures = by_id(report)
    assert set(signatures) == {"Signature1", "SignaturePoppler"}, dump(report)
    for signature in report.signatures:
        assert signature.indication is PASSED, dump(signature)
    assert modification(signatures["Signature1"]) == "passed"
    assert producers.pdfsig_signatures(both, nss[0]) == ["Signature is Valid.", "Signature is Valid."]
    assert producers.pyhanko_judgement(both, test_pki, "Signature1").docmdp_ok is True


def test_page_pieces_pass_and_an_unclassified_change_warns(tmp_path: Path, root: x509.Certificate,
                                                           signed: Path) -> None:
    pieces = producers.add_piece_info(signed, tmp_path / "pieceinfo.pdf")
    (signature,) = verify_file(pieces, trust_roots=[root]).signatures
    assert signature.indication is PASSED and modification(signature) == "passed", dump(signature)

    mode = producers.set_page_mode(signed, tmp_path / "pagemode.pdf")
    (signature,) = verify_file(mode, trust_roots=[root]).signatures
    assert signature.indication is PASSED and modification(signature) == "warning", dump(signature)


def test_content_changed_over_a_signed_page_fails(tmp_path: Path, test_pki: TestPki, root: x509.Certificate,
                                                  signed: Path, nss: tuple[Path, str]) -> None:
    forged = producers.replace_page_content(signed, tmp_path / "falsifie.pdf")
    (signature,) = verify_file(forged, trust_roots=[root]).signatures
    assert (signature.indication, signature.sub_indication) == (FAILED, SubIndication.FORMAT_FAILURE), dump(signature)
    assert str(signature.check("integrity").status) == "passed"  # type: ignore[union-attr]
    judged = producers.pyhanko_judgement(forged, test_pki, "Signature1")
    assert judged.intact and judged.docmdp_ok is False  # pyHanko sees the change too
    assert producers.pdfsig_signatures(forged, nss[0]) == ["Signature is Valid."]  # pdfsig does not
    # Even hidden behind an annotation added in the same update.
    both = producers.add_annotation(producers.replace_page_content(signed, tmp_path / "f2.pdf", page=1),
                                    tmp_path / "falsifie-annote.pdf")
    (signature,) = verify_file(both, trust_roots=[root]).signatures
    assert signature.indication is FAILED, dump(signature)


def test_an_analysis_that_cannot_finish_is_indeterminate(tmp_path: Path, root: x509.Certificate,
                                                         signed: Path) -> None:
    """A later revision whose updated page object does not parse: the analysis fails, the verdict says so."""
    data = signed.read_bytes()
    start = len(data)
    body = b"4 0 obj\n<< /Type /Page /Parent 2 0 R /Contents [ 5 0 R \nendobj\n"
    xref = start + len(body)
    size = int(data[data.rindex(b"/Size") + 5:].split()[0].rstrip(b">/"))
    previous = int(data[data.rindex(b"startxref") + 9:].split()[0])
    update = body + (b"xref\n0 1\n0000000000 65535 f \n4 1\n%010d 00000 n \n" % start) + \
        b"trailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (size, previous, xref)
    broken = tmp_path / "revision-illisible.pdf"
    broken.write_bytes(data + update)
    report = verify_file(broken, trust_roots=[root], locale="en")
    assert [s.id for s in report.signatures] == ["Signature1"], dump(report)
    (signature,) = report.signatures
    assert (signature.indication, signature.sub_indication) == (INDETERMINATE, SubIndication.GENERIC), dump(report)
    assert "could not be analysed" in signature.check("modification").message  # type: ignore[union-attr]
