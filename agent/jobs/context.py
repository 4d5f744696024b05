"""The handle a running job kind reports through: steps, counters, speed, cancellation."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..i18n import Text
from .model import Job

if TYPE_CHECKING:
    from ..config import Settings
    from ..consent import ConsentProvider
    from ..files import FileRegistry
    from ..keystores.registry import KeyStoreRegistry
    from ..platform_http import OriginBoundClient


class JobCancelled(Exception):
    """Raised by ``JobContext.check_cancelled`` once the job was asked to stop."""


@dataclass
class JobServices:
    """What the agent lends to job kinds. Engines below the kinds get streams and keys only."""

    settings: Settings
    consent: ConsentProvider
    port: int | None = None
    files: FileRegistry | None = None
    keystores: KeyStoreRegistry | None = None
    #: True for the command line: jobs may then name local paths (never for a web page).
    local: bool = False


#: Speed is averaged over this many seconds.
_SPEED_WINDOW = 2.0


class JobContext:
    """Passed to ``JobKind.run``. Every change is published by the manager, coalesced."""

    def __init__(
        self,
        job: Job,
        services: JobServices,
        changed: Callable[[Job, bool], None],
        platform: Callable[[], OriginBoundClient],
    ) -> None:
        self.job = job
        self.services = services
        self._changed = changed
        self._platform_factory = platform
        self._platform: OriginBoundClient | None = None
        self._cancelled = False
        self._samples: deque[tuple[float, int]] = deque()
        self._window_bytes = 0
        #: The outcomes so far (``keep_result``): the snapshot's ``result`` if the job then fails.
        self.partial_result: Any = None

    # -- identity -------------------------------------------------------------------------
    @property
    def origin(self) -> str:
        return self.job.origin

    @property
    def locale(self) -> str:
        return self.job.locale

    def t(self, text: Text, **fields: object) -> str:
        return text.render(self.job.locale, **fields)

    @property
    def platform(self) -> OriginBoundClient:
        """An HTTP client bound to the job's origin (promise 6), created on first use."""
        if self._platform is None:
            self._platform = self._platform_factory()
        return self._platform

    async def aclose(self) -> None:
        if self._platform is not None:
            await self._platform.close()

    def keep_result(self, result: Any) -> None:
        """The per-file outcomes a job had when it is about to fail: the manager publishes them as
        the failed snapshot's ``result`` (PROTOCOL.md section 4), so that the files that did succeed
        are not lost with the job."""
        self.partial_result = result

    # -- cancellation -----------------------------------------------------------------------
    def request_cancel(self) -> None:
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def check_cancelled(self) -> None:
        """Call between units of work (also from worker threads): raises once cancel was asked."""
        if self._cancelled:
            raise JobCancelled()

    # -- steps --------------------------------------------------------------------------------
    def start_step(self, step_id: str) -> None:
        step = self.job.step(step_id)
        step.state, step.progress = "running", 0
        self._changed(self.job, True)

    def end_step(self, step_id: str, state: str = "succeeded") -> None:
        step = self.job.step(step_id)
        step.state = state
        if state == "succeeded":
            step.progress = 100
        self._changed(self.job, True)

    @contextmanager
    def step(self, step_id: str) -> Iterator[None]:
        """Run a block as a step: running, then succeeded, or failed / cancelled if it raises.

        A block may end the step itself (``end_step(id, "failed")``) and carry on.
        """
        self.start_step(step_id)
        try:
            yield
        except (JobCancelled, GeneratorExit):
            self.end_step(step_id, "cancelled")
            raise
        except BaseException as exc:
            self.end_step(step_id, "cancelled" if isinstance(exc, asyncio.CancelledError) else "failed")
            raise
        if self.job.step(step_id).state == "running":
            self.end_step(step_id)

    def relabel_step(self, step_id: str, label: str) -> None:
        """A step's label as the work goes ("Déchiffrement de l'enveloppe 2 sur 3")."""
        step = self.job.step(step_id)
        if step.label != label:
            step.label = label
            self._changed(self.job, True)

    def step_progress(self, step_id: str, done: float, total: float) -> None:
        step = self.job.step(step_id)
        pct = int(100 * done / total) if total > 0 else 0
        if pct != step.progress:
            step.progress = max(0, min(100, pct))
            self._changed(self.job, False)

    # -- counters, messages, speed ------------------------------------------------------------
    def set_current(self, label: str, index: int, total: int) -> None:
        """The item in hand, e.g. ``("fichier", 5, 8)`` for "fichier 5 sur 8"."""
        self.job.current = {"label": label, "index": index, "total": total}
        self._changed(self.job, False)

    def set_subject(self, reference: str | None, title: str | None = None) -> None:
        """What the job works on, as soon as it is known (the consultation's reference and title):
        the console's "Traitements distants" and the page show it while the job runs."""
        subject = {k: v for k, v in (("reference", reference), ("title", title)) if v}
        if subject and subject != self.job.subject:
            self.job.subject = subject
            self._changed(self.job, True)

    def set_message(self, message: str | None) -> None:
        self.job.message = message
        self._changed(self.job, False)

    def add_bytes(self, count: int) -> None:
        """Record ``count`` bytes moved; the snapshot's ``speed`` is their rate over 2 s."""
        now = time.monotonic()
        self._samples.append((now, count))
        self._window_bytes += count
        while now - self._samples[0][0] > _SPEED_WINDOW:
            self._window_bytes -= self._samples.popleft()[1]
        span = max(now - self._samples[0][0], 0.25)
        self.job.speed = round(self._window_bytes / span, 1)
        self._changed(self.job, False)
