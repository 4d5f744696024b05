"""``bids.download`` and ``bids.open``: their parameters and results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..messages import JobError
from ..typed import LOCAL_ONLY
from .common import SignatureCheck


@dataclass
class BidsDownloadParams:
    """``bids.download``: download the sealed plis of a consultation ("Télécharger les plis
    chiffrés"). ``url`` is the consultation descriptor on the page's own origin (PLATFORM.md);
    ``token`` a short-lived bearer token for it and its files, kept in memory only; ``plis``
    restricts the download to these pli ids ("plis sélectionnés"). ``out_dir`` is for the
    command line only: a page naming a folder is refused."""

    url: str = field(metadata={"maxLength": 2048})
    token: str | None = field(default=None, metadata={"maxLength": 4096})
    plis: list[str] | None = field(default=None, metadata={"maxItems": 10_000})
    out_dir: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})


@dataclass
class DownloadedFile:
    """One file of the consultation: where it is (``name``, relative to the folder, with ``/``),
    its verified size and SHA-256, and whether it was ``downloaded`` whole, ``resumed`` from an
    earlier part, or already ``present`` and complete."""

    pli: str
    envelope: str
    file: str
    name: str
    size: int
    sha256: str
    status: Literal["downloaded", "resumed", "present"]
    #: Bytes received from the platform for it by this job.
    transferred: int = 0


@dataclass
class FailedDownload:
    """A file of the consultation that could not be had (``error``: FILE_UNREADABLE when its
    SHA-256 or size differs from the descriptor's, FILE_NOT_FOUND when the platform lacks it)."""

    pli: str
    envelope: str
    file: str
    name: str
    error: JobError


@dataclass
class BidsDownloadResult:
    """``files`` holds every file that is in the folder, checked; ``failed`` the files that are
    not. A job that fails because some files failed keeps this result (with both lists)."""

    consultation: str
    title: str
    #: The folder as the page may show it (``~/Documents/...``); the full path for the command line.
    folder: str
    plis: int
    files: list[DownloadedFile]
    #: Total size of the files, and the bytes this job received from the platform.
    bytes: int
    transferred: int
    failed: list[FailedDownload] = field(default_factory=list)



@dataclass
class BidsOpenParams:
    """``bids.open`` ("Ouvrir en ligne"): fetch the sealed files of a consultation (as
    ``bids.download`` does, into the same folder: what is there already is only checked), decrypt
    them with a key the user holds (consent and PIN once, in the agent's own UI) and, when the
    descriptor gives a ``result_url`` and ``upload`` is true, send each opened file back to it
    (PLATFORM.md section 5). ``plis`` and ``envelopes`` (envelope ids, in every selected pli)
    restrict what is opened; ``certificate`` names the key (else whichever decryption key the user
    holds is a recipient). ``out_dir`` is for the command line only."""

    url: str = field(metadata={"maxLength": 2048})
    token: str | None = field(default=None, metadata={"maxLength": 4096})
    plis: list[str] | None = field(default=None, metadata={"maxItems": 10_000})
    envelopes: list[str] | None = field(default=None, metadata={"maxItems": 100})
    certificate: str | None = field(default=None, metadata={"maxLength": 64})
    upload: bool = True
    out_dir: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})


@dataclass
class OpenedFile:
    """One sealed file of the consultation and what became of it: ``status`` "opened" (``name``
    is the opened file, relative to the folder, with its size and SHA-256) or "failed"
    (``error``). ``uploaded`` tells whether the platform accepted the opened content."""

    pli: str
    envelope: str
    file: str
    source: str
    sealed_sha256: str
    status: Literal["opened", "failed"]
    name: str | None = None
    size: int | None = None
    sha256: str | None = None
    algorithm: str | None = None
    #: A handle on the opened file for ``files.get`` (pages only: open or download it).
    handle: str | None = None
    #: The signatures of the opened file, checked in the same job ("Ouverture et analyse").
    signature: SignatureCheck | None = None
    uploaded: bool = False
    error: JobError | None = None


@dataclass
class BidsOpenResult:
    consultation: str
    title: str
    reference: str | None
    #: The folder as the page may show it (``~/Documents/...``); the full path for the command line.
    folder: str
    #: Envelopes (of all selected plis) that had files to open.
    envelopes: int
    opened: int
    failed: int
    uploaded: int
    files: list[OpenedFile]
