"""``decrypt``: its parameters and result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..messages import JobError
from ..typed import LOCAL_ONLY
from .common import FileRef, SignatureCheck


@dataclass
class DecryptParams:
    """``decrypt`` ("Déchiffrement hors ligne"): open sealed bids (CMS envelopes) with a key the user
    holds. Without ``certificate``, the agent uses whichever of the user's decryption keys is a
    recipient (personal or secours). ``extract`` unpacks a decrypted ZIP, safely."""

    files: list[FileRef] = field(metadata={"maxItems": 1000})
    certificate: str | None = field(default=None, metadata={"maxLength": 64})
    extract: bool = False
    out_dir: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    token: str | None = field(default=None, metadata={"maxLength": 4096})


@dataclass
class DecryptedFile:
    source: str
    status: Literal["decrypted", "failed"]
    output: str | None = None
    output_handle: str | None = None
    folder: str | None = None
    size: int | None = None
    sha256: str | None = None
    algorithm: str | None = None
    extracted: list[str] = field(default_factory=list)
    #: The signatures of the decrypted file, checked in the same job.
    signature: SignatureCheck | None = None
    #: The signatures of each file of ``extracted`` (same order), checked in the same job.
    extracted_signatures: list[SignatureCheck] = field(default_factory=list)
    error: JobError | None = None


@dataclass
class DecryptResult:
    files: list[DecryptedFile]
    decrypted: int
    failed: int
