"""Who is at the other end of a loopback connection (Linux): the owner of the peer's socket.

On a shared machine another OS user can open the bridge with any ``Origin`` header, or relay a
page's connection from a program of its own on a port the page tries. On Linux the kernel lists
every TCP socket of the network namespace with its owner's uid in ``/proc/net/tcp`` and
``/proc/net/tcp6`` (proc(5), "/proc/net/tcp"); the peer of a loopback connection is the socket
whose local address is the connection's remote one and whose remote address is the agent's. The
bridge refuses a peer owned by another user before the WebSocket upgrade (docs/SECURITY.md
promise 3). Elsewhere (no such table) the check says nothing and pairing alone protects.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

TABLES = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))
#: Sentinel: the platform has no socket table to read.
UNKNOWN = -1


def _address(text: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    """A ``/proc/net/tcp`` address: the IP in host-order 32-bit words, then the port, in hex."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(words)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip, int(port, 16)


def _normal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    ip = ipaddress.ip_address(host.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def peer_uid(peer: tuple[str, int], local: tuple[str, int], tables: tuple[Path, ...] = TABLES) -> int | None:
    """The uid owning the socket at ``peer`` connected to ``local``; None when no socket table
    lists it; ``UNKNOWN`` when the platform has no table."""
    want_local = (_normal(peer[0]), peer[1])
    want_remote = (_normal(local[0]), local[1])
    readable = False
    for table in tables:
        try:
            lines = table.read_text(encoding="ascii").splitlines()[1:]
        except OSError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            if len(fields) < 8:
                continue
            try:
                if _address(fields[1]) == want_local and _address(fields[2]) == want_remote:
                    return int(fields[7])
            except ValueError:
                continue
    return None if readable else UNKNOWN


def other_user_refusal(peer: tuple[str, int] | None, local: tuple[str, int] | None) -> str | None:
    """Why a connection is refused because its peer is not this agent's user, or None."""
    if os.name != "posix" or peer is None or local is None:
        return None
    uid = peer_uid((str(peer[0]), int(peer[1])), (str(local[0]), int(local[1])))
    if uid == UNKNOWN:
        return None
    if uid is None:
        return "peer socket not found"
    if uid != os.getuid():
        return f"peer belongs to another user (uid {uid})"
    return None
