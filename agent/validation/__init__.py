"""Signature verification and reports (ETSI EN 319 102-1), for PAdES, CAdES and XAdES files.

``verify_file(path, content=..., trust_roots=[...])`` returns a :class:`VerificationReport` with one
entry per signature, counter-signature and document time-stamp; ``report.to_json()`` is the JSON
report and ``report.exit_code`` the CLI's exit code (0 all TOTAL_PASSED, 1 any TOTAL_FAILED, 2 else).
"""

from .. import asn1_names  # noqa: F401  (pyHanko's OID names, whatever the import order)
from .detect import detect_format, verify_file
from .model import Check, CheckStatus, Indication, SignatureReport, Signer, SubIndication, VerificationReport

__all__ = [
    "Check", "CheckStatus", "Indication", "SignatureReport", "Signer", "SubIndication", "VerificationReport",
    "detect_format", "verify_file",
]
