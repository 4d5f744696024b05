"""PDFs signed and updated by producers other than Compagnon: pyHanko used directly, and poppler's pdfsig.

Each helper reads one PDF and writes a new one with one more incremental update (ISO 32000-1
section 7.5.6), the way real documents reach a verifier: signed, then validation data added
(``add_validation_info``: DSS and VRI, EN 319 142-1 section 5.4), a document time-stamp
(``PdfTimeStamper``), a form field filled, an annotation added, another signature added by
``pdfsig -add-signature``. ``replace_page_content`` is the forgery a verifier must catch.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.validation import add_validation_info
from pyhanko_certvalidator import ValidationContext

from tests.support.pdf import make_pdf
from tests.support.pki import TestPki

__all__ = [
    "PyhankoJudgement",
    "add_annotation",
    "add_doc_timestamp",
    "add_dss",
    "add_piece_info",
    "add_text_field",
    "add_vri_timestamp",
    "encrypted_signed",
    "fill_text_field",
    "nss_signing_database",
    "pdfsig_add_signature",
    "pdfsig_signatures",
    "pyhanko_judgement",
    "pyhanko_sign",
    "replace_page_content",
    "set_page_mode",
    "source_pdf",
]


def _cert(path: Path) -> asn1_x509.Certificate:
    data = path.read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return asn1_x509.Certificate.load(data)


def source_pdf(path: Path, pages: int = 2) -> Path:
    path.write_bytes(make_pdf(pages=pages))
    return path


def _update(src: Path, dst: Path, change) -> Path:  # type: ignore[no-untyped-def]
    with src.open("rb") as f:
        writer = IncrementalPdfFileWriter(f, strict=False)
        change(writer)
        with dst.open("wb") as out:
            writer.write(out)
    return dst


def pyhanko_sign(src: Path, dst: Path, pki: TestPki, *, field: str = "Signature1", signer_name: str = "qualified",
                 subfilter: fields.SigSeedSubFilter = fields.SigSeedSubFilter.PADES,
                 certify: fields.MDPPerm | None = None, timestamp: bool = False,
                 lock_fields: tuple[str, ...] = ()) -> Path:
    """Sign with pyHanko's SimpleSigner (the test PKI's key), optionally certifying (DocMDP), time-stamped, and
    locking form fields (FieldMDP, ISO 32000-1 table 256: the signature field is created with its /Lock)."""
    if lock_fields:
        locked = dst.with_suffix(".champ.pdf")

        def add_field(writer: IncrementalPdfFileWriter) -> None:
            fields.append_signature_field(writer, fields.SigFieldSpec(
                field, field_mdp_spec=fields.FieldMDPSpec(fields.FieldMDPAction.INCLUDE, list(lock_fields))))

        src = _update(src, locked, add_field)
    signer = signers.SimpleSigner.load(str(pki.key_pem(signer_name)), str(pki.cert_pem(signer_name)),
                                       ca_chain_files=(str(pki.intermediate_pem),))
    assert signer is not None
    meta = signers.PdfSignatureMetadata(field_name=field, subfilter=subfilter, certify=certify is not None,
                                        docmdp_permissions=certify or fields.MDPPerm.FILL_FORMS)
    stamper = timestamps.HTTPTimeStamper(pki.tsa_url) if timestamp else None
    with src.open("rb") as f, dst.open("wb") as out:
        signers.sign_pdf(IncrementalPdfFileWriter(f, strict=False), meta, signer=signer, timestamper=stamper,
                         output=out)
    return dst


def _validation_context(pki: TestPki) -> ValidationContext:
    return ValidationContext(trust_roots=[_cert(pki.root_pem)], other_certs=[_cert(pki.intermediate_pem)],
                             allow_fetching=True)


def add_dss(src: Path, dst: Path, pki: TestPki, field: str = "Signature1") -> Path:
    """pyHanko's ``add_validation_info``: DSS (certificates, OCSP, CRLs) and a VRI entry for ``field``."""
    with src.open("rb") as f:
        reader = PdfFileReader(f, strict=False)
        emb = next(s for s in reader.embedded_signatures if s.field_name == field)
        with dst.open("wb") as out:
            add_validation_info(emb, _validation_context(pki), output=out)
    return dst


def add_doc_timestamp(src: Path, dst: Path, pki: TestPki, field: str = "Horodatage", *, with_dss: bool = True
                      ) -> Path:
    """pyHanko's ``PdfTimeStamper`` against the test PKI's TSA (ETSI.RFC3161 document time-stamp); with
    ``with_dss`` pyHanko also stores the TSA's validation data in the DSS."""
    stamper = signers.PdfTimeStamper(timestamps.HTTPTimeStamper(pki.tsa_url), field_name=field)
    with src.open("rb") as f, dst.open("wb") as out:
        stamper.timestamp_pdf(IncrementalPdfFileWriter(f, strict=False), "sha256",
                              validation_context=_validation_context(pki) if with_dss else None, output=out)
    return dst


