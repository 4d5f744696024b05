"""What the bridge needs from the running agent: ``agent.service.AgentService`` provides it.

The bridge (dispatcher and server) is typed against this interface rather than the service class,
so the service imports the bridge and never the reverse (docs/ARCHITECTURE.md section 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..config import Settings
    from ..consent import ConsentProvider
    from ..files import FileRegistry
    from ..jobs.manager import JobManager
    from ..keystores.registry import KeyStoreRegistry
    from ..pairing import Pairings
    from .admission import Admission
    from .connection import Connection


class FrameDispatcher(Protocol):
    """The JSON-RPC side of a connection (``agent.bridge.rpc.Dispatcher``)."""

    def decode(self, conn: Connection, text: str) -> Any: ...

    async def handle_message(self, conn: Connection, message: Any) -> None: ...


class BridgeHost(Protocol):
    """The running agent as the bridge sees it (read-only members: any subtype will do)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def consent(self) -> ConsentProvider: ...

    @property
    def port(self) -> int: ...

    @property
    def connections(self) -> set[Connection]: ...

    @property
    def pairings(self) -> Pairings: ...

    @property
    def keystores(self) -> KeyStoreRegistry: ...

    @property
    def files(self) -> FileRegistry: ...

    @property
    def jobs(self) -> JobManager: ...

    @property
    def admission(self) -> Admission: ...

    @property
    def dispatcher(self) -> FrameDispatcher: ...

    async def consent_certificates(self, origin: str, locale: str) -> None:
        """Ask once per site and per run before releasing the certificate list."""
