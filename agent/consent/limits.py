"""Consent prompts rate-limited per origin: a page cannot bury the user under prompts.

A page that keeps asking (``agent.pair``, ``certificates.list``, ``sign`` jobs in a loop…) would
otherwise put one prompt after another in front of the user until a tired click approves one
("consent fatigue"). ``RateLimitedConsent`` wraps the agent's consent provider and, per origin:

* allows one pending prompt at a time: a second request while the first is still on screen is
  answered at once with ``CONSENT_RATE_LIMITED`` (it never queues behind it);
* allows at most ``max_per_minute`` prompts in any 60-second window (``[consent]
  max_prompts_per_minute``); beyond that, ``CONSENT_RATE_LIMITED`` with ``data.retry_after``
  (whole seconds until a prompt is allowed again).

A refused request never reaches the wrapped provider, so the user sees nothing of it. Origins are
counted apart: a noisy site does not silence another one. The file picker (``files.pick``) counts
as a prompt too.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from bridge_protocol.errors import ErrorCode, ProtocolError

from . import ConsentDecision, ConsentProvider, ConsentRequest

__all__ = ["DEFAULT_MAX_PROMPTS_PER_MINUTE", "WINDOW_SECONDS", "RateLimitedConsent"]

log = logging.getLogger(__name__)

#: Prompts one origin may show per minute unless configured otherwise.
DEFAULT_MAX_PROMPTS_PER_MINUTE = 6
#: The sliding window the limit counts over.
WINDOW_SECONDS = 60.0


class RateLimitedConsent(ConsentProvider):
    """``inner``, with at most one pending prompt and ``max_per_minute`` prompts per origin."""

    def __init__(self, inner: ConsentProvider, max_per_minute: int = DEFAULT_MAX_PROMPTS_PER_MINUTE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_per_minute < 1:
            raise ValueError("max_per_minute must be at least 1")
        self.inner = inner
        self.max_per_minute = max_per_minute
        self._clock = clock
        self._pending: set[str] = set()
        self._shown: dict[str, deque[float]] = {}

    @asynccontextmanager
    async def _slot(self, origin: str, action: str) -> AsyncIterator[None]:
        """Hold ``origin``'s one prompt slot, or raise CONSENT_RATE_LIMITED."""
        now = self._clock()
        if origin in self._pending:
            log.warning("consent %s for %s refused: a prompt of this site is already pending", action, origin)
            raise ProtocolError(ErrorCode.CONSENT_RATE_LIMITED, reason="pending")
        shown = self._shown.setdefault(origin, deque())
        while shown and now - shown[0] >= WINDOW_SECONDS:
            shown.popleft()
        if len(shown) >= self.max_per_minute:
            retry_after = max(1, math.ceil(WINDOW_SECONDS - (now - shown[0])))
            log.warning("consent %s for %s refused: %d prompts in the last minute", action, origin, len(shown))
            raise ProtocolError(ErrorCode.CONSENT_RATE_LIMITED, reason="rate", retry_after=retry_after)
        shown.append(now)
        self._pending.add(origin)
        log.info("consent %s asked for %s (%d in the last minute)", action, origin, len(shown))
        try:
            yield
        finally:
            self._pending.discard(origin)

    def place(self, locale: str) -> str | None:
        return self.inner.place(locale)

    async def ask(self, request: ConsentRequest) -> ConsentDecision:
        async with self._slot(request.origin, request.action):
            return await self.inner.ask(request)

    async def show(self, request: ConsentRequest) -> None:
        """A pre-approved site's pairing code asks nothing: it takes no prompt slot (the site's
        questions are not delayed by it) and is taken off the screen once the page confirms."""
        await self.inner.show(request)

    async def pick_files(self, origin: str, multiple: bool, accept: tuple[str, ...]) -> list[Path]:
        async with self._slot(origin, "pick"):
            return await self.inner.pick_files(origin, multiple, accept)
