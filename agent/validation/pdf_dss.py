"""The Document Security Store of a PDF (EN 319 142-1 section 5.4.2, ISO 32000-2 section 12.8.4.3).

Read item by item: ``/Certs``, ``/OCSPs`` and ``/CRLs`` streams, and in each ``/VRI`` dictionary the
``/TS`` time-stamp token (the time-stamp of the validation data of one signature). A stream that
cannot be decoded (corrupt Flate data, a hostile filter) or an item that does not parse is skipped
and counted, never fatal: the DSS is only a store of hints for validation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader

from ..pki.cms import PARSE_ERRORS, CmsMaterial
from .validation_material import Skipped, sound_certificate, sound_crl, sound_ocsp

__all__ = ["DssContent", "read_dss"]



@dataclass
class VriTimestamp:
    """The ``/TS`` of one VRI entry: its key (upper-case hex SHA-1 of the signature's /Contents) and token."""

    key: str
    token: cms.ContentInfo


@dataclass
class DssContent:
    material: CmsMaterial = field(default_factory=CmsMaterial)
    skipped: Skipped = field(default_factory=Skipped)
    #: First revision whose catalog has a /DSS (None: no DSS).
    revision: int | None = None
    vri_timestamps: list[VriTimestamp] = field(default_factory=list)


def _resolve(value: object) -> object:
    return value.get_object() if isinstance(value, generic.IndirectObject) else value


def _stream_data(ref: object, purpose: DecodePurpose) -> bytes | None:
    try:
        stream = _resolve(ref)
        if not isinstance(stream, generic.StreamObject):
            return None
        return stream.read_data(purpose)
    except Exception:  # noqa: BLE001 (hostile stream: zlib.error, unknown filter, decoded size over limits)
        return None


def _entries(dss: generic.DictionaryObject, key: str) -> list[object]:
    try:
        value = _resolve(dss.get(key))
    except Exception:  # noqa: BLE001 (hostile structure)
        return []
    return list(value) if isinstance(value, generic.ArrayObject) else []


def read_dss(reader: PdfFileReader) -> DssContent:
    """The usable content of the current DSS, what was skipped, and the revision that introduced it."""
    found = DssContent()
    try:
        dss = _resolve(reader.root.get("/DSS"))
    except Exception:  # noqa: BLE001 (hostile structure)
        dss = None
    if not isinstance(dss, generic.DictionaryObject):
        return found
    loaders = (("/Certs", DecodePurpose.CERTIFICATE, asn1_x509.Certificate, sound_certificate, "certificate",
                found.material.certificates),
               ("/OCSPs", DecodePurpose.OCSP_RESPONSE, asn1_ocsp.OCSPResponse, sound_ocsp, "ocsp",
                found.material.ocsps),
               ("/CRLs", DecodePurpose.CRL, asn1_crl.CertificateList, sound_crl, "crl", found.material.crls))
    for key, purpose, spec, sound, kind, target in loaders:
        for ref in _entries(dss, key):
            data = _stream_data(ref, purpose)
            if data is None:
                found.skipped.add("DSS", "stream")
                continue
            try:
                item = spec.load(data)
            except PARSE_ERRORS:
                item = None
            if item is None or not sound(item):
                found.skipped.add("DSS", kind)
                continue
            target.append(item)
    try:
        vri = _resolve(dss.get("/VRI"))
        vri_items = list(vri.items()) if isinstance(vri, generic.DictionaryObject) else []
    except Exception:  # noqa: BLE001 (hostile structure)
        vri_items = []
    for key, entry in vri_items:
        try:
            entry = _resolve(entry)
            ts = entry.get("/TS") if isinstance(entry, generic.DictionaryObject) else None
        except Exception:  # noqa: BLE001 (hostile structure)
            ts = None
        if ts is None:
            continue
        data = _stream_data(ts, DecodePurpose.GENERIC)
        try:
            token = cms.ContentInfo.load(data) if data is not None else None
            if token is not None:
                token.native  # noqa: B018 (full parse)
        except PARSE_ERRORS:
            token = None
        if token is None:
            found.skipped.add("DSS", "timestamp")
            continue
        found.vri_timestamps.append(VriTimestamp(str(key).lstrip("/").upper(), token))
    for index in range(reader.xrefs.total_revisions):
        try:
            if "/DSS" in reader.get_historical_root(index):
                found.revision = index
                break
        except Exception:  # noqa: BLE001 (hostile structure)
            continue
    return found
