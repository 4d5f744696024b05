"""The contract between platform pages and the Compagnon agent.

Imports nothing from ``agent``: pages, the agent, the CLI and the tests all depend on this package,
never the other way round. See ``PROTOCOL.md`` for the specification.
"""

from .errors import ErrorCode, ProtocolError
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
