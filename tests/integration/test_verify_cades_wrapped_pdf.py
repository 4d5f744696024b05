"""Attached CAdES around a signed PDF (``offre.pdf.p7m``), made by ``openssl cms`` — the commonest
file of French procurement — in every form real platforms store it: DER, BER (``-stream``), PEM,
and bare base64 with and without line breaks.

The CMS signer must be judged as CAdES (not as a broken PDF), the PDF it wraps must be reported with
its own PAdES signature (made by pyHanko's signer), ``compagnon verify --extract`` must give back the
exact PDF bytes, a changed content byte must fail (openssl agreeing), and a large attached content
must be verified in bounded memory.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from agent.validation import Indication, SubIndication, VerificationReport, detect_format, verify_file
from agent.validation.report_html import render_report
from tests.support.bounded import compagnon
from tests.support.pdf import make_pdf
from tests.support.pki import TestPki

PASSED, FAILED = Indication.TOTAL_PASSED, Indication.TOTAL_FAILED


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


@pytest.fixture(scope="module")
def signed_pdf(tmp_path_factory: pytest.TempPathFactory, test_pki: TestPki) -> Path:
    """A PAdES signature made by pyHanko's own signer (an independent producer)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    folder = tmp_path_factory.mktemp("pdf")
    source = folder / "offre-source.pdf"
    source.write_bytes(make_pdf(pages=2))
    signer = signers.SimpleSigner.load(str(test_pki.key_pem("qualified")), str(test_pki.cert_pem("qualified")),
                                       ca_chain_files=(str(test_pki.intermediate_pem),))
    assert signer is not None
    signed = folder / "offre.pdf"
    with source.open("rb") as f, signed.open("wb") as out:
        signers.sign_pdf(IncrementalPdfFileWriter(f), signers.PdfSignatureMetadata(
            field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES), signer=signer, output=out)
    return signed


def openssl_attached(pki: TestPki, content: Path, out: Path, *extra: str, signer: str = "plain") -> Path:
    subprocess.run(["openssl", "cms", "-sign", "-nodetach", "-binary", "-cades", "-in", str(content), "-out", str(out),
                    "-signer", str(pki.cert_pem(signer)), "-inkey", str(pki.key_pem(signer)),
                    "-certfile", str(pki.intermediate_pem), "-md", "sha256", *extra], check=True, capture_output=True)
    return out


def openssl_verifies(path: Path, pki: TestPki, inform: str = "DER") -> bool:
    result = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", inform, "-in", str(path),
                             "-CAfile", str(pki.root_pem), "-purpose", "any", "-out", "/dev/null"],
                            capture_output=True, text=True)
    return "Verification successful" in result.stderr


def dump(report: VerificationReport) -> str:
    return json.dumps(report.to_json(), indent=1, ensure_ascii=False)


def assert_cades_around_pades(report: VerificationReport) -> None:
    (signature,) = report.signatures
    assert signature.format == "CAdES" and signature.indication is PASSED, dump(report)
    assert signature.signer.name == "Paul SIMPLE", dump(report)
    (inner,) = report.contents
    assert inner.file == "offre.pdf", dump(report)
    (pades,) = inner.signatures
    assert pades.format == "PAdES" and pades.indication is PASSED, dump(report)
    assert pades.signer.name is not None and "Paul SIMPLE" not in pades.signer.name
    document = report.to_json()
    assert document["contents"][0]["signatures"][0]["format"] == "PAdES"
    assert report.exit_code == 0
    page = render_report(document, "fr")
    assert "Document contenu dans la signature : offre.pdf" in page and page.count('class="signature ') == 2


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory, test_pki: TestPki, signed_pdf: Path) -> dict[str, Path]:
    """The same signature in every form: DER, BER, PEM, base64 in lines, base64 on one line."""
    folder = tmp_path_factory.mktemp("p7m")
    (folder / "der").mkdir()
    der = openssl_attached(test_pki, signed_pdf, folder / "der" / "offre.pdf.p7m", "-outform", "DER")
    (folder / "ber").mkdir()
    ber = openssl_attached(test_pki, signed_pdf, folder / "ber" / "offre.pdf.p7m", "-stream", "-outform", "DER")
    (folder / "pem").mkdir()
    pem = openssl_attached(test_pki, signed_pdf, folder / "pem" / "offre.pdf.p7m", "-outform", "PEM")
    (folder / "b64").mkdir()
    lines = folder / "b64" / "offre.pdf.p7m"
    lines.write_bytes(base64.encodebytes(der.read_bytes()))
    (folder / "b64line").mkdir()
    one_line = folder / "b64line" / "offre.pdf.p7m"
    one_line.write_bytes(base64.b64encode(der.read_bytes()))
    return {"der": der, "ber": ber, "pem": pem, "b64": lines, "b64line": one_line}