def add_text_field(src: Path, dst: Path, name: str = "Montant") -> Path:
    """An unsigned revision adding an empty text field (widget on page 1) to the AcroForm."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        page_ref = writer.find_page_for_modification(0)[0]
        page = page_ref.get_object()
        field_dict = generic.DictionaryObject({
            pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Widget"),
            pdf_name("/FT"): pdf_name("/Tx"), pdf_name("/T"): pdf_string(name),
            pdf_name("/Rect"): generic.ArrayObject([generic.NumberObject(n) for n in (72, 600, 272, 620)]),
            pdf_name("/F"): generic.NumberObject(4), pdf_name("/P"): page_ref,
        })
        field_ref = writer.add_object(field_dict)
        page[pdf_name("/Annots")] = generic.ArrayObject([field_ref])
        writer.update_container(page)
        root = writer.root
        root[pdf_name("/AcroForm")] = writer.add_object(generic.DictionaryObject({
            pdf_name("/Fields"): generic.ArrayObject([field_ref]),
        }))
        writer.update_root()

    return _update(src, dst, change)


def fill_text_field(src: Path, dst: Path, value: str, name: str = "Montant") -> Path:
    """Fill a text field: new /V and a normal appearance stream (what a PDF reader's form filling writes)."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        form = writer.root["/AcroForm"]
        for ref in form["/Fields"]:
            field = ref.get_object()
            if field.get("/T") == name:
                field[pdf_name("/V")] = pdf_string(value)
                text = f"BT /Helv 12 Tf 2 5 Td ({value}) Tj ET".encode("latin-1")
                appearance = generic.StreamObject({
                    pdf_name("/Type"): pdf_name("/XObject"), pdf_name("/Subtype"): pdf_name("/Form"),
                    pdf_name("/BBox"): generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 200, 20)]),
                }, stream_data=text)
                field[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): writer.add_object(appearance)})
                writer.update_container(field)
                return
        raise KeyError(name)

    return _update(src, dst, change)


def add_annotation(src: Path, dst: Path, page: int = 0, *, tab_order: bool = False) -> Path:
    """A sticky note (/Text annotation, ISO 32000-1 section 12.5.6.4) added to a page's /Annots; with
    ``tab_order`` the page also gets ``/Tabs /S`` (the tab order some PDF editors set when annotating)."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        page_ref = writer.find_page_for_modification(page)[0]
        page_dict = page_ref.get_object()
        note = writer.add_object(generic.DictionaryObject({
            pdf_name("/Type"): pdf_name("/Annot"), pdf_name("/Subtype"): pdf_name("/Text"),
            pdf_name("/Rect"): generic.ArrayObject([generic.NumberObject(n) for n in (400, 700, 420, 720)]),
            pdf_name("/Contents"): pdf_string("Vu, conforme."), pdf_name("/P"): page_ref,
        }))
        annots = page_dict.get("/Annots")
        if isinstance(annots, generic.IndirectObject):
            annots = annots.get_object()
        items = list(annots) if annots is not None else []
        page_dict[pdf_name("/Annots")] = generic.ArrayObject([*items, note])
        if tab_order:
            page_dict[pdf_name("/Tabs")] = pdf_name("/S")
        writer.update_container(page_dict)

    return _update(src, dst, change)


def replace_page_content(src: Path, dst: Path, page: int = 0, text: str = "Montant : 1 000 000 EUR") -> Path:
    """The forgery: a signed page's content stream replaced in an incremental update."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        page_ref = writer.find_page_for_modification(page)[0]
        page_dict = page_ref.get_object()
        stream = generic.StreamObject(stream_data=f"BT /F1 24 Tf 72 770 Td ({text}) Tj ET".encode("latin-1"))
        page_dict[pdf_name("/Contents")] = writer.add_object(stream)
        writer.update_container(page_dict)

    return _update(src, dst, change)


def nss_signing_database(folder: Path, pki: TestPki, signer_name: str = "qualified") -> tuple[Path, str]:
    """An NSS database holding the test PKI's root (trusted) and ``signer_name``'s key: (folder, nickname)."""
    from tests.support.verifiers import nss_database

    nss_database(folder, pki.root_pem)
    p12 = pki.p12(signer_name, "pw")
    subprocess.run(["pk12util", "-i", str(p12), "-d", f"sql:{folder}", "-W", "pw", "-K", ""], check=True,
                   capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{folder}", "-n", "intermediaire", "-t", ",,",
                    "-i", str(pki.intermediate_pem)], check=True, capture_output=True)
    listing = subprocess.run(["certutil", "-L", "-d", f"sql:{folder}"], check=True, capture_output=True,
                             text=True).stdout
    nick = next(line.rsplit(None, 1)[0].strip() for line in listing.splitlines() if line.rstrip().endswith("u,u,u"))
    return folder, nick


