"""What a job kind is to the job runner, and where the runner finds the kinds.

The kinds themselves live in ``agent/kinds/`` and implement ``JobKind``; the job layer imports none
of them. Whoever builds a ``JobManager`` (the service, the command line) gives it a
``KindRegistry``, ``agent.kinds.registry.KINDS``, and the bridge asks the manager for the kinds it
offers (docs/ARCHITECTURE.md sections 2 and 3).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..i18n import Text

if TYPE_CHECKING:
    from .context import JobContext


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


class KindRegistry(Protocol):
    """The kinds a job manager may start, by name."""

    def names(self) -> list[str]:
        """Every kind's name, sorted (the ``job:<kind>`` capabilities of ``hello``)."""
        ...

    def load(self, name: str) -> JobKind:
        """The kind called ``name``; ProtocolError UNKNOWN_JOB_KIND when there is none."""
        ...