def test_every_form_is_cms_not_a_pdf(forms: dict[str, Path]) -> None:
    assert forms["ber"].read_bytes()[:2] == b"\x30\x80"  # openssl -stream: indefinite lengths
    for name, path in forms.items():
        head = path.read_bytes()[:4096]
        if name in ("der", "ber"):
            assert b"%PDF-" in head[:1024], name  # the very trap: a PDF header inside the first KiB
        assert detect_format(head) == "cms", name


@pytest.mark.parametrize("form", ["der", "ber", "pem", "b64", "b64line"])
def test_cades_signer_and_the_wrapped_pades_are_reported(forms: dict[str, Path], form: str, test_pki: TestPki,
                                                         root: x509.Certificate) -> None:
    path = forms[form]
    report = verify_file(path, trust_roots=[root])
    assert_cades_around_pades(report)
    if form in ("der", "ber", "pem"):
        assert openssl_verifies(path, test_pki, "PEM" if form == "pem" else "DER")


def test_a_changed_content_byte_fails_as_openssl_says(tmp_path: Path, forms: dict[str, Path], test_pki: TestPki,
                                                       root: x509.Certificate, signed_pdf: Path) -> None:
    for form in ("der", "ber"):
        data = bytearray(forms[form].read_bytes())
        position = data.index(b"Page 1")
        data[position + 5] ^= 0x01  # "Page 0": the text of the wrapped PDF
        mutated = tmp_path / f"{form}-offre.pdf.p7m"
        mutated.write_bytes(bytes(data))
        report = verify_file(mutated, trust_roots=[root])
        (signature,) = report.signatures
        assert (signature.indication, signature.sub_indication) == (FAILED, SubIndication.HASH_FAILURE), dump(report)
        assert report.exit_code == 1
        assert not openssl_verifies(mutated, test_pki)


def test_extract_gives_the_exact_pdf(tmp_path: Path, home: Path, forms: dict[str, Path], test_pki: TestPki,
                                     signed_pdf: Path) -> None:
    for form, path in forms.items():
        out = tmp_path / f"{form}.pdf"
        run = compagnon(home, "verify", "--trust", str(test_pki.root_pem), "--extract", str(out), str(path))
        assert run.returncode == 0, run.describe()
        assert out.read_bytes() == signed_pdf.read_bytes(), form
        assert "PAdES" in run.stdout and "CAdES" in run.stdout, run.describe()


def test_extract_refuses_a_detached_signature(tmp_path: Path, home: Path, test_pki: TestPki,
                                              signed_pdf: Path) -> None:
    token = tmp_path / "offre.pdf.p7s"
    subprocess.run(["openssl", "cms", "-sign", "-binary", "-outform", "DER", "-in", str(signed_pdf),
                    "-out", str(token), "-signer", str(test_pki.cert_pem("plain")),
                    "-inkey", str(test_pki.key_pem("plain"))], check=True, capture_output=True)
    out = tmp_path / "extrait.pdf"
    run = compagnon(home, "verify", "--trust", str(test_pki.root_pem), "--content", str(signed_pdf),
                    "--extract", str(out), str(token))
    assert run.returncode != 0 and not out.exists(), run.describe()
    assert "détachée" in run.stderr, run.describe()
    run = compagnon(home, "verify", "--trust", str(test_pki.root_pem), "--extract", str(out), str(signed_pdf))
    assert run.returncode != 0 and not out.exists(), run.describe()
    assert "n'est pas une signature CMS enveloppante" in run.stderr, run.describe()


