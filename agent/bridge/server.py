"""The aiohttp server behind ``ws://127.0.0.1:47230/bridge``.

Every HTTP request first passes the ``Host`` guard; the bridge path also passes the ``Origin``
guard, and both refusals are an HTTP 403 before any WebSocket upgrade (docs/SECURITY.md promise 2).
Frames larger than the limit close the socket with 1009 (promise 8).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from bridge_protocol.messages import BRIDGE_PATH

from ..logs import ThrottledLog
from ..loopback_guards import host_refusal, origin_refusal
from .connection import Connection
from .rpc import NOT_JSON, is_hello

if TYPE_CHECKING:
    from .host import BridgeHost

log = logging.getLogger(__name__)
_refusals = ThrottledLog(log)

#: Requests of one connection handled at the same time; further frames wait (TCP back-pressure).
MAX_IN_FLIGHT = 32

SERVICE_KEY = web.AppKey("service", object)


def _forbidden(request: web.Request, reason: str) -> web.Response:
    _refusals.warning(
        reason,
        "refused %s %s from %s: %s (Origin=%r Host=%r)",
        request.method,
        request.path,
        request.remote,
        reason,
        request.headers.get("Origin", "")[:200],
        request.headers.get("Host", "")[:200],
    )
    return web.Response(status=403, text="Forbidden\n", headers={"Cache-Control": "no-store"})


@web.middleware
async def host_guard(request: web.Request, handler):  # type: ignore[no-untyped-def]
    service: BridgeHost = request.app[SERVICE_KEY]  # type: ignore[assignment]
    service.admission.request_started(request.protocol)
    reason = host_refusal(request.headers, service.port, request.raw_path)
    if reason is not None:
        return _forbidden(request, reason)
    return await handler(request)


async def bridge_handler(request: web.Request) -> web.StreamResponse:
    service: BridgeHost = request.app[SERVICE_KEY]  # type: ignore[assignment]
    reason = origin_refusal(request.headers, service.settings.allowed_origins)
    if reason is not None:
        return _forbidden(request, reason)
    ws = web.WebSocketResponse(max_msg_size=service.settings.max_frame_bytes, heartbeat=20.0, compress=False)
    if not ws.can_prepare(request).ok:
        return web.Response(status=400, text="WebSocket upgrade expected\n")
    await ws.prepare(request)
    origin = request.headers["Origin"]
    service.admission.websocket(request.protocol, origin)
    conn = Connection(ws, origin, str(request.remote), request.transport)
    service.connections.add(conn)
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(payload: Any) -> None:
        try:
            await service.dispatcher.handle_message(conn, payload)
        finally:
            in_flight.release()

    try:
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                await conn.writable()  # a page that does not read its answers is not read either
                await in_flight.acquire()
                payload = service.dispatcher.decode(conn, message.data)
                if payload is NOT_JSON:
                    in_flight.release()
                    continue
                if is_hello(payload):
                    # Answered from memory: by this task, without one of its own, so the answer
                    # goes out a loop round sooner. Everything else, batches included, runs in a
                    # task of its own and never holds up the reading of the next request.
                    await handle(payload)
                    continue
                task = asyncio.create_task(handle(payload))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif message.type == WSMsgType.BINARY:
                await ws.close(code=1003, message=b"text frames only")
            elif message.type == WSMsgType.ERROR:
                log.info("websocket from %s closed: %s", origin, ws.exception())
    finally:
        service.connections.discard(conn)
        for task in tasks:
            task.cancel()
        await conn.close()
    return ws


def create_app(service: BridgeHost) -> web.Application:
    app = web.Application(middlewares=[host_guard], client_max_size=64 * 1024)
    app[SERVICE_KEY] = service
    app.router.add_get(BRIDGE_PATH, bridge_handler)
    return app
