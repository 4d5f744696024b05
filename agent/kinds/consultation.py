"""The consultation workflow shared by ``bids.download`` and ``bids.open`` (PLATFORM.md sections 2-4):
fetch and check a consultation's descriptor from the job's own origin (promise 6), plan its files
into the agent's folder (promise 5: a page never names a path), and bring them there, resumable.

Where the files go: ``<signing.output_dir>/Plis/<platform host>/<consultation id>/<pli>/<envelope>/<file>``;
the command line may name another folder (``out_dir``). Each file is written under a hidden
``.<name>.part`` and renamed once complete and its SHA-256 checked (promise 9).

Resuming: a network cut is retried with HTTP Range by the downloader. If the agent stops or
crashes, the job ends ``interrupted`` but its ``.part`` files and the small resume record
``.compagnon-reprise.json`` (per file: expected size and SHA-256; never the token) stay in the
consultation's folder: a new job for the same consultation continues each file from its part, and
skips files already complete. A cancelled job removes its parts; a failed one keeps them (except a
file with a wrong SHA-256, or the one being written when the disk filled up).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from yarl import URL

from bridge_protocol.kinds import DownloadedFile, FailedDownload
from bridge_protocol.messages import JobError
from bridge_protocol.errors import ErrorCode, ProtocolError
from bridge_protocol.platform import Consultation, Envelope, Pli, SealedFile, ordered_blocks, parse_consultation
from bridge_protocol.typed import ParseError

from ..errors import ReportedError
from ..files import safe_file_name
from ..fsutil import atomic_write_bytes, file_sha256, private_folder
from ..i18n import Text
from ..jobs.context import JobCancelled, JobContext
from ..platform_http.download import (
    DownloadTarget,
    Downloader,
    Piece,
    check_free_space,
    part_path,
    part_size,
    platform_reason,
)
from .sources import display_folder

log = logging.getLogger(__name__)

T = Text
PLI_LABEL = T("pli", "bid")
ELEMENT = T("pli {p} sur {np}, enveloppe {e} sur {ne}, fichier {f} sur {nf}",
            "bid {p} of {np}, envelope {e} of {ne}, file {f} of {nf}")
SOME_FAILED = T("{n} fichier(s) non téléchargé(s) : {names}. {first}",
                "{n} file(s) not downloaded: {names}. {first}")
#: Resume record in the consultation's folder (hidden; never holds the token).
RECORD_NAME = ".compagnon-reprise.json"
#: Largest descriptor accepted.
MAX_DESCRIPTOR_BYTES = 16 * 1024 * 1024


@dataclass
class PlannedFile:
    """A sealed file of the consultation, where it goes, and its place in the listing."""

    pli: Pli
    envelope: Envelope
    sealed: SealedFile
    position: tuple[int, int, int, int, int, int]  # pli, plis, envelope, envelopes, file, files
    rel: str
    target: DownloadTarget


def _unique(name: str, taken: set[str], suffix: str) -> str:
    """``name``, or ``name (suffix)`` (before the extension for files) when already taken."""
    candidate = name
    if candidate.lower() in taken:
        stem, dot, ext = name.rpartition(".")
        candidate = f"{stem} ({suffix}).{ext}" if dot and stem else f"{name} ({suffix})"
    taken.add(candidate.lower())
    return candidate


def _folder_name(text: str, fallback: str) -> str:
    """A safe local name for a platform's label or file name (separators kept as ``_``)."""
    try:
        return safe_file_name(text.replace("/", "_").replace("\\", "_"))
    except (ProtocolError, ReportedError):
        return safe_file_name(fallback)


def _host_folder(origin: str) -> str:
    url = URL(origin)
    host = url.host or "plateforme"
    return safe_file_name(host if url.is_default_port() else f"{host}_{url.port}")


