"""The buyer's analyse ("Ouverture et analyse"): every file a job opened (``decrypt``, ``bids.open``)
is checked for signatures in the same job, with the ``verify`` engine (agent.validation.batch, each
file in the isolated worker process of agent.isolation: docs/SECURITY.md promise 12).

PAdES, CAdES (attached ``.p7m``, detached ``.p7s`` paired with the opened file it signs), XAdES and
``.xp7s`` tokens are recognised by their structure (agent.validation.detect); a file without any
signature is "non signé", which is no failure. Each signed file gets its verdict (ETSI EN 319
102-1 indication, the worst of its signatures') and its own HTML report.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bridge_protocol.errors import ErrorCode
from bridge_protocol.kinds import SignatureCheck
from bridge_protocol.messages import JobError

from .. import __version__
from ..fsutil import atomic_write_bytes
from ..i18n import Text
from ..isolation import IsolationLimit
from ..jobs.context import JobContext
from .verification import limit_message, run_isolated, share_options, verification_options, verification_worker

T = Text
FILE_LABEL = T("fichier", "file")
VERDICTS = {
    "TOTAL_PASSED": T("Signature valide", "Valid signature"),
    "TOTAL_FAILED": T("Signature invalide", "Invalid signature"),
    "INDETERMINATE": T("Validité indéterminée", "Validity indeterminate"),
}
UNSIGNED = T("Non signé", "Not signed")
NOT_CHECKED = T("Non vérifié : {reason}", "Not checked: {reason}")
REPORT = T("Rapport de vérification", "Verification report")
ANALYSED = T("{signed} fichier(s) signé(s) sur {total} : {valid} valide(s), {invalid} invalide(s), "
             "{indeterminate} indéterminé(s).",
             "{signed} of {total} file(s) signed: {valid} valid, {invalid} invalid, {indeterminate} indeterminate.")
#: The worst first: a file signed by several detached signatures takes the worst verdict.
_ORDER = ("TOTAL_FAILED", "INDETERMINATE", "TOTAL_PASSED")


@dataclass
class ToCheck:
    """A file the job opened: where it is, the name the user knows it by (relative to the job's
    folder), and the folder its detached signatures are paired within."""

    path: Path
    label: str


def _signers(entry: dict[str, Any]) -> list[str]:
    """The signers' names of an entry's signatures (and of the documents it encapsulates), once each."""
    names: list[str] = []

    def walk(report: dict[str, Any]) -> None:
        for signature in report.get("signatures") or []:
            name = (signature.get("signer") or {}).get("name")
            if name and name not in names:
                names.append(name)
        for inner in report.get("contents") or []:
            walk(inner)

    walk(entry)
    return names


def _format(entry: dict[str, Any]) -> str | None:
    """The format of the entry's first signature ("PAdES", "CAdES", "XAdES"…), else of the file."""
    for signature in entry.get("signatures") or []:
        if signature.get("format"):
            return str(signature["format"])
    for inner in entry.get("contents") or []:
        if (found := _format(inner)) is not None:
            return found
    return entry.get("format")


def _count(entry: dict[str, Any]) -> int:
    def walk(signatures: list[dict[str, Any]]) -> int:
        return sum(1 + walk(s.get("countersignatures") or []) for s in signatures)

    return walk(entry.get("signatures") or []) + sum(_count(c) for c in entry.get("contents") or [])


async def analyse(ctx: JobContext, files: list[ToCheck], step: str) -> list[SignatureCheck]:
    """Check the signatures of ``files`` (in this order) on the job's step ``step``; one verdict per
    file, never raising for a file (one that cannot be checked is "error", with its reason)."""
    from ..validation.batch import BatchItem, FileEntry, pair_detached

    settings = ctx.services.settings
    items = [BatchItem(label=f.label, path=f.path, name=f.path.name, group=str(f.path.parent)) for f in files]
    pair_detached(items)
    loop = asyncio.get_running_loop()
    options = await verification_options(ctx)
    entries: list[dict[str, Any]] = []
    total = len(items)
    with verification_worker(settings) as worker:
        shared = share_options(worker, options)
        for index, item in enumerate(items, 1):
            ctx.check_cancelled()
            ctx.set_current(ctx.t(FILE_LABEL), index, total)

            def progress(done: int, size: int, base: int = index - 1) -> None:
                share = done / size if size > 0 else 0.0
                loop.call_soon_threadsafe(ctx.step_progress, step, base + share, total)

            try:
                entry = await asyncio.to_thread(run_isolated, worker, "agent.validation.batch:verify_configured",
                                                item, progress=progress, **({} if shared else options))
            except IsolationLimit as exc:
                entry = FileEntry(file=item.label, status="error", content=item.content_label,
                                  signed_by=list(item.signed_by),
                                  error={"code": ErrorCode.FILE_TOO_LARGE.value, "message": limit_message(exc, ctx)})
            entries.append(entry.to_json())
            ctx.step_progress(step, index, total)
    checks = [await _check(ctx, entry) for entry in entries]
    _lend_detached_verdicts(ctx, entries, checks)
    ctx.set_message(describe_checks(ctx, checks))
    return checks


