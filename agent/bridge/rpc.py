"""JSON-RPC 2.0 dispatch for the bridge (https://www.jsonrpc.org/specification).

Malformed traffic gets the specification's error codes and the connection lives on; application
failures carry a stable code in ``error.data.code`` (bridge_protocol.errors). Unexpected
exceptions are logged here and reach the page only as INTERNAL_ERROR, without detail.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bridge_protocol.capabilities import agent_capabilities
from bridge_protocol.certificates import CertificatesListParams, CertificatesListResult
from bridge_protocol.errors import ErrorCode, ProtocolError
from bridge_protocol.files import (
    MAX_CHUNK_BYTES,
    FileChunk,
    FileGetParams,
    FileInfo,
    FilePickParams,
    FilePickResult,
    FilePutParams,
)
from bridge_protocol.messages import (
    METHODS,
    OPEN_METHODS,
    PRODUCT,
    PROTOCOL_VERSION,
    HelloParams,
    HelloResult,
    JobIdParams,
    JobListParams,
    JobStartParams,
    AuthParams,
    AuthResult,
    PairParams,
    PairResult,
)
from bridge_protocol.pairing import KEY_BYTES, NONCE_BYTES
from bridge_protocol.typed import ParseError, parse, to_json

from .. import __version__
from ..errors import ReportedError
from ..i18n import Text, pick_locale
from ..pairing import b64, decode_b64
from ..update.config import app_dir_of
from ..update.runtime import hello_hints
from .connection import Connection

if TYPE_CHECKING:
    from .host import BridgeHost

log = logging.getLogger(__name__)

#: Largest batch accepted in one frame.
MAX_BATCH = 50

Handler = Callable[[Connection, Any], Awaitable[Any]]


def _error(request_id: Any, exc: ProtocolError | ReportedError, locale: str) -> dict[str, Any]:
    """The JSON-RPC 2.0 error answer (section 5.1): where the agent's errors become the wire's."""
    if isinstance(exc, ReportedError):
        exc = ProtocolError(exc.code, exc.custom_message, **exc.detail)
    return {"jsonrpc": "2.0", "id": request_id, "error": exc.to_rpc_error(locale)}


#: What ``Dispatcher.decode`` returns for a frame that is not JSON (already answered).
NOT_JSON = object()


def is_hello(message: Any) -> bool:
    """A single ``agent.hello`` request (pages poll it; it is answered from memory)."""
    return isinstance(message, dict) and message.get("method") == "agent.hello"


class Dispatcher:
    """Turns request frames into answers, using the agent's services."""

    def __init__(self, service: BridgeHost) -> None:
        self.service = service
        #: The install layout's folder, where the last update check is recorded (for hello).
        self._app_dir = app_dir_of(service.settings)
        self._handlers: dict[str, Handler] = {
            "agent.hello": self.hello,
            "agent.pair": self.pair,
            "agent.auth": self.auth,
            "certificates.list": self.certificates_list,
            "files.pick": self.files_pick,
            "files.put": self.files_put,
            "files.get": self.files_get,
            "jobs.start": self.jobs_start,
            "jobs.get": self.jobs_get,
            "jobs.list": self.jobs_list,
            "jobs.cancel": self.jobs_cancel,
        }
        assert set(self._handlers) == set(METHODS), "every protocol method has a handler"

    def decode(self, conn: Connection, text: str) -> Any:
        """One text frame's JSON, or ``NOT_JSON`` once the PARSE_ERROR answer is queued."""
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            conn.send(_error(None, ProtocolError(ErrorCode.PARSE_ERROR), conn.locale))
            return NOT_JSON

    async def handle_message(self, conn: Connection, message: Any) -> None:
        """Answer one decoded frame (a request, a notification or a batch)."""
        if isinstance(message, list):
            if not message or len(message) > MAX_BATCH:
                conn.send(_error(None, ProtocolError(ErrorCode.INVALID_REQUEST, max_batch=MAX_BATCH), conn.locale))
                return
            answers = [a for a in [await self._call(conn, m) for m in message] if a is not None]
            if answers:
                await conn.answer(answers)
            return
        answer = await self._call(conn, message)
        if answer is not None:
            await conn.answer(answer)

    async def _call(self, conn: Connection, message: Any) -> dict[str, Any] | None:
        if not isinstance(message, dict):
            return _error(None, ProtocolError(ErrorCode.INVALID_REQUEST), conn.locale)
        request_id = message.get("id")
        valid_id = "id" not in message or (
            isinstance(request_id, (str, int)) and not isinstance(request_id, bool) or request_id is None
        )
        if (
            message.get("jsonrpc") != "2.0"
            or not isinstance(message.get("method"), str)
            or not valid_id
            or not set(message) <= {"jsonrpc", "method", "params", "id"}
        ):
            return _error(request_id if valid_id else None, ProtocolError(ErrorCode.INVALID_REQUEST), conn.locale)
        is_notification = "id" not in message
        method = message["method"]
        try:
            handler = self._handlers.get(method)
            if handler is None:
                raise ProtocolError(ErrorCode.METHOD_NOT_FOUND, method=method[:64])
            if method not in OPEN_METHODS and not self.service.pairings.authenticated(conn.auth, conn.origin):
                # The Origin header proves nothing outside a browser: only a connection that
                # proved the site's pairing key gets anything privileged (promise 3).
                raise ProtocolError(ErrorCode.NOT_AUTHENTICATED)
            raw = message.get("params", {})
            try:
                params = parse(METHODS[method].params, raw, "/params")
            except ParseError as exc:
                raise ProtocolError(ErrorCode.INVALID_PARAMS, path=exc.path, reason=exc.wording) from None
            result = await handler(conn, params)
        except (ProtocolError, ReportedError) as exc:
            return None if is_notification else _error(request_id, exc, conn.locale)
        except Exception:
            log.exception("method %s failed", method)
            return None if is_notification else _error(request_id, ProtocolError(ErrorCode.INTERNAL_ERROR), conn.locale)
        return None if is_notification else {"jsonrpc": "2.0", "id": request_id, "result": to_json(result)}

    # -- methods ----------------------------------------------------------------------------
    async def hello(self, conn: Connection, params: HelloParams) -> HelloResult:
        if params.protocol != PROTOCOL_VERSION:
            raise ProtocolError(ErrorCode.PROTOCOL_UNSUPPORTED, supported=[PROTOCOL_VERSION])
        conn.locale = pick_locale(params.locale, conn.locale)
        if conn.client is None:
            # %r: a page's text never starts a line of its own in the log (no forged entries).
            log.info("hello from %s (%r %r)", conn.origin, params.client.name[:100], params.client.version[:50])
        conn.client = {"name": params.client.name, "version": params.client.version}
        # "Mise à jour requise": the page needs a newer agent (agent.update.runtime).
        update_required, update_available = hello_hints(self._app_dir, params.min_version)
        return HelloResult(
            product=PRODUCT,
            version=__version__,
            protocol=PROTOCOL_VERSION,
            capabilities=agent_capabilities(self.service.jobs.kinds.names()),
            paired=self.service.pairings.is_paired(conn.origin),
            authenticated=self.service.pairings.authenticated(conn.auth, conn.origin),
            update_required=update_required,
            update_available=update_available,
            consent_timeout=self.service.settings.consent_timeout,
        )

    async def pair(self, conn: Connection, params: PairParams) -> PairResult:
        """The four steps of pairing (PROTOCOL.md "Pairing"), on this connection."""
        pairings = self.service.pairings
        if params.step == "commit":
            return PairResult(commitment=b64(pairings.commit(conn.auth)))
        if params.step == "exchange":
            page_key = decode_b64(params.public_key, KEY_BYTES, "/params/public_key")
            page_nonce = decode_b64(params.nonce, NONCE_BYTES, "/params/nonce")
            agent_key = await pairings.exchange(conn.auth, conn.origin, page_key, page_nonce, conn.locale)
            return PairResult(public_key=b64(agent_key))
        if params.step == "code":
            code_commitment = decode_b64(params.commitment, 32, "/params/commitment")
            return PairResult(nonce=b64(pairings.reveal(conn.auth, code_commitment)))
        opening = decode_b64(params.opening, NONCE_BYTES, "/params/opening")
        proof = decode_b64(params.proof, 32, "/params/proof")
        return PairResult(paired=True, proof=b64(pairings.confirm(conn.auth, conn.origin, opening, proof)))

    async def auth(self, conn: Connection, params: AuthParams) -> AuthResult:
        """Per-connection proof of the site's key: the agent's first, then the page's."""
        pairings = self.service.pairings
        if params.step == "challenge":
            page_nonce = decode_b64(params.nonce, NONCE_BYTES, "/params/nonce")
            agent_nonce, proof = pairings.challenge(conn.auth, conn.origin, page_nonce)
            return AuthResult(nonce=b64(agent_nonce), proof=b64(proof))
        pairings.prove(conn.auth, conn.origin, decode_b64(params.proof, 32, "/params/proof"))
        return AuthResult(authenticated=True)

    async def certificates_list(self, conn: Connection, params: CertificatesListParams) -> CertificatesListResult:
        """Certificate facts (never keys), after pairing and the user's consent (promise 4)."""
        await self.service.consent_certificates(conn.origin, conn.locale)
        infos = await asyncio.to_thread(self.service.keystores.certificate_infos, params.purpose, conn.locale)
        return CertificatesListResult(certificates=infos)

    async def files_pick(self, conn: Connection, params: FilePickParams) -> FilePickResult:
        """Files the user picks in the agent's own UI (promise 5): the page gets handles, not paths."""
        accept = tuple(a.lower() if a.startswith(".") else f".{a.lower()}" for a in params.accept)
        paths = await self.service.consent.pick_files(conn.origin, params.multiple, accept)
        entries = [await asyncio.to_thread(self.service.files.register, conn.origin, p) for p in paths]
        return FilePickResult(files=[e.info() for e in entries])

    async def files_put(self, conn: Connection, params: FilePutParams) -> FileInfo:
        """Bytes the page hands over (promise 5: pages give content, never a path)."""
        try:
            data = base64.b64decode(params.data, validate=True)
        except ValueError:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, path="/params/data", reason=Text("base64 attendu", "base64 expected")) from None
        if len(data) > MAX_CHUNK_BYTES:
            raise ProtocolError(ErrorCode.INVALID_PARAMS, path="/params/data", reason=Text("morceau trop grand", "chunk too large"))
        entry = await asyncio.to_thread(self.service.files.put, conn.origin, params.handle, params.name, data, params.final)
        return entry.info()

    async def files_get(self, conn: Connection, params: FileGetParams) -> FileChunk:
        data, eof = await asyncio.to_thread(self.service.files.read, conn.origin, params.handle, params.offset, params.length)
        entry = self.service.files.get(conn.origin, params.handle)
        return FileChunk(data=base64.b64encode(data).decode(), offset=params.offset, eof=eof, file=entry.info())

    async def jobs_start(self, conn: Connection, params: JobStartParams) -> dict[str, Any]:
        locale = pick_locale(params.locale, conn.locale)
        return self.service.jobs.start(conn.origin, params.kind, params.params, locale).snapshot()

    async def jobs_get(self, conn: Connection, params: JobIdParams) -> dict[str, Any]:
        return self.service.jobs.get(conn.origin, params.id).snapshot()

    async def jobs_list(self, conn: Connection, params: JobListParams) -> list[dict[str, Any]]:
        return [job.snapshot() for job in self.service.jobs.list(conn.origin, params.limit)]

    async def jobs_cancel(self, conn: Connection, params: JobIdParams) -> dict[str, Any]:
        return self.service.jobs.cancel(conn.origin, params.id).snapshot()