def pdfsig_add_signature(src: Path, dst: Path, nss: Path, nick: str, field: str = "SignaturePoppler") -> Path:
    """``pdfsig -add-signature``: poppler (NSS) adds a new signature field and signs it (adbe.pkcs7.detached:
    poppler 22.12 refuses ``-etsi`` with ``-add-signature``)."""
    cmd = ["pdfsig", "-nssdir", f"sql:{nss}", "-add-signature", "-nick", nick, "-new-signature-field-name", field]
    result = subprocess.run([*cmd, str(src), str(dst)], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and dst.is_file(), result.stdout + result.stderr
    return dst


def add_piece_info(src: Path, dst: Path) -> Path:
    """A page-piece dictionary (ISO 32000-1 section 14.5) added to page 1 and to the catalog."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        private = writer.add_object(generic.DictionaryObject({
            pdf_name("/LastModified"): pdf_string("D:20240311091502Z"),
            pdf_name("/Private"): pdf_string("donnees privees de l'editeur"),
        }))
        pieces = generic.DictionaryObject({pdf_name("/CompagnonTest"): private})
        page_ref = writer.find_page_for_modification(0)[0]
        page = page_ref.get_object()
        page[pdf_name("/PieceInfo")] = pieces
        writer.update_container(page)
        writer.root[pdf_name("/PieceInfo")] = generic.DictionaryObject({pdf_name("/CompagnonTest"): private})
        writer.update_root()

    return _update(src, dst, change)


def set_page_mode(src: Path, dst: Path) -> Path:
    """A catalog change no rule classifies (``/PageMode``, ISO 32000-1 table 28): display only."""

    def change(writer: IncrementalPdfFileWriter) -> None:
        writer.root[pdf_name("/PageMode")] = pdf_name("/UseOutlines")
        writer.update_root()

    return _update(src, dst, change)


@dataclass
class PyhankoJudgement:
    """pyHanko's own validation of one signature (its ``PdfSignatureStatus``)."""

    intact: bool
    valid: bool
    trusted: bool
    docmdp_ok: bool | None
    modification_level: object


def pyhanko_judgement(path: Path, pki: TestPki, field: str) -> PyhankoJudgement:
    """What pyHanko's validator says of ``field`` (the test root trusted, revocation fetched)."""
    from pyhanko.sign.validation import validate_pdf_signature

    with path.open("rb") as f:
        reader = PdfFileReader(f, strict=False)
        emb = next(s for s in reader.embedded_signatures if s.field_name == field)
        status = validate_pdf_signature(emb, _validation_context(pki))
    return PyhankoJudgement(status.intact, status.valid, status.trusted, status.docmdp_ok, status.modification_level)


def pdfsig_signatures(path: Path, nss: Path) -> list[str]:
    """pdfsig's per-signature validation lines ("Signature is Valid." ...), in file order."""
    out = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(path)], capture_output=True, text=True, check=False).stdout
    return [line.split(":", 1)[1].strip() for line in out.splitlines() if "Signature Validation:" in line]


def encrypted_signed(src: Path, dst: Path, pki: TestPki, user_password: str = "", owner_password: str = "proprio"
                     ) -> Path:
    """pyHanko encrypts ``src`` (standard security handler, AES-256) then signs it in an incremental update."""
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    plain = dst.with_suffix(".chiffre.pdf")
    with src.open("rb") as f:
        writer = copy_into_new_writer(PdfFileReader(f, strict=False))
        writer.encrypt(owner_password, user_password)
        with plain.open("wb") as out:
            writer.write(out)
    signer = signers.SimpleSigner.load(str(pki.key_pem("qualified")), str(pki.cert_pem("qualified")),
                                       ca_chain_files=(str(pki.intermediate_pem),))
    assert signer is not None
    with plain.open("rb") as f, dst.open("wb") as out:
        incremental = IncrementalPdfFileWriter(f, strict=False)
        incremental.encrypt(owner_password)
        signers.sign_pdf(incremental, signers.PdfSignatureMetadata(field_name="Signature1"), signer=signer,
                         output=out)
    return dst


def add_vri_timestamp(src: Path, dst: Path, pki: TestPki, field: str = "Signature1", over: bytes | None = None
                      ) -> Path:
    """A ``/TS`` in ``field``'s VRI entry (EN 319 142-1 section 5.4.2.2): a token of the test TSA over the
    signature value (or over ``over``, to make one that covers something else)."""
    import asyncio
    import hashlib

    with src.open("rb") as f:
        reader = PdfFileReader(f, strict=False)
        emb = next(s for s in reader.embedded_signatures if s.field_name == field)
        value = over if over is not None else emb.signer_info["signature"].native
        # EN 319 142-1 section 5.4.2.2: SHA-1 of the /Contents hexadecimal string (pyHanko writes it lower-case).
        key = "/" + hashlib.sha1(emb.pkcs7_content.hex().encode("ascii")).hexdigest().upper()
    token = asyncio.run(timestamps.HTTPTimeStamper(pki.tsa_url).async_timestamp(
        hashlib.sha256(value).digest(), "sha256"))

    def change(writer: IncrementalPdfFileWriter) -> None:
        dss = writer.root["/DSS"]
        vri = dss["/VRI"]
        entry = vri.raw_get(key)
        target = entry.get_object() if isinstance(entry, generic.IndirectObject) else entry
        target[pdf_name("/TS")] = writer.add_object(generic.StreamObject(stream_data=token.dump()))
        if isinstance(entry, generic.IndirectObject):
            writer.update_container(target)
        else:
            writer.update_container(vri)

    return _update(src, dst, change)
