"""``sign``: sign, co-sign or counter-sign a batch of files ("Signer un document").

Steps as the user sees them: preparing the files (name, size, SHA-256), the user's consent and PIN
(once for the batch, in the agent's own UI), signing "fichier 5 sur 8", done. One bad file fails
alone; cancel stops between files and inside a large file. Outputs are written under a temporary
name and renamed when complete (promise 9), named like the reference platform.

Kept as one module: the ``Sign`` job walks its steps (preparing, consent, signing, done) in one
class, and the engine adapters below it serve that job only.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from bridge_protocol.errors import ErrorCode, ProtocolError, error_message
from bridge_protocol.kinds import SignedFile, SignFileParams, SignParams, SignResult
from bridge_protocol.messages import JobError
from bridge_protocol.platform import SignedUpload
from bridge_protocol.typed import to_json

from cryptography import x509

from ..config import Settings
from ..consent import ConsentRequest, FileSummary
from ..errors import ReportedError
from ..fsutil import OutputBatch
from ..i18n import Text
from ..jobs.context import JobCancelled, JobContext
from ..keystores.base import cert_label, name_label
from ..pki.key_usage import usage_refusal
from ..signing.base import SigningKey, Timestamper
from ..signing.naming import OutputNames
from . import JobKind, StepSpec
from .pin import open_with_retries
from .sources import display_folder, fetch_document, hash_files, resolve_file, upload_file

if TYPE_CHECKING:
    from .pes_signer import PesSigner

log = logging.getLogger(__name__)

T = Text
STEPS = (
    StepSpec("prepare", T("Préparation des fichiers", "Preparing the files"), 1),
    StepSpec("consent", T("Autorisation et code PIN", "Authorisation and PIN"), 1),
    StepSpec("sign", T("Signature des fichiers", "Signing the files"), 6),
    StepSpec("done", T("Terminé", "Done"), 0.1),
)
FILE_LABEL = T("fichier", "file")
BORDEREAU_LABEL = T("bordereau", "bordereau")
SIGNING_BORDEREAU = T("Signature du bordereau {i} sur {n}", "Signing bordereau {i} of {n}")
#: Files signed at the same time in a batch (this workplace's machines have two cores).
SIGNING_THREADS = 2
CERTIFICATE = T("{who} (émis par {issuer}) — SHA-256 {sha}", "{who} (issued by {issuer}) — SHA-256 {sha}")
SIGNING_FILE = T("Signature du fichier {i} sur {n}", "Signing file {i} of {n}")
PES_SUMMARY = T("Flux PES V2 (Hélios) : rôle du signataire « {role} », lieu de signature {place}.",
                "PES V2 (Hélios) flows: signer's role \"{role}\", place of signing {place}.")
PES_MISSING = T("Signature PES V2 : {fields} requis (rôle « Ordonnateur », ville, code postal, pays).",
                "PES V2 signature: {fields} required (role \"Ordonnateur\", city, postal code, country).")
PES_PLACE_UNKNOWN = T("Lieu de signature : champ inconnu parmi {fields} (attendus : City, PostalCode, CountryName).",
                      "Place of signing: unknown field among {fields} (expected: City, PostalCode, CountryName).")
PES_FIELDS = {"claimed_role": T("rôle du signataire", "signer's role"), "City": T("ville", "city"),
              "PostalCode": T("code postal", "postal code"), "CountryName": T("pays", "country")}
SUMMARY = {
    "sign": T("Signer {n} fichier(s) avec le certificat de {who}.", "Sign {n} file(s) with {who}'s certificate."),
    "cosign": T("Co-signer {n} fichier(s) avec le certificat de {who}.", "Co-sign {n} file(s) with {who}'s certificate."),
    "countersign": T("Contre-signer {n} signature(s) avec le certificat de {who}.", "Counter-sign {n} signature(s) with {who}'s certificate."),
}


@dataclass
class _Source:
    params: SignFileParams
    path: Path
    name: str
    size: int
    sha256: str
    content: Path | None = None
    #: Where outputs go when the source has no folder of the user's (an upload).
    out_dir: Path | None = None
    #: Signatures a PES V2 flow will get (its Bordereaux), 0 for other files.
    signatures: int = 0


def _output_extension(params: SignFileParams, source: Path, mode: str) -> tuple[str, bool]:
    """(extension, keep the source's extension in the name) for a format."""
    if mode != "sign":
        return source.suffix.lstrip(".") or "p7s", False
    if params.format == "pades":
        return "pdf", False
    if params.format == "cades":
        return ("p7m" if params.attached else "p7s"), True
    return "xml", not (params.enveloped or params.pes)


class _Reporter:
    """Tells the event loop what the signing thread does: at most every 100 ms (each report wakes
    the loop thread, which a batch of small files cannot afford), and always the first and last
    file. Raises JobCancelled in the thread once the job was asked to stop.

    A batch of PES V2 flows counts bordereaux instead ("bordereau 3 sur 12"): ``units`` is the
    number of signatures expected in each flow, corrected by what the engine reports."""

    def __init__(self, ctx: JobContext, loop: asyncio.AbstractEventLoop, total: int,
                 units: int = 0) -> None:
        self.ctx, self.loop, self.total = ctx, loop, total
        self.index, self.fraction = 0, 0.0
        self.file_done, self.moved = 0, 0
        self.units_total, self.units_done = units, 0
        self.last = 0.0
        self._lock = threading.Lock()  # several signing threads report through one reporter

    def _post(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last >= 0.1:
            self.last = now
            self.loop.call_soon_threadsafe(self._update, self.index, self.fraction, self.moved)
            self.moved = 0

    def _update(self, index: int, fraction: float, moved: int) -> None:
        ctx = self.ctx
        if self.units_total:
            done, total = self.units_done, self.units_total
            ctx.set_current(ctx.t(BORDEREAU_LABEL), max(1, done), total)
            ctx.set_message(ctx.t(SIGNING_BORDEREAU, i=max(1, done), n=total))
            ctx.step_progress("sign", done, total)
            return
        ctx.set_current(ctx.t(FILE_LABEL), index, self.total)
        ctx.set_message(ctx.t(SIGNING_FILE, i=index, n=self.total))
        if moved:
            ctx.add_bytes(moved)
        ctx.step_progress("sign", index - 1 + fraction, self.total)

    def start_file(self) -> None:
        """A file starts: "fichier i sur n" counts the files started."""
        if self.ctx.cancelled:
            raise JobCancelled()
        with self._lock:
            self.index += 1
            self.fraction, self.file_done = 0.0, 0
            self._post(force=self.index == 1)

    def progress(self, done: int, size: int) -> None:
        """The engines' progress callback (bytes of the file in hand)."""
        if self.ctx.cancelled:
            raise JobCancelled()
        with self._lock:
            self.moved += max(0, done - self.file_done)
            self.file_done = done
            self.fraction = min(1.0, done / size) if size else 1.0
            self._post()

    def signatures(self, expected: int) -> Callable[[int, int], None]:
        """Progress callback for one PES flow: ``(signatures made, signatures in the flow)``."""
        seen = [0, expected]

        def report(done: int, total: int) -> None:
            if self.ctx.cancelled:
                raise JobCancelled()
            with self._lock:
                self.units_total += total - seen[1]  # the estimate, corrected
                self.units_done += done - seen[0]
                seen[:] = [done, total]
                self._post(force=self.units_done in (1, self.units_total))

        return report

    def finish(self) -> None:
        with self._lock:
            self.index, self.fraction = self.total, 1.0
            self.units_done = self.units_total
            self._post(force=True)


class Sign(JobKind):
    name = "sign"
    params_type = SignParams
    steps = STEPS
    needs_pairing = True

    async def run(self, ctx: JobContext, params: SignParams) -> SignResult:
        if not params.files:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=T("aucun fichier", "no file"))
        if params.mode == "countersign" and not params.signer:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=T("signer requis pour une contre-signature", "signer required for a countersignature"))
        keystores = ctx.services.keystores
        if keystores is None:
            raise ProtocolError(ErrorCode.NO_SUCH_CERTIFICATE)

        # pyHanko takes most of a second to import: load it while the files are being hashed.
        if any(f.format == "pades" for f in params.files):
            asyncio.get_running_loop().run_in_executor(None, importlib.import_module, "agent.signing.pades")

        # 1. Files: resolve, measure and hash (shown in the consent).
        with ctx.step("prepare"):
            if params.upload_url:
                ctx.platform.resolve(params.upload_url)  # promise 6, before the consent and the work
            located: list[tuple[SignFileParams, Path, str, Path | None, Path | None]] = []
            for index, file in enumerate(params.files, 1):
                ctx.set_current(ctx.t(FILE_LABEL), index, len(params.files))
                if file.url is not None:
                    path, name, out_dir = await fetch_document(ctx, file.url, params.token)
                else:
                    path, name, out_dir = resolve_file(ctx, file.handle, file.path)
                content = None
                if file.content_handle or file.content_path:
                    content = resolve_file(ctx, file.content_handle, file.content_path)[0]
                located.append((file, path, name, content, out_dir))
            digests = await asyncio.to_thread(hash_files, [entry[1] for entry in located], ctx,
                                              asyncio.get_running_loop())
            sources = [_Source(file, path, name, size, sha, content, out_dir)
                       for (file, path, name, content, out_dir), (size, sha) in zip(located, digests, strict=True)]
            store, key = await asyncio.to_thread(keystores.find, params.certificate)
            # RFC 5280 key usage: a key reserved for encryption signs nothing, and the user is not
            # asked to consent nor to type a PIN for it.
            refusal = usage_refusal(key.certificate, "signing", ctx.locale)
            if refusal is not None:
                raise ProtocolError(ErrorCode.KEY_USAGE_NOT_SIGNING, refusal)
            pes_who = None
            if any(f.pes for f in params.files):
                pes_who = await asyncio.to_thread(self._pes_signer, ctx, params)
                await asyncio.to_thread(_count_signatures, sources)

        # 2. One consent and one PIN for the whole batch (promise 4).
        with ctx.step("consent"):
            who = cert_label(key.certificate)
            issuer = name_label(key.certificate.issuer)
            summary = ctx.t(SUMMARY[params.mode], n=len(sources), who=who)
            if pes_who is not None:
                place = pes_who.production_place
                summary += " " + ctx.t(PES_SUMMARY, role=pes_who.claimed_role,
                                       place=f"{place['City']} ({place['PostalCode']}), {place['CountryName']}")
            request = ConsentRequest(
                origin=ctx.origin,
                action="sign",
                summary=summary,
                files=tuple(FileSummary(s.name, s.size, s.sha256) for s in sources),
                certificate=ctx.t(CERTIFICATE, who=who, issuer=issuer, sha=key.sha256),
                needs_pin=store.needs_pin,
            )
            decision = await ctx.services.consent.ask(request)
            if not decision.approved:
                raise ProtocolError(ErrorCode.USER_CANCELLED)
            session = await open_with_retries(ctx, store, request, decision)

        # 3. Sign the files in one worker thread (no hand-off per file); one failure does not stop
        #    the batch; the thread reports to the loop and stops at the next chunk once cancelled.
        try:
            with ctx.step("sign"):
                signing_key = SigningKey.from_session(session, key)
                settings = ctx.services.settings
                long_term = params.level in ("B-LT", "B-LTA") and any(f.format == "pades" for f in params.files)
                options = _EngineOptions(
                    level=params.level,
                    timestamper=self._timestamper(ctx, params.level),
                    trust_roots=tuple(keystores.anchors.roots) if long_term else (),
                    claimed_role=pes_who.claimed_role if pes_who else params.claimed_role,
                    production_place=pes_who.production_place if pes_who else params.production_place,
                    reason=params.reason,
                    pes_policy=await asyncio.to_thread(_pes_policy, settings)
                    if any(f.pes for f in params.files) else None,
                )
                loop = asyncio.get_running_loop()
                work = loop.run_in_executor(
                    None, self._sign_all, ctx, _Reporter(ctx, loop, len(sources), sum(s.signatures for s in sources)),
                    params, sources, signing_key, options
                )
                try:
                    signed = await asyncio.shield(work)
                except asyncio.CancelledError:
                    ctx.request_cancel()
                    await asyncio.wait([work], timeout=5)  # the thread removes its unfinished outputs
                    raise
        finally:
            await asyncio.to_thread(session.close)
        results = [result for result, _ in signed]
        targets = [target for _, target in signed]
        if pes_who is not None and any(r.status == "signed" for r, s in zip(results, sources, strict=True)
                                       if s.params.pes):
            from .pes_signer import remember

            await asyncio.to_thread(remember, ctx.services.settings.state_dir, pes_who)
        self._register_outputs(ctx, results, targets)

        with ctx.step("done"):
            if params.upload_url:
                await self._upload(ctx, params, results, targets)
            signed = sum(1 for r in results if r.status == "signed")
            if signed == 0:
                first = results[0].error
                raise ProtocolError(ErrorCode(first.code) if first else ErrorCode.INTERNAL_ERROR, first.message if first else None)
            ctx.set_message(ctx.t(T("{n} fichier(s) signé(s).", "{n} file(s) signed."), n=signed))
        return SignResult(files=results, signed=signed, failed=len(results) - signed)

    async def _upload(self, ctx: JobContext, params: SignParams, results: list[SignedFile], targets: list[Path | None]) -> None:
        """POST each signed output to the page's own origin (multipart field ``file``)."""
        ctx.set_message(ctx.t(T("Envoi des signatures à la plateforme", "Sending the signatures to the platform")))
        for result, target in zip(results, targets, strict=True):
            if target is None or params.upload_url is None:
                continue
            fields = to_json(SignedUpload(source=result.source, source_sha256=result.sha256 or ""))
            error = await upload_file(ctx, params.upload_url, target, fields, params.token)
            result.uploaded = error is None
            if error is not None:
                result.error = JobError(code=error.code.value, message=error.message(ctx.locale))

    @staticmethod
    def _pes_signer(ctx: JobContext, params: SignParams) -> PesSigner:
        """Role and place of the PES V2 signatures: given, else this user's last ones; required."""
        from ..signing.xades import XadesError
        from . import pes_signer

        try:
            signer = pes_signer.resolve(ctx.services.settings.state_dir, params.claimed_role, params.production_place)
        except XadesError:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, ctx.t(PES_PLACE_UNKNOWN, fields=", ".join(
                sorted(params.production_place or {})))) from None
        if signer.missing:
            fields = ", ".join(ctx.t(PES_FIELDS[name]) for name in signer.missing)
            raise ProtocolError(ErrorCode.INVALID_PARAMS, ctx.t(PES_MISSING, fields=fields))
        return signer

    def _timestamper(self, ctx: JobContext, level: str) -> Timestamper | None:
        if level == "B-B":
            return None
        url = ctx.services.settings.tsa_url
        if not url:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=T(
                "le niveau {level} demande un service d'horodatage (signing.tsa_url)",
                "level {level} needs a time-stamping service (signing.tsa_url)").filled(level=level))
        from ..tsa_client import http_timestamper

        return http_timestamper(url)

    def _sign_all(self, ctx: JobContext, reporter: _Reporter, params: SignParams, sources: list[_Source],
                  key: SigningKey, options: _EngineOptions) -> list[tuple[SignedFile, Path | None]]:
        """The batch, in worker threads: names are allocated in order first, then the files are
        signed on up to ``SIGNING_THREADS`` cores (key operations release the GIL; a token's own
        lock serialises its operations). Outputs are group-committed; on any exit other than the
        end of the batch, those not yet committed are removed."""
        outputs, names = OutputBatch(), OutputNames()
        plan = [(source, self._target(ctx, params, source, names)) for source in sources]

        def one(item: tuple[_Source, Path]) -> tuple[SignedFile, Path | None]:
            reporter.start_file()
            progress = reporter.signatures(item[0].signatures) if item[0].signatures else reporter.progress
            return self._sign_file(ctx, params, item[0], item[1], key, options, outputs, progress)

        workers = min(SIGNING_THREADS, len(plan))
        pool = ThreadPoolExecutor(workers, thread_name_prefix="sign") if workers > 1 else None
        try:
            signed = list(pool.map(one, plan)) if pool else [one(item) for item in plan]
            outputs.commit()
        except BaseException:
            if pool:
                pool.shutdown(wait=True, cancel_futures=True)
            outputs.abandon()
            raise
        finally:
            if pool:
                pool.shutdown(wait=True)
        reporter.finish()
        return signed

    @staticmethod
    def _target(ctx: JobContext, params: SignParams, source: _Source, names: OutputNames) -> Path:
        file = source.params
        out_dir = Path(params.out_dir).expanduser() if params.out_dir and ctx.services.local else source.out_dir
        extension, keep = _output_extension(file, Path(source.name), params.mode)
        named_source = (out_dir or source.path.parent) / source.name
        if params.mode != "sign":
            named_source, keep = named_source.with_name(_content_name(source.name)), True
        return names.next(named_source, extension, out_dir, keep_extension=keep)

    def _sign_file(self, ctx: JobContext, params: SignParams, source: _Source, target: Path, key: SigningKey,
                   options: _EngineOptions, outputs: OutputBatch,
                   progress: Callable[[int, int], None]) -> tuple[SignedFile, Path | None]:
        file = source.params
        try:
            self._write(params, source, key, options, target, progress, outputs)
        except JobCancelled:
            raise
        except (ProtocolError, ReportedError) as exc:
            if exc.code in (ErrorCode.TOKEN_REMOVED, ErrorCode.PIN_LOCKED):
                raise  # the key is gone: the rest of the batch cannot be signed
            return self._failed(ctx, source, exc.code, exc.message(ctx.locale)), None
        except ValueError as exc:
            # The engine's reason in the job's locale when it gives one in both languages; else
            # its (French) text for a French page and the code's message for an English one.
            text = getattr(exc, "text", None)
            unreadable = ProtocolError(ErrorCode.FILE_UNREADABLE, text if isinstance(text, Text) else str(exc))
            return self._failed(ctx, source, ErrorCode.FILE_UNREADABLE, unreadable.message(ctx.locale)), None
        except Exception:
            log.exception("signing %s failed", source.name)
            message = error_message(ErrorCode.INTERNAL_ERROR, ctx.locale)
            return self._failed(ctx, source, ErrorCode.INTERNAL_ERROR, message), None
        signed = SignedFile(source=source.name, format=file.format, status="signed", sha256=source.sha256, output=target.name)
        return signed, target

    @staticmethod
    def _register_outputs(ctx: JobContext, results: list[SignedFile], targets: list[Path | None]) -> None:
        """Once committed, outputs get a handle the page can read, and a folder it may show."""
        for result, target in zip(results, targets, strict=True):
            if target is None:
                continue
            if ctx.services.files is not None and not ctx.services.local:
                result.output_handle = ctx.services.files.register(ctx.origin, target).handle
            result.folder = str(target.parent) if ctx.services.local else display_folder(target.parent)

    @staticmethod
    def _failed(ctx: JobContext, source: _Source, code: ErrorCode, message: str) -> SignedFile:
        return SignedFile(source=source.name, format=source.params.format, status="failed", sha256=source.sha256,
                          error=JobError(code=code.value, message=message))

    @staticmethod
    def _write(params: SignParams, source: _Source, key: SigningKey, options: _EngineOptions,
               target: Path, progress: Callable[[int, int], None], outputs: OutputBatch) -> None:
        timestamper = options.timestamper
        file = source.params
        with outputs.output(target, mode=0o644) as out, source.path.open("rb") as stream:
            if params.mode == "sign" and file.format == "cades":
                _cades(file, stream, source.name, out, key, options, progress, sha256=source.sha256)
                return
            if params.mode == "sign":
                ENGINES[file.format](file, stream, source.name, out, key, options, progress)
                return
            from ..signing import cades

            data = stream.read()
            if params.mode == "cosign":
                content = source.content.open("rb") if source.content else None
                try:
                    cades.cosign(data, out, key, content=content, level=params.level, timestamper=timestamper, progress=progress)
                finally:
                    if content:
                        content.close()
            else:
                cades.countersign(data, out, key, signer_sha256=params.signer or "", level=params.level, timestamper=timestamper)


