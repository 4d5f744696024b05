"""Signature verification and reports (ETSI EN 319 102-1), for PAdES, CAdES and XAdES files.

``verify_file(path, content=..., trust_roots=[...])`` returns a :class:`VerificationReport` with one
entry per signature, counter-signature and document time-stamp; ``report.to_json()`` is the JSON
report and ``report.exit_code`` the CLI's exit code (0 all TOTAL_PASSED, 1 any TOTAL_FAILED, 2 else).

The names below are imported on first use: a module of this package that needs no validator (the
HTML report, the batch's bookkeeping) loads neither the validators nor the certificate path stack,
nor asn1crypto: each module that reads ASN.1 imports ``agent.asn1_names`` itself (pyHanko's OID
names, whatever the import order; tests/unit/test_asn1_names.py checks that every one does).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .detect import detect_format, verify_file
    from .model import Check, CheckStatus, Indication, SignatureReport, Signer, SubIndication, VerificationReport

#: Each name this package exports: the module that defines it.
_HOMES = {"detect_format": ".detect", "verify_file": ".detect", **dict.fromkeys(
    ("Check", "CheckStatus", "Indication", "SignatureReport", "Signer", "SubIndication", "VerificationReport"),
    ".model")}

__all__ = [
    "Check", "CheckStatus", "Indication", "SignatureReport", "Signer", "SubIndication", "VerificationReport",
    "detect_format", "verify_file",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
