"""Where a job's files come from: a handle (uploaded or picked), a same-origin URL, or — for the
command line only — a local path (docs/SECURITY.md promises 5 and 6)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from bridge_protocol.errors import ErrorCode, ProtocolError

from ..errors import ReportedError
from ..i18n import Text
from ..jobs.context import JobCancelled, JobContext
from ..pki.streams import CHUNK


def display_folder(folder: Path) -> str:
    """A folder as the user says it, without revealing the home path to the page (``~/…``)."""
    try:
        return "~/" + folder.resolve().relative_to(Path.home().resolve()).as_posix()
    except ValueError:
        return folder.name


def resolve_file(ctx: JobContext, handle: str | None, path: str | None) -> tuple[Path, str, Path | None]:
    """(local path, display name, output folder override) of a file reference."""
    services = ctx.services
    if path is not None:
        if not services.local:
            # Promise 5: a page never names a local path.
            raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=Text("chemin local refusé : utilisez un fichier choisi ou envoyé",
                                           "local path refused: use a picked or uploaded file"))
        local = Path(path).expanduser()
        if not local.is_file():
            raise ProtocolError(ErrorCode.FILE_NOT_FOUND, Text("Fichier introuvable : {n}", "File not found: {n}").filled(n=local.name))
        return local, local.name, None
    if handle is None or services.files is None:
        raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=Text("handle ou path requis", "handle or path required"))
    entry = services.files.get(ctx.origin, handle)
    if not entry.complete:
        raise ProtocolError(ErrorCode.FILE_NOT_FOUND)
    return entry.path, entry.name, services.settings.output_dir if entry.owned else None


async def fetch_document(ctx: JobContext, url: str, token: str | None) -> tuple[Path, str, Path | None]:
    """Download a document of the job's own origin (promise 6) into the agent's upload area."""
    files = ctx.services.files
    if files is None:
        raise ProtocolError(ErrorCode.INVALID_PARAMS, reason=Text("url indisponible ici", "url not available here"))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with ctx.platform.request("GET", url, headers=headers) as response:
        if response.status != 200:
            raise ProtocolError(ErrorCode.PLATFORM_UNREACHABLE, Text("Document indisponible (HTTP {s}).", "Document unavailable (HTTP {s}).").filled(s=response.status))
        disposition = response.content_disposition
        name = (disposition.filename if disposition and disposition.filename else None) or \
            unquote(response.url.path.rsplit("/", 1)[-1]) or "document"
        handle = None
        async for chunk in response.content.iter_chunked(CHUNK):
            ctx.check_cancelled()
            entry = await asyncio.to_thread(files.put, ctx.origin, handle, name, chunk, False)
            handle = entry.handle
            ctx.add_bytes(len(chunk))
        entry = await asyncio.to_thread(files.put, ctx.origin, handle, name, b"", True)
    return entry.path, entry.name, ctx.services.settings.output_dir


#: Largest JSON answer to an upload the agent reads (a receipt listing a pli's files).
MAX_ANSWER_BYTES = 1024 * 1024


async def upload_file(ctx: JobContext, url: str, path: Path, fields: dict[str, str],
                      token: str | None) -> ProtocolError | ReportedError | None:
    """POST ``path`` to a URL of the job's own origin as multipart field ``file`` (plus ``fields``);
    None when the platform accepted it, else the error to report for that file."""
    error, _answer = await post_file(ctx, url, path, fields, token)
    return error


async def post_file(ctx: JobContext, url: str, path: Path, fields: dict[str, str],
                    token: str | None) -> tuple[ProtocolError | ReportedError | None, Any]:
    """``upload_file`` that also returns the platform's JSON answer when it accepted the file (None
    when the answer is not JSON or larger than ``MAX_ANSWER_BYTES``)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with path.open("rb") as stream:
        form = aiohttp.FormData()
        form.add_field("file", stream, filename=path.name, content_type="application/octet-stream")
        for name, value in fields.items():
            form.add_field(name, value)
        try:
            async with ctx.platform.request("POST", url, data=form, headers=headers) as response:
                if response.status >= 300:
                    return ProtocolError(ErrorCode.PLATFORM_UNREACHABLE,
                                         Text("Envoi refusé par la plateforme (HTTP {s}).",
                                              "Upload refused by the platform (HTTP {s}).").filled(s=response.status)), None
                return None, await _json_answer(response)
        except (ProtocolError, ReportedError) as exc:
            return exc, None


async def _json_answer(response: Any) -> Any:
    """The JSON body of ``response``, read up to ``MAX_ANSWER_BYTES``; None when it is not JSON."""
    if response.content_type != "application/json":
        return None
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_ANSWER_BYTES:
            return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def hash_files(paths: list[Path], ctx: JobContext, loop: asyncio.AbstractEventLoop) -> list[tuple[int, str]]:
    """(size, SHA-256) of each file, in one worker thread, as the consent shows them (promise 4);
    reports on the job's "prepare" step and stops once the job is cancelled."""
    digests = []
    last = 0.0
    for index, path in enumerate(paths, 1):
        h = hashlib.sha256()
        size = 0
        with path.open("rb") as stream:
            while chunk := stream.read(CHUNK):
                if ctx.cancelled:
                    raise JobCancelled()
                h.update(chunk)
                size += len(chunk)
        digests.append((size, h.hexdigest()))
        if time.monotonic() - last >= 0.1 or index == len(paths):
            last = time.monotonic()
            loop.call_soon_threadsafe(ctx.step_progress, "prepare", index, len(paths))
    return digests
