"""``decrypt`` ("Déchiffrement hors ligne") and ``encrypt`` (sealing a bid): the job kinds over the
streaming envelope engine (agent.envelopes, RFC 5652 section 6 and RFC 5083). Each decrypted file's
signatures are then checked in the same job (agent.kinds.analyse).

Decryption asks the user's consent and PIN once for the batch, in the agent's own UI; the key
stays in its store (the engine gets an unwrap callback). Each output is written under a temporary
name and renamed only once complete — after the AES-GCM tag was checked.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

from bridge_protocol.errors import ErrorCode, ProtocolError
from bridge_protocol.kinds import (
    DecryptedFile,
    DecryptParams,
    DecryptResult,
    EncryptedFile,
    EncryptParams,
    EncryptResult,
    FileRef,
)
from bridge_protocol.messages import JobError
from bridge_protocol.platform import DepositReceipt, SealedUpload, parse_receipt
from bridge_protocol.typed import ParseError, to_json

from ..consent import ConsentRequest, FileSummary
from ..envelopes import EnvelopeError, encrypt, extract_zip, session_unwrapper
from ..errors import ReportedError
from ..fsutil import atomic_output
from ..i18n import Text, human_datetime
from ..jobs.context import JobCancelled, JobContext
from ..keystores.base import cert_label
from ..pki.key_usage import usage_refusal
from ..pki.streams import HashingWriter
from . import JobKind, StepSpec
from .decryption import choose_key, decrypt_to, decrypted_name, job_error, list_recipients
from .pin import open_with_retries
from .analyse import ToCheck, analyse
from .sources import display_folder, fetch_document, hash_files, post_file, resolve_file

log = logging.getLogger(__name__)

T = Text
ENVELOPE = T("enveloppe", "envelope")
RECEIPT_DONE = T("Dépôt reçu par la plateforme le {time} : accusé de réception {id}, {n} fichier(s) attesté(s).",
                 "Deposit received by the platform on {time}: receipt {id}, {n} file(s) acknowledged.")
FILE = T("fichier", "file")
#: Limits of ``extract``: what a sealed bid's ZIP may hold once decompressed.
EXTRACT_MAX_TOTAL = 16 * 1024**3
EXTRACT_MAX_RATIO = 200.0
EXTRACT_MAX_ENTRIES = 10_000

async def _locate(ctx: JobContext, ref: FileRef, token: str | None) -> tuple[Path, str, Path | None]:
    if ref.url is not None:
        return await fetch_document(ctx, ref.url, token)
    return resolve_file(ctx, ref.handle, ref.path)


def _out_folder(ctx: JobContext, requested: str | None, source: Path, default: Path | None) -> Path:
    if requested and ctx.services.local:
        return Path(requested).expanduser()
    return default or source.parent


def _free_name(folder: Path, name: str) -> Path:
    """``name`` in ``folder``, or ``stem (2).ext``… when taken: a decryption never overwrites."""
    candidate = folder / name
    counter = 2
    while candidate.exists():
        stem, dot, suffix = name.rpartition(".") if "." in name else (name, "", "")
        candidate = folder / (f"{stem} ({counter}){dot}{suffix}" if dot else f"{name} ({counter})")
        counter += 1
    return candidate


class Decrypt(JobKind):
    name = "decrypt"
    params_type = DecryptParams
    steps = (
        StepSpec("prepare", T("Lecture des plis", "Reading the bids"), 1),
        StepSpec("key", T("Clé de déchiffrement (autorisation et code PIN)", "Decryption key (authorisation and PIN)"), 1),
        StepSpec("decrypt", T("Déchiffrement des enveloppes", "Decrypting the envelopes"), 6),
        StepSpec("analyse", T("Vérification des signatures des fichiers déchiffrés",
                              "Checking the signatures of the decrypted files"), 2),
        StepSpec("done", T("Terminé", "Done"), 0.1),
    )
    needs_pairing = True

    async def run(self, ctx: JobContext, params: DecryptParams) -> DecryptResult:
        if not params.files:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=T("aucun fichier", "no file"))
        keystores = ctx.services.keystores
        if keystores is None:
            raise ProtocolError(ErrorCode.NO_SUCH_CERTIFICATE)

        with ctx.step("prepare"):
            sources = [await _locate(ctx, ref, params.token) for ref in params.files]
            digests = await asyncio.to_thread(hash_files, [path for path, _, _ in sources], ctx,
                                              asyncio.get_running_loop())
            listed = [await asyncio.to_thread(list_recipients, path) for path, _name, _ in sources]

        with ctx.step("key"):
            store, key = await asyncio.to_thread(choose_key, keystores, params.certificate, listed)
            request = ConsentRequest(
                origin=ctx.origin, action="decrypt",
                summary=ctx.t(T("Déchiffrer {n} pli(s) avec la clé de {who}.", "Decrypt {n} bid(s) with {who}'s key."),
                              n=len(sources), who=cert_label(key.certificate)),
                files=tuple(FileSummary(name, size, sha) for (_, name, _), (size, sha) in zip(sources, digests, strict=True)),
                certificate=f"{cert_label(key.certificate)} — SHA-256 {key.sha256}",
                needs_pin=store.needs_pin,
            )
            decision = await ctx.services.consent.ask(request)
            if not decision.approved:
                raise ProtocolError(ErrorCode.USER_CANCELLED)
            session = await open_with_retries(ctx, store, request, decision)

        results: list[DecryptedFile] = []
        opened: dict[int, Path] = {}  # where each decrypted file is, by its index in ``results``
        try:
            with ctx.step("decrypt"):
                unwrap = session_unwrapper(session, [key])
                for index, (path, name, default_out) in enumerate(sources, 1):
                    ctx.check_cancelled()
                    ctx.set_current(ctx.t(ENVELOPE), index, len(sources))
                    folder = _out_folder(ctx, params.out_dir, path, default_out)
                    result, target = await self._one(ctx, path, name, folder, unwrap, params.extract, index,
                                                     len(sources))
                    if target is not None:
                        opened[len(results)] = target
                    results.append(result)
        finally:
            await asyncio.to_thread(session.close)

        with ctx.step("analyse"):
            # Each decrypted file, and each file extracted from it (a pli's ZIP): (entry, index in
            # ``extracted`` or None, where it is, the name the user knows it by).
            checked: list[tuple[DecryptedFile, int | None, Path, str]] = []
            for i, path in sorted(opened.items()):
                result = results[i]
                checked.append((result, None, path, path.name))
                checked += [(result, k, path.parent / rel, rel) for k, rel in enumerate(result.extracted)]
            if checked:
                checks = await analyse(ctx, [ToCheck(path, label) for _r, _k, path, label in checked], "analyse")
                for (result, k, _path, _label), check in zip(checked, checks, strict=True):
                    if k is None:
                        result.signature = check
                    else:
                        result.extracted_signatures.append(check)

        with ctx.step("done"):
            done = sum(1 for r in results if r.status == "decrypted")
            if done == 0 and results[0].error is not None:
                raise ProtocolError(ErrorCode(results[0].error.code), results[0].error.message)
        return DecryptResult(files=results, decrypted=done, failed=len(results) - done)

    async def _one(self, ctx: JobContext, path: Path, name: str, folder: Path, unwrap: Callable[..., bytes | None],
                   extract: bool, index: int, total: int) -> tuple[DecryptedFile, Path | None]:
        """Decrypt one envelope: its entry, and where the decrypted file is (None when it failed)."""
        target = _free_name(folder, decrypted_name(name))
        loop = asyncio.get_running_loop()
        size = path.stat().st_size

        def progress(done: int, _total: int) -> None:
            if ctx.cancelled:
                raise JobCancelled()
            loop.call_soon_threadsafe(ctx.step_progress, "decrypt", index - 1 + (done / size if size else 1), total)

        try:
            written, sha, algorithm = await asyncio.to_thread(decrypt_to, path, target, unwrap, progress)
        except EnvelopeError as exc:
            return DecryptedFile(source=name, status="failed", error=job_error(exc, ctx.locale)), None
        extracted: list[str] = []
        if extract and _is_zip(target):
            try:
                files = await asyncio.to_thread(extract_zip, target, _free_name(folder, Path(target.name).stem),
                                                max_total=EXTRACT_MAX_TOTAL, max_ratio=EXTRACT_MAX_RATIO,
                                                max_entries=EXTRACT_MAX_ENTRIES)
                extracted = [str(f.relative_to(folder)) for f in files]
            except EnvelopeError as exc:
                return DecryptedFile(source=name, status="failed", output=target.name, error=job_error(exc, ctx.locale)), None
        handle = None
        if ctx.services.files is not None and not ctx.services.local:
            handle = ctx.services.files.register(ctx.origin, target, sha).handle
        return DecryptedFile(source=name, status="decrypted", output=target.name, output_handle=handle,
                             folder=str(folder) if ctx.services.local else display_folder(folder),
                             size=written, sha256=sha, algorithm=algorithm, extracted=extracted), target


def _is_zip(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(4) == b"PK\x03\x04"


class Encrypt(JobKind):
    name = "encrypt"
    params_type = EncryptParams
    steps = (
        StepSpec("prepare", T("Préparation", "Preparing"), 1),
        StepSpec("encrypt", T("Chiffrement des fichiers", "Encrypting the files"), 6),
        StepSpec("done", T("Terminé", "Done"), 0.1),
    )
    needs_pairing = True

    async def run(self, ctx: JobContext, params: EncryptParams) -> EncryptResult:
        if not params.files or not params.recipients:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=T("fichiers et destinataires requis", "files and recipients required"))
        with ctx.step("prepare"):
            if params.upload_url:
                ctx.platform.resolve(params.upload_url)  # promise 6, before any work
            try:
                certificates = [c for pem in params.recipients for c in x509.load_pem_x509_certificates(pem.encode())]
            except ValueError as exc:
                raise ProtocolError(ErrorCode.INVALID_PARAMS, path="/params/recipients", reason=T("certificat PEM attendu", "PEM certificate expected")) from exc
            for certificate in certificates:  # RFC 5280 key usage, before anything is sealed
                refusal = usage_refusal(certificate, "decryption", ctx.locale)
                if refusal is not None:
                    raise ProtocolError(ErrorCode.KEY_USAGE_NOT_ENCRYPTION, refusal)
            sources = [await _locate(ctx, ref, params.token) for ref in params.files]
        results: list[EncryptedFile] = []
        receipt: DepositReceipt | None = None
        with ctx.step("encrypt"):
            for index, (path, name, default_out) in enumerate(sources, 1):
                ctx.check_cancelled()
                ctx.set_current(ctx.t(FILE), index, len(sources))
                folder = _out_folder(ctx, params.out_dir, path, default_out)
                target = _free_name(folder, f"{name}.p7m")
                if ctx.services.files is not None and not ctx.services.local:
                    try:  # written without the user's consent: within the site's quota
                        ctx.services.files.make_room(ctx.origin, path.stat().st_size)
                    except (ProtocolError, ReportedError) as exc:
                        results.append(EncryptedFile(source=name, status="failed", error=JobError(
                            code=exc.code.value, message=exc.message(ctx.locale))))
                        continue

                def work(path: Path = path, target: Path = target) -> tuple[int, str]:
                    digest = hashlib.sha256()
                    with path.open("rb") as source, atomic_output(target, mode=0o644) as out:
                        encrypt(source, HashingWriter(out, digest), certificates, algorithm=params.algorithm,
                                key_transport=params.key_transport)
                        written = out.tell()
                    return written, digest.hexdigest()

                try:
                    size, sha = await asyncio.to_thread(work)
                except EnvelopeError as exc:
                    results.append(EncryptedFile(source=name, status="failed", error=job_error(exc, ctx.locale)))
                    continue
                result = EncryptedFile(source=name, status="encrypted", output=target.name, size=size, sha256=sha,
                                       folder=str(folder) if ctx.services.local else display_folder(folder))
                if ctx.services.files is not None and not ctx.services.local:
                    result.output_handle = ctx.services.files.register(ctx.origin, target, counted=True).handle
                if params.upload_url:
                    error, answer = await post_file(ctx, params.upload_url, target, to_json(SealedUpload(source=name)),
                                                      params.token)
                    result.uploaded = error is None
                    if error is not None:
                        result.error = JobError(code=error.code.value, message=error.message(ctx.locale))
                    else:
                        receipt = _receipt(answer) or receipt
                results.append(result)
                ctx.step_progress("encrypt", index, len(sources))
        with ctx.step("done"):
            done = sum(1 for r in results if r.status == "encrypted")
            if receipt is not None:
                listed = {(f.size, f.sha256.lower()) for f in receipt.files}
                for r in results:
                    r.receipted = r.uploaded and (r.size, r.sha256) in listed
                ctx.set_message(ctx.t(RECEIPT_DONE, id=receipt.id, n=sum(r.receipted for r in results),
                                      time=human_datetime(receipt.received_at, ctx.locale)))
        return EncryptResult(files=results, encrypted=done, failed=len(results) - done, receipt=receipt)


def _receipt(answer: object) -> DepositReceipt | None:
    """The deposit receipt in the platform's answer to an upload (PLATFORM.md section 6), None when
    it gave none or one that does not follow the contract (then nothing is shown as receipted)."""
    if not isinstance(answer, dict) or "receipt" not in answer:
        return None
    try:
        return parse_receipt(answer["receipt"])
    except ParseError as exc:
        log.info("encrypt: unreadable deposit receipt: %s", exc)
        return None


DECRYPT = Decrypt()
ENCRYPT = Encrypt()
