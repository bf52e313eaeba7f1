"""The run's one byte budget: bytes of blobs between their source and their destination.

The scheduler takes room before a blob streams and gives it back when ``write_blob`` returns.
A sink whose writes outlive ``write_blob`` (the tar stream: a blob waits on disk for the writer)
shares the same object (``SharesBudget``) and has it admit blobs in its writer's order, so the
blobs spooled for the writer count against the same limit as the ones still streaming.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from relocator.oci import Digest

__all__ = ["ByteBudget", "SharesBudget"]


class ByteBudget:
    """At most ``limit`` bytes of blobs on their way at once; a blob larger than the limit goes alone.

    By default any blob whose bytes fit may start. After ``follow(order)`` a blob of that order
    starts only inside the window: the members not yet ``passed`` by the writer, counted from its
    next one, whose sizes add up to at most ``limit`` (always at least that next one). Streaming
    and spooled blobs both lie in the window, so together they stay within the limit.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0  # bytes streaming now: between acquire and release
        self._cond = asyncio.Condition()
        self._position: dict[Digest, int] = {}  # a followed member's place in the order
        self._sizes: list[int] = []
        self._next = 0  # the writer's next member
        self._end = 0  # the window is members [_next, _end)
        self._window = 0  # bytes of the window

    async def acquire(self, n: int, digest: Digest | None = None) -> None:
        """Wait until ``n`` more bytes fit (or nothing else streams) and, for a blob of the
        followed order, until it lies in the window."""
        async with self._cond:
            await self._cond.wait_for(lambda: self._fits(n) and self._in_window(digest))
            self.in_flight += n

    async def release(self, n: int) -> None:
        """Give ``n`` bytes back: the blob is no longer streaming."""
        async with self._cond:
            self.in_flight -= n
            self._cond.notify_all()

    def follow(self, order: Sequence[tuple[Digest, int]]) -> None:
        """Admit these blobs (digest, size) only within the window of a writer that takes them in
        this order; call before the first ``acquire``."""
        self._position = {digest: i for i, (digest, _) in enumerate(order)}
        self._sizes = [size for _, size in order]
        self._next = self._end = self._window = 0
        self._extend()

    async def passed(self, digest: Digest) -> None:
        """The writer has taken its next member, ``digest``: the window moves past it."""
        async with self._cond:
            if not self._position:
                return  # unfollowed while the writer appended this member: no window to move
            if self._position.get(digest) != self._next:
                raise RuntimeError(f"{digest} passed out of order")  # a bug in the writer
            self._window -= self._sizes[self._next]
            self._next += 1
            self._extend()
            self._cond.notify_all()

    async def unfollow(self) -> None:
        """The writer stopped (a member failed): admit every blob by size alone from now on."""
        async with self._cond:
            self._position = {}
            self._cond.notify_all()

    def _fits(self, n: int) -> bool:
        return self.in_flight == 0 or self.in_flight + n <= self.limit

    def _in_window(self, digest: Digest | None) -> bool:
        position = self._position.get(digest) if digest is not None else None
        return position is None or position < self._end

    def _extend(self) -> None:
        sizes = self._sizes
        while self._end < len(sizes) and (
                self._end == self._next or self._window + sizes[self._end] <= self.limit):
            self._window += sizes[self._end]
            self._end += 1


@runtime_checkable
class SharesBudget(Protocol):
    """A sink whose writes outlive ``write_blob``: the scheduler counts against its budget."""

    budget: ByteBudget
