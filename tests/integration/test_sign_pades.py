"""PAdES engine on real parts: PKCS#12 and SoftHSM2 keys, the test PKI's TSA, CRL and OCSP services.

Every output is checked twice, independently: by poppler's ``pdfsig`` (NSS, with the test root in
an NSS database, online OCSP on) and by pyHanko's validator trusting the test root.
"""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_signature, validate_pdf_timestamp
from pyhanko_certvalidator import ValidationContext

from agent.consent import Secret
from agent.errors import ErrorCode, ReportedError
from agent.keystores.base import KeySession
from agent.keystores.pkcs11_store import Pkcs11Module
from agent.keystores.pkcs12_store import Pkcs12FileStore
from agent.pki.streams import CHUNK
from agent.signing.base import SigningKey
from agent.signing.pades import VisibleStamp, sign_pdf
from agent.tsa_client import http_timestamper
from tests.support.pdf import make_pdf, make_pdf_file
from tests.support.pki import TestPki
from tests.support.softhsm import ProvisionedToken

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
KEYS = ("p12-rsa", "token-rsa", "token-ec")
MECHANISMS = {"pkcs1v15": "sha256_rsa", "pss": "rsassa_pss", "ecdsa": "sha256_ecdsa"}
CADES = "ETSI.CAdES.detached"


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root(test_pki: TestPki) -> x509.Certificate:
    return x509.load_pem_x509_certificate(test_pki.root_pem.read_bytes())


@pytest.fixture(scope="module")
def nss_db(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An NSS database trusting the test root, for pdfsig."""
    folder = tmp_path_factory.mktemp("nss")
    subprocess.run(["certutil", "-N", "-d", f"sql:{folder}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{folder}", "-n", "root", "-t", "CT,C,C",
                    "-i", str(test_pki.root_pem)], check=True, capture_output=True)
    return folder


@pytest.fixture(scope="module")
def keys(test_pki: TestPki, token: ProvisionedToken) -> Iterator[dict[str, SigningKey]]:
    """Signing keys by source: a PKCS#12 file (RSA, also used with PSS) and the SoftHSM token."""
    sessions: list[KeySession] = []
    p12 = Pkcs12FileStore(test_pki.p12("qualified", "mot de passe"))
    (p12_key,) = p12.unlock(Secret("mot de passe"))
    sessions.append(p12.open(Secret("mot de passe")))
    store = next(s for s in Pkcs11Module(token.hsm.module).tokens() if s.token_label == token.label)
    sessions.append(store.open(Secret(token.pin)))
    token_keys = {k.certificate: k for k in store.keys()}
    found = {
        "p12-rsa": SigningKey.from_session(sessions[0], p12_key),
        "p12-pss": SigningKey.from_session(sessions[0], p12_key, pss=True),
        "token-rsa": SigningKey.from_session(sessions[1], token_keys[token.certificates["qualified"]]),
        "token-ec": SigningKey.from_session(sessions[1], token_keys[token.certificates["qualified_ec"]]),
    }
    yield found
    for session in sessions:
        session.close()


# --- independent checks ----------------------------------------------------------------------


def pdfsig(path: Path, nss_db: Path) -> tuple[list[dict[str, str]], str]:
    """pdfsig's report, one dict per signature field (``- Key: value`` lines), and its raw output."""
    result = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss_db}", str(path)],
                            capture_output=True, text=True, timeout=120)
    signatures: list[dict[str, str]] = []
    for line in result.stdout.splitlines():
        if line.startswith("Signature #"):
            signatures.append({})
        elif line.strip().startswith("- ") and signatures:
            key, _, value = line.strip()[2:].partition(": ")
            signatures[-1][key] = value
    return signatures, result.stdout + result.stderr


def assert_pdfsig_valid(path: Path, nss_db: Path, count: int = 1) -> list[dict[str, str]]:
    signatures, raw = pdfsig(path, nss_db)
    cades = [s for s in signatures if s.get("Signature Type") == CADES]
    assert len(cades) == count, raw
    for sig in cades:
        assert sig["Signature Validation"] == "Signature is Valid.", raw
        assert sig["Certificate Validation"] == "Certificate is Trusted.", raw
    return signatures


def asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def context(root: x509.Certificate, **kwargs: Any) -> ValidationContext:
    kwargs.setdefault("allow_fetching", True)
    return ValidationContext(trust_roots=[asn1(root)], **kwargs)


def first_dss_revision(reader: PdfFileReader) -> int | None:
    for revision in range(reader.xrefs.total_revisions):
        if "/DSS" in reader.get_historical_root(revision):
            return revision
    return None


def assert_pyhanko_valid(path: Path, root: x509.Certificate, level: str, key: SigningKey, index: int = -1) -> None:
    """pyHanko: intact, valid and trusted; the PAdES baseline shape of ``level``."""
    with path.open("rb") as stream:
        reader = PdfFileReader(stream)
        sig = reader.embedded_regular_signatures[index]
        status = validate_pdf_signature(sig, context(root), ts_validation_context=context(root))
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert status.bottom_line, status.pretty_print_details()
        # B-B (ETSI EN 319 142-1 section 6.3): ETSI.CAdES.detached, signing-certificate-v2,
        # no signing-time attribute, the claimed time in /M.
        assert sig.sig_object["/SubFilter"] == "/" + CADES
        assert "/M" in sig.sig_object
        signed = [a["type"].native for a in sig.signer_info["signed_attrs"]]
        assert "signing_certificate_v2" in signed and "signing_time" not in signed
        assert sig.signer_info["signature_algorithm"]["algorithm"].native == MECHANISMS[key.scheme]
        unsigned_attrs = sig.signer_info["unsigned_attrs"]
        unsigned = [a["type"].native for a in unsigned_attrs] if unsigned_attrs.native else []
        if level == "B-B":
            assert status.timestamp_validity is None and "signature_time_stamp_token" not in unsigned
            return
        ts = status.timestamp_validity
        assert "signature_time_stamp_token" in unsigned
        assert ts is not None and ts.intact and ts.valid and ts.trusted, status.pretty_print_details()
        if level == "B-T":
            if len(reader.embedded_signatures) == 1:
                assert "/DSS" not in reader.root
            return
        # B-LT: a DSS, after the signature, that alone lets the signature and its time-stamp validate
        # offline, revocation checks mandatory.
        dss = DocumentSecurityStore.read_dss(reader)
        assert dss.certs and dss.ocsps and dss.crls
        dss_revision = first_dss_revision(reader)
        assert dss_revision is not None and dss_revision > sig.signed_revision
        offline = dss.as_validation_context({
            "trust_roots": [asn1(root)],
            "allow_fetching": False, "revocation_mode": "hard-fail",
        })
        offline_status = validate_pdf_signature(sig, offline, ts_validation_context=offline)
        assert offline_status.trusted and offline_status.bottom_line, offline_status.pretty_print_details()
        timestamps = reader.embedded_timestamp_signatures
        if level == "B-LT":
            assert not timestamps
            return
        # B-LTA: a document time-stamp over the revision holding the DSS.
        assert timestamps
        doc_ts = timestamps[-1]
        assert doc_ts.sig_object["/SubFilter"] == "/ETSI.RFC3161"
        assert doc_ts.signed_revision >= dss_revision
        ts_status = validate_pdf_timestamp(doc_ts, validation_context=context(root))
        assert ts_status.intact and ts_status.valid and ts_status.trusted, ts_status.pretty_print_details()


def sign_file(tmp_path: Path, source: Path, key: SigningKey, test_pki: TestPki, root: x509.Certificate,
              name: str = "signed.pdf", **options: Any) -> tuple[Path, list[tuple[int, int]]]:
    """Sign ``source`` into ``tmp_path/name`` through real files (``w+b``), recording progress."""
    calls: list[tuple[int, int]] = []
    output = tmp_path / name
    with source.open("rb") as src, output.open("w+b") as out:
        sign_pdf(src, out, key, timestamper=http_timestamper(test_pki.tsa_url), trust_roots=[root],
                 progress=lambda done, total: calls.append((done, total)), **options)
    return output, calls


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("source", KEYS)
def test_each_level_with_each_key_source(tmp_path: Path, test_pki: TestPki, root: x509.Certificate, nss_db: Path,
                                         keys: dict[str, SigningKey], source: str, level: str) -> None:
    key = keys[source]
    pdf = tmp_path / "Lettre.pdf"
    pdf.write_bytes(make_pdf(pages=2))
    signed, calls = sign_file(tmp_path, pdf, key, test_pki, root, level=level, reason="Dépôt de l'offre",
                              location="Lyon")
    assert signed.read_bytes().startswith(pdf.read_bytes())  # incremental update of the original
    assert calls[0][0] == 0 and calls[-1][0] == calls[-1][1] > 0
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    signatures = assert_pdfsig_valid(signed, nss_db)
    if level == "B-LTA":
        tsa = "Compagnon Test Time Stamping Authority"
        assert any(s.get("Signer Certificate Common Name") == tsa for s in signatures)
    assert_pyhanko_valid(signed, root, level, key)


