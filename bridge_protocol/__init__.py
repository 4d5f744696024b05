"""The contract between platform pages and the Compagnon agent.

Imports nothing from ``agent``: pages, the agent, the CLI and the tests all depend on this package,
never the other way round. See ``PROTOCOL.md`` for the specification.

The message constants are read from ``messages`` on first use: a module that needs only the error
codes (``bridge_protocol.errors``) does not build the message classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from .messages import BRIDGE_PATH, DEFAULT_PORT, PORTS, PROTOCOL_VERSION, TERMINAL_STATES

__all__ = [
    "BRIDGE_PATH",
    "DEFAULT_PORT",
    "PORTS",
    "PROTOCOL_VERSION",
    "TERMINAL_STATES",
    "ErrorCode",
    "ProtocolError",
]

_FROM_MESSAGES = frozenset({"BRIDGE_PATH", "DEFAULT_PORT", "PORTS", "PROTOCOL_VERSION", "TERMINAL_STATES"})


def __getattr__(name: str) -> Any:
    if name not in _FROM_MESSAGES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import messages

    value = getattr(messages, name)
    globals()[name] = value
    return value
