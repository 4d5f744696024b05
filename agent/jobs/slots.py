"""Job slots shared fairly between sites (docs/SECURITY.md promise 7: no site may hold them all).

At most ``capacity`` jobs run at once, and at most ``per_site`` of one site, so that with the
defaults (4 and 3) one slot is always left for another site: one site's long downloads never make
another site's short job wait for them. When a slot frees, it goes to the waiting job whose site
has the fewest jobs running, the oldest first among equals.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass


def default_per_site(capacity: int) -> int:
    """One slot kept for other sites when there are at least three."""
    return capacity - 1 if capacity >= 3 else capacity


@dataclass(eq=False)
class _Waiter:
    order: int
    origin: str
    future: asyncio.Future[None]


class FairSlots:
    """An asyncio semaphore with a per-site share; waiters are served fewest-running site first."""

    def __init__(self, capacity: int, per_site: int | None = None) -> None:
        self.capacity = max(1, capacity)
        self.per_site = max(1, min(self.capacity, per_site if per_site is not None else default_per_site(capacity)))
        self._running: Counter[str] = Counter()
        self._waiting: list[_Waiter] = []
        self._order = itertools.count()

    def running(self, origin: str) -> int:
        return self._running[origin]

    @asynccontextmanager
    async def hold(self, origin: str) -> AsyncIterator[None]:
        """Wait for a slot for a job of ``origin``; release it on exit (also when cancelled)."""
        waiter = _Waiter(next(self._order), origin, asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        self._grant()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            elif not waiter.future.cancelled():
                self._release(origin)  # granted just as it was cancelled: hand the slot on
            raise
        try:
            yield
        finally:
            self._release(origin)

    def _release(self, origin: str) -> None:
        self._running[origin] -= 1
        if self._running[origin] <= 0:
            del self._running[origin]
        self._grant()

    def _grant(self) -> None:
        while sum(self._running.values()) < self.capacity:
            eligible = [w for w in self._waiting if self._running[w.origin] < self.per_site]
            if not eligible:
                return
            waiter = min(eligible, key=lambda w: (self._running[w.origin], w.order))
            self._waiting.remove(waiter)
            self._running[waiter.origin] += 1
            waiter.future.set_result(None)
