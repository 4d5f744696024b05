"""The CAdES forms of signatures that reach no baseline level (ETSI TS 101 733 and EN 319 122-2).

EN 319 122-1 baseline levels (B-B ... B-LTA) need signing-time among other attributes; many real
signatures lack it and are still CAdES: they are named by the attributes they carry, as TS 101 733
(sections 4.3 and 4.4, annex B) and EN 319 122-2 (section 4) define the forms:

* **BES**: content-type (absent on a counter-signature), message-digest and one ESS
  signing-certificate or signing-certificate-v2 signed attribute;
* **EPES**: BES with a signature-policy-identifier signed attribute;
* **T**: a signature-time-stamp unsigned attribute;
* **C**: complete-certificate-references and complete-revocation-references;
* **X**: C with a CAdES-C-time-stamp or time-stamped-certs-crls-references;
* **XL**: C with certificate-values and revocation-values;
* **A**: an archive-time-stamp (v1, v2 or v3).

The richest form whose attributes are present is named; what is *valid* among those attributes is
said by the other checks (time-stamps are verified on their own). A SignerInfo without even the
BES attributes is plain CMS.
"""

from __future__ import annotations

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from asn1crypto import cms, core

__all__ = ["OID_CONTENT_TIME_STAMP", "OID_SIGNATURE_POLICY", "cades_form"]

_ETS = "1.2.840.113549.1.9.16.2."
OID_SIGNATURE_POLICY = _ETS + "15"
OID_CONTENT_TIME_STAMP = _ETS + "20"
_SIGNATURE_TIME_STAMP = _ETS + "14"
_COMPLETE_CERTIFICATE_REFS = _ETS + "21"
_COMPLETE_REVOCATION_REFS = _ETS + "22"
_CERTIFICATE_VALUES = _ETS + "23"
_REVOCATION_VALUES = _ETS + "24"
_ESC_TIME_STAMP = _ETS + "25"
_CERT_CRL_TIME_STAMP = _ETS + "26"
_ARCHIVE_TIME_STAMPS = (_ETS + "27", _ETS + "48", "0.4.0.1733.2.4")
_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_SIGNING_CERTIFICATES = (_ETS + "12", _ETS + "47")


def _count(attributes: cms.CMSAttributes | core.Void, *oids: str) -> int:
    if not isinstance(attributes, cms.CMSAttributes):
        return 0
    return sum(1 for a in attributes if a["type"].dotted in oids)


def cades_form(info: cms.SignerInfo, *, counter: bool) -> str | None:
    """``"BES"``, ``"EPES"``, ``"T"``, ``"C"``, ``"X"``, ``"XL"`` or ``"A"``; None for plain CMS."""
    signed, unsigned = info["signed_attrs"], info["unsigned_attrs"]
    if (not counter and _count(signed, _CONTENT_TYPE) != 1) or _count(signed, _MESSAGE_DIGEST) != 1 \
            or _count(signed, *_SIGNING_CERTIFICATES) != 1:
        return None
    if _count(unsigned, *_ARCHIVE_TIME_STAMPS):
        return "A"
    complete = _count(unsigned, _COMPLETE_CERTIFICATE_REFS) and _count(unsigned, _COMPLETE_REVOCATION_REFS)
    if complete and _count(unsigned, _CERTIFICATE_VALUES) and _count(unsigned, _REVOCATION_VALUES):
        return "XL"
    if complete and _count(unsigned, _ESC_TIME_STAMP, _CERT_CRL_TIME_STAMP):
        return "X"
    if complete:
        return "C"
    if _count(unsigned, _SIGNATURE_TIME_STAMP):
        return "T"
    if _count(signed, OID_SIGNATURE_POLICY):
        return "EPES"
    return "BES"
