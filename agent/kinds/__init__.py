"""Job kinds: one module each. The bridge, the CLI and the console all start the same kinds.

Kinds are imported on first use, so the agent starts without loading signing or crypto code.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from bridge_protocol.errors import ErrorCode, ProtocolError

from ..i18n import Text

if TYPE_CHECKING:
    from ..jobs.context import JobContext

#: Kind name -> "module" holding a ``KIND`` instance, or "module:ATTRIBUTE".
_MODULES: dict[str, str] = {
    "diagnose": "agent.kinds.diagnose",
    "sign": "agent.kinds.sign",
    "verify": "agent.kinds.verify",
    "decrypt": "agent.kinds.envelopes:DECRYPT",
    "encrypt": "agent.kinds.envelopes:ENCRYPT",
    "keygen": "agent.kinds.keygen",
    "bids.download": "agent.kinds.bids_download",
    "bids.open": "agent.kinds.bids_open",
}


@dataclass(frozen=True)
class StepSpec:
    """A step every job of a kind goes through; ``weight`` is its share of the overall progress."""

    id: str
    label: Text
    weight: float = 1.0


class JobKind(ABC):
    """What a job kind declares and does."""

    name: ClassVar[str]
    #: The parameter dataclass, from ``bridge_protocol.kinds`` (one definition for all).
    params_type: ClassVar[type]
    steps: ClassVar[tuple[StepSpec, ...]]
    #: Whether a site must be paired before it may start this kind.
    needs_pairing: ClassVar[bool] = True

    @abstractmethod
    async def run(self, ctx: JobContext, params: Any) -> Any:
        """Do the work, reporting through ``ctx``; return the JSON-able result."""


def kind_names() -> list[str]:
    return sorted(_MODULES)


def load_kind(name: str) -> JobKind:
    """The kind called ``name``, or ProtocolError UNKNOWN_JOB_KIND."""
    target = _MODULES.get(name)
    if target is None:
        raise ProtocolError(ErrorCode.UNKNOWN_JOB_KIND, kind=name[:64])
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute or "KIND")
