"""Files a site handed to the agent (uploads) or received from a job (outputs), by opaque handle.

A handle belongs to the origin that created it (promise 7); pages never see or name a local path
(promise 5). Uploads are written under the state folder as hidden ``.part`` files until complete.

A handle names a file, not a path: the identity of the file it was given for (device, inode, and
the change time and size, since a file system reuses a freed inode number at once) is kept, and a later file at the same path (the user deleted an output, another job wrote the same
name) is never served through the old handle.

Quotas per site (docs/SECURITY.md promise 7): what a site uploads, and what the agent writes for
it without asking the user (``encrypt`` outputs), count towards ``site_bytes`` and
``site_files``; past them the site gets ``FILE_TOO_LARGE`` with ``reason`` ``site_bytes`` or
``site_files`` (``file`` for one file over ``max_bytes``), and other sites are not affected.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from bridge_protocol.errors import ErrorCode, ProtocolError
from bridge_protocol.files import FileInfo

from .fsutil import private_folder
from .i18n import Text

_UNSAFE = re.compile(r'[\x00-\x1f<>:"/\\|?*]')


def safe_file_name(name: str) -> str:
    """A plain file name: no folder part, no control or reserved characters, not empty or dots."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE.sub("_", base).strip(" .")
    if not base:
        raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=Text("nom de fichier invalide", "invalid file name"))
    return base[:200]


@dataclass
class FileEntry:
    handle: str
    origin: str
    name: str
    path: Path
    size: int
    sha256: str | None
    complete: bool
    #: Uploads live in the agent's folder and are deleted with the handle; outputs are the user's.
    owned: bool
    #: ``_identity`` of the complete file this handle was given for.
    identity: tuple[int, ...] | None = None
    #: Counts towards the site's quota (uploads, and outputs written without the user's consent).
    counted: bool = False

    def info(self) -> FileInfo:
        return FileInfo(self.handle, self.name, self.size, self.sha256, self.complete)


