"""``verify``: its parameters and result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..typed import LOCAL_ONLY


@dataclass
class VerifyFileRef:
    """One file of a ``verify`` batch: a ``handle``, a same-origin ``url`` or (command line only) a
    ``path``, and, for a detached signature whose content the page knows, that content
    (``content_*``); otherwise a token is paired by name with the batch's file it signs."""

    handle: str | None = field(default=None, metadata={"maxLength": 64})
    url: str | None = field(default=None, metadata={"maxLength": 2048})
    path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    content_handle: str | None = field(default=None, metadata={"maxLength": 64})
    content_url: str | None = field(default=None, metadata={"maxLength": 2048})
    content_path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    #: The name the report shows (the command line gives the path relative to the folder walked).
    name: str | None = field(default=None, metadata={"maxLength": 4096})


@dataclass
class VerifyParams:
    """``verify``: check every signature of a file (PAdES, CAdES with co- and counter-signatures,
    XAdES). The file is a ``handle``, a same-origin ``url`` or (command line only) a ``path``; a
    detached signature's content likewise (``content_*``). ``files`` verifies several files in one
    job with one report (a whole pli): then the single-file fields are not given."""

    handle: str | None = field(default=None, metadata={"maxLength": 64})
    url: str | None = field(default=None, metadata={"maxLength": 2048})
    path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    content_handle: str | None = field(default=None, metadata={"maxLength": 64})
    content_url: str | None = field(default=None, metadata={"maxLength": 2048})
    content_path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    token: str | None = field(default=None, metadata={"maxLength": 4096})
    files: list[VerifyFileRef] | None = field(default=None, metadata={"maxItems": 1000})


@dataclass
class VerifySummary:
    """The counts at the top of a multi-file report: files, signatures (counter-signatures and
    document time-stamps included) valid / invalid / indeterminate, files without any signature
    (not counting a file a detached signature of the batch covers), unreadable files."""

    files: int
    signatures: int
    valid: int
    invalid: int
    indeterminate: int
    unsigned: int
    errors: int
    indication: Literal["TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"]


@dataclass
class VerifyResult:
    """The JSON report (``{"file", "signatures": [{"id", "format", "level", "signer", "signing_time",
    "signing_time_source", "indication", "sub_indication", "checks", "countersignatures", "covers"?}],
    "container"?}``, ``covers`` and ``container`` for an ASiC container only; with ``files``,
    ``{"summary", "files": [{"file", "status", "format", "content", "signed_by", "indication",
    "signatures", "error", "container"}]}``), the overall verdict, the batch's counts (``summary``,
    with ``files`` only), and the HTML report ("Ouvrir le rapport") as a file handle."""

    report: dict[str, Any]
    indication: Literal["TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"]
    report_name: str
    report_handle: str | None = None
    summary: VerifySummary | None = None
