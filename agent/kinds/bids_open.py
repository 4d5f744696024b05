"""``bids.open``: "Ouvrir en ligne", the online opening of a consultation's sealed plis.

The four steps of the reference screen ("Ouverture et déchiffrement en ligne"):

1. "Récupération des fichiers descripteurs": the consultation's descriptor and its sealed files,
   fetched exactly as ``bids.download`` does, into the same folder (what is there already is only
   checked against its SHA-256; a cut download resumes with HTTP Range).
2. "Récupération de la clé privée dans votre magasin de certificats": the decryption key the user
   holds that the envelopes are sealed to (personal or secours), the user's consent and PIN in the
   agent's own UI (docs/SECURITY.md promise 4), showing every sealed file with its size and SHA-256.
3. "Déchiffrement de l'enveloppe x sur y": each sealed file opened in a stream (RFC 5652 section 6
   EnvelopedData, RFC 5083 AuthEnvelopedData) beside it, renamed only once complete and, for
   AES-GCM, its tag checked (promise 9).
4. The analyse: each opened file's signatures checked (agent.kinds.analyse: PAdES, CAdES attached
   or detached beside it, XAdES; "non signé" is no failure), each signed file with its report;
   then, when the descriptor gives a ``result_url``, each opened file sent back to the job's own
   origin with its verdict (PLATFORM.md section 5, promise 6).
5. "Déchiffrement terminé".

A file that cannot be opened (not sealed to the user's key, damaged) fails alone; the job fails
when nothing could be opened, or when the platform refused an opened file (which then stays in
the folder: nothing opened is lost).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path

from bridge_protocol.errors import ErrorCode, ProtocolError
from bridge_protocol.kinds import BidsOpenParams, BidsOpenResult, OpenedFile
from bridge_protocol.messages import JobError
from bridge_protocol.platform import OpenedResultUpload
from bridge_protocol.typed import to_json

from ..consent import ConsentRequest, FileSummary
from ..envelopes import EnvelopeError, session_unwrapper
from ..i18n import Text
from ..jobs.context import JobCancelled, JobContext
from ..keystores.base import cert_label
from . import JobKind, StepSpec
from .pin import open_with_retries
from .analyse import ToCheck, analyse, describe_checks
from .consultation import ConsultationPlan, PlannedFile, fetch_planned, folder_label, plan_consultation
from .decryption import choose_key, decrypt_to, decrypted_name, job_error, list_recipients
from .sources import upload_file

log = logging.getLogger(__name__)

T = Text
STEPS = (
    StepSpec("files", T("Récupération des fichiers descripteurs", "Fetching the consultation's files"), 4),
    StepSpec("key", T("Récupération de la clé privée dans votre magasin de certificats",
                      "Getting the private key from your certificate store"), 1),
    StepSpec("decrypt", T("Déchiffrement des enveloppes", "Decrypting the envelopes"), 4),
    StepSpec("analyse", T("Vérification des signatures des fichiers ouverts",
                          "Checking the signatures of the opened files"), 2),
    StepSpec("done", T("Déchiffrement terminé", "Decryption complete"), 0.1),
)
ANALYSE_AND_SEND = T("Vérification des signatures et transmission à la plateforme",
                     "Checking the signatures and sending to the platform")
ENVELOPE = T("enveloppe", "envelope")
DECRYPTING = T("Déchiffrement de l'enveloppe {i} sur {n}", "Decrypting envelope {i} of {n}")
DECRYPTING_DETAIL = T("Déchiffrement de l'enveloppe {i} sur {n} ({pli}, {envelope})",
                      "Decrypting envelope {i} of {n} ({pli}, {envelope})")
SENDING = T("Transmission de {name} à la plateforme", "Sending {name} to the platform")
CONSENT = T("Ouvrir en ligne {n} enveloppe(s) de la consultation {ref} avec la clé de {who}.",
            "Open {n} envelope(s) of consultation {ref} online with {who}'s key.")
CONSENT_UPLOAD = T(" Le contenu déchiffré sera transmis à {origin}.", " The decrypted content will be sent to {origin}.")
DONE = T("{opened} fichier(s) déchiffré(s) sur {total}{sent}.", "{opened} of {total} file(s) decrypted{sent}.")
DONE_SENT = T(" et transmis à la plateforme", " and sent to the platform")
NOTHING = T("Aucune enveloppe à ouvrir.", "No envelope to open.")
NOT_SENT = T("{n} fichier(s) déchiffré(s) dans {folder} mais non transmis à la plateforme : {names}. {first}",
             "{n} file(s) decrypted in {folder} but not sent to the platform: {names}. {first}")


class BidsOpen(JobKind):
    name = "bids.open"
    params_type = BidsOpenParams
    steps = STEPS
    needs_pairing = True

    async def run(self, ctx: JobContext, params: BidsOpenParams) -> BidsOpenResult:
        keystores = ctx.services.keystores
        if keystores is None:
            raise ProtocolError(ErrorCode.NO_SUCH_CERTIFICATE)

        with ctx.step("files"):
            plan = await plan_consultation(ctx, params.url, params.token, out_dir=params.out_dir, plis=params.plis,
                                           envelopes=params.envelopes)
            result_url = self._result_url(ctx, plan) if params.upload else None  # checked before any download
            await fetch_planned(ctx, plan, space_step=None, download_step="files")
        groups = _envelopes(plan.items)
        if not plan.items:
            for step in ("key", "decrypt", "analyse"):
                ctx.end_step(step, "skipped")
            with ctx.step("done"):
                ctx.set_message(ctx.t(NOTHING))
            return self._result(ctx, plan, groups, [])

        with ctx.step("key"):
            listed = [await asyncio.to_thread(list_recipients, item.target.path) for item in plan.items]
            store, key = await asyncio.to_thread(choose_key, keystores, params.certificate, listed)
            who = cert_label(key.certificate)
            summary = ctx.t(CONSENT, n=len(groups), ref=plan.consultation.reference or plan.consultation.id, who=who)
            if result_url is not None:
                summary += ctx.t(CONSENT_UPLOAD, origin=ctx.origin)
            request = ConsentRequest(
                origin=ctx.origin, action="decrypt", summary=summary,
                files=tuple(FileSummary(item.sealed.name, item.sealed.size, item.target.sha256) for item in plan.items),
                certificate=f"{who} — SHA-256 {key.sha256}", needs_pin=store.needs_pin,
            )
            decision = await ctx.services.consent.ask(request)
            if not decision.approved:
                raise ProtocolError(ErrorCode.USER_CANCELLED)
            session = await open_with_retries(ctx, store, request, decision)

        targets: dict[int, Path] = {}
        try:
            with ctx.step("decrypt"):
                files = await self._open_all(ctx, plan, groups, session_unwrapper(session, [key]), targets)
        finally:
            await asyncio.to_thread(session.close)

        if result_url is not None:
            ctx.relabel_step("analyse", ctx.t(ANALYSE_AND_SEND))
        with ctx.step("analyse"):
            opened_files = [(entry, targets[i]) for i, entry in enumerate(files) if i in targets]
            checks = await analyse(ctx, [ToCheck(path, entry.name or path.name) for entry, path in opened_files],
                                   "analyse") if opened_files else []
            for (entry, path), check in zip(opened_files, checks, strict=True):
                entry.signature = check
                if ctx.services.files is not None and not ctx.services.local:
                    entry.handle = ctx.services.files.register(ctx.origin, path, entry.sha256).handle
            if result_url is not None:
                for entry, path in opened_files:
                    ctx.check_cancelled()
                    await self._send(ctx, entry, path, result_url, params.token)

        with ctx.step("done"):
            opened = [f for f in files if f.status == "opened"]
            # If the job fails below, each file's outcome (opened, checked, sent or not) stays in its result.
            ctx.keep_result(self._result(ctx, plan, groups, files))
            if not opened:
                first = files[0].error
                assert first is not None
                raise ProtocolError(ErrorCode(first.code), first.message)
            refused = [f for f in opened if result_url is not None and not f.uploaded]
            if refused:
                names = ", ".join(f.name or f.source for f in refused[:3]) + ("…" if len(refused) > 3 else "")
                first_error = refused[0].error
                code = (ErrorCode.ORIGIN_NOT_ALLOWED if first_error and first_error.code == ErrorCode.ORIGIN_NOT_ALLOWED.value
                        else ErrorCode.PLATFORM_UNREACHABLE)  # a redirect elsewhere is promise 6's refusal
                raise ProtocolError(code, ctx.t(
                    NOT_SENT, n=len(refused), folder=folder_label(ctx, plan.folder), names=names,
                    first=first_error.message if first_error else ""))
            ctx.set_message(ctx.t(DONE, opened=len(opened), total=len(files),
                                  sent=ctx.t(DONE_SENT) if result_url is not None else "")
                            + " " + describe_checks(ctx, [f.signature for f in opened if f.signature is not None]))
        return self._result(ctx, plan, groups, files)

    @staticmethod
    def _result_url(ctx: JobContext, plan: ConsultationPlan) -> str | None:
        """Where opened files go: the descriptor's ``result_url``, on the job's own origin only."""
        url = plan.consultation.result_url
        return plan.absolute(ctx, url) if url is not None else None

    async def _open_all(self, ctx: JobContext, plan: ConsultationPlan, groups: list[list[PlannedFile]],
                        unwrap: Callable[..., bytes | None], targets: dict[int, Path]) -> list[OpenedFile]:
        """Open every planned file; ``targets`` gets where each opened one is (by its index)."""
        loop = asyncio.get_running_loop()
        total = sum(item.sealed.size for item in plan.items) or 1
        done = 0
        files: list[OpenedFile] = []
        sealed_paths = {item.target.path for item in plan.items}
        for index, group in enumerate(groups, 1):
            ctx.check_cancelled()
            first = group[0]
            pli = f"{first.pli.label} - {first.pli.company}" if first.pli.company else first.pli.label
            ctx.relabel_step("decrypt", ctx.t(DECRYPTING, i=index, n=len(groups)))
            ctx.set_current(ctx.t(ENVELOPE), index, len(groups))
            ctx.set_message(ctx.t(DECRYPTING_DETAIL, i=index, n=len(groups), pli=pli, envelope=first.envelope.label))
            for item in group:
                base = done

                def progress(count: int, _total: int, base: int = base) -> None:
                    if ctx.cancelled:
                        raise JobCancelled()
                    loop.call_soon_threadsafe(ctx.step_progress, "decrypt", base + count, total)

                entry, target = await self._open_one(item, sealed_paths, unwrap, progress, ctx.locale)
                if target is not None:
                    targets[len(files)] = target
                files.append(entry)
                done += item.sealed.size
                ctx.add_bytes(item.sealed.size)
                ctx.step_progress("decrypt", done, total)
        return files

    async def _open_one(self, item: PlannedFile, sealed_paths: set[Path], unwrap: Callable[..., bytes | None],
                        progress: Callable[[int, int], None], locale: str) -> tuple[OpenedFile, Path | None]:
        entry = OpenedFile(pli=item.pli.id, envelope=item.envelope.id, file=item.sealed.id, source=item.sealed.name,
                           sealed_sha256=item.target.sha256, status="failed")
        target = item.target.path.with_name(decrypted_name(item.target.path.name))
        if target in sealed_paths:  # "offre.zip.p7m" beside a sealed "offre.zip": never overwrite a sealed file
            target = item.target.path.with_name(f"{item.target.path.name}.dechiffre")
        try:
            size, sha, algorithm = await asyncio.to_thread(decrypt_to, item.target.path, target, unwrap, progress)
        except EnvelopeError as exc:
            log.info("bids.open: %s not opened: %s", item.rel, exc.code)
            entry.error = job_error(exc, locale)
            return entry, None
        entry.status, entry.size, entry.sha256, entry.algorithm = "opened", size, sha, algorithm
        entry.name = item.rel.rsplit("/", 1)[0] + "/" + target.name
        return entry, target

    @staticmethod
    async def _send(ctx: JobContext, entry: OpenedFile, target: Path, result_url: str, token: str | None) -> None:
        """Send one opened file to ``result_url`` with its verdict (PLATFORM.md section 5)."""
        assert entry.size is not None and entry.sha256 is not None
        ctx.set_message(ctx.t(SENDING, name=target.name))
        check = entry.signature
        fields = OpenedResultUpload(
            pli_id=entry.pli, envelope_id=entry.envelope, file_id=entry.file, name=target.name, size=entry.size,
            sha256=entry.sha256, sealed_sha256=entry.sealed_sha256,
            signature_status=check.status if check else None,
            signature_indication=check.indication if check else None,
            signature_signers=json.dumps(check.signers, ensure_ascii=False) if check and check.signers else None)
        form = {k: str(v) for k, v in to_json(fields).items() if v is not None}
        error = await upload_file(ctx, result_url, target, form, token)
        entry.uploaded = error is None
        if error is not None:
            entry.error = JobError(code=error.code.value, message=error.message(ctx.locale))

    @staticmethod
    def _result(ctx: JobContext, plan: ConsultationPlan, groups: list[list[PlannedFile]],
                files: list[OpenedFile]) -> BidsOpenResult:
        consultation = plan.consultation
        opened = sum(1 for f in files if f.status == "opened")
        return BidsOpenResult(consultation=consultation.id, title=consultation.title,
                              reference=consultation.reference, folder=folder_label(ctx, plan.folder),
                              envelopes=len(groups), opened=opened, failed=len(files) - opened,
                              uploaded=sum(1 for f in files if f.uploaded), files=files)


def _envelopes(items: list[PlannedFile]) -> list[list[PlannedFile]]:
    """The planned files grouped by (pli, envelope), in order: what "enveloppe x sur y" counts."""
    groups: dict[tuple[str, str], list[PlannedFile]] = {}
    for item in items:
        groups.setdefault((item.pli.id, item.envelope.id), []).append(item)
    return list(groups.values())


KIND = BidsOpen()