class FileRegistry:
    def __init__(self, upload_dir: Path, max_bytes: int, *, site_bytes: int | None = None,
                 site_files: int = 1000) -> None:
        self.upload_dir = upload_dir
        self.max_bytes = max_bytes
        self.site_bytes = site_bytes if site_bytes is not None else 2 * max_bytes
        self.site_files = site_files
        self._entries: dict[str, FileEntry] = {}
        self._hashers: dict[str, hashlib._Hash] = {}
        self._lock = threading.Lock()
        shutil.rmtree(upload_dir, ignore_errors=True)  # uploads of a previous run are gone with it
        private_folder(upload_dir, own=True)

    def get(self, origin: str, handle: str) -> FileEntry:
        """The entry of ``handle`` for ``origin``; FILE_NOT_FOUND if it is another site's, unknown,
        or if its path no longer holds the file the handle was given for."""
        entry = self._entries.get(handle)
        if entry is None or entry.origin != origin:
            raise ProtocolError(ErrorCode.FILE_NOT_FOUND)
        if entry.identity is not None:
            try:
                still = _identity(entry.path.stat()) == entry.identity
            except OSError:
                still = False
            if not still:
                raise ProtocolError(ErrorCode.FILE_NOT_FOUND)
        return entry

    def put(self, origin: str, handle: str | None, name: str | None, data: bytes, final: bool) -> FileEntry:
        """Start or continue an upload; returns the entry (complete once ``final``)."""
        with self._lock:
            if handle is None:
                if name is None:
                    raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=Text("name est requis pour un nouveau fichier", "name is required for a new file"))
                if self._usage(origin)[1] >= self.site_files:
                    raise ProtocolError(ErrorCode.FILE_TOO_LARGE, reason="site_files", limit=self.site_files)
                handle = secrets.token_hex(16)
                path = self.upload_dir / f".{handle}.part"
                path.touch(mode=0o600)
                entry = FileEntry(handle, origin, safe_file_name(name), path, 0, None, False, True, counted=True)
                self._entries[handle] = entry
                self._hashers[handle] = hashlib.sha256()
            else:
                entry = self.get(origin, handle)
                if entry.complete:
                    raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=Text("fichier déjà terminé", "file already complete"))
            if entry.size + len(data) > self.max_bytes:
                self._forget(entry)
                raise ProtocolError(ErrorCode.FILE_TOO_LARGE, reason="file", limit=self.max_bytes)
            if self._usage(origin)[0] + len(data) > self.site_bytes:
                self._forget(entry)
                raise ProtocolError(ErrorCode.FILE_TOO_LARGE, reason="site_bytes", limit=self.site_bytes)
            with entry.path.open("ab") as stream:
                stream.write(data)
            entry.size += len(data)
            self._hashers[entry.handle].update(data)
            if final:
                entry.sha256 = self._hashers.pop(entry.handle).hexdigest()
                final_path = self.upload_dir / entry.handle
                os.replace(entry.path, final_path)
                entry.path, entry.complete = final_path, True
                entry.identity = _identity(final_path.stat())
            return entry

    def make_room(self, origin: str, size: int) -> None:
        """Raise FILE_TOO_LARGE unless ``size`` more bytes fit in ``origin``'s quota (before the agent
        writes, without the user's consent, a file a site asked for)."""
        used, count = self._usage(origin)
        if count >= self.site_files:
            raise ProtocolError(ErrorCode.FILE_TOO_LARGE, reason="site_files", limit=self.site_files)
        if used + size > self.site_bytes:
            raise ProtocolError(ErrorCode.FILE_TOO_LARGE, reason="site_bytes", limit=self.site_bytes)

    def register(self, origin: str, path: Path, sha256: str | None = None, *, counted: bool = False) -> FileEntry:
        """Give a site a handle on a file the agent wrote for it (a job's output); ``counted``: the
        file was written without the user's consent and counts towards the site's quota."""
        status = path.stat()
        entry = FileEntry(secrets.token_hex(16), origin, path.name, path, status.st_size, sha256, True, False,
                          _identity(status), counted)
        with self._lock:
            self._entries[entry.handle] = entry
        return entry

    def read(self, origin: str, handle: str, offset: int, length: int) -> tuple[bytes, bool]:
        entry = self.get(origin, handle)
        if not entry.complete:
            raise ProtocolError(ErrorCode.FILE_NOT_FOUND)
        with entry.path.open("rb") as stream:
            if _identity(os.fstat(stream.fileno())) != entry.identity:  # replaced since ``get``
                raise ProtocolError(ErrorCode.FILE_NOT_FOUND)
            stream.seek(offset)
            data = stream.read(length)
        return data, offset + len(data) >= entry.size

    def discard(self, origin: str, handle: str) -> None:
        entry = self._entries.get(handle)
        if entry is None or entry.origin != origin:
            raise ProtocolError(ErrorCode.FILE_NOT_FOUND)
        with self._lock:
            self._forget(entry)

    def _usage(self, origin: str) -> tuple[int, int]:
        """Bytes and files that count towards ``origin``'s quota."""
        mine = [e for e in list(self._entries.values()) if e.origin == origin and e.counted]
        return sum(e.size for e in mine), len(mine)

    def _forget(self, entry: FileEntry) -> None:
        """Drop ``entry`` (and its file, if the agent owns it); the caller holds the lock."""
        self._entries.pop(entry.handle, None)
        self._hashers.pop(entry.handle, None)
        if entry.owned:
            entry.path.unlink(missing_ok=True)


def _identity(status: os.stat_result) -> tuple[int, ...]:
    """What tells one file from a later one at the same path (an inode number alone is reused).

    On Windows ``st_ino`` is the file's 64-bit ID (on NTFS a file reference whose sequence number
    changes when the record is reused) and ``st_ctime`` its creation time, which a path and an open
    handle may report differently (Wine does): the change time is left out there."""
    if os.name == "nt":
        return status.st_dev, status.st_ino, status.st_mtime_ns, status.st_size
    return status.st_dev, status.st_ino, status.st_ctime_ns, status.st_mtime_ns, status.st_size
