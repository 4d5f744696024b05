"""Files that are either complete or absent (docs/SECURITY.md promise 9).

Everything Compagnon writes goes to a temporary name in the destination folder and is renamed
over the final name only once complete and flushed to disk; a failure removes the temporary file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

PART_SUFFIX = ".part"


def file_sha256(path: Path) -> str:
    """The SHA-256 of the file at ``path`` (hex), read in the buffer size ``hashlib`` chooses."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def is_disk_full(exc: OSError) -> bool:
    """True when a write failed for want of room: disk full, quota reached, file too large."""
    return exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


class ForeignFolderError(PermissionError):
    """One of the agent's own folders belongs to another user: whoever owns it could read, replace
    or link away what the agent writes there (docs/SECURITY.md promise 11). It happens when a
    command runs with another user's folders: ``sudo`` keeping the caller's ``HOME``, a
    ``state_dir`` or ``log_dir`` in someone else's folder."""

    def __init__(self, path: Path, owner: int) -> None:
        super().__init__(f"{path} belongs to user {owner}")
        self.path = path
        self.owner = owner

    def message(self, locale: str = "fr") -> str:
        from .i18n import Text

        return Text("le dossier {path} appartient à un autre utilisateur (uid {owner}) : Compagnon n'y écrit "
                    "rien. Lancez-le sous votre compte avec votre propre HOME (sudo -H, su -), ou indiquez un "
                    "autre dossier dans la configuration (state_dir, log_dir).",
                    "the folder {path} belongs to another user (uid {owner}): Compagnon writes nothing there. "
                    "Run it as your own account with your own HOME (sudo -H, su -), or set another folder in "
                    "the configuration (state_dir, log_dir).").render(locale, path=str(self.path), owner=self.owner)


def private_folder(path: Path, *, own: bool = False) -> Path:
    """``path`` as a folder, every component this call creates made 0700 (docs/SECURITY.md promise
    11: other users of the machine must not even list what the agent keeps or writes).

    With ``own`` the folder is one of the agent's own (state, logs, reports, sealed bids) and is
    made 0700 even if it existed with a wider mode; it is refused (:class:`ForeignFolderError`)
    when another user owns it, or would make it inside a folder of theirs (root's are allowed:
    ``/home``, ``/tmp``). A folder the user made is otherwise left as the user set it.
    """
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    posix_own = own and os.name == "posix"
    if posix_own and missing and (owner := current.stat().st_uid) not in (os.geteuid(), 0):
        # to be made inside another user's folder, who could rename or replace it: nothing is made
        raise ForeignFolderError(current, owner)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
    if posix_own:
        status = path.stat()
        if status.st_uid != os.geteuid():
            raise ForeignFolderError(path, status.st_uid)
        if status.st_mode & 0o077:
            os.chmod(path, 0o700)
    elif not path.is_dir():
        raise NotADirectoryError(str(path))
    return path


def temporary_sibling(path: Path) -> Path:
    """A hidden, unique name beside ``path`` that no finished file ever carries."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}{PART_SUFFIX}")


@contextmanager
def atomic_output(path: Path, mode: int = 0o600, durable: bool = True) -> Iterator[BinaryIO]:
    """Open a temporary sibling of ``path`` for writing; on success fsync and rename it to ``path``.

    With ``durable=False`` the rename is still atomic (a crash of the process leaves the old or the
    new content, never a mix) but nothing waits for the disk: for records rewritten often whose
    latest version may be lost in a power cut (a job's step progress)."""
    private_folder(path.parent)
    tmp = temporary_sibling(path)
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "w+b") as stream:
            yield stream
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o600, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (see ``atomic_output`` for ``durable``)."""
    with atomic_output(path, mode, durable) as stream:
        stream.write(data)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op elsewhere)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class OutputBatch:
    """Atomic outputs with group commit, for jobs that write many small files.

    Each output is written to its temporary name; ``commit`` makes the pending ones durable with
    one ``sync`` (instead of two fsyncs per file; on Windows, which has none, one
    ``FlushFileBuffers`` per file), then renames them and syncs their folders.
    A renamed file is therefore always complete and on disk, as with ``atomic_output``. Outputs
    still pending when the batch is abandoned are deleted: nothing looks finished that is not.
    """

    def __init__(self, max_pending: int = 64, max_pending_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self._pending: list[tuple[Path, Path]] = []
        self._pending_bytes = 0
        self._lock = threading.RLock()  # several threads may write outputs of one batch
        self._folders: set[Path] = set()

    @contextmanager
    def output(self, path: Path, mode: int = 0o600) -> Iterator[BinaryIO]:
        if path.parent not in self._folders:
            private_folder(path.parent)
            self._folders.add(path.parent)
        tmp = temporary_sibling(path)
        # Readable as well: engines such as pyHanko read back what they wrote (or else buffer it all).
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, mode)
        try:
            with os.fdopen(fd, "w+b") as stream:
                yield stream
                size = stream.seek(0, os.SEEK_END)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        with self._lock:
            self._pending.append((tmp, path))
            self._pending_bytes += size
            if len(self._pending) >= self.max_pending or self._pending_bytes >= self.max_pending_bytes:
                self.commit()

    def commit(self) -> None:
        with self._lock:
            self._commit()

    def _commit(self) -> None:
        if not self._pending:
            return
        if len(self._pending) == 1 or not hasattr(os, "sync"):  # Windows has no sync(): each file's own flush
            for tmp, _ in self._pending:
                with tmp.open("rb+") as stream:
                    os.fsync(stream.fileno())
        else:
            os.sync()
        for tmp, path in self._pending:
            os.replace(tmp, path)
        for folder in {path.parent for _, path in self._pending}:
            fsync_dir(folder)
        self._pending.clear()
        self._pending_bytes = 0

    def abandon(self) -> None:
        with self._lock:
            for tmp, _ in self._pending:
                tmp.unlink(missing_ok=True)
            self._pending.clear()
            self._pending_bytes = 0