def _content_name(signature_name: str) -> str:
    """``offre.pdf`` from ``offre.pdf - 20260101120000 - Signature 1.p7s`` (else the stem)."""
    import re

    match = re.match(r"^(.*) - \d{14} - Signature \d+\.[^.]+$", signature_name)
    return match.group(1) if match else Path(signature_name).stem


def _engine(module: str, function: str) -> Callable[..., None]:
    return getattr(importlib.import_module(f"agent.signing.{module}"), function)


@dataclass(frozen=True)
class _EngineOptions:
    """What the job passes to every engine besides the streams and the key."""

    level: str
    timestamper: Timestamper | None
    trust_roots: tuple[x509.Certificate, ...]
    claimed_role: str | None
    production_place: dict[str, str] | None
    pes_policy: object | None
    reason: str | None


def _cades(file: SignFileParams, stream: BinaryIO, name: str, out: BinaryIO, key: SigningKey,
           options: _EngineOptions, progress: Callable[[int, int], None], sha256: str | None = None) -> None:
    """``sha256``: the file's digest the consent showed (hex). With a SHA-256 key it is the digest
    signed: the file is not read again (a large file costs one pass, not two), and what is signed
    is what the user consented to."""
    digest = bytes.fromhex(sha256) if sha256 and key.hash_name == "sha256" else None
    _engine("cades", "sign_cades")(stream, out, key, attached=file.attached, level=options.level,
                                   timestamper=options.timestamper, progress=progress, digest=digest)


