"""``sign``: its parameters and result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..messages import JobError
from ..typed import LOCAL_ONLY


SignFormat = Literal["pades", "cades", "xades"]


@dataclass
class StampParams:
    """A visible PAdES stamp ("cachet"): page (1-based, -1 = last), box [x1, y1, x2, y2] in points;
    it shows the signer's name, the date and the reason."""

    page: int = -1
    box: list[float] = field(default_factory=lambda: [350.0, 40.0, 570.0, 110.0], metadata={"maxItems": 4})
SignLevel = Literal["B-B", "B-T", "B-LT", "B-LTA"]


@dataclass
class SignFileParams:
    """One file to sign: a ``handle`` from ``files.put`` (pages) or a ``path`` (command line only;
    a page naming a path is refused). For a co-signature of a detached CAdES, ``content_handle``
    or ``content_path`` is the signed file."""

    format: SignFormat
    handle: str | None = field(default=None, metadata={"maxLength": 64})
    #: A document on the page's own origin (relative or absolute URL); anything else is refused.
    url: str | None = field(default=None, metadata={"maxLength": 2048})
    path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    attached: bool = False
    enveloped: bool = False
    pes: bool = False
    content_handle: str | None = field(default=None, metadata={"maxLength": 64})
    content_path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    stamp: StampParams | None = None


@dataclass
class SignParams:
    """``sign``: sign (``mode`` "sign"), co-sign ("cosign") or counter-sign ("countersign") files
    with the certificate ``certificate`` (an id from ``certificates.list``), one consent and one
    PIN for the batch. ``signer`` is the SHA-256 of the certificate to counter-sign."""

    files: list[SignFileParams] = field(metadata={"maxItems": 1000})
    certificate: str = field(metadata={"maxLength": 64})
    level: SignLevel = "B-B"
    mode: Literal["sign", "cosign", "countersign"] = "sign"
    signer: str | None = field(default=None, metadata={"maxLength": 64})
    out_dir: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    #: Same-origin URL each signed output is POSTed to (multipart field "file").
    upload_url: str | None = field(default=None, metadata={"maxLength": 2048})
    #: Short-lived bearer token for ``url`` and ``upload_url``; kept in memory only, never stored.
    token: str | None = field(default=None, metadata={"maxLength": 4096})
    #: XAdES options: claimed role (e.g. "Ordonnateur") and production place ({"City", "PostalCode",
    #: "CountryName"}). PES V2 files need both; missing fields are taken from the values the user last
    #: signed a PES flow with, else the job fails with INVALID_PARAMS before the consent.
    claimed_role: str | None = field(default=None, metadata={"maxLength": 200})
    #: PAdES reason (also shown in a stamp), e.g. "Dépôt de l'offre".
    reason: str | None = field(default=None, metadata={"maxLength": 200})
    production_place: dict[str, str] | None = None


@dataclass
class SignedFile:
    """One file of the batch: its output (name, handle for ``files.get``, folder) or its error."""

    source: str
    format: SignFormat
    status: Literal["signed", "failed"]
    sha256: str | None = None
    output: str | None = None
    output_handle: str | None = None
    folder: str | None = None
    uploaded: bool = False
    error: JobError | None = None


@dataclass
class SignResult:
    files: list[SignedFile]
    signed: int
    failed: int
