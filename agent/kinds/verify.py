"""``verify``: every signature of a file — or of every file of a pli (``files``) — checked as the
arrêté du 22 mars 2019 (art. 5) requires, with a JSON report and an HTML report the page can open
("Ouvrir le rapport"). In a batch, one bad file never stops the others: it is an entry with its
error, and progress says "fichier 5 sur 8"."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from typing import Any


from bridge_protocol.errors import ErrorCode, ProtocolError
from bridge_protocol.kinds import VerifyFileRef, VerifyParams, VerifyResult, VerifySummary

from .. import __version__
from ..errors import ReportedError
from ..fsutil import atomic_write_bytes
from ..i18n import Text
from ..isolation import IsolationLimit
from ..jobs.context import JobContext
from . import JobKind, StepSpec
from .sources import fetch_document, resolve_file
from .verification import (
    limit_message,
    overall,
    run_isolated,
    share_options,
    verification_options,
    verification_worker,
)

log = logging.getLogger(__name__)

T = Text
STEPS = (
    StepSpec("read", T("Lecture du fichier", "Reading the file"), 1),
    StepSpec("verify", T("Vérification des signatures", "Verifying the signatures"), 6),
    StepSpec("report", T("Rapport", "Report"), 1),
)
FILE_LABEL = T("fichier", "file")


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
            with verification_worker(ctx.services.settings) as worker:
                try:
                    report = await asyncio.to_thread(
                        run_isolated, worker, "agent.validation.detect:verify_file_json", path,
                        content=content[0] if content else None, progress=progress, **options)
                except OSError as exc:
                    raise ProtocolError(ErrorCode.FILE_UNREADABLE, T("Fichier illisible : {e}", "Unreadable file: {e}").filled(e=exc.strerror)) from exc
                except IsolationLimit as exc:
                    raise ProtocolError(ErrorCode.FILE_TOO_LARGE, limit_message(exc, ctx)) from None
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
            with verification_worker(settings) as worker:
                shared = share_options(worker, options)
                for index, item in enumerate(items, 1):
                    ctx.check_cancelled()
                    ctx.set_current(ctx.t(FILE_LABEL), index, total)

                    def progress(done: int, size: int, base: int = index - 1) -> None:
                        share = done / size if size > 0 else 0.0
                        loop.call_soon_threadsafe(ctx.step_progress, "verify", base + share, total)

                    try:
                        entry = await asyncio.to_thread(run_isolated, worker, "agent.validation.batch:verify_configured",
                                                        item, progress=progress,
                                                        **({} if shared else options))
                    except IsolationLimit as exc:
                        entry = FileEntry(file=item.label, status="error", content=item.content_label,
                                          signed_by=list(item.signed_by),
                                          error={"code": ErrorCode.FILE_TOO_LARGE.value,
                                                 "message": limit_message(exc, ctx)})
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
