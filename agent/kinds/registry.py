"""The job kinds by name, and the platform client they use: what a shell wires into a job manager.

``JobManager(services, kinds=KINDS, platform_client=platform_client)``: the job layer imports no
kind and no HTTP client itself (docs/ARCHITECTURE.md section 3 says how to add a kind).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bridge_protocol.errors import ErrorCode, ProtocolError

from ..jobs.kind import JobKind

if TYPE_CHECKING:
    from ..platform_http import OriginBoundClient


class ModuleKinds:
    """A ``KindRegistry`` (agent/jobs/kind.py) whose kinds are imported on first use.

    ``modules`` maps each kind's name to the module holding its ``KIND`` instance, or to
    "module:ATTRIBUTE" when a module holds several kinds.
    """

    def __init__(self, modules: Mapping[str, str]) -> None:
        self._modules = dict(modules)

    def names(self) -> list[str]:
        return sorted(self._modules)

    def load(self, name: str) -> JobKind:
        target = self._modules.get(name)
        if target is None:
            raise ProtocolError(ErrorCode.UNKNOWN_JOB_KIND, kind=name[:64])
        module, _, attribute = target.partition(":")
        kind: JobKind = getattr(importlib.import_module(module), attribute or "KIND")
        return kind


#: Every kind the agent offers: the bridge, the console and the command line start these.
KINDS = ModuleKinds({
    "diagnose": "agent.kinds.diagnose",
    "sign": "agent.kinds.sign",
    "verify": "agent.kinds.verify",
    "decrypt": "agent.kinds.envelopes:DECRYPT",
    "encrypt": "agent.kinds.envelopes:ENCRYPT",
    "keygen": "agent.kinds.keygen",
    "bids.download": "agent.kinds.bids_download",
    "bids.open": "agent.kinds.bids_open",
})


def platform_client(origin: str) -> OriginBoundClient:
    """An HTTP client bound to ``origin`` (docs/SECURITY.md promise 6), for the kinds that reach the
    platform of their job. Imported on first use: the command line signs files without loading an
    HTTP client."""
    from ..platform_http import OriginBoundClient

    return OriginBoundClient(origin)