@pytest.mark.parametrize("level", ["B-B", "B-T"])
def test_rsa_pss(tmp_path: Path, test_pki: TestPki, root: x509.Certificate, nss_db: Path,
                 keys: dict[str, SigningKey], level: str) -> None:
    key = keys["p12-pss"]
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(make_pdf())
    signed, _ = sign_file(tmp_path, pdf, key, test_pki, root, level=level)
    assert_pdfsig_valid(signed, nss_db)
    assert_pyhanko_valid(signed, root, level, key)
    with signed.open("rb") as stream:
        algorithm = PdfFileReader(stream).embedded_regular_signatures[0].signer_info["signature_algorithm"]
        params = algorithm["parameters"].native
    assert params["hash_algorithm"]["algorithm"] == "sha256"
    assert params["mask_gen_algorithm"]["algorithm"] == "mgf1"
    assert params["mask_gen_algorithm"]["parameters"]["algorithm"] == "sha256"
    assert params["salt_length"] == 32


def test_tampered_byte_breaks_the_signature(tmp_path: Path, test_pki: TestPki, root: x509.Certificate,
                                            nss_db: Path, keys: dict[str, SigningKey]) -> None:
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(make_pdf(pages=2))
    signed, _ = sign_file(tmp_path, pdf, keys["p12-rsa"], test_pki, root, level="B-B")
    data = bytearray(signed.read_bytes())
    position = data.index(b"(Page 2)")  # inside the first signed byte range: page content
    data[position + 1] = ord("X")
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    signatures, raw = pdfsig(tampered, nss_db)
    assert signatures and signatures[0]["Signature Validation"] != "Signature is Valid.", raw
    with tampered.open("rb") as stream:
        status = validate_pdf_signature(PdfFileReader(stream).embedded_regular_signatures[0], context(root))
    assert not status.intact


def test_second_signature_by_incremental_update(tmp_path: Path, test_pki: TestPki, root: x509.Certificate,
                                                nss_db: Path, keys: dict[str, SigningKey]) -> None:
    pdf = tmp_path / "Offre.pdf"
    pdf.write_bytes(make_pdf(pages=2))
    first, _ = sign_file(tmp_path, pdf, keys["p12-rsa"], test_pki, root, name="first.pdf", level="B-T",
                         stamp=VisibleStamp(1, (50, 50, 250, 110)))
    second, _ = sign_file(tmp_path, first, keys["token-ec"], test_pki, root, name="second.pdf", level="B-LTA",
                          stamp=VisibleStamp(1, (300, 50, 500, 110)))
    assert second.read_bytes()[: first.stat().st_size] == first.read_bytes()
    signatures = assert_pdfsig_valid(second, nss_db, count=2)
    names = [s["Signature Field Name"] for s in signatures if s.get("Signature Type") == CADES]
    assert names == ["Signature1", "Signature2"]
    assert_pyhanko_valid(second, root, "B-T", keys["p12-rsa"], index=0)
    assert_pyhanko_valid(second, root, "B-LTA", keys["token-ec"], index=1)
    with second.open("rb") as stream:
        reader = PdfFileReader(stream)
        earlier = validate_pdf_signature(reader.embedded_regular_signatures[0], context(root))
    assert earlier.modification_level is not None and earlier.docmdp_ok, earlier.pretty_print_details()


def _unescape(content: bytes) -> bytes:
    """Content stream bytes with the octal escapes of string literals resolved (ISO 32000-1 7.3.4.2)."""
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), content)


