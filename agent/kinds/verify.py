"""``verify``: every signature of a file — or of every file of a pli (``files``) — checked as the
arrêté du 22 mars 2019 (art. 5) requires, with a JSON report and an HTML report the page can open
("Ouvrir le rapport"). In a batch, one bad file never stops the others: it is an entry with its
error, and progress says "fichier 5 sur 8"."""

from __future__ import annotations

import asyncio
import importlib
import logging
import pickle
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from bridge_protocol.errors import ErrorCode, ProtocolError
from bridge_protocol.kinds import VerifyFileRef, VerifyParams, VerifyResult, VerifySummary

from .. import __version__
from ..config import Settings
from ..errors import ReportedError
from ..fsutil import atomic_write_bytes
from ..i18n import Text
from ..isolation import IsolatedWorker, IsolationLimit, take_prestarted
from ..jobs.context import JobContext
from . import JobKind, StepSpec
from .sources import fetch_document, resolve_file

log = logging.getLogger(__name__)

T = Text
STEPS = (
    StepSpec("read", T("Lecture du fichier", "Reading the file"), 1),
    StepSpec("verify", T("Vérification des signatures", "Verifying the signatures"), 6),
    StepSpec("report", T("Rapport", "Report"), 1),
)
FILE_LABEL = T("fichier", "file")


def _indications(report: dict) -> list[str | None]:
    """The indication of every signature of the report and of the documents it encapsulates."""
    found = [s.get("indication") for s in report.get("signatures", [])]
    for inner in report.get("contents", []):
        found += _indications(inner)
    return found


def overall(report: dict) -> str:
    """TOTAL_FAILED if any signature failed (those of an encapsulated document too), TOTAL_PASSED if all
    passed, else INDETERMINATE."""
    indications = _indications(report)
    if "TOTAL_FAILED" in indications:
        return "TOTAL_FAILED"
    if indications and all(i == "TOTAL_PASSED" for i in indications):
        return "TOTAL_PASSED"
    return "INDETERMINATE"


def _trusted_lists(settings: Settings) -> tuple[object | None, list[x509.Certificate]]:
    """The EU trusted lists (ETSI TS 119 612) when LOTL signers are pinned: from the cache, refreshed
    when older than ``trust.trusted_lists_max_age_hours`` (the last verified copy is used offline)."""
    if not settings.lotl_signers:
        return None, []
    from ..public_http import fetch
    from ..trust import load_pem_certificates
    from ..validation.trusted_lists import TrustedListStore

    pins = [cert for path in settings.lotl_signers for cert in load_pem_certificates(path)]
    cache = settings.state_dir / "trusted-lists"
    store = TrustedListStore(cache, settings.lotl_url, pins, fetch=fetch)
    lotl = cache / "lotl.xml"
    fresh = lotl.exists() and time.time() - lotl.stat().st_mtime < settings.trusted_lists_max_age_hours * 3600
    report = store.load() if fresh else store.refresh()
    log.info("trusted lists: %s", report.describe())
    return store.lists, store.trust_anchors()


_LIMITS = {
    "memory": T("La vérification de ce fichier a dépassé la mémoire permise ({mb} Mo) et a été arrêtée : le "
                "fichier est peut-être malveillant. S'il est légitime, un administrateur peut relever "
                "[verify] max_memory_mb.",
                "Verifying this file went past the memory allowed ({mb} MB) and was stopped: the file may be "
                "hostile. If it is legitimate, an administrator can raise [verify] max_memory_mb."),
    "time": T("La vérification de ce fichier a dépassé le temps permis ({s} s) et a été arrêtée : le fichier est "
              "peut-être malveillant. S'il est légitime, un administrateur peut relever [verify] timeout_seconds.",
              "Verifying this file went past the time allowed ({s} s) and was stopped: the file may be hostile. "
              "If it is legitimate, an administrator can raise [verify] timeout_seconds."),
    "crash": T("La vérification de ce fichier a échoué (le processus de vérification s'est arrêté) : le fichier "
               "est peut-être malveillant.",
               "Verifying this file failed (the verification process stopped): the file may be hostile."),
}


def _worker(settings: Settings) -> IsolatedWorker:
    """The worker process of one verify job: the files are parsed there, within the configured
    memory and time (agent.isolation, docs/SECURITY.md promise 12)."""
    limits = (settings.verify_max_memory_mb * 1024 * 1024, settings.verify_timeout_seconds)
    return take_prestarted(*limits) or IsolatedWorker(*limits)


