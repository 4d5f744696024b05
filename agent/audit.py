"""Audit trail: a local, append-only, hash-chained journal of what the user's keys were used for.

Every pairing decision (approved, denied, revoked), signature, decryption (``decrypt`` and
``bids.open``) and key generation is one line of ``state_dir/audit/audit.jsonl`` (JSON Lines,
UTF-8; the file is 0600, its folder 0700). A record holds the time (UTC, ISO 8601), the origin,
the action, the job id, the files (names and SHA-256 only, never contents), the certificate
(subject and SHA-256), and the outcome (``succeeded``, ``failed``, ``cancelled`` or
``interrupted`` with the error code). It never holds a PIN, a password, a bearer token or the
job's parameters (agent.jobs.audit decides what a job's record holds).

The chain, byte for byte (what ``verify`` checks and what an independent tool can re-check)::

    canonical(x) = json.dumps(x, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                   encoded as UTF-8
    record["seq"]  = 1, 2, 3, … (the line number)
    record["prev"] = SHA-256 hex of the previous line's exact bytes, without its final "\\n"
                     ("0" * 64 for the first line)
    record["hash"] = SHA-256 hex of canonical(record without its "hash" member)
    line           = canonical(record with "hash") + "\\n"

Editing, deleting, reordering or truncating a line is therefore visible: ``verify`` streams the
file and reports the first broken entry and why. What a bare hash chain cannot show: the removal
of the *last* entries, or a full rewrite by someone who recomputes every hash. Keep the last
hash ``compagnon audit verify`` prints (or an exported copy) elsewhere to anchor the chain.

Appends are single ``write`` calls on an ``O_APPEND`` descriptor, then ``fsync``; one lock per
process (threads) and an advisory file lock (agent and command line appending at once) keep the
chain linear. Writing the journal never fails a job: an error is logged instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Literal

from .fsutil import fsync_dir, private_folder

log = logging.getLogger(__name__)

AUDIT_DIR = "audit"
AUDIT_FILE = "audit.jsonl"
LOCK_FILE = ".audit.lock"
GENESIS = "0" * 64
#: Record format version (the ``v`` member).
FORMAT = 1

Outcome = Literal["succeeded", "failed", "cancelled", "interrupted"]
BreakReason = Literal["edited", "deleted", "reordered", "truncated", "chain"]

#: How ``verify``'s reasons read in French (``compagnon audit verify``).
REASONS_FR: dict[str, str] = {
    "edited": "entrée modifiée",
    "deleted": "entrée supprimée",
    "reordered": "entrées dans le désordre (déplacées ou dupliquées)",
    "truncated": "dernière entrée tronquée",
    "chain": "chaînage rompu (l'entrée précédente a été remplacée, ou une entrée insérée)",
}
#: The same reasons in English (as the console says them: agent/desktop/static/texts.json).
REASONS_EN: dict[str, str] = {
    "edited": "entry edited",
    "deleted": "entry deleted",
    "reordered": "entries out of order (moved or duplicated)",
    "truncated": "last entry truncated",
    "chain": "broken chain (the previous entry was replaced, or an entry inserted)",
}


def canonical(value: Any) -> bytes:
    """The canonical JSON bytes the chain is computed over (see the module docstring)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def record_hash(record: dict[str, Any]) -> str:
    """SHA-256 hex of the canonical form of ``record`` without its ``hash`` member."""
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


def line_digest(line: bytes) -> str:
    """SHA-256 hex of a line's exact bytes (without its final newline): the next record's ``prev``."""
    return hashlib.sha256(line).hexdigest()


def utc_timestamp() -> str:
    """Now, UTC, ISO 8601 with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- verification --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditBreak:
    """The first place the chain does not hold: entry ``seq`` (expected there), file line ``line``."""

    seq: int
    line: int
    reason: BreakReason
    detail: str = ""
    #: ``detail`` in English.
    detail_en: str = ""

    def message(self, locale: str = "fr") -> str:
        """``Journal altéré à l'entrée N : <raison>`` (``Journal altered at entry N: <reason>``)."""
        if locale == "en":
            detail = self.detail_en or self.detail
            return f"Journal altered at entry {self.seq}: {REASONS_EN[self.reason]}" + (f" ({detail})" if detail else "")
        text = REASONS_FR[self.reason] + (f" ({self.detail})" if self.detail else "")
        return f"Journal altéré à l'entrée {self.seq} : {text}"