def _load_record(folder: Path) -> dict:
    try:
        data = json.loads((folder / RECORD_NAME).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else {}
    except (OSError, ValueError):
        return {}


@dataclass
class ConsultationPlan:
    """A consultation as a job fetches it: the checked descriptor, the folder its files go to,
    the bearer header, and every file to fetch in order with its final place."""

    consultation: Consultation
    #: The descriptor's URL: relative URLs inside it are resolved against it.
    base: URL
    folder: Path
    headers: dict[str, str]
    items: list[PlannedFile]

    def absolute(self, ctx: JobContext, url: str) -> str:
        """``url`` of the descriptor made absolute; ORIGIN_NOT_ALLOWED unless on the job's origin."""
        return _absolute(ctx, self.base, url)

    @property
    def plis(self) -> int:
        return len({item.pli.id for item in self.items})


async def plan_consultation(ctx: JobContext, url: str, token: str | None, *, out_dir: str | None = None,
                            plis: list[str] | None = None, envelopes: list[str] | None = None) -> ConsultationPlan:
    """Fetch and check the descriptor at ``url`` (the job's own origin only, promise 6) and plan
    its files: the selected plis (all by default) and, with ``envelopes``, only those envelope ids."""
    if out_dir is not None and not ctx.services.local:
        # Promise 5: a page never names a local path.
        raise ProtocolError(ErrorCode.INVALID_PARAMS,
                            reason=T("dossier local refusé : les plis vont dans le dossier de Compagnon",
                                     "local folder refused: bids go to Compagnon's folder"))
    # The platform may explain a refusal (PLATFORM.md section 4) in the reader's language.
    headers = {"Accept-Language": ctx.locale, **({"Authorization": f"Bearer {token}"} if token else {})}
    consultation, base = await _descriptor(ctx, url, headers)
    ctx.set_subject(consultation.reference or consultation.id, consultation.title)
    folder = _folder(ctx, out_dir, consultation)
    return ConsultationPlan(consultation, base, folder, headers, _plan(ctx, consultation, plis, envelopes, base, folder))


async def fetch_planned(ctx: JobContext, plan: ConsultationPlan, *, space_step: str | None,
                        download_step: str) -> list[DownloadedFile]:
    """Every planned file into its final place (PLATFORM.md sections 3 and 4): one job at a time
    per consultation folder, free space checked first, resumed from parts, SHA-256 checked.
    Progress and speed go to ``download_step`` (run as a step of its own unless the caller is
    already in it); a file that failed fails the call, naming it, after the others were fetched."""
    async with _folder_lock(ctx, plan.folder):
        with _within(ctx, space_step):
            record = await _check_space(ctx, plan)
        with _within(ctx, download_step):
            return await _fetch_all(ctx, plan, download_step, record)


@contextmanager
def _within(ctx: JobContext, step_id: str | None) -> Iterator[None]:
    """``ctx.step(step_id)``, or nothing when there is no such step or it is running already."""
    if step_id is None or ctx.job.step(step_id).state == "running":
        yield
    else:
        with ctx.step(step_id):
            yield


class SomeFilesFailed(ProtocolError):
    """Some files could not be had; ``results`` are the others, in their place and checked."""

    def __init__(self, code: ErrorCode, message: str, results: list[DownloadedFile],
                 failed: list[FailedDownload]) -> None:
        super().__init__(code, message)
        self.results = results
        self.failed = failed


async def _fetch_all(ctx: JobContext, plan: ConsultationPlan, step: str, record: bool) -> list[DownloadedFile]:
    results: list[DownloadedFile] = []
    failures: list[tuple[PlannedFile, ProtocolError | ReportedError]] = []
    progress = _Progress(ctx, step, sum(item.sealed.size for item in plan.items))
    try:
        async with Downloader(ctx.platform, headers=plan.headers, progress=progress.received,
                              check_cancelled=ctx.check_cancelled, locale=ctx.locale) as downloader:
            for item in plan.items:
                ctx.check_cancelled()
                _show(ctx, item)
                try:
                    results.append(await _one(downloader, item, progress))
                except (ProtocolError, ReportedError) as exc:
                    if exc.code not in (ErrorCode.FILE_UNREADABLE, ErrorCode.FILE_NOT_FOUND):
                        raise  # the platform, the token or the disk: the next files would fail too
                    log.info("bids: %s failed: %s", item.rel, exc.code.value)
                    failures.append((item, exc))
                    progress.file_done(item.sealed.size)
    except (JobCancelled, asyncio.CancelledError):
        if ctx.cancelled:  # the user's cancel (not an agent shutdown): leave nothing behind
            await asyncio.to_thread(_remove_parts, plan.folder, plan.items)
        raise
    if failures:
        names = ", ".join(item.sealed.name for item, _ in failures[:3]) + ("…" if len(failures) > 3 else "")
        first = failures[0][1]
        failed = [FailedDownload(pli=item.pli.id, envelope=item.envelope.id, file=item.sealed.id, name=item.rel,
                                 error=JobError(code=exc.code.value, message=exc.message(ctx.locale)))
                  for item, exc in failures]
        raise SomeFilesFailed(first.code, ctx.t(SOME_FAILED, n=len(failures), names=names,
                                                first=first.message(ctx.locale)), results, failed)
    if record:
        await asyncio.to_thread((plan.folder / RECORD_NAME).unlink, True)
    return results


def folder_label(ctx: JobContext, folder: Path) -> str:
    """The folder as the result shows it: the full path for the command line, ``~/…`` for a page."""
    return str(folder) if ctx.services.local else display_folder(folder)


# -- descriptor and plan -------------------------------------------------------------------------
async def _descriptor(ctx: JobContext, url: str, headers: dict[str, str]) -> tuple[Consultation, URL]:
    base = ctx.platform.resolve(url)  # ORIGIN_NOT_ALLOWED unless the job's own origin
    request = ctx.platform.request("GET", str(base), headers={**headers, "Accept": "application/json"})
    async with request as response:
        if response.status in (401, 403) and "Authorization" not in headers:
            raise ProtocolError(ErrorCode.PLATFORM_UNREACHABLE, ctx.t(T(
                "La plateforme demande un jeton d'accès (HTTP {s}) et aucun n'a été donné : copiez le jeton "
                "fourni par la plateforme (en ligne de commande : --token-stdin).",
                "The platform asks for an access token (HTTP {s}) and none was given: copy the token the "
                "platform provides (on the command line: --token-stdin)."), s=response.status))
        if response.status in (401, 403):
            reason = await platform_reason(response)
            if reason:
                raise ProtocolError(ErrorCode.PLATFORM_UNREACHABLE, ctx.t(T(
                    "La plateforme a refusé l'accès à la consultation (HTTP {s}) : « {reason} »",
                    "The platform refused access to the consultation (HTTP {s}): \u201c{reason}\u201d"),
                    s=response.status, reason=reason))
            raise ProtocolError(ErrorCode.PLATFORM_UNREACHABLE, ctx.t(T(
                "Accès refusé par la plateforme (HTTP {s}) : le jeton a peut-être expiré.",
                "Access denied by the platform (HTTP {s}): the token may have expired."), s=response.status))
        if response.status == 404:
            raise ProtocolError(ErrorCode.FILE_NOT_FOUND, ctx.t(T("Consultation introuvable sur la plateforme.",
                                                                  "Consultation not found on the platform.")))
        if response.status != 200:
            raise ProtocolError(ErrorCode.PLATFORM_UNREACHABLE, ctx.t(T(
                "Description de la consultation indisponible (HTTP {s}).",
                "Consultation description unavailable (HTTP {s})."), s=response.status))
        body = bytearray()
        while chunk := await response.content.readany():
            body += chunk
            if len(body) > MAX_DESCRIPTOR_BYTES:
                raise ProtocolError(ErrorCode.FILE_TOO_LARGE)
    try:
        consultation = parse_consultation(json.loads(body))
    except (ValueError, ParseError) as exc:
        where = f" ({exc.path} : {exc.reason})" if isinstance(exc, ParseError) else ""
        raise ProtocolError(ErrorCode.PLATFORM_UNREACHABLE, ctx.t(T(
            "Description de la consultation illisible{w}.", "Unreadable consultation description{w}."),
            w=where)) from None
    return consultation, base


def _folder(ctx: JobContext, out_dir: str | None, consultation: Consultation) -> Path:
    name = safe_file_name(consultation.id)
    if out_dir is not None:
        return Path(out_dir).expanduser() / name
    return ctx.services.settings.output_dir / "Plis" / _host_folder(ctx.origin) / name


def _plan(ctx: JobContext, consultation: Consultation, selected: list[str] | None, envelope_ids: list[str] | None,
          base: URL, folder: Path) -> list[PlannedFile]:
    """Every file to fetch, in order, with its final place; all URLs checked same-origin first."""
    plis = consultation.plis
    if selected is not None:
        known = {p.id for p in plis}
        unknown = [p for p in selected if p not in known]
        if unknown:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=T("pli inconnu : {p}", "unknown pli: {p}").filled(p=unknown[0][:64]))
        plis = [p for p in plis if p.id in set(selected)]

    items: list[PlannedFile] = []
    pli_names: set[str] = set()
    for p, pli in enumerate(plis, 1):
        label = f"{pli.label} - {pli.company}" if pli.company else pli.label
        pli_dir = _unique(_folder_name(label, pli.id), pli_names, pli.id)
        envelope_names: set[str] = set()
        for e, envelope in enumerate(pli.envelopes, 1):
            env_dir = _unique(_folder_name(envelope.label, envelope.id), envelope_names, envelope.id)
            if envelope_ids is not None and envelope.id not in envelope_ids:
                continue
            file_names: set[str] = set()
            for f, sealed in enumerate(envelope.files, 1):
                name = _unique(_folder_name(sealed.name, sealed.id), file_names, sealed.id)
                rel = f"{pli_dir}/{env_dir}/{name}"
                if sealed.blocks is not None:
                    pieces = tuple(Piece(_absolute(ctx, base, b.url), b.size, b.sha256) for b in ordered_blocks(sealed))
                else:
                    pieces = (Piece(_absolute(ctx, base, sealed.url or ""), sealed.size),)
                target = DownloadTarget(folder / pli_dir / env_dir / name, sealed.size, sealed.sha256.lower(),
                                        pieces, label=sealed.name)
                items.append(PlannedFile(pli, envelope, sealed, (p, len(plis), e, len(pli.envelopes), f,
                                                                 len(envelope.files)), rel, target))
    return items