def _isolated(worker: IsolatedWorker, target: str, *args: Any, **kwargs: Any) -> Any:
    """``target`` (``"module:function"``) in the worker; in this process only when its arguments
    cannot be sent there (a trusted-list set that does not pickle). The validators are imported
    by the process that runs them: the agent's loads them only in that case."""
    try:
        pickle.dumps((args, {k: v for k, v in kwargs.items() if k != "progress"}))
    except (pickle.PicklingError, TypeError, AttributeError):
        log.warning("verification runs in the agent's process: its arguments cannot go to a worker")
        module, _, function = target.partition(":")
        return getattr(importlib.import_module(module), function)(*args, **kwargs)
    return worker.call(target, *args, **kwargs)


async def verification_options(ctx: JobContext) -> dict[str, Any]:
    """The options every verification of a job gets: the key stores' anchors and intermediates, the
    trusted lists in use and their anchors, the RGS policies, fetching allowed, the job's locale
    (prepared off the event loop: reading the lists and parsing certificates take time)."""
    from ..validation.batch import prepare_certificates

    settings = ctx.services.settings
    keystores = ctx.services.keystores
    anchors = keystores.anchors if keystores is not None else None
    lists, list_anchors = await asyncio.to_thread(_trusted_lists, settings)
    roots, intermediates = await asyncio.to_thread(lambda: (
        prepare_certificates((*(anchors.roots if anchors else ()), *list_anchors)),
        prepare_certificates(anchors.intermediates if anchors else ())))
    return {"trust_roots": roots, "trusted_lists": lists, "intermediates": intermediates,
            "rgs_policies": settings.rgs_policies, "allow_fetching": True, "locale": ctx.locale}


def _shared_options(worker: IsolatedWorker, options: dict[str, Any]) -> bool:
    """Hand the batch's options (trust anchors and the rest) to each worker once, not with every
    file; False when they cannot go to a worker (the files are then verified here)."""
    try:
        pickle.dumps(options)
    except (pickle.PicklingError, TypeError, AttributeError):
        return False
    worker.setup("agent.validation.batch:configure", **options)
    return True


def _limit_message(exc: IsolationLimit, ctx: JobContext) -> str:
    settings = ctx.services.settings
    return ctx.t(_LIMITS[exc.reason], mb=settings.verify_max_memory_mb, s=int(settings.verify_timeout_seconds))


