"""``encrypt``: its parameters and result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..messages import JobError
from ..platform import DepositReceipt
from ..typed import LOCAL_ONLY
from .common import FileRef


@dataclass
class EncryptParams:
    """``encrypt``: seal files (CMS EnvelopedData, or AuthEnvelopedData with AES-GCM) to the
    consultation's encryption certificates (PEM), e.g. the buyer's personal and secours keys."""

    files: list[FileRef] = field(metadata={"maxItems": 1000})
    recipients: list[str] = field(metadata={"maxItems": 50})
    algorithm: Literal["aes-256-cbc", "aes-256-gcm", "aes-128-cbc", "aes-128-gcm"] = "aes-256-cbc"
    key_transport: Literal["rsa-oaep", "rsa-oaep-sha256", "rsa-pkcs1v15"] = "rsa-oaep"
    out_dir: str | None = field(default=None, metadata={"maxLength": 4096, LOCAL_ONLY: True})
    upload_url: str | None = field(default=None, metadata={"maxLength": 2048})
    token: str | None = field(default=None, metadata={"maxLength": 4096})


@dataclass
class EncryptedFile:
    """One sealed file: its output (name, handle, folder, size and SHA-256 of the sealed bytes),
    whether the platform accepted it (``uploaded``) and whether the platform's receipt lists it
    with that size and SHA-256 (``receipted``)."""

    source: str
    status: Literal["encrypted", "failed"]
    output: str | None = None
    output_handle: str | None = None
    folder: str | None = None
    size: int | None = None
    sha256: str | None = None
    uploaded: bool = False
    receipted: bool = False
    error: JobError | None = None


@dataclass
class EncryptResult:
    """With ``upload_url``, ``receipt`` is the deposit receipt the platform returned with the last
    file it accepted (``bridge_protocol.platform.DepositReceipt``: the pli's files with their sizes
    and SHA-256, and the time), kept with the job; None when the platform gave none."""

    files: list[EncryptedFile]
    encrypted: int
    failed: int
    receipt: DepositReceipt | None = None
