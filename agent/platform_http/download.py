"""Resumable, streaming downloads from the platform of a job (docs/SECURITY.md promises 6 and 9).

A file is fetched into a hidden ``.<name>.part`` beside its final name, with HTTP Range requests
that start from what the part already holds: after a network cut (retried with backoff, a bounded
number of times without progress), and after an agent restart (a new job finds the part).
The received bytes are hashed and written by two worker threads while the event loop reads the
socket, so the SHA-256 costs no extra pass; a resumed part is read back once to rebuild the hash.
A file is renamed to its final name only once complete, its SHA-256 checked, and flushed to disk
(fsync, then ``os.replace``, then the folder is synced): no file ever looks finished that is not.

Files stored in blocks are fetched block after block into the one part, each block checked
against its own SHA-256, and the whole file against the file's.

Errors are ``ReportedError``s with the existing stable codes: a full disk (before starting, or
ENOSPC on the way) is ``FILE_TOO_LARGE``; a wrong SHA-256 ``FILE_UNREADABLE``; a lost platform
``PLATFORM_UNREACHABLE``; a missing file ``FILE_NOT_FOUND``.

Kept as one module: the ``Downloader``'s resume, retry and rename steps and the sink that hashes and
writes in worker threads share one part file's state, and promise 9 (no unfinished file looks
finished) is best checked in one place.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from ..errors import ErrorCode, ReportedError
from ..fsutil import PART_SUFFIX, fsync_dir, is_disk_full
from ..i18n import Text, human_size
from .client import OriginBoundClient

log = logging.getLogger(__name__)

T = Text
#: Bytes handed to the hashing and writing threads at once.
BATCH_BYTES = 1024 * 1024
#: A batch smaller than BATCH_BYTES is handed over anyway after this many seconds.
BATCH_SECONDS = 0.1
#: Batches in flight to the worker threads before the reader waits (bounds the memory used).
MAX_PENDING = 8
#: aiohttp's read buffer for a download (its flow-control high-water mark is twice this).
READ_BUFSIZE = 256 * 1024
#: Every this many bytes written, the kernel is asked to start writing them back, so that the
#: final fsync does not wait for a whole large file at once.
WRITEBACK_BYTES = 8 * 1024 * 1024
#: Failed attempts in a row (without a byte of progress) before giving up on a file.
MAX_RETRIES = 5
#: Backoff before the n-th retry: BACKOFF * 2**(n-1) seconds, at most BACKOFF_MAX.
BACKOFF = 0.25
BACKOFF_MAX = 8.0
#: Free space kept for the system on top of the bytes still to download.
SPACE_MARGIN = 16 * 1024 * 1024
#: Progress is reported at most this often (and at the end of each file).
PROGRESS_SECONDS = 0.1

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)

DISK_FULL = T(
    "Espace disque insuffisant : {needed} nécessaires, {free} disponibles dans le dossier de destination.",
    "Not enough disk space: {needed} needed, {free} available in the destination folder.",
)
DISK_FULL_WRITING = T(
    "Disque plein pendant l'écriture de {name} : libérez de la place puis relancez le téléchargement.",
    "Disk full while writing {name}: free some space, then start the download again.",
)
WRITE_FAILED = T("Écriture impossible de {name} : {reason}.", "Cannot write {name}: {reason}.")
BAD_DIGEST = T(
    "Empreinte SHA-256 incorrecte pour {name} : le fichier reçu est écarté.",
    "Wrong SHA-256 for {name}: the received file was discarded.",
)
TOO_MANY_CUTS = T(
    "Connexion à la plateforme perdue pendant le téléchargement de {name} ({n} tentatives).",
    "Connection to the platform lost while downloading {name} ({n} attempts).",
)
DENIED = T(
    "Accès refusé par la plateforme (HTTP {status}) pour {name} : le jeton a peut-être expiré.",
    "Access denied by the platform (HTTP {status}) for {name}: the token may have expired.",
)
REFUSED = T(
    "La plateforme a refusé l'accès à {name} (HTTP {status}) : « {reason} »",
    "The platform refused access to {name} (HTTP {status}): \u201c{reason}\u201d",
)
MISSING = T("Fichier absent de la plateforme (HTTP {status}) : {name}.",
            "File missing on the platform (HTTP {status}): {name}.")
UNEXPECTED = T("Réponse inattendue de la plateforme (HTTP {status}) pour {name}.",
               "Unexpected answer from the platform (HTTP {status}) for {name}.")
BAD_RANGE = T("La plateforme ne respecte pas les requêtes partielles (Range) pour {name}.",
              "The platform does not honour partial (Range) requests for {name}.")


#: Bytes of a refusal's body read for the platform's explanation, and characters kept of it.
MAX_REASON_BYTES = 4096
MAX_REASON_CHARS = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]+")


async def platform_reason(response: aiohttp.ClientResponse) -> str | None:
    """The platform's own words on why it refused a request (PLATFORM.md section 4): the
    ``error`` (or ``message``) string of a JSON body, at most ``MAX_REASON_BYTES`` read, control and
    bidirectional characters removed, cut to ``MAX_REASON_CHARS``; None when there is none."""
    if response.content_type != "application/json":
        return None
    try:
        body = await response.content.read(MAX_REASON_BYTES)
        data = json.loads(body.decode("utf-8"))
    except (TimeoutError, aiohttp.ClientError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    text = next((v for v in (data.get("error"), data.get("message")) if isinstance(v, str)), "")
    text = " ".join(_CONTROL.sub(" ", text).split())
    if len(text) > MAX_REASON_CHARS:
        text = text[:MAX_REASON_CHARS - 1].rstrip() + "…"
    return text or None


@dataclass(frozen=True)
class Piece:
    """A part of a file with its own URL: the whole file, or one of its blocks (in order)."""

    url: str
    size: int
    #: The piece's own SHA-256 (blocks); the whole file's is ``DownloadTarget.sha256``.
    sha256: str | None = None


@dataclass(frozen=True)
class DownloadTarget:
    """A file to bring to ``path``: ``size`` bytes whose SHA-256 is ``sha256``, the
    concatenation of ``pieces``."""

    path: Path
    size: int
    sha256: str
    pieces: tuple[Piece, ...]
    #: How messages name the file (e.g. its name in the descriptor).
    label: str = ""

    @property
    def name(self) -> str:
        return self.label or self.path.name


@dataclass
class DownloadOutcome:
    path: Path
    size: int
    sha256: str
    #: Bytes received from the network for this file by this download.
    transferred: int
    #: Bytes the part already held when this download started (0 for a fresh download).
    resumed_from: int
    #: HTTP requests made (retries and Range restarts included).
    requests: int


def part_path(final: Path) -> Path:
    """The hidden name a file carries while incomplete (always the same, so a later job finds it)."""
    return final.with_name(f".{final.name}{PART_SUFFIX}")


def part_size(final: Path) -> int:
    """Bytes already in the part of ``final`` (0 when there is none)."""
    try:
        return part_path(final).stat().st_size
    except OSError:
        return 0


def free_space(folder: Path) -> int:
    """Free bytes on the file system holding ``folder`` (or its nearest existing parent)."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def check_free_space(folder: Path, needed: int, locale: str = "fr", margin: int = SPACE_MARGIN) -> None:
    """FILE_TOO_LARGE unless ``needed`` bytes (plus a margin) fit in ``folder``'s file system."""
    free = free_space(folder)
    if needed > 0 and free < needed + margin:
        message = DISK_FULL.render(locale, needed=human_size(needed, locale), free=human_size(free, locale))
        raise ReportedError(ErrorCode.FILE_TOO_LARGE, message, needed=needed, free=free)