@dataclass(frozen=True)
class AuditVerification:
    """What ``verify`` found: the entries read, the last line's digest, the first break if any."""

    entries: int
    last_digest: str
    broken: AuditBreak | None = None

    @property
    def intact(self) -> bool:
        return self.broken is None

    def message(self, locale: str = "fr") -> str:
        """``Journal intact (N entrées)`` or ``Journal altéré à l'entrée N : <raison>``, in ``locale``."""
        if self.broken is not None:
            return self.broken.message(locale)
        if locale == "en":
            return f"Journal intact ({self.entries} {'entry' if self.entries == 1 else 'entries'})"
        return f"Journal intact ({self.entries} entrée{'s' if self.entries > 1 else ''})"

    def to_json(self) -> dict[str, Any]:
        broken = self.broken
        return {
            "intact": self.intact,
            "entries": self.entries,
            "last_digest": self.last_digest,
            "broken": None if broken is None else {"seq": broken.seq, "line": broken.line,
                                                   "reason": broken.reason, "detail": broken.detail},
            "message": self.message(),
        }


def _parse(line: bytes) -> dict[str, Any] | None:
    """The record on ``line`` if it is a well-formed record in canonical form with a valid hash."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("seq"), int) or isinstance(record.get("seq"), bool):
        return None
    if not isinstance(record.get("prev"), str) or not isinstance(record.get("hash"), str):
        return None
    if canonical(record) != line or record["hash"] != record_hash(record):
        return None
    return record


def verify_lines(lines: Iterable[bytes]) -> AuditVerification:
    """Check a journal given as its raw lines (each with its ``\\n``, as a binary file yields them).

    Streams: memory stays constant whatever the length. After a sequence jump the rest is read to
    tell a deleted entry (its number never comes) from reordered ones (it comes later).
    """
    prev, expected, count = GENESIS, 1, 0
    iterator = iter(lines)
    for number, raw in enumerate(iterator, 1):
        if not raw.endswith(b"\n"):
            return AuditVerification(count, prev, AuditBreak(expected, number, "truncated"))
        line = raw[:-1]
        record = _parse(line)
        if record is None:
            return AuditVerification(count, prev, AuditBreak(expected, number, "edited"))
        seq = record["seq"]
        if seq != expected:
            if seq > expected and not _comes_later(iterator, expected):
                missing = f"entrées {expected} à {seq - 1} absentes" if seq - 1 > expected else ""
                missing_en = f"entries {expected} to {seq - 1} missing" if seq - 1 > expected else ""
                return AuditVerification(count, prev, AuditBreak(expected, number, "deleted", missing, missing_en))
            return AuditVerification(count, prev, AuditBreak(expected, number, "reordered",
                                                             f"entrée {seq} trouvée à la place",
                                                             f"entry {seq} found instead"))
        if record["prev"] != prev:
            return AuditVerification(count, prev, AuditBreak(expected, number, "chain"))
        prev, expected, count = line_digest(line), expected + 1, count + 1
    return AuditVerification(count, prev)


def _comes_later(lines: Iterator[bytes], seq: int) -> bool:
    """Whether a record numbered ``seq`` appears in the rest of ``lines`` (consumes them)."""
    for raw in lines:
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("seq") == seq:
            return True
    return False


# -- the journal ---------------------------------------------------------------------------------


class AuditLog:
    """The journal in ``folder`` (created on the first append, so reading commands create nothing)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / AUDIT_FILE
        self._lock = threading.Lock()

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> AuditLog:
        """The agent's journal: ``state_dir/audit/audit.jsonl``."""
        return cls(state_dir / AUDIT_DIR)

    # -- writing ----------------------------------------------------------------------------------
    def append(self, event: dict[str, Any]) -> dict[str, Any]:
        """Chain ``event`` (JSON values only; no ``seq``/``prev``/``hash``) and append it durably.

        ``time`` is added when missing. Returns the record as written. Raises OSError.
        """
        with self._lock, self._file_lock():
            seq, prev, needs_newline = self._tail()
            record = {"v": FORMAT, "time": utc_timestamp(), **event, "seq": seq + 1, "prev": prev}
            record.pop("hash", None)
            record["hash"] = record_hash(record)
            data = (b"\n" if needs_newline else b"") + canonical(record) + b"\n"
            created = not self.path.exists()
            # O_BINARY: on Windows a descriptor is in text mode otherwise, and each LF is written CRLF.
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
            try:
                if os.name == "posix":
                    os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.folder)
            return record

    def record(self, event: dict[str, Any]) -> None:
        """``append``, but a failure is logged instead of raised: the journal never stops a job."""
        try:
            self.append(event)
        except Exception:
            log.exception("cannot write the audit journal %s", self.path)

    def record_pairing(self, action: Literal["pairing.approved", "pairing.denied", "pairing.revoked",
                                             "pairing.code_incorrect"], origin: str) -> None:
        """A pairing decision about ``origin`` (a wrong code typed in its page included)."""
        failed = action == "pairing.code_incorrect"
        self.record({"action": action, "origin": origin, "job": None, "result": "failed" if failed else "succeeded",
                     "error": {"code": "PAIRING_CODE_INCORRECT"} if failed else None,
                     "inputs": [], "outputs": [], "certificate": None})

    def _ensure_folder(self) -> None:
        private_folder(self.folder, own=True)
        if os.name == "posix":
            os.chmod(self.folder, 0o700)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """An advisory lock shared with other processes (agent and command line) while appending."""
        self._ensure_folder()
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock_fd(fd, True)
            try:
                yield
            finally:
                _lock_fd(fd, False)
        finally:
            os.close(fd)

    def _tail(self) -> tuple[int, str, bool]:
        """(last seq, digest of the last line, whether a newline must close a partial last line)."""
        try:
            stream = self.path.open("rb")
        except FileNotFoundError:
            return 0, GENESIS, False
        with stream:
            end = stream.seek(0, os.SEEK_END)
            if end == 0:
                return 0, GENESIS, False
            buffer, position = b"", end
            while position > 0:
                step = min(64 * 1024, position)
                position -= step
                stream.seek(position)
                buffer = stream.read(step) + buffer
                if buffer[:-1].rfind(b"\n") >= 0:
                    break
            complete = buffer.endswith(b"\n")
            body = buffer[:-1] if complete else buffer
            last = body[body.rfind(b"\n") + 1:]
            record = _parse(last) if complete else None
            if record is not None:
                return int(record["seq"]), line_digest(last), False
            # A damaged or partial last line (a crash mid-write, or tampering): keep chaining after
            # it, numbering by line; verify() reports the damage where it is.
            log.warning("audit journal %s: the last line is damaged; appending after it", self.path)
            stream.seek(0)
            lines = sum(1 for _ in stream)
            return lines, line_digest(last), not complete

    # -- reading ----------------------------------------------------------------------------------
    @contextmanager
    def _reading(self) -> Iterator[Iterator[bytes] | None]:
        """The journal's lines as they are now (None when there is no journal).

        The lock is held only to read the size: appends are complete when it is free, and later
        ones only add bytes after that size, so the lines read are never half-written ones, and
        a slow reader (``audit show | less``) never holds up the agent.
        """
        if not self.path.exists():
            yield None
            return
        with self._lock, self._file_lock():
            size = self.path.stat().st_size
        with self.path.open("rb") as stream:
            yield _lines_upto(stream, size)

    def verify(self) -> AuditVerification:
        """Stream the journal and check the chain (an absent journal is intact and empty)."""
        with self._reading() as lines:
            return verify_lines(lines) if lines is not None else AuditVerification(0, GENESIS)

    def entries(self) -> Iterator[dict[str, Any]]:
        """The records, in file order; unreadable lines are skipped (``verify`` reports them)."""
        with self._reading() as lines:
            for raw in lines or ():
                try:
                    record = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(record, dict):
                    yield record

    def export(self, target: Path, writer: Callable[[Path], Any]) -> AuditVerification:
        """Copy the journal to ``target`` while verifying the very bytes copied.

        ``writer(target)`` is a context manager yielding a binary stream (``fsutil.atomic_output``):
        the copy appears complete or not at all. The copy is written even when the chain is broken
        (for examination); the result says whether it is intact.
        """
        with self._reading() as lines, writer(target) as out:
            if lines is None:
                return AuditVerification(0, GENESIS)

            def copied() -> Iterator[bytes]:
                for raw in lines:
                    out.write(raw)
                    yield raw

            result = verify_lines(copied())
            for raw in lines:  # what follows an early break, copied as it is
                out.write(raw)
        return result


def _lines_upto(stream: IO[bytes], size: int) -> Iterator[bytes]:
    """The lines of ``stream`` within its first ``size`` bytes."""
    position = 0
    for raw in stream:
        remaining = size - position
        if remaining <= 0:
            return
        if len(raw) >= remaining:
            yield raw[:remaining]
            return
        position += len(raw)
        yield raw


def _lock_fd(fd: int, lock: bool) -> None:
    """Take or release an exclusive advisory lock on ``fd`` (flock on POSIX, msvcrt on Windows)."""
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK if lock else msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fd, fcntl.LOCK_EX if lock else fcntl.LOCK_UN)
