"""Async Python client of the bridge, for the CLI, scripts and tests.

    async with await BridgeClient.connect(origin="https://marches.example.fr") as client:
        hello = await client.hello()
        job = await client.run_job("diagnose", {"user_agent": "..."})

It probes the ports in order, like the browser client, and sends the ``Origin`` header of the
platform it acts for (the agent refuses any origin it was not configured for).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp

from .errors import ErrorCode
from .messages import ALL_PORTS, BRIDGE_PATH, PROTOCOL_VERSION, TERMINAL_STATES


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


class BridgeClient:
    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse, port: int) -> None:
        self._session = session
        self.ws = ws
        self.port = port
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
    ) -> BridgeClient:
        """Open the bridge on the first port that accepts ``origin`` (another user's agent closes the
        connection at once, and the next port is tried)."""
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
            except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                last = exc
                continue
            return cls(session, ws, port)
        await session.close()
        raise AgentUnreachable(f"no agent accepted {origin!r} on ports {list(ports)}: {last}")

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

    async def call(self, method: str, params: Any = None, timeout: float = 30.0) -> Any:
        """Send a request and wait for its answer; raises BridgeError on an error answer."""
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
        return await self.call("agent.hello", params)

    async def start_job(self, kind: str, params: dict[str, Any] | None = None, locale: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": kind, "params": params or {}}
        if locale:
            body["locale"] = locale
        snapshot = await self.call("jobs.start", body, timeout=300)
        self._jobs.setdefault(snapshot["id"], snapshot)
        return snapshot

    async def wait_job(
        self, job_id: str, timeout: float = 60.0, on_update: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Follow ``jobs.updated`` until the job ends; returns the final snapshot."""

        async def follow() -> dict[str, Any]:
            event = self._job_events.setdefault(job_id, asyncio.Event())
            snapshot = await self.call("jobs.get", {"id": job_id})
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


__all__ = ["AgentUnreachable", "BridgeClient", "BridgeError", "ErrorCode"]
