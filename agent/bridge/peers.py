"""Which local user opened a loopback TCP connection (docs/SECURITY.md promises 2 and 3).

On a shared machine every user's processes can reach 127.0.0.1, and the ``Origin`` header proves
nothing outside a browser. The kernel, however, knows who owns each socket: on Linux the socket
tables ``/proc/net/tcp`` and ``/proc/net/tcp6`` (proc(5)) list, for every TCP socket, its local
and remote address and the uid that created it. The agent looks up the socket at the other end of
an accepted connection — the one whose local address is the connection's peer and whose remote
address is the agent's own — and serves only its own user (and root, who can read the agent's
files anyway).

Elsewhere (Windows, macOS) the owner is not looked up here (``None``): authenticated pairing is
then the only guard, as it is everywhere.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import time

_TABLES = {socket.AF_INET: "/proc/net/tcp", socket.AF_INET6: "/proc/net/tcp6"}


def _proc_address(host: str, port: int, family: int) -> str:
    """``host:port`` as proc(5) writes it: the address as 32-bit words in host byte order, hex."""
    packed = ipaddress.ip_address(host.split("%", 1)[0]).packed
    if family == socket.AF_INET6 and len(packed) == 4:  # IPv4 seen on an IPv6 socket
        packed = b"\0" * 10 + b"\xff\xff" + packed
    words = [packed[i:i + 4] for i in range(0, len(packed), 4)]
    order = sys.byteorder
    text = "".join(f"{int.from_bytes(w, order):08X}" for w in words)
    return f"{text}:{port:04X}"


class _SocketTables:
    """The owners of the machine's TCP sockets, by ``(local, remote)`` as proc(5) writes them.

    One read of the tables serves the connections accepted within ``MAX_AGE`` seconds (a burst of
    connections must not cost one read of thousands of lines each); a connection not found in a
    copy is looked up again in a fresh read.
    """

    MAX_AGE = 0.25

    def __init__(self) -> None:
        self._owners: dict[tuple[str, str], int] = {}
        self._read_at = -1.0

    def owner(self, local: str, remote: str) -> int | None:
        if time.monotonic() - self._read_at <= self.MAX_AGE and (local, remote) in self._owners:
            return self._owners[(local, remote)]
        self._owners = _read_tables()
        self._read_at = time.monotonic()
        return self._owners.get((local, remote))


def _read_tables() -> dict[tuple[str, str], int]:
    owners: dict[tuple[str, str], int] = {}
    for table in _TABLES.values():
        try:
            with open(table, encoding="ascii") as stream:
                next(stream, None)
                for line in stream:
                    fields = line.split(None, 8)
                    if len(fields) > 7:
                        owners[(fields[1], fields[2])] = int(fields[7])
        except OSError:
            continue
    return owners


_tables = _SocketTables()


def identifies_peers() -> bool:
    """Whether this system names the owner of a loopback peer (Linux: the kernel's socket tables).
    Elsewhere the pairing secret alone tells the user's pages from other processes."""
    return sys.platform.startswith("linux")


def peer_uid(sock: socket.socket) -> int | None:
    """The uid owning the other end of the loopback connection ``sock``; None where unknown
    (not Linux, or no such socket in the tables: the peer closed already)."""
    if not identifies_peers():
        return None
    try:
        local = sock.getsockname()
        peer = sock.getpeername()
    except OSError:
        return None
    family = sock.family
    return _tables.owner(_proc_address(peer[0], peer[1], family), _proc_address(local[0], local[1], family))


def is_own_user(uid: int | None) -> bool:
    """True for this process's user and for root; None (unknown) counts as not ours."""
    return uid is not None and uid in (os.geteuid(), 0)
