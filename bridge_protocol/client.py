"""Async Python client of the bridge, for the CLI, scripts and tests.

    async with await BridgeClient.connect(origin="https://marches.example.fr") as client:
        hello = await client.hello()
        job = await client.run_job("diagnose", {"user_agent": "..."})

It probes the ports in order, like the browser client, and sends the ``Origin`` header of the
platform it acts for (the agent refuses any origin it was not configured for).

Pairing and authentication (PROTOCOL.md "Pairing") are done for the caller when a
``ClientPairing`` is given (or set as the default with ``set_default_pairing``): the site's key is
kept in a ``PairingSecrets`` file, and the code the agent shows is asked of ``read_code``. With a
key, ``connect`` authenticates at once and refuses an agent that cannot prove it holds the key
(``NotYourAgent``: another user's or a rogue program on the port); without one, the first
privileged call answered NOT_AUTHENTICATED pairs, then is sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import base64
import hmac
import itertools
import json
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from . import pairing as crypto
from .errors import ErrorCode
from .messages import ALL_PORTS, BRIDGE_PATH, OPEN_METHODS, PROTOCOL_VERSION, TERMINAL_STATES, WAITS_FOR_USER


class BridgeError(Exception):
    """An error answer. ``code`` is the stable string of ``error.data.code``."""

    def __init__(self, code: str, message: str, data: dict[str, Any] | None = None, rpc_code: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data or {}
        self.rpc_code = rpc_code


class AgentUnreachable(ConnectionError):
    """No agent answered on any of the ports (or the handshake was refused)."""


class NotYourAgent(BridgeError):
    """The program on the port could not prove it holds this site's pairing key (or showed a code
    other than the one the page computed): nothing more is sent to it."""

    def __init__(self, reason: str) -> None:
        super().__init__("NOT_YOURS", f"not this user's Compagnon ({reason})", {"reason": reason})


class PairingSecrets:
    """The pairing keys of one agent, per origin, in a JSON file (0600) on the client's side."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def get(self, origin: str) -> bytes | None:
        value = self._read().get(origin)
        return base64.b64decode(value) if value else None

    def _write(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets-")
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            json.dump(data, stream)
        os.replace(name, self.path)

    def set(self, origin: str, key: bytes) -> None:
        self._write(self._read() | {origin: base64.b64encode(key).decode()})

    def forget(self, origin: str) -> None:
        data = self._read()
        if data.pop(origin, None) is not None:
            self._write(data)


#: Asked for the code the agent shows (``origin``, the page's pairing nonce); returns what the
#: user typed, or None when it cannot be had.
CodeReader = Callable[[str, bytes], Awaitable[str | None]]


@dataclass
class ClientPairing:
    """Where this client keeps its keys, and how it learns the code the agent shows."""

    secrets: PairingSecrets
    read_code: CodeReader


_default_pairing: Callable[[str, int], ClientPairing | None] | None = None
#: One pairing at a time per key file and origin in this process: clients that connect together
#: pair once, the others then authenticate with the key.
_pairing_locks: dict[tuple[int, str, str], asyncio.Lock] = {}


def set_default_pairing(factory: Callable[[str, int], ClientPairing | None] | None) -> None:
    """``factory(origin, port)`` gives the ``ClientPairing`` of clients connected without one."""
    global _default_pairing
    _default_pairing = factory


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(value: Any) -> bytes:
    try:
        return base64.b64decode(value if isinstance(value, str) else "", validate=True)
    except ValueError:
        return b""


class BridgeClient:
    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse, port: int,
                 origin: str = "", pairing: ClientPairing | None = None) -> None:
        self._session = session
        self.ws = ws
        self.port = port
        self.origin = origin
        self.pairing = pairing
        #: True once this connection proved the site's key and the agent proved it too.
        self.authenticated = False
        #: The agent's consent timeout in seconds (``agent.hello``; 120 until one answered).
        self.consent_timeout = 120.0
        self._secure_lock = asyncio.Lock()
        #: Counts the proofs made on this connection (a refused call re-secures only once).
        self._proofs = 0
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._jobs: dict[str, dict[str, Any]] = {}
        self._job_events: dict[str, asyncio.Event] = {}
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read_loop())

    @classmethod
    async def connect(
        cls,
        origin: str,
        ports: Iterable[int] = ALL_PORTS,
        host: str = "127.0.0.1",
        timeout: float = 5.0,
        headers: dict[str, str] | None = None,
        pairing: ClientPairing | None = None,
        authenticate: bool = True,
    ) -> BridgeClient:
        """Open the bridge on the first port that accepts ``origin`` (another user's agent closes the
        connection at once, and the next port is tried) and, when this client holds the site's key,
        proves itself there. An agent that cannot prove it holds the key is left (``NotYourAgent``
        when no port had this user's agent)."""
        ports = list(ports)
        # The handshake must answer within ``timeout``: a port held by another program that
        # accepts connections but never answers must not stall the probe.
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout))
        last: Exception | None = None
        for port in ports:
            try:
                ws = await session.ws_connect(
                    f"ws://{host}:{port}{BRIDGE_PATH}",
                    origin=origin,
                    headers=headers,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=timeout),
                    max_msg_size=0,
                    autoping=True,
                )
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                last = exc
                continue
            chosen = pairing or (_default_pairing(origin, port) if _default_pairing else None)
            client = cls(session, ws, port, origin, chosen if authenticate else None)
            if client.pairing is not None and client.pairing.secrets.get(origin) is not None:
                try:
                    await client.authenticate()
                except NotYourAgent as exc:
                    last = exc
                    await ws.close()
                    client._reader.cancel()
                    continue
                except BridgeError as exc:
                    if exc.code != ErrorCode.NOT_PAIRED.value:
                        raise
                    # The agent no longer has the key (revoked): the key was forgotten here, and
                    # the first privileged call pairs again.
            return client
        await session.close()
        if isinstance(last, NotYourAgent):
            raise last
        raise AgentUnreachable(f"no agent accepted {origin!r} on ports {list(ports)}: {last}")

    # -- pairing and authentication (PROTOCOL.md "Pairing") -----------------------------------------
    async def authenticate(self) -> None:
        """``agent.auth`` with the stored key: the agent's proof is checked before anything else is
        sent. NotYourAgent when it is wrong or missing; a key the agent no longer has (revoked) is
        forgotten (BridgeError NOT_PAIRED)."""
        assert self.pairing is not None
        key = self.pairing.secrets.get(self.origin)
        if key is None:
            raise BridgeError(ErrorCode.NOT_PAIRED.value, "no pairing key for this site")
        page_nonce = crypto.new_nonce()
        try:
            answer = await self._raw_call("agent.auth", {"step": "challenge", "nonce": _b64(page_nonce)})
        except BridgeError as exc:
            if exc.code == ErrorCode.NOT_PAIRED.value:
                self.pairing.secrets.forget(self.origin)
                raise
            raise NotYourAgent(f"agent.auth answered {exc.code}") from None
        agent_nonce = _unb64(answer.get("nonce")) if isinstance(answer, dict) else b""
        proof = _unb64(answer.get("proof")) if isinstance(answer, dict) else b""
        expected = crypto.agent_proof(key, self.origin, page_nonce, agent_nonce)
        if len(agent_nonce) != crypto.NONCE_BYTES or not hmac.compare_digest(proof, expected):
            raise NotYourAgent("wrong proof")
        await self._raw_call("agent.auth", {"step": "prove",
                                            "proof": _b64(crypto.page_proof(key, self.origin, page_nonce, agent_nonce))})
        self.authenticated = True
        self._proofs += 1

    async def pair(self, timeout: float = 300.0) -> dict[str, Any]:
        """Pair the site (PROTOCOL.md "Pairing"): commitment, key exchange, the code the agent shows
        (``read_code``) committed to before the agent reveals its nonce, then compared with the one
        computed here, then the confirmations with the code bound in. Raises BridgeError (the
        agent's refusal, e.g. PAIRING_CODE_INCORRECT) or NotYourAgent (the codes differ, or a proof
        is wrong: nothing of the typed code is revealed then)."""
        if self.pairing is None:
            raise BridgeError("NO_PAIRING", "this client has no ClientPairing")
        commit = await self._raw_call("agent.pair", {"step": "commit"})
        commitment = _unb64(commit.get("commitment"))
        key = crypto.EphemeralKey.generate()
        page_nonce = crypto.new_nonce()
        answer = await self._raw_call("agent.pair", {"step": "exchange", "public_key": _b64(key.public),
                                                     "nonce": _b64(page_nonce)}, timeout=timeout)
        agent_key = _unb64(answer.get("public_key"))
        if not crypto.valid_public_key(agent_key):
            raise NotYourAgent("commitment")
        typed = crypto.normalize_code(await self.pairing.read_code(self.origin, page_nonce))
        if typed is None:
            raise NotYourAgent("code")
        opening = crypto.new_nonce()
        code_commitment = crypto.code_commitment(self.origin, key.public, agent_key, page_nonce, typed, opening)
        revealed = await self._raw_call("agent.pair", {"step": "code", "commitment": _b64(code_commitment)})
        agent_nonce = _unb64(revealed.get("nonce"))
        if (len(agent_nonce) != crypto.NONCE_BYTES
                or not hmac.compare_digest(crypto.commitment(agent_key, agent_nonce), commitment)):
            raise NotYourAgent("commitment")
        transcript = crypto.transcript(self.origin, key.public, agent_key, page_nonce, agent_nonce)
        if not hmac.compare_digest(typed.encode(), crypto.sas(transcript).encode()):
            # Not opened: a program in the middle would learn the code the real agent shows.
            raise NotYourAgent("code")
        shared = crypto.derive_key(key.shared(agent_key), self.origin, page_nonce, agent_nonce)
        done = await self._raw_call("agent.pair", {"step": "confirm", "opening": _b64(opening),
                                                   "proof": _b64(crypto.page_confirmation(shared, transcript, typed))})
        if not hmac.compare_digest(_unb64(done.get("proof")), crypto.agent_confirmation(shared, transcript, typed)):
            raise NotYourAgent("confirmation")
        self.pairing.secrets.set(self.origin, shared)
        self.authenticated = True
        self._proofs += 1
        return {"paired": True}

    async def secure(self, after: int | None = None) -> None:
        """Authenticate with the stored key, or pair when there is none (once at a time). With
        ``after``: only when no proof was made since the count ``after`` (a call refused then)."""
        if self.pairing is None:
            return
        key = (id(asyncio.get_running_loop()), str(self.pairing.secrets.path), self.origin)
        shared = _pairing_locks.setdefault(key, asyncio.Lock())
        async with self._secure_lock, shared:
            if self._proofs != after if after is not None else self.authenticated:
                return
            if self.pairing.secrets.get(self.origin) is not None:
                try:
                    await self.authenticate()
                    return
                except BridgeError as exc:
                    if exc.code != ErrorCode.NOT_PAIRED.value:
                        raise
            await self.pair()

    async def _read_loop(self) -> None:
        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                for item in data if isinstance(data, list) else [data]:
                    self._dispatch(item)
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(AgentUnreachable("connection closed"))
            for event in self._job_events.values():
                event.set()

    def _dispatch(self, item: dict[str, Any]) -> None:
        if item.get("method") == "jobs.updated":
            job = item["params"]["job"]
            self._jobs[job["id"]] = job
            self._job_events.setdefault(job["id"], asyncio.Event()).set()
            self.notifications.put_nowait(item)
            return
        future = self._pending.pop(item.get("id"), None)  # type: ignore[arg-type]
        if future is None or future.done():
            self.notifications.put_nowait(item)
            return
        if "error" in item:
            error = item["error"]
            data = error.get("data") or {}
            future.set_exception(BridgeError(data.get("code", "ERROR"), error.get("message", ""), data, error.get("code")))
        else:
            future.set_result(item.get("result"))

    def timeout_for(self, method: str) -> float:
        """The default wait for an answer to ``method``: the agent's consent timeout (from
        ``agent.hello``) and a margin for the methods that wait for the user, else 30 s."""
        return max(30.0, self.consent_timeout + 10.0) if method in WAITS_FOR_USER else 30.0

    async def call(self, method: str, params: Any = None, timeout: float | None = None) -> Any:
        """Send a request and wait for its answer; raises BridgeError on an error answer. A
        privileged call answered NOT_AUTHENTICATED pairs or authenticates (with a ClientPairing)
        and is sent once more. Without ``timeout``, ``timeout_for(method)``."""
        if timeout is None:
            timeout = self.timeout_for(method)
        proofs = self._proofs
        try:
            return await self._raw_call(method, params, timeout)
        except BridgeError as exc:
            if exc.code != ErrorCode.NOT_AUTHENTICATED.value or self.pairing is None or method in OPEN_METHODS:
                raise
        self.authenticated = False
        await self.secure(after=proofs)
        return await self._raw_call(method, params, timeout)

    async def _raw_call(self, method: str, params: Any = None, timeout: float = 30.0) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.ws.send_str(json.dumps(message))
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._pending.pop(request_id, None)

    async def send_raw(self, text: str) -> None:
        """Send a frame as is (tests of malformed traffic)."""
        await self.ws.send_str(text)

    async def hello(self, name: str = "compagnon-python", version: str = "1", locale: str | None = None,
                    min_version: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"protocol": PROTOCOL_VERSION, "client": {"name": name, "version": version}}
        if locale:
            params["locale"] = locale
        if min_version:
            params["min_version"] = min_version
        result: dict[str, Any] = await self.call("agent.hello", params)
        if isinstance(result, dict) and isinstance(result.get("consent_timeout"), (int, float)):
            self.consent_timeout = float(result["consent_timeout"])
        return result

    async def start_job(self, kind: str, params: dict[str, Any] | None = None, locale: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": kind, "params": params or {}}
        if locale:
            body["locale"] = locale
        snapshot: dict[str, Any] = await self.call("jobs.start", body, timeout=300)
        self._jobs.setdefault(snapshot["id"], snapshot)
        return snapshot

    async def wait_job(
        self, job_id: str, timeout: float = 60.0, on_update: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Follow ``jobs.updated`` until the job ends; returns the final snapshot."""

        async def follow() -> dict[str, Any]:
            event = self._job_events.setdefault(job_id, asyncio.Event())
            snapshot: dict[str, Any] = await self.call("jobs.get", {"id": job_id})
            while True:
                latest = self._jobs.get(job_id)
                if latest and latest["updated_at"] >= snapshot["updated_at"]:
                    snapshot = latest
                if on_update:
                    on_update(snapshot)
                if snapshot["state"] in TERMINAL_STATES:
                    return snapshot
                if self.ws.closed:
                    raise AgentUnreachable("connection closed")
                event.clear()
                await event.wait()

        return await asyncio.wait_for(follow(), timeout)

    async def run_job(self, kind: str, params: dict[str, Any] | None = None, timeout: float = 60.0) -> dict[str, Any]:
        snapshot = await self.start_job(kind, params)
        return await self.wait_job(snapshot["id"], timeout)

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
        await self._session.close()

    async def __aenter__(self) -> BridgeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = ["AgentUnreachable", "BridgeClient", "BridgeError", "ClientPairing", "CodeReader", "ErrorCode",
           "NotYourAgent", "PairingSecrets", "set_default_pairing"]