def _write_all(fd: int, chunks: list[bytes]) -> int:
    """Write ``chunks`` at the file's position; returns the byte count (tests replace this to
    simulate a full disk)."""
    total = sum(len(c) for c in chunks)
    if hasattr(os, "writev") and len(chunks) <= 1024:
        done = os.writev(fd, chunks)
        if done == total:
            return total
        rest = memoryview(b"".join(chunks))[done:]
    else:
        rest = memoryview(b"".join(chunks))
    while rest:
        rest = rest[os.write(fd, rest):]
    return total


class _Transient(Exception):
    """A failure worth another attempt (a cut, a timeout, a 5xx)."""


class _Sink:
    """The part file of one download: batches are hashed in one thread and written in another,
    in order, while the event loop goes on reading. ``queued`` counts bytes handed over,
    ``written`` those known to be on disk (after ``drain``)."""

    def __init__(self, fd: int, offset: int, hash_pool: ThreadPoolExecutor, write_pool: ThreadPoolExecutor) -> None:
        self.fd = fd
        self.queued = self.written = offset
        self.file_hash = hashlib.sha256()
        self.piece_hash = hashlib.sha256()
        self._hash_pool, self._write_pool = hash_pool, write_pool
        self._pending: deque[Future[Any]] = deque()
        self._advised = offset
        self._position = offset

    # Worker-thread side ------------------------------------------------------------------
    def _hash(self, chunks: list[bytes], piece: bool) -> None:
        file_hash, piece_hash = self.file_hash, self.piece_hash
        for chunk in chunks:
            file_hash.update(chunk)
            if piece:
                piece_hash.update(chunk)

    def _write(self, chunks: list[bytes]) -> None:
        self._position += _write_all(self.fd, chunks)
        if self._position - self._advised >= WRITEBACK_BYTES and hasattr(os, "posix_fadvise"):
            # Start writing these pages back now (and let them leave the cache once clean).
            os.posix_fadvise(self.fd, self._advised, self._position - self._advised, os.POSIX_FADV_DONTNEED)
            self._advised = self._position

    # Event-loop side ---------------------------------------------------------------------
    def submit(self, chunks: list[bytes], size: int, piece_hashed: bool) -> None:
        """Hand a batch to the worker threads (never blocks; see ``wait_room``)."""
        self._pending.append(self._hash_pool.submit(self._hash, chunks, piece_hashed))
        self._pending.append(self._write_pool.submit(self._write, chunks))
        self.queued += size

    async def _next(self) -> None:
        # Shielded: a cancelled job never cancels a batch in the queue (that would leave a hole in
        # the part); the batch stays queued until done, and ``settle`` waits for it.
        head = self._pending[0]
        try:
            await asyncio.shield(asyncio.wrap_future(head))
        finally:
            if head.done() and self._pending and self._pending[0] is head:
                self._pending.popleft()

    async def wait_room(self) -> None:
        """Wait while too many batches are in flight; raises the first worker error."""
        while len(self._pending) > 2 * MAX_PENDING or (self._pending and self._pending[0].done()):
            await self._next()

    async def drain(self) -> None:
        """Wait for every batch handed over; raises the first worker error."""
        try:
            while self._pending:
                await self._next()
        finally:
            self.written = self._position

    def settle(self) -> None:
        """Block until the worker threads are done with this file (before closing it)."""
        while self._pending:
            try:
                self._pending.popleft().result()
            except BaseException:  # noqa: BLE001 - the error was or will be reported by drain
                pass
        self.written = self._position

    def rewind(self, offset: int, file_hash: Any, piece_hash: Any | None = None) -> None:
        """Cut the part back to ``offset`` (after ``drain``), with the hashes of what remains."""
        os.ftruncate(self.fd, offset)
        os.lseek(self.fd, offset, os.SEEK_SET)
        self.queued = self.written = self._position = offset
        self._advised = min(self._advised, offset)
        self.file_hash = file_hash
        self.piece_hash = piece_hash or hashlib.sha256()


