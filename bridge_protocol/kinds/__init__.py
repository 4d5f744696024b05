"""Parameters and results of each job kind: what a page puts in ``jobs.start.params`` and finds in
the snapshot's ``result`` once the job has succeeded.

One module per kind (``sign``, ``verify``, ``decrypt``, ``encrypt``, ``keygen``, ``diagnose``,
``bids`` for ``bids.download`` and ``bids.open``), what several share in ``common``, and the
catalogue ``KINDS`` (``catalogue``) the JSON Schema, the AsyncAPI document and the ``.d.ts`` are
generated from. The names below are imported on first use: the agent's ``verify`` kind builds the
four classes it needs, not the hundred of the protocol (a command line's start-up).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .bids import BidsDownloadParams, BidsDownloadResult, BidsOpenParams, BidsOpenResult, DownloadedFile, FailedDownload, OpenedFile
    from .catalogue import KINDS, KindContract
    from .common import CheckStatus, FileRef, SignatureCheck
    from .decrypt import DecryptParams, DecryptResult, DecryptedFile
    from .diagnose import DiagnoseCheck, DiagnoseParams, DiagnoseResult
    from .encrypt import EncryptParams, EncryptResult, EncryptedFile
    from .keygen import KeygenParams, KeygenResult
    from .sign import SignFileParams, SignFormat, SignLevel, SignParams, SignResult, SignedFile, StampParams
    from .verify import VerifyFileRef, VerifyParams, VerifyResult, VerifySummary

#: Each name this package exports: the module that defines it.
_HOMES: dict[str, str] = {
    "BidsDownloadParams": "bids",
    "BidsDownloadResult": "bids",
    "BidsOpenParams": "bids",
    "BidsOpenResult": "bids",
    "CheckStatus": "common",
    "DecryptParams": "decrypt",
    "DecryptResult": "decrypt",
    "DecryptedFile": "decrypt",
    "DiagnoseCheck": "diagnose",
    "DiagnoseParams": "diagnose",
    "DiagnoseResult": "diagnose",
    "DownloadedFile": "bids",
    "EncryptParams": "encrypt",
    "EncryptResult": "encrypt",
    "EncryptedFile": "encrypt",
    "FailedDownload": "bids",
    "FileRef": "common",
    "KINDS": "catalogue",
    "KeygenParams": "keygen",
    "KeygenResult": "keygen",
    "KindContract": "catalogue",
    "OpenedFile": "bids",
    "SignFileParams": "sign",
    "SignFormat": "sign",
    "SignLevel": "sign",
    "SignParams": "sign",
    "SignResult": "sign",
    "SignatureCheck": "common",
    "SignedFile": "sign",
    "StampParams": "sign",
    "VerifyFileRef": "verify",
    "VerifyParams": "verify",
    "VerifyResult": "verify",
    "VerifySummary": "verify"
}

__all__ = [
    "BidsDownloadParams",
    "BidsDownloadResult",
    "BidsOpenParams",
    "BidsOpenResult",
    "CheckStatus",
    "DecryptParams",
    "DecryptResult",
    "DecryptedFile",
    "DiagnoseCheck",
    "DiagnoseParams",
    "DiagnoseResult",
    "DownloadedFile",
    "EncryptParams",
    "EncryptResult",
    "EncryptedFile",
    "FailedDownload",
    "FileRef",
    "KINDS",
    "KeygenParams",
    "KeygenResult",
    "KindContract",
    "OpenedFile",
    "SignFileParams",
    "SignFormat",
    "SignLevel",
    "SignParams",
    "SignResult",
    "SignatureCheck",
    "SignedFile",
    "StampParams",
    "VerifyFileRef",
    "VerifyParams",
    "VerifyResult",
    "VerifySummary",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value
