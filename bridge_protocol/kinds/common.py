"""What several kinds' parameters and results share: a file reference, the analyse of an
opened file, a check's status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..messages import JobError
from ..typed import LOCAL_ONLY


CheckStatus = Literal["pass", "warn", "fail"]


@dataclass
class FileRef:
    """A file for a job: a ``handle`` (uploaded or picked), a same-origin ``url``, or a ``path``
    (command line only)."""

    handle: str | None = field(default=None, metadata={"maxLength": 64})
    url: str | None = field(default=None, metadata={"maxLength": 2048})
    path: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})


@dataclass
class SignatureCheck:
    """The analyse of one file a job opened (``decrypt``, ``bids.open``), made in the same job with
    the ``verify`` engine: ``status`` "signed" (``indication`` is the file's verdict, ETSI EN 319
    102-1: the worst of its signatures'), "unsigned" ("non signé": no signature in it, which is no
    failure) or "error" (it could not be checked: ``error``). A file signed by detached signatures
    opened in the same job (``offre.pdf`` and ``offre.pdf.p7s``) takes their verdict and names them
    in ``signed_by``; a detached signature names the file it signs in ``content``. ``label`` is the
    verdict in the job's language; ``report_name``/``report_handle`` the HTML report of a signed
    file (a path for the command line, a handle for ``files.get`` for a page)."""

    status: Literal["signed", "unsigned", "error"]
    label: str
    indication: Literal["TOTAL_PASSED", "TOTAL_FAILED", "INDETERMINATE"] | None = None
    format: str | None = None
    signers: list[str] = field(default_factory=list)
    signatures: int = 0
    signed_by: list[str] = field(default_factory=list)
    content: str | None = None
    report_name: str | None = None
    report_handle: str | None = None
    error: JobError | None = None