def _starts(pieces: tuple[Piece, ...]) -> list[int]:
    starts, position = [], 0
    for piece in pieces:
        starts.append(position)
        position += piece.size
    return starts


def _rehash(part: Path, pieces: tuple[Piece, ...], have: int,
            check_cancelled: Callable[[], None] | None) -> tuple[int, Any, Any, Any]:
    """Read the part back once: (offset to resume from, file hash up to it, file hash at the start
    of the piece in hand, hash of the piece so far). Whole blocks are checked against their own
    SHA-256 on the way; the part is resumed from the first one that does not match. (Runs in a
    thread with a descriptor of its own, so that a cancelled job may close its own at once.)"""
    file_hash, piece_start_hash, piece_hash = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
    position = 0
    if have == 0:
        return position, file_hash, piece_start_hash, piece_hash
    with part.open("rb", buffering=0) as stream:
        for piece, start in zip(pieces, _starts(pieces), strict=True):
            end = start + piece.size
            piece_start_hash, piece_hash = file_hash.copy(), hashlib.sha256()
            while position < min(end, have):
                data = stream.read(min(BATCH_BYTES, min(end, have) - position))
                if not data:
                    return position, file_hash, piece_start_hash, piece_hash
                if check_cancelled is not None:
                    check_cancelled()
                file_hash.update(data)
                piece_hash.update(data)
                position += len(data)
            if position < end:
                break
            if piece.sha256 is not None and piece_hash.hexdigest() != piece.sha256.lower():
                log.info("resumed block at %d does not match its SHA-256: fetched again", start)
                return start, piece_start_hash, piece_start_hash.copy(), hashlib.sha256()
    return position, file_hash, piece_start_hash, piece_hash


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, (_Transient, aiohttp.ClientError, asyncio.TimeoutError, ConnectionError)):
        return True
    # OriginBoundClient's "cannot connect" (PLATFORM_UNREACHABLE raised from a client error).
    return (isinstance(exc, ReportedError) and exc.code is ErrorCode.PLATFORM_UNREACHABLE
            and isinstance(exc.__cause__, (aiohttp.ClientError, asyncio.TimeoutError, OSError)))


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """``bytes FIRST-LAST/TOTAL`` as (first, last, total or None for ``*``); None if malformed."""
    match = _CONTENT_RANGE.match(value or "")
    if not match:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    total = None if match.group(3) == "*" else int(match.group(3))
    if last < first or (total is not None and last >= total):
        return None
    return first, last, total


