"""Who may hold a connection to the bridge, and how many (docs/SECURITY.md promises 2, 7 and 12).

Every accepted TCP connection passes here before aiohttp reads a byte of it:

* **Another user's process is turned away** (``same_user_only``, Linux): the kernel's socket
  tables name the owner of the peer socket (agent.bridge.peers).
* **Half-sent requests do not hold a descriptor for long**: a connection is *pending* until its
  request headers are complete; at most ``max_pending`` are, the oldest closed first, and
  aiohttp's keep-alive timer (``HEADER_TIMEOUT``) closes one that sends nothing complete.
* **A new page always gets in**: the connections together stay under a cap taken from the
  process's open-file limit (raised at start where the hard limit allows, see
  ``raise_open_files_limit``), keeping room for the files jobs open; when the cap is reached the
  oldest pending connection is closed, else the oldest WebSocket of the site that holds most.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import OrderedDict
from typing import Any

from ..logs import ThrottledLog
from .peers import identifies_peers, is_own_user, peer_uid

log = logging.getLogger(__name__)
_refusals = ThrottledLog(log)

#: Seconds a connection may take to send complete request headers (and may stay idle between
#: plain HTTP requests): aiohttp's ``keepalive_timeout``.
HEADER_TIMEOUT = 10.0
#: Descriptors kept free for what jobs and the agent open (files, sockets to the platform, logs).
RESERVED_DESCRIPTORS = 128
#: Connections the kernel completes before the agent accepts them (capped by the system's
#: somaxconn): a flood must not fill the queue and make a new page's connection wait for retries.
LISTEN_BACKLOG = 4096
#: Connections asyncio accepts in one go (its ``backlog``): a burst is accepted in small batches,
#: each admitted (older pending ones closed) before the next, so descriptors never run out.
ACCEPT_BATCH = 32
#: Descriptors the agent asks for at start when the hard limit allows.
WANTED_DESCRIPTORS = 8192


def raise_open_files_limit(wanted: int = WANTED_DESCRIPTORS) -> int:
    """Raise the soft ``RLIMIT_NOFILE`` towards ``wanted`` (never above the hard limit); returns the
    soft limit in force (a desktop session often starts programs with 1024)."""
    try:
        import resource
    except ImportError:  # Windows: no such per-process limit on sockets
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (OSError, ValueError) as exc:
            log.warning("open-file limit stays at %d: %s", soft, exc)
    return wanted if soft == resource.RLIM_INFINITY else soft


class Admission:
    """Bookkeeping of the bridge's connections (aiohttp request handlers, by identity)."""

    def __init__(self, *, max_connections: int, max_pending: int = 128, same_user_only: bool = True) -> None:
        self.max_connections = max(8, max_connections)
        self.max_pending = max(4, min(max_pending, self.max_connections // 2))
        self.same_user_only = same_user_only
        self._pending: OrderedDict[Any, None] = OrderedDict()
        self._active: set[Any] = set()
        self._websockets: dict[str, OrderedDict[Any, None]] = {}
        self.refused_foreign = 0

    @classmethod
    def for_limit(cls, open_files: int, same_user_only: bool = True) -> Admission:
        return cls(max_connections=open_files - RESERVED_DESCRIPTORS, same_user_only=same_user_only)

    @property
    def count(self) -> int:
        return len(self._pending) + len(self._active)

    def opened(self, handler: Any, transport: Any) -> bool:
        """A new connection; False when it was closed at once (another user's, where the system says)."""
        if self.same_user_only and identifies_peers():
            sock: socket.socket | None = transport.get_extra_info("socket")
            uid = peer_uid(sock) if sock is not None else None
            if not is_own_user(uid):
                self.refused_foreign += 1
                _refusals.warning("foreign", "refused a connection from another user's process (uid %s)", uid)
                transport.abort()
                return False
        while len(self._pending) >= self.max_pending:
            self._evict(next(iter(self._pending)))
        if self.count >= self.max_connections:
            self._evict(self._victim())
        self._pending[handler] = None
        return True

    def request_started(self, handler: Any) -> None:
        """Complete request headers arrived on ``handler``'s connection."""
        if self._pending.pop(handler, 0) is None:
            self._active.add(handler)

    def websocket(self, handler: Any, origin: str) -> None:
        """``handler``'s connection is now a WebSocket of ``origin``."""
        self._websockets.setdefault(origin, OrderedDict())[handler] = None

    def closed(self, handler: Any) -> None:
        self._pending.pop(handler, None)
        self._active.discard(handler)
        for origin, sockets in list(self._websockets.items()):
            if sockets.pop(handler, 0) is None and not sockets:
                del self._websockets[origin]

    def _victim(self) -> Any:
        if self._pending:
            return next(iter(self._pending))
        if self._websockets:
            busiest = max(self._websockets.values(), key=len)
            return next(iter(busiest))
        return next(iter(self._active))

    def _evict(self, handler: Any) -> None:
        self.closed(handler)
        handler.force_close()


async def listen(runner: Any, host: str, port: int) -> None:
    """Serve ``runner`` on ``host:port`` with a deep kernel queue but small accept batches."""
    from aiohttp import web

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.setblocking(False)
        await web.SockSite(runner, sock, backlog=ACCEPT_BATCH).start()
        sock.listen(LISTEN_BACKLOG)  # listen(2) again: only the queue's depth changes
    except BaseException:
        sock.close()
        raise


def admitting_runner(app: Any, admission: Admission, **kwargs: Any) -> Any:
    """An aiohttp ``AppRunner`` whose server reports each connection to ``admission`` first."""
    from aiohttp import web
    from aiohttp.web_server import Server

    class AdmittingServer(Server):
        def connection_made(self, handler: Any, transport: Any) -> None:
            super().connection_made(handler, transport)
            admission.opened(handler, transport)

        def connection_lost(self, handler: Any, exc: BaseException | None = None) -> None:
            admission.closed(handler)
            super().connection_lost(handler, exc)

    class AdmittingRunner(web.AppRunner):
        async def _make_server(self) -> Server:
            made = await super()._make_server()
            # The same server aiohttp built (handler, request factory, handler arguments), with
            # the two connection hooks above.
            server = AdmittingServer(made.request_handler, request_factory=made.request_factory,
                                     handler_cancellation=made.handler_cancellation, loop=made._loop,
                                     **made._kwargs)
            return server

    return AdmittingRunner(app, keepalive_timeout=HEADER_TIMEOUT, **kwargs)