class Verify(JobKind):
    name = "verify"
    params_type = VerifyParams
    steps = STEPS
    needs_pairing = True

    async def _locate(self, ctx: JobContext, handle: str | None, url: str | None, path: str | None,
                      token: str | None) -> tuple[Path, str] | None:
        if url is not None:
            local, name, _ = await fetch_document(ctx, url, token)
            return local, name
        if handle is None and path is None:
            return None
        local, name, _ = resolve_file(ctx, handle, path)
        return local, name

    async def run(self, ctx: JobContext, params: VerifyParams) -> VerifyResult:
        if params.files is not None:
            if params.handle or params.url or params.path or params.content_handle or params.content_url \
                    or params.content_path or not params.files:
                raise ProtocolError(ErrorCode.INVALID_PARAMS,
                                    reason=T("files (non vide) ou un seul fichier, pas les deux",
                                             "files (not empty) or a single file, not both"))
            return await self._run_batch(ctx, params.files, params.token)
        from ..validation.report_html import render_report

        with ctx.step("read"):
            located = await self._locate(ctx, params.handle, params.url, params.path, params.token)
            if located is None:
                raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=T("handle, url ou path requis", "handle, url or path required"))
            path, name = located
            content = await self._locate(ctx, params.content_handle, params.content_url, params.content_path, params.token)

        with ctx.step("verify"):
            loop = asyncio.get_running_loop()

            def progress(done: int, total: int) -> None:
                loop.call_soon_threadsafe(ctx.step_progress, "verify", done, total)

            options = await verification_options(ctx)
            with _worker(ctx.services.settings) as worker:
                try:
                    report = await asyncio.to_thread(
                        _isolated, worker, "agent.validation.detect:verify_file_json", path,
                        content=content[0] if content else None, progress=progress, **options)
                except OSError as exc:
                    raise ProtocolError(ErrorCode.FILE_UNREADABLE, T("Fichier illisible : {e}", "Unreadable file: {e}").filled(e=exc.strerror)) from exc
                except IsolationLimit as exc:
                    raise ProtocolError(ErrorCode.FILE_TOO_LARGE, _limit_message(exc, ctx)) from None
            data = report
            data["file"] = name

        with ctx.step("report"):
            page = render_report(data, ctx.locale, __version__)
            stamp = datetime.now().strftime("%Y%m%d%H%M%S")
            label = "Rapport de vérification" if ctx.locale != "en" else "Verification report"
            folder = ctx.services.settings.state_dir / "reports"
            target = folder / f"{label} - {name} - {stamp}.html"
            await asyncio.to_thread(atomic_write_bytes, target, page.encode("utf-8"), 0o600)
            handle = None
            if ctx.services.files is not None and not ctx.services.local:
                handle = ctx.services.files.register(ctx.origin, target).handle
            ctx.set_message(ctx.t(T("{n} signature(s) vérifiée(s).", "{n} signature(s) verified."),
                                  n=len(data.get("signatures", []))))
        return VerifyResult(report=data, indication=overall(data), report_name=str(target) if ctx.services.local
                            else target.name, report_handle=handle)  # type: ignore[arg-type]

    async def _items(self, ctx: JobContext, refs: list[VerifyFileRef], token: str | None) -> list[Any]:
        """Each reference located (a bad one becomes an entry with its error), then each detached
        token paired with the batch's file it signs."""
        from ..validation.batch import BatchItem, pair_detached

        items = []
        for index, ref in enumerate(refs, 1):
            ctx.check_cancelled()
            label = ref.name or ref.handle or (ref.path and Path(ref.path).name) or ref.url or "?"
            try:
                located = await self._locate(ctx, ref.handle, ref.url, ref.path, token)
                if located is None:
                    raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=T("handle, url ou path requis", "handle, url or path required"))
                path, name = located
                # Local files pair within their folder; the page's files form one set.
                item = BatchItem(label=ref.name or name, path=path, name=name,
                                 group=str(path.parent) if ref.path is not None else "")
                content = await self._locate(ctx, ref.content_handle, ref.content_url, ref.content_path, token)
                if content is not None:
                    item.content, item.content_label = content
            except (ProtocolError, ReportedError) as exc:
                item = BatchItem(label=label, path=None, error=(exc.code.value, exc.message(ctx.locale)))
            items.append(item)
            ctx.step_progress("read", index, len(refs))
        pair_detached(items)
        return items

    async def _run_batch(self, ctx: JobContext, refs: list[VerifyFileRef], token: str | None) -> VerifyResult:
        from ..validation.batch import BatchReport, FileEntry
        from ..validation.report_html import render_batch_report

        ctx.relabel_step("read", ctx.t(T("Lecture des fichiers", "Reading the files")))
        with ctx.step("read"):
            items = await self._items(ctx, refs, token)

        batch = BatchReport()
        with ctx.step("verify"):
            loop = asyncio.get_running_loop()
            settings = ctx.services.settings
            options = await verification_options(ctx)
            total = len(items)
            with _worker(settings) as worker:
                shared = _shared_options(worker, options)
                for index, item in enumerate(items, 1):
                    ctx.check_cancelled()
                    ctx.set_current(ctx.t(FILE_LABEL), index, total)

                    def progress(done: int, size: int, base: int = index - 1) -> None:
                        share = done / size if size > 0 else 0.0
                        loop.call_soon_threadsafe(ctx.step_progress, "verify", base + share, total)

                    try:
                        entry = await asyncio.to_thread(_isolated, worker, "agent.validation.batch:verify_configured",
                                                        item, progress=progress,
                                                        **({} if shared else options))
                    except IsolationLimit as exc:
                        entry = FileEntry(file=item.label, status="error", content=item.content_label,
                                          signed_by=list(item.signed_by),
                                          error={"code": ErrorCode.FILE_TOO_LARGE.value,
                                                 "message": _limit_message(exc, ctx)})
                    batch.add(entry)
                    ctx.step_progress("verify", index, total)
            data = batch.to_json()
        del items

        with ctx.step("report"):
            summary = data["summary"]
            page = render_batch_report(data, ctx.locale, __version__)
            stamp = datetime.now().strftime("%Y%m%d%H%M%S")
            label = "Rapport de vérification" if ctx.locale != "en" else "Verification report"
            files = ctx.t(T("{n} fichiers", "{n} files"), n=summary["files"])
            target = settings.state_dir / "reports" / f"{label} - {files} - {stamp}.html"
            await asyncio.to_thread(atomic_write_bytes, target, page.encode("utf-8"), 0o600)
            handle = None
            if ctx.services.files is not None and not ctx.services.local:
                handle = ctx.services.files.register(ctx.origin, target).handle
            ctx.set_message(ctx.t(T("{f} fichier(s), {n} signature(s) vérifiée(s).",
                                    "{f} file(s), {n} signature(s) verified."),
                                  f=summary["files"], n=summary["signatures"]))
        return VerifyResult(report=data, indication=summary["indication"],
                            report_name=str(target) if ctx.services.local else target.name, report_handle=handle,
                            summary=VerifySummary(**summary))


KIND = Verify()