class Downloader:
    """Downloads files of one origin with resume, verification and atomic naming.

    ``progress(n)`` is called (on the event loop) with the count of bytes received since its last
    call; ``check_cancelled()`` is called between chunks and may raise to stop. Use as an async
    context manager (it owns two worker threads).
    """

    def __init__(
        self,
        client: OriginBoundClient,
        *,
        headers: dict[str, str] | None = None,
        progress: Callable[[int], None] | None = None,
        check_cancelled: Callable[[], None] | None = None,
        locale: str = "fr",
        retries: int | None = None,
        backoff: float | None = None,
    ) -> None:
        self.client = client
        self.headers = dict(headers or {})
        self.progress = progress
        self.check_cancelled = check_cancelled
        self.locale = locale
        self.retries = MAX_RETRIES if retries is None else retries
        self.backoff = BACKOFF if backoff is None else backoff
        self._hash_pool = ThreadPoolExecutor(1, thread_name_prefix="download-hash")
        self._write_pool = ThreadPoolExecutor(1, thread_name_prefix="download-write")
        self._unreported = 0
        self._reported_at = 0.0

    async def __aenter__(self) -> Downloader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._hash_pool.shutdown(wait=True)
        self._write_pool.shutdown(wait=True)

    # -- progress and cancellation ---------------------------------------------------------
    def _received(self, count: int, force: bool = False) -> None:
        self._unreported += count
        now = time.monotonic()
        if self.progress is not None and self._unreported and (force or now - self._reported_at >= PROGRESS_SECONDS):
            self._reported_at = now
            count, self._unreported = self._unreported, 0
            self.progress(count)

    def _check(self) -> None:
        if self.check_cancelled is not None:
            self.check_cancelled()

    def _error(self, code: ErrorCode, text: Text, **fields: object) -> ReportedError:
        return ReportedError(code, text.filled(**fields) if fields else text)

    # -- one file -----------------------------------------------------------------------------
    async def fetch(self, target: DownloadTarget) -> DownloadOutcome:
        """Bring ``target`` to its final name (resuming its part if there is one)."""
        if sum(p.size for p in target.pieces) != target.size:
            raise ValueError("the pieces do not add up to the file's size")
        part = part_path(target.path)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            await asyncio.to_thread(part.parent.mkdir, parents=True, exist_ok=True)
            fd = os.open(part, flags, 0o600)
        except OSError as exc:
            raise self._write_error(exc, target) from exc
        sink: _Sink | None = None
        done = False
        try:
            have = os.fstat(fd).st_size
            if have > target.size:
                os.ftruncate(fd, 0)
                have = 0
            resumed_from = have
            offset, file_hash, start_hash, piece_hash = await asyncio.to_thread(
                _rehash, part, target.pieces, have, self.check_cancelled)
            sink = _Sink(fd, offset, self._hash_pool, self._write_pool)
            sink.rewind(offset, file_hash, piece_hash)
            resumed_from = min(resumed_from, offset)
            stats = {"requests": 0, "transferred": 0, "ranged": 0}
            retried_whole = False
            while True:
                await self._fetch_pieces(target, sink, start_hash, stats)
                await self._drain(sink, target)
                if sink.file_hash.hexdigest() == target.sha256.lower():
                    break
                if (resumed_from > 0 or stats["ranged"]) and not retried_whole:
                    # Resumed or pieced-together data may be stale: once, fetch it all again.
                    log.info("%s: SHA-256 mismatch after a resume, fetching it again", target.name)
                    retried_whole = True
                    sink.rewind(0, hashlib.sha256())
                    start_hash = hashlib.sha256()
                    resumed_from = 0
                    continue
                raise self._error(ErrorCode.FILE_UNREADABLE, BAD_DIGEST, name=target.name)
            try:
                await asyncio.to_thread(os.fsync, fd)
            except OSError as exc:  # delayed allocation may only find the disk full now
                raise self._write_error(exc, target) from exc
            os.close(fd)
            fd = -1
            await asyncio.to_thread(self._commit, part, target.path)
            done = True
            return DownloadOutcome(target.path, target.size, target.sha256.lower(), stats["transferred"],
                                   resumed_from, stats["requests"])
        except ReportedError as exc:
            if exc.code in (ErrorCode.FILE_UNREADABLE, ErrorCode.FILE_TOO_LARGE) and fd >= 0:
                # A wrong file or a full disk: the part is worth nothing / takes the space needed.
                self._discard(sink, fd, part)
                fd = -1
            raise
        finally:
            self._received(0, force=True)
            if not done and fd >= 0:
                if sink is not None:
                    sink.settle()
                os.close(fd)

    def _discard(self, sink: _Sink | None, fd: int, part: Path) -> None:
        if sink is not None:
            sink.settle()
        os.close(fd)
        part.unlink(missing_ok=True)

    @staticmethod
    def _commit(part: Path, final: Path) -> None:
        os.replace(part, final)
        fsync_dir(final.parent)

    def _write_error(self, exc: OSError, target: DownloadTarget) -> ReportedError:
        if is_disk_full(exc):
            return self._error(ErrorCode.FILE_TOO_LARGE, DISK_FULL_WRITING, name=target.name)
        return self._error(ErrorCode.FILE_UNREADABLE, WRITE_FAILED, name=target.name,
                           reason=exc.strerror or exc.__class__.__name__)

    async def _drain(self, sink: _Sink, target: DownloadTarget) -> None:
        try:
            await sink.drain()
        except OSError as exc:
            raise self._write_error(exc, target) from exc

    async def _wait_room(self, sink: _Sink, target: DownloadTarget) -> None:
        try:
            await sink.wait_room()
        except OSError as exc:
            raise self._write_error(exc, target) from exc

    async def _fetch_pieces(self, target: DownloadTarget, sink: _Sink, start_hash: Any, stats: dict[str, int]) -> None:
        """Fetch from ``sink.written`` to the end of the file, piece after piece."""
        for index, (piece, start) in enumerate(zip(target.pieces, _starts(target.pieces), strict=True)):
            end = start + piece.size
            if sink.written >= end:
                continue
            if sink.written == start:
                start_hash = sink.file_hash.copy()
                sink.piece_hash = hashlib.sha256()
            retried = False
            while True:
                await self._fetch_piece(target, piece, start, sink, start_hash, stats)
                if piece.sha256 is None or sink.piece_hash.hexdigest() == piece.sha256.lower():
                    break
                if retried:
                    raise self._error(ErrorCode.FILE_UNREADABLE, BAD_DIGEST, name=f"{target.name} (bloc {index})")
                retried = True
                log.info("%s: block %d does not match its SHA-256, fetching it again", target.name, index)
                sink.rewind(start, start_hash.copy())

    async def _fetch_piece(self, target: DownloadTarget, piece: Piece, start: int, sink: _Sink, start_hash: Any,
                           stats: dict[str, int]) -> None:
        """Bring the part to the end of ``piece`` (which begins at ``start`` in the file)."""
        end = start + piece.size
        failures, use_range, range_restarts = 0, True, 0
        while sink.written < end:
            self._check()
            position = sink.written - start
            headers = {**self.headers, "Accept-Encoding": "identity"}
            if position > 0 and use_range:
                headers["Range"] = f"bytes={position}-"
                stats["ranged"] += 1
            before = sink.written
            try:
                request = self.client.request("GET", piece.url, headers=headers, read_bufsize=READ_BUFSIZE)
                async with request as response:
                    stats["requests"] += 1
                    status = response.status
                    if status == 206:
                        span = parse_content_range(response.headers.get("Content-Range"))
                        if span is None or span[0] != position or span[2] not in (None, piece.size):
                            # A range we did not ask for: start this piece over without Range.
                            range_restarts += 1
                            if range_restarts > 2:
                                raise self._error(ErrorCode.PLATFORM_UNREACHABLE, BAD_RANGE, name=target.name)
                            use_range = False
                            sink.rewind(start, start_hash.copy())
                            continue
                    elif status == 200:
                        if position > 0:
                            # The platform ignored Range: the body is the whole piece, start over.
                            log.info("%s: Range ignored by the platform, restarting the piece", target.name)
                            sink.rewind(start, start_hash.copy())
                    elif status == 416:
                        range_restarts += 1
                        if range_restarts > 2:
                            raise self._error(ErrorCode.PLATFORM_UNREACHABLE, BAD_RANGE, name=target.name)
                        sink.rewind(start, start_hash.copy())
                        continue
                    elif status in (401, 403):
                        reason = await platform_reason(response)
                        if reason:
                            raise self._error(ErrorCode.PLATFORM_UNREACHABLE, REFUSED, status=status,
                                              name=target.name, reason=reason)
                        raise self._error(ErrorCode.PLATFORM_UNREACHABLE, DENIED, status=status, name=target.name)
                    elif status in (404, 410):
                        raise self._error(ErrorCode.FILE_NOT_FOUND, MISSING, status=status, name=target.name)
                    elif status in (408, 429) or status >= 500:
                        raise _Transient(f"HTTP {status}")
                    else:
                        raise self._error(ErrorCode.PLATFORM_UNREACHABLE, UNEXPECTED, status=status, name=target.name)
                    await self._stream(response, target, sink, end, piece.sha256 is not None, stats)
                await self._drain(sink, target)
                if sink.written < end:
                    raise _Transient("short body")
            except Exception as exc:
                if not _transient(exc):
                    raise
                await self._drain(sink, target)
                failures = 0 if sink.written > before else failures + 1
                if failures > self.retries:
                    raise self._error(ErrorCode.PLATFORM_UNREACHABLE, TOO_MANY_CUTS, name=target.name,
                                      n=failures) from exc
                delay = min(BACKOFF_MAX, self.backoff * 2 ** max(0, failures - 1)) if failures else 0.05
                log.info("%s: %s at byte %d, retrying in %.2f s", target.name, exc.__class__.__name__,
                         sink.written, delay)
                await asyncio.sleep(delay)

    async def _stream(self, response: aiohttp.ClientResponse, target: DownloadTarget, sink: _Sink, end: int,
                      piece_hashed: bool, stats: dict[str, int]) -> None:
        """Hand the body to the sink in batches, up to ``end`` (``stats["transferred"]`` counts it).

        A batch goes to the worker threads once it holds BATCH_BYTES, or BATCH_SECONDS after its
        first chunk (a timer, so that a stalled connection still leaves what arrived on disk).
        """
        content = response.content
        loop = asyncio.get_running_loop()
        batch: list[bytes] = []
        size = 0
        timer: asyncio.TimerHandle | None = None

        def hand_over() -> None:
            nonlocal batch, size, timer
            if timer is not None:
                timer.cancel()
                timer = None
            if batch:
                sink.submit(batch, size, piece_hashed)
                batch, size = [], 0
            self._received(0, force=True)

        try:
            while sink.queued + size < end:
                chunk = await content.readany()
                if not chunk:
                    break
                room = end - sink.queued - size
                if len(chunk) > room:
                    chunk = chunk[:room]  # more than the piece: the rest is not ours to keep
                batch.append(chunk)
                size += len(chunk)
                stats["transferred"] += len(chunk)
                self._received(len(chunk))
                if size >= BATCH_BYTES:
                    hand_over()
                    await self._wait_room(sink, target)
                    self._check()
                elif timer is None:
                    timer = loop.call_later(BATCH_SECONDS, hand_over)
        except asyncio.CancelledError:
            if timer is not None:
                timer.cancel()
            raise
        except BaseException:
            hand_over()  # keep what arrived before the cut
            raise
        hand_over()


__all__ = [
    "DownloadOutcome",
    "DownloadTarget",
    "Downloader",
    "Piece",
    "check_free_space",
    "free_space",
    "is_disk_full",
    "part_path",
    "part_size",
]