def _pades(file: SignFileParams, stream: BinaryIO, name: str, out: BinaryIO, key: SigningKey,
           options: _EngineOptions, progress: Callable[[int, int], None]) -> None:
    stamp = None
    if file.stamp is not None:
        if len(file.stamp.box) != 4:
            raise ValueError("cadre du tampon : quatre nombres attendus")
        from ..signing.pades import VisibleStamp

        stamp = VisibleStamp(page=file.stamp.page, box=tuple(file.stamp.box))  # type: ignore[arg-type]
    _engine("pades", "sign_pdf")(stream, out, key, level=options.level, timestamper=options.timestamper,
                                 trust_roots=options.trust_roots, reason=options.reason, stamp=stamp,
                                 progress=progress)


def _xades(file: SignFileParams, stream: BinaryIO, name: str, out: BinaryIO, key: SigningKey,
           options: _EngineOptions, progress: Callable[[int, int], None]) -> None:
    if file.enveloped or file.pes:
        _engine("xades", "sign_enveloped")(stream, out, key, level=options.level, timestamper=options.timestamper,
                                           pes=file.pes, claimed_role=options.claimed_role,
                                           production_place=options.production_place,
                                           policy=options.pes_policy if file.pes else None,
                                           progress=progress if file.pes else None)
    else:
        _engine("xades", "sign_detached")(stream, name, out, key, level=options.level,
                                          timestamper=options.timestamper, progress=progress)


