"""A job that waits for the user says where: while its consent provider asks, the job's
``message`` names the place the question is actually shown ("Répondez dans le terminal où
Compagnon s'exécute."), so the page, the console and the command line can show a "waiting for you
in Compagnon" state of their own instead of a progress that seems stuck (PROTOCOL.md section 4,
the snapshot's ``message``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..consent import ConsentDecision, ConsentProvider, ConsentRequest
from ..i18n import Text
from .model import Job

WAITING_IN = Text("Répondez dans {place}.", "Answer in {place}.")


class AnnouncedConsent(ConsentProvider):
    """``inner``, with the job's message naming where the question is while it is asked. A second
    chance at the PIN keeps the message the kind set (why it is asked again)."""

    def __init__(self, inner: ConsentProvider, job: Job, changed: Callable[[Job, bool], None]) -> None:
        self._inner = inner
        self._job = job
        self._changed = changed

    def place(self, locale: str) -> str | None:
        place = getattr(self._inner, "place", None)  # the command line's own consent has none
        return place(locale) if place is not None else None

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        place = self.place(self._job.locale)
        if place is None or request.pin_retry:
            return await self._inner.ask(request)
        said = WAITING_IN.render(self._job.locale, place=place)
        self._job.message = said
        self._changed(self._job, True)
        try:
            return await self._inner.ask(request)
        finally:
            if self._job.message == said:
                self._job.message = None
                self._changed(self._job, True)

    async def show(self, request: ConsentRequest) -> None:
        await self._inner.show(request)

    async def pick_files(self, origin: str, multiple: bool, accept: tuple[str, ...]) -> list[Path]:
        return await self._inner.pick_files(origin, multiple, accept)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


__all__ = ["WAITING_IN", "AnnouncedConsent"]
