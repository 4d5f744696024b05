"""The loopback guards (docs/SECURITY.md promise 2), as pure functions over the request headers.

Both doors of the agent use them: the bridge's WebSocket handshake (agent.bridge.server: ``Host``
and ``Origin``) and the local console (agent.desktop.console.server: ``Host``; its ``Origin`` is
its own). A leaf module that imports nothing from the agent, so that the console, a shell, never
imports the bridge's internals (the contracts "loopback-guards-leaf" and "shells-not-bridge" of
pyproject.toml).

* ``Origin`` must be byte-for-byte one of the configured platform origins (RFC 6454
  serialisation). Missing, ``null``, look-alikes (other port, scheme, suffix, case) are refused,
  and so is a request carrying more than one ``Origin`` field (RFC 6454 section 7.3: a user agent
  never sends two; a request that does is forged, and the first one is not to be trusted).
* ``Host`` must name the loopback literal we listen on, with our port: ``127.0.0.1:PORT``,
  ``localhost:PORT`` or ``[::1]:PORT``. A DNS-rebinding page sends its own host name and is refused.
  More than one ``Host`` field is refused, and a request in absolute form
  (``GET http://evil.example:PORT/bridge``, RFC 9112 section 3.2.2, where the target's authority
  stands for the host) must name an accepted host in its target too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from urllib.parse import urlsplit


def allowed_hosts(port: int) -> frozenset[str]:
    return frozenset({f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"})


def _values(headers: Mapping[str, str], name: str) -> list[str]:
    """Every field ``name`` of the request (a multidict keeps repeated fields)."""
    getall = getattr(headers, "getall", None)
    if getall is not None:
        return list(getall(name, []))
    value = headers.get(name)
    return [] if value is None else [value]


def host_refusal(headers: Mapping[str, str], port: int, target: str | None = None) -> str | None:
    """Why the ``Host`` header (or an absolute-form request ``target``) is refused, or None."""
    hosts = _values(headers, "Host")
    if not hosts:
        return "missing Host"
    if len(hosts) > 1:
        return "several Host headers"
    accepted = allowed_hosts(port)
    if hosts[0].lower() not in accepted:
        return "Host is not a loopback literal with the agent's port"
    if target is not None and not target.startswith("/"):
        # Absolute form (or an authority / asterisk form no browser sends to a server).
        try:
            parts = urlsplit(target)
        except ValueError:
            return "unreadable request target"
        if parts.scheme.lower() not in ("http", "ws") or parts.netloc.lower() not in accepted:
            return "request target is not a loopback literal with the agent's port"
    return None


def origin_refusal(headers: Mapping[str, str], allowed_origins: Collection[str]) -> str | None:
    """Why the ``Origin`` header is refused, or None when it is a configured origin."""
    origins = _values(headers, "Origin")
    if not origins:
        return "missing Origin"
    if len(origins) > 1:
        return "several Origin headers"
    origin = origins[0]
    if origin == "null":
        return "opaque Origin"
    if origin not in allowed_origins:
        return "Origin not allowed"
    return None