def _grey_pixels(pgm: bytes) -> tuple[int, int, bytes]:
    """Width, height and pixels of a binary PGM (P5) file."""
    fields = pgm.split(maxsplit=4)
    assert fields[0] == b"P5"
    width, height = int(fields[1]), int(fields[2])
    return width, height, fields[4][-width * height:]


def _dark_pixels_in(pdf: Path, page: int, box: tuple[float, float, float, float], tmp_path: Path) -> int:
    """Dark pixels rendered by pdftoppm (72 dpi: one pixel per point) inside ``box`` on ``page``."""
    prefix = tmp_path / f"render-{pdf.stem}"
    subprocess.run(["pdftoppm", "-f", str(page), "-l", str(page), "-r", "72", "-gray", "-singlefile",
                    str(pdf), str(prefix)], check=True, capture_output=True)
    width, height, pixels = _grey_pixels(prefix.with_suffix(".pgm").read_bytes())
    x1, y1, x2, y2 = (int(v) for v in box)
    return sum(1 for y in range(height - y2, height - y1) for x in range(x1, x2) if pixels[y * width + x] < 128)


@pytest.mark.parametrize(("page", "expected_index"), [(2, 1), (-1, 2)])
def test_visible_stamp_on_the_chosen_page(tmp_path: Path, test_pki: TestPki, root: x509.Certificate, nss_db: Path,
                                          keys: dict[str, SigningKey], page: int, expected_index: int) -> None:
    box = (300.0, 100.0, 540.0, 180.0)
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(make_pdf(pages=3))
    signed, _ = sign_file(tmp_path, pdf, keys["token-rsa"], test_pki, root, level="B-B", reason="Offre finale",
                          stamp=VisibleStamp(page, box))
    assert_pdfsig_valid(signed, nss_db)
    with signed.open("rb") as stream:
        reader = PdfFileReader(stream)
        field = reader.embedded_regular_signatures[0].sig_field
        rect = [float(v) for v in field["/Rect"]]
        assert rect == list(box) and rect[2] > rect[0] and rect[3] > rect[1]
        kids = reader.root["/Pages"]["/Kids"]
        assert field.raw_get("/P").idnum == kids.raw_get(expected_index).idnum
        annots = kids[expected_index]["/Annots"]
        assert any(annots.raw_get(i).idnum == field.container_ref.idnum for i in range(len(annots)))
        appearance = field["/AP"]["/N"].data
    text = _unescape(appearance).decode("cp1252")  # the stamp font's WinAnsiEncoding
    assert "(Signé par Jeanne TITULAIRE)" in text and "(Offre finale)" in text
    assert _dark_pixels_in(pdf, expected_index + 1, box, tmp_path) == 0
    assert _dark_pixels_in(signed, expected_index + 1, box, tmp_path) > 200


def test_custom_stamp_text_and_field_name(tmp_path: Path, test_pki: TestPki, root: x509.Certificate,
                                          keys: dict[str, SigningKey]) -> None:
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(make_pdf())
    signed, _ = sign_file(tmp_path, pdf, keys["p12-rsa"], test_pki, root, level="B-B", field_name="Visa acheteur",
                          stamp=VisibleStamp(1, (72, 72, 300, 120), text="Visa : 100 % conforme – œuvre"))
    with signed.open("rb") as stream:
        sig = PdfFileReader(stream).embedded_regular_signatures[0]
        assert sig.field_name == "Visa acheteur"
        appearance = sig.sig_field["/AP"]["/N"].data
    assert b"(Visa : 100 % conforme - oeuvre)" in _unescape(appearance)


def test_progress_while_copying_a_large_file(tmp_path: Path, test_pki: TestPki, root: x509.Certificate,
                                             nss_db: Path, keys: dict[str, SigningKey]) -> None:
    pdf = make_pdf_file(tmp_path / "gros.pdf", pages=4, target_size=12 * CHUNK)
    signed, calls = sign_file(tmp_path, pdf, keys["p12-rsa"], test_pki, root, level="B-T")
    size = pdf.stat().st_size
    assert calls[0] == (0, 2 * size) and calls[-1] == (2 * size, 2 * size)
    assert len(calls) >= 12  # reported while copying and digesting, not only at start and end
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    assert_pdfsig_valid(signed, nss_db)