def _absolute(ctx: JobContext, base: URL, url: str) -> str:
    """``url`` of the descriptor, absolute; ORIGIN_NOT_ALLOWED if elsewhere or malformed."""
    try:
        joined = str(base.join(URL(url)))
    except (ValueError, TypeError):
        raise ProtocolError(ErrorCode.ORIGIN_NOT_ALLOWED) from None
    return str(ctx.platform.resolve(joined))


# -- fetching ------------------------------------------------------------------------------------
async def _check_space(ctx: JobContext, plan: ConsultationPlan) -> bool:
    """Write the resume record and check the free space for what is left to fetch."""
    try:
        record = await asyncio.to_thread(_prepare, plan.folder, plan.items, ctx.origin, plan.consultation.id)
    except OSError as exc:
        raise ProtocolError(ErrorCode.FILE_UNREADABLE, ctx.t(T(
            "Dossier de destination inaccessible : {reason}.", "Destination folder unavailable: {reason}."),
            reason=exc.strerror or exc.__class__.__name__)) from exc
    needed = sum(0 if _complete_guess(item) else max(0, item.target.size - part_size(item.target.path))
                 for item in plan.items)
    await asyncio.to_thread(check_free_space, plan.folder, needed, ctx.locale)
    return record


def _prepare(folder: Path, items: list[PlannedFile], origin: str, consultation_id: str) -> bool:
    """Drop parts that belong to another version of a file; write the resume record."""
    if not items:
        return False
    old = _load_record(folder)
    old_files = old.get("files", {}) if old.get("origin") == origin else {}
    files = {}
    for item in items:
        files[item.rel] = {"size": item.sealed.size, "sha256": item.target.sha256}
        previous = old_files.get(item.rel)
        if previous is not None and previous != files[item.rel]:
            part_path(item.target.path).unlink(missing_ok=True)
    private_folder(folder, own=True)
    record = {"version": 1, "origin": origin, "consultation": consultation_id, "files": files}
    atomic_write_bytes(folder / RECORD_NAME, json.dumps(record, ensure_ascii=False, indent=1).encode(), 0o600)
    return True


