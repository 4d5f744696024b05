"""Where the bridge listens and how big a frame may be (PROTOCOL.md "Transport"): constants a
program can read without building the message classes (``messages`` names them too)."""

from __future__ import annotations

__all__ = ["ALL_PORTS", "BRIDGE_PATH", "DEFAULT_PORT", "MAX_FRAME_BYTES", "PORTS", "SHARED_PORTS", "user_port_order"]

DEFAULT_PORT = 47230
#: The ports an agent listens on first, in the order clients probe them.
PORTS = (47230, 47231, 47232, 47233)
#: Where agents go when those four are taken (many users' agents on one host: a terminal server).
#: Each user's agent starts at its own place in this range (``user_port_order``), so that it finds
#: the same port again from one session to the next; clients probe it after ``PORTS``.
SHARED_PORTS = tuple(range(47234, 47330))
ALL_PORTS = PORTS + SHARED_PORTS


def user_port_order(user_key: int) -> tuple[int, ...]:
    """``SHARED_PORTS`` starting at this user's place (``user_key``: a uid, or a stable hash of
    the user's name where there is no uid), then wrapping around."""
    start = user_key % len(SHARED_PORTS)
    return SHARED_PORTS[start:] + SHARED_PORTS[:start]


BRIDGE_PATH = "/bridge"
#: Default limit on one WebSocket frame (promise 8); bigger frames close the socket with 1009.
MAX_FRAME_BYTES = 1024 * 1024