ENGINES: dict[str, Callable[..., None]] = {"cades": _cades, "pades": _pades, "xades": _xades}


def _count_signatures(sources: list[_Source]) -> None:
    """Bordereaux of each PES V2 flow (one signature each, or one for the flow), for "bordereau i sur n"."""
    from ..signing.xades import count_pes_signatures

    for source in sources:
        if source.params.format == "xades" and source.params.pes:
            try:
                with source.path.open("rb") as stream:
                    source.signatures = count_pes_signatures(stream)
            except OSError:
                source.signatures = 1  # the signing step reports the file's own error


def _pes_policy(settings: Settings) -> object | None:
    """A PES V2 signature policy document the administrator configured (its hash computed from it,
    overriding the DGFiP policy built into the engine); None: the built-in one."""
    if settings.pes_policy_document is None:
        return None
    from ..pki.policies import DGFIP_PES_POLICY_DESCRIPTION, DGFIP_PES_POLICY_OID, DGFIP_PES_POLICY_URI
    from ..signing.xades_policy import SignaturePolicy

    try:
        document = settings.pes_policy_document.read_bytes()
    except OSError as exc:
        raise ProtocolError(ErrorCode.FILE_NOT_FOUND, T("Politique de signature illisible : {e}", "Unreadable signature policy: {e}").filled(e=exc.strerror)) from exc
    return SignaturePolicy.from_document(settings.pes_policy_oid or DGFIP_PES_POLICY_OID,
                                         settings.pes_policy_uri or DGFIP_PES_POLICY_URI, document,
                                         DGFIP_PES_POLICY_DESCRIPTION if not settings.pes_policy_oid else None)


KIND = Sign()