def _complete_guess(item: PlannedFile) -> bool:
    """Whether the final file seems complete already (checked by its SHA-256 before skipping)."""
    try:
        return item.target.path.stat().st_size == item.sealed.size
    except OSError:
        return False


def _show(ctx: JobContext, item: PlannedFile) -> None:
    p, np, e, ne, f, nf = item.position
    ctx.set_current(ctx.t(PLI_LABEL), p, np)
    ctx.set_message(ctx.t(ELEMENT, p=p, np=np, e=e, ne=ne, f=f, nf=nf))


async def _one(downloader: Downloader, item: PlannedFile, progress: _Progress) -> DownloadedFile:
    def entry(status: Literal["downloaded", "resumed", "present"], transferred: int = 0) -> DownloadedFile:
        return DownloadedFile(pli=item.pli.id, envelope=item.envelope.id, file=item.sealed.id, name=item.rel,
                              size=item.sealed.size, sha256=item.target.sha256, status=status,
                              transferred=transferred)

    if _complete_guess(item) and not part_path(item.target.path).exists():
        if await asyncio.to_thread(file_sha256, item.target.path) == item.target.sha256:
            progress.file_done(item.sealed.size)
            return entry("present")
    had = part_size(item.target.path)
    progress.skip(min(had, item.sealed.size))
    outcome = await downloader.fetch(item.target)
    # Bytes re-read or restarted beyond what was counted are reconciled at the end of each file.
    progress.file_done(item.sealed.size)
    return entry("resumed" if outcome.resumed_from > 0 else "downloaded", outcome.transferred)