def test_large_attached_content_is_verified_in_bounded_memory(tmp_path: Path, home: Path, test_pki: TestPki) -> None:
    content = tmp_path / "archive.zip"
    size = 300 * 1024 * 1024
    with content.open("wb") as out:
        block = bytes(range(256)) * 4096
        for _ in range(size // len(block)):
            out.write(block)
    signed = openssl_attached(test_pki, content, tmp_path / "archive.zip.p7m", "-stream", "-outform", "DER")
    extracted = tmp_path / "extrait.zip"
    run = compagnon(home, "verify", "--trust", str(test_pki.root_pem), "--json", "--extract", str(extracted),
                    str(signed), timeout=240)
    assert run.returncode == 0, run.describe()
    assert json.loads(run.stdout)["signatures"][0]["indication"] == "TOTAL_PASSED"
    assert extracted.stat().st_size == size
    assert run.max_rss_mib < 250, run.describe()


def test_a_wrapped_document_that_is_no_readable_pdf_is_not_checked(tmp_path: Path, test_pki: TestPki,
                                                                    root: x509.Certificate) -> None:
    """Content that starts like a PDF but is none: the CAdES signer is valid, the enclosed document is
    "not checked" (INDETERMINATE), never a failed signature."""
    content = tmp_path / "faux.pdf"
    content.write_bytes(b"%PDF-1.7 ceci n'est pas un PDF\n" * 100)
    signed = openssl_attached(test_pki, content, tmp_path / "faux.pdf.p7m", "-outform", "DER")
    report = verify_file(signed, trust_roots=[root])
    (signature,) = report.signatures
    assert signature.indication is PASSED, dump(report)
    (inner,) = report.contents
    (unread,) = inner.signatures
    assert unread.indication is Indication.INDETERMINATE and str(unread.checks[0].status) == "not_checked", \
        dump(report)
    assert report.exit_code == 2


def test_a_wrapped_pdf_changed_after_its_pades_signature_fails_the_file(tmp_path: Path, home: Path,
                                                                        test_pki: TestPki, root: x509.Certificate,
                                                                        signed_pdf: Path) -> None:
    """A page added to the PDF after its PAdES signature, then the whole wrapped in a valid CAdES: the
    CAdES signer holds, the enclosed PAdES signature does not, and so the file does not (exit 1)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    changed = tmp_path / "offre.pdf"
    with signed_pdf.open("rb") as f:
        writer = IncrementalPdfFileWriter(f)
        stream = generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 770 Td (Page ajoutee) Tj ET")
        writer.insert_page(generic.DictionaryObject({
            generic.pdf_name("/Type"): generic.pdf_name("/Page"),
            generic.pdf_name("/MediaBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)]),
            generic.pdf_name("/Resources"): generic.DictionaryObject(),
            generic.pdf_name("/Contents"): writer.add_object(stream),
        }))
        with changed.open("wb") as output:
            writer.write(output)
    wrapped = openssl_attached(test_pki, changed, tmp_path / "offre.pdf.p7m", "-outform", "DER")
    assert openssl_verifies(wrapped, test_pki)
    report = verify_file(wrapped, trust_roots=[root])
    (signature,) = report.signatures
    assert signature.indication is PASSED, dump(report)
    (pades,) = report.contents[0].signatures
    assert pades.indication is FAILED, dump(report)
    assert report.exit_code == 1
    run = compagnon(home, "verify", "--trust", str(test_pki.root_pem), "--json", str(wrapped))
    assert run.returncode == 1, run.describe()
    assert json.loads(run.stdout)["contents"][0]["signatures"][0]["indication"] == "TOTAL_FAILED"
