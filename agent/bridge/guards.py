"""Handshake guards (DESIGN.md promise 2), as pure functions over the request headers.

* ``Origin`` must be byte-for-byte one of the configured platform origins (RFC 6454
  serialisation). Missing, ``null``, look-alikes (other port, scheme, suffix, case) are refused.
* ``Host`` must name the loopback literal we listen on, with our port: ``127.0.0.1:PORT``,
  ``localhost:PORT`` or ``[::1]:PORT``. A DNS-rebinding page sends its own host name and is refused.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})


def host_refusal(headers: Mapping[str, str], port: int) -> str | None:
    """Why the ``Host`` header is refused, or None when it is acceptable."""
    host = headers.get("Host")
    if host is None:
        return "missing Host"
    if host.lower() not in allowed_hosts(port):
        return "Host is not a loopback literal with the agent's port"
    return None


def origin_refusal(headers: Mapping[str, str], allowed_origins: Collection[str]) -> str | None:
    """Why the ``Origin`` header is refused, or None when it is a configured origin."""
    origin = headers.get("Origin")
    if origin is None:
        return "missing Origin"
    if origin == "null":
        return "opaque Origin"
    if origin not in allowed_origins:
        return "Origin not allowed"
    return None
