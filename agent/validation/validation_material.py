"""Validation material that can be used, and what was skipped: one bad item never aborts a signature.

Certificates, OCSP responses and CRLs reach a validator from places a signer or a later updater
controls: the ``certificates`` and ``crls`` fields of a CMS SignedData (RFC 5652 section 5.1, not
covered by the signature) and a PDF's Document Security Store (EN 319 142-1 section 5.4.2). They are
*hints*: the validation itself decides what they prove. A malformed one is therefore dropped and
counted, and the signature is judged with the rest (security promise 12, docs/SECURITY.md).

asn1crypto parses lazily: an item is "sound" here once it has been parsed completely (and, for a
certificate, loaded by ``cryptography`` as the chain validation will), so no parse error can surface
later in the middle of a signature's validation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509

from ..pki.cms import PARSE_ERRORS, CmsMaterial
from .chain import Environment, crypto_cert
from .model import Check, warning

__all__ = ["Skipped", "material_from_signed_data", "skipped_check", "sound_certificate", "sound_crl",
           "sound_material", "sound_ocsp"]

T = TypeVar("T")


@dataclass
class Skipped:
    """How many items of each kind were dropped, per source ("signature", "DSS", ...)."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, source: str, kind: str, count: int = 1) -> None:
        if count:
            self.counts[(source, kind)] = self.counts.get((source, kind), 0) + count

    def extend(self, other: Skipped) -> None:
        for (source, kind), count in other.counts.items():
            self.add(source, kind, count)

    def __bool__(self) -> bool:
        return bool(self.counts)


def sound_certificate(cert: asn1_x509.Certificate) -> bool:
    try:
        cert.native  # noqa: B018 (full parse)
        crypto_cert(cert)
    except (*PARSE_ERRORS, Exception):  # noqa: BLE001 (cryptography's loader raises its own types)
        return False
    return True


def sound_ocsp(response: asn1_ocsp.OCSPResponse) -> bool:
    try:
        response.native  # noqa: B018
    except PARSE_ERRORS:
        return False
    return True


def sound_crl(crl: asn1_crl.CertificateList) -> bool:
    try:
        crl.native  # noqa: B018
    except PARSE_ERRORS:
        return False
    return True


def _keep(items: Iterable[T], sound: Callable[[T], bool], skipped: Skipped, source: str, kind: str) -> list[T]:
    kept = []
    for item in items:
        if sound(item):
            kept.append(item)
        else:
            skipped.add(source, kind)
    return kept


def sound_material(found: CmsMaterial, source: str, skipped: Skipped) -> CmsMaterial:
    """``found`` without the items that do not parse (counted in ``skipped`` under ``source``)."""
    return CmsMaterial(certificates=_keep(found.certificates, sound_certificate, skipped, source, "certificate"),
                       crls=_keep(found.crls, sound_crl, skipped, source, "crl"),
                       ocsps=_keep(found.ocsps, sound_ocsp, skipped, source, "ocsp"))


_KINDS = {
    "certificate": ("certificat(s)", "certificate(s)"),
    "ocsp": ("réponse(s) OCSP", "OCSP response(s)"),
    "crl": ("CRL", "CRL(s)"),
    "stream": ("flux illisible(s)", "unreadable stream(s)"),
    "timestamp": ("jeton(s) d'horodatage", "time-stamp token(s)"),
}
_SOURCES = {"signature": ("dans la signature", "in the signature"), "DSS": ("dans le DSS", "in the DSS")}


def skipped_check(env: Environment, skipped: Skipped) -> Check:
    """The "validation_data" warning naming what was ignored, and where."""
    parts = []
    for (source, kind), count in sorted(skipped.counts.items()):
        fr_kind, en_kind = _KINDS.get(kind, (kind, kind))
        fr_source, en_source = _SOURCES.get(source, (source, source))
        parts.append(env.t("{n} {k} {s}", "{n} {k} {s}", n=count, k=env.t(fr_kind, en_kind),
                           s=env.t(fr_source, en_source)))
    return warning("validation_data", env.t(
        "Données de validation mal formées ignorées : {p}. La signature est jugée avec le reste.",
        "Malformed validation data ignored: {p}. The signature is judged with the rest.", p=", ".join(parts)))


def material_from_signed_data(signed_data: object, source: str, skipped: Skipped) -> CmsMaterial:
    """The sound certificates, CRLs and OCSP responses of a SignedData (RFC 5652 section 10.2.1), item by item."""
    found = CmsMaterial()
    try:
        certificates = list(signed_data["certificates"] or [])  # type: ignore[index]
    except PARSE_ERRORS:
        certificates = []
        skipped.add(source, "certificate")
    for choice in certificates:
        try:
            if choice.name != "certificate":
                continue
            cert = choice.chosen
        except PARSE_ERRORS:
            skipped.add(source, "certificate")
            continue
        if sound_certificate(cert):
            found.certificates.append(cert)
        else:
            skipped.add(source, "certificate")
    try:
        revocation = list(signed_data["crls"] or [])  # type: ignore[index]
    except PARSE_ERRORS:
        revocation = []
        skipped.add(source, "crl")
    for choice in revocation:
        try:
            if choice.name == "crl":
                crl, kind = choice.chosen, "crl"
            elif choice.name == "other" and choice.chosen["other_rev_info_format"].native == "ocsp_response":
                crl, kind = choice.chosen["other_rev_info"], "ocsp"
            else:
                continue
        except PARSE_ERRORS:
            skipped.add(source, "ocsp")
            continue
        if kind == "crl" and sound_crl(crl):
            found.crls.append(crl)
        elif kind == "ocsp" and sound_ocsp(crl):
            found.ocsps.append(crl)
        else:
            skipped.add(source, kind)
    return found
