"""Files as pages see them: opaque handles, never local paths (docs/SECURITY.md promise 5)."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Largest ``data`` member of one ``files.put`` / ``files.get`` (base64 of 512 KiB fits a 1 MiB frame).
MAX_CHUNK_BYTES = 512 * 1024


@dataclass
class FilePutParams:
    """``files.put``: upload a file in chunks. The first call gives ``name`` and no ``handle``;
    the next ones give the ``handle``; the last one sets ``final``. ``data`` is base64."""

    data: str = field(metadata={"maxLength": 700_000})
    name: str | None = field(default=None, metadata={"maxLength": 255})
    handle: str | None = field(default=None, metadata={"maxLength": 64})
    final: bool = False


@dataclass
class FileInfo:
    """A file the agent holds for this site: what it uploaded, or what a job produced."""

    handle: str
    name: str
    size: int
    sha256: str | None
    complete: bool


@dataclass
class FileGetParams:
    """``files.get``: read ``length`` bytes of a file from ``offset`` (base64 in the answer)."""

    handle: str = field(metadata={"maxLength": 64})
    offset: int = field(default=0, metadata={"minimum": 0})
    length: int = field(default=MAX_CHUNK_BYTES, metadata={"minimum": 1, "maximum": MAX_CHUNK_BYTES})


@dataclass
class FileChunk:
    data: str
    offset: int
    eof: bool
    file: FileInfo


@dataclass
class FilePickParams:
    """``files.pick``: the user chooses files in the agent's own picker; the page gets handles."""

    multiple: bool = True
    accept: list[str] = field(default_factory=list, metadata={"maxItems": 20})


@dataclass
class FilePickResult:
    files: list[FileInfo]