def test_levels_above_b_b_need_a_timestamper_and_bad_input_is_refused(keys: dict[str, SigningKey]) -> None:
    pdf = make_pdf(pages=2)
    for level in ("B-T", "B-LT", "B-LTA"):
        with pytest.raises(ValueError, match="horodatage"):
            sign_pdf(io.BytesIO(pdf), io.BytesIO(), keys["p12-rsa"], level=level)
    with pytest.raises(ValueError, match="niveau"):
        sign_pdf(io.BytesIO(pdf), io.BytesIO(), keys["p12-rsa"], level="B-X")
    with pytest.raises(ValueError, match="page"):
        sign_pdf(io.BytesIO(pdf), io.BytesIO(), keys["p12-rsa"], stamp=VisibleStamp(3, (10, 10, 100, 50)))
    with pytest.raises(ValueError, match="cadre"):
        sign_pdf(io.BytesIO(pdf), io.BytesIO(), keys["p12-rsa"], stamp=VisibleStamp(1, (100, 10, 10, 50)))


def test_a_token_for_another_digest_is_refused(test_pki: TestPki, keys: dict[str, SigningKey]) -> None:
    real = http_timestamper(test_pki.tsa_url)

    def lying(digest: bytes, hash_name: str) -> bytes:
        return real(bytes(len(digest)), hash_name)  # type: ignore[arg-type]

    with pytest.raises(SigningError, match="horodatage"):
        sign_pdf(io.BytesIO(make_pdf()), io.BytesIO(), keys["p12-rsa"], level="B-T", timestamper=lying)


def test_sign_from_inside_a_running_event_loop(keys: dict[str, SigningKey], root: x509.Certificate, nss_db: Path,
                                               tmp_path: Path) -> None:
    """The engine is sync; called by mistake from a coroutine it still works (own loop, own thread)."""
    out = io.BytesIO()

    async def main() -> None:
        sign_pdf(io.BytesIO(make_pdf()), out, keys["p12-rsa"])

    asyncio.run(main())
    signed = tmp_path / "loop.pdf"
    signed.write_bytes(out.getvalue())
    assert_pdfsig_valid(signed, nss_db)



async def test_sign_in_a_worker_thread_while_the_caller_loop_runs(tmp_path: Path, test_pki: TestPki,
                                                                   root: x509.Certificate, nss_db: Path,
                                                                   keys: dict[str, SigningKey]) -> None:
    """The production pattern: the agent's event loop hands the engine to a worker thread, which runs
    pyHanko's own loop (fetchers, TSA) and signs on the token from there."""
    pdf = tmp_path / "in.pdf"
    pdf.write_bytes(make_pdf())
    signed, _ = await asyncio.to_thread(sign_file, tmp_path, pdf, keys["token-ec"], test_pki, root, level="B-LT")
    assert_pdfsig_valid(signed, nss_db)
    await asyncio.to_thread(assert_pyhanko_valid, signed, root, "B-LT", keys["token-ec"])  # sync pyHanko API


def test_key_errors_reach_the_caller_unchanged(keys: dict[str, SigningKey]) -> None:
    def removed(digest: bytes, hash_name: str) -> bytes:
        raise ReportedError(ErrorCode.TOKEN_REMOVED)

    key = replace(keys["token-rsa"], sign_digest=removed)
    with pytest.raises(ReportedError) as err:
        sign_pdf(io.BytesIO(make_pdf()), io.BytesIO(), key)
    assert err.value.code is ErrorCode.TOKEN_REMOVED


def test_long_term_levels_refuse_a_revoked_certificate(test_pki: TestPki, root: x509.Certificate) -> None:
    """B-LT validates the chain (with revocation) before signing: a revoked key gets no signature."""
    store = Pkcs12FileStore(test_pki.p12("revoked", "secret"))
    (stored,) = store.unlock(Secret("secret"))
    with store.open(Secret("secret")) as session:
        key = SigningKey.from_session(session, stored)
        with pytest.raises(SigningError) as err:
            sign_pdf(io.BytesIO(make_pdf()), io.BytesIO(), key, level="B-LT",
                     timestamper=http_timestamper(test_pki.tsa_url), trust_roots=[root])
    assert "revoked" in str(err.value.__cause__)  # the OCSP answer, not a path or network problem
