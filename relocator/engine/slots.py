"""PrioritySlots: a per-host concurrency bound whose waiters are admitted by priority.

asyncio.Semaphore admits waiters first come, first served: a manifest whose children are all in
place would queue behind every blob transfer created before it, so no image could finish until
nearly every transfer of the run had started (benchmarks/README.md, "Transfer order"). Here a
waiter with a lower priority goes first (manifests and referrer links before any blob, blobs in
the transfer order), first come, first served among equals.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

__all__ = ["PrioritySlots"]


class PrioritySlots:
    """At most ``limit`` holders at once; a freed slot goes to the waiter with the lowest
    priority (an int), the earliest among equals."""

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    @property
    def waiting(self) -> int:
        """Waiters not yet admitted (cancelled ones excluded)."""
        return sum(1 for *_, f in self._waiters if not f.done())

    @asynccontextmanager
    async def hold(self, priority: int) -> AsyncIterator[None]:
        """Hold a slot for the body of the ``async with``; released however it ends."""
        await self._acquire(priority)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, priority: int) -> None:
        if self._free > 0 and not self.waiting:
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # admitted as it was cancelled: pass it on
                self._release()
            raise

    def _release(self) -> None:
        while self._waiters:
            *_, future = heapq.heappop(self._waiters)
            if not future.done():  # a cancelled waiter's future is done: skip it
                future.set_result(None)  # the slot goes straight to it
                return
        self._free += 1