def _remove_parts(folder: Path, items: list[PlannedFile]) -> None:
    for item in items:
        part_path(item.target.path).unlink(missing_ok=True)
    (folder / RECORD_NAME).unlink(missing_ok=True)


#: Consultation folders a job of this agent is downloading into: their lock and how many jobs hold
#: or wait for it.
_BUSY: dict[Path, tuple[asyncio.Lock, list[int]]] = {}
WAITING = T("En attente d'un autre téléchargement de cette consultation.",
            "Waiting for another download of this consultation.")


@asynccontextmanager
async def _folder_lock(ctx: JobContext, folder: Path) -> AsyncIterator[None]:
    """One job at a time per consultation folder: a second one (a double click) waits, then finds
    the files there and only checks them."""
    lock, users = _BUSY.setdefault(folder, (asyncio.Lock(), [0]))
    users[0] += 1
    try:
        if lock.locked():
            ctx.set_message(ctx.t(WAITING))
        async with lock:
            yield
    finally:
        users[0] -= 1
        if users[0] == 0:
            del _BUSY[folder]


class _Progress:
    """Overall progress of the download step in bytes, and the speed (network bytes only)."""

    def __init__(self, ctx: JobContext, step: str, total: int) -> None:
        self.ctx, self.step, self.total = ctx, step, total
        self.done = 0  # bytes of the files finished (or skipped) so far
        self.current = 0  # bytes of the file in hand (part already there + received)

    def _show(self) -> None:
        if self.total:
            self.ctx.step_progress(self.step, min(self.total, self.done + self.current), self.total)

    def received(self, count: int) -> None:
        self.current += count
        self.ctx.add_bytes(count)
        self._show()

    def skip(self, count: int) -> None:
        """Bytes that need no download (a complete file, a part already there)."""
        self.current += count
        self._show()

    def file_done(self, size: int) -> None:
        self.done += size
        self.current = 0
        self._show()