def describe_checks(ctx: JobContext, checks: list[SignatureCheck]) -> str:
    """The verdicts counted: « 2 fichier(s) signé(s) sur 3 : 1 valide(s), 1 invalide(s)… »."""
    signed = [c for c in checks if c.status == "signed"]
    return ctx.t(ANALYSED, signed=len(signed), total=len(checks),
                 valid=sum(c.indication == "TOTAL_PASSED" for c in signed),
                 invalid=sum(c.indication == "TOTAL_FAILED" for c in signed),
                 indeterminate=sum(c.indication == "INDETERMINATE" for c in signed))


def _unreadable(entry: dict[str, Any]) -> str | None:
    """Why the file could not be analysed at all, when the engine could only say that its format
    is broken (a "PDF" that is not one, a damaged ZIP): no signer, only a failed format check."""
    signatures = entry.get("signatures") or []
    if not signatures or entry.get("contents"):
        return None
    for signature in signatures:
        checks = signature.get("checks") or []
        if signature.get("sub_indication") != "FORMAT_FAILURE" or (signature.get("signer") or {}).get("name") \
                or [c.get("name") for c in checks] != ["format"]:
            return None
    return str(signatures[0]["checks"][0].get("message") or "")


async def _check(ctx: JobContext, entry: dict[str, Any]) -> SignatureCheck:
    """One file's verdict, and its HTML report when it holds signatures."""
    if entry["status"] == "signed" and (reason := _unreadable(entry)) is not None:
        return SignatureCheck(status="error", label=ctx.t(NOT_CHECKED, reason=reason), format=entry.get("format"),
                              error=JobError(code=ErrorCode.FILE_UNREADABLE.value, message=reason))
    if entry["status"] == "error":
        error = entry.get("error") or {"code": ErrorCode.FILE_UNREADABLE.value, "message": ""}
        return SignatureCheck(status="error", label=ctx.t(NOT_CHECKED, reason=error["message"]), indication=None,
                              format=entry.get("format"), error=JobError(code=error["code"], message=error["message"]))
    if entry["status"] != "signed":
        return SignatureCheck(status="unsigned", label=ctx.t(UNSIGNED), format=None,
                              signed_by=list(entry.get("signed_by") or []))
    indication = entry["indication"]
    check = SignatureCheck(status="signed", label=ctx.t(VERDICTS[indication]), indication=indication,
                           format=_format(entry), signers=_signers(entry), signatures=_count(entry),
                           content=entry.get("content"))
    check.report_name, check.report_handle = await _write_report(ctx, entry)
    return check


def _lend_detached_verdicts(ctx: JobContext, entries: list[dict[str, Any]], checks: list[SignatureCheck]) -> None:
    """A file signed only by detached signatures of the job takes their verdict (the worst), their
    signers and the report of the first; it stays "non signé" when none of them could tell."""
    by_label = {entry["file"]: check for entry, check in zip(entries, checks, strict=True)}
    for entry, check in zip(entries, checks, strict=True):
        tokens = [by_label[name] for name in entry.get("signed_by") or [] if name in by_label]
        verdicts = [t for t in tokens if t.status == "signed" and t.indication is not None]
        if check.status != "unsigned" or not verdicts:
            continue
        worst = min(verdicts, key=lambda t: _ORDER.index(t.indication or "INDETERMINATE"))
        check.status, check.indication = "signed", worst.indication
        check.label = ctx.t(VERDICTS[worst.indication or "INDETERMINATE"])
        check.format = verdicts[0].format
        check.signers = [name for t in verdicts for name in t.signers]
        check.signatures = sum(t.signatures for t in verdicts)
        check.report_name, check.report_handle = verdicts[0].report_name, verdicts[0].report_handle


async def _write_report(ctx: JobContext, entry: dict[str, Any]) -> tuple[str, str | None]:
    """The standalone HTML report of one file, under the agent's reports folder (0600): its path
    for the command line, else its name and a handle for the page."""
    from ..validation.report_html import render_report

    page = render_report(entry, ctx.locale, __version__)
    stamp = datetime.now().strftime("%Y%m%d%H%M%S")
    name = Path(entry["file"]).name
    folder = ctx.services.settings.state_dir / "reports"
    target = folder / f"{ctx.t(REPORT)} - {name} - {stamp}.html"
    counter = 2
    while target.exists():
        target = folder / f"{ctx.t(REPORT)} - {name} - {stamp} ({counter}).html"
        counter += 1
    await asyncio.to_thread(atomic_write_bytes, target, page.encode("utf-8"), 0o600)
    handle = None
    if ctx.services.files is not None and not ctx.services.local:
        handle = ctx.services.files.register(ctx.origin, target).handle
    return (str(target) if ctx.services.local else target.name), handle
