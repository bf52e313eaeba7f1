"""One host's requests in flight, limited adaptively: a host that says it is overloaded gets fewer.

AIMD, as TCP's congestion control (RFC 5681 section 3.1: half the flight size, not of a window
never filled): a 429 or 503 answer cuts the host's limit to half the requests in flight then
(floor 1), once per round: an answer to a request sent before the last cut says nothing about the
new limit, so a burst of them cuts once. Each ``limit`` answers in a row that are not
throttling add one back, up to the ceiling (the connection pool's per-host size). ``Retry-After``
is the transport's business (it pauses the host); this only decides how many go at once.

A slot is held from the request until its response is released, body included. A task already
holding a slot of the host, or a request body's writer task streaming under one (a blob copied
within one registry: the PUT's body is the source GET), does not wait for another: with a limit
of 1 it would wait for itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from relocator.registry.bodies import close_stream

__all__ = ["HostLimit", "Ticket"]

log = logging.getLogger(__name__)

THROTTLING = (429, 503)


@dataclass(frozen=True, slots=True)
class Ticket:
    """One request's slot: ``counted`` unless it ran under a slot its task held already;
    ``round`` is the limit's round when it was sent."""

    task: asyncio.Task[object] | None
    counted: bool
    round: int


class HostLimit:
    """The adaptive in-flight limit of ``host``, from ``ceiling`` down to 1 and back."""

    def __init__(self, host: str, ceiling: int) -> None:
        self.host = host
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling
        self.in_flight = 0
        self._round = 0  # bumped at each cut
        self._good = 0  # answers in a row that were not throttling, since the last change
        self._holders: dict[asyncio.Task[object], int] = {}
        self._waiters: list[asyncio.Future[None]] = []

    async def acquire(self) -> Ticket:
        """Wait for a slot (at once for a task that holds one already); the ticket to release."""
        task = asyncio.current_task()
        if task is not None and self._holders.get(task, 0):
            self._holders[task] += 1
            return Ticket(task, False, self._round)
        while self.in_flight >= self.limit:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                self._waiters.remove(waiter)
        self.in_flight += 1
        if task is not None:
            self._holders[task] = self._holders.get(task, 0) + 1
        return Ticket(task, True, self._round)

    def release(self, ticket: Ticket) -> None:
        """Give the slot back: the response is released, or the request failed."""
        if ticket.task is not None:
            held = self._holders.get(ticket.task, 0) - 1
            if held > 0:
                self._holders[ticket.task] = held
            else:
                self._holders.pop(ticket.task, None)
        if ticket.counted:
            self.in_flight -= 1
            self._wake()

    @property
    def halvings(self) -> int:
        """Cuts from the ceiling down to 1: how many free retries (``RegistryError.eased``) one
        request may take (Retrier's ``free_retries``). Past them its throttling is not ours: the
        limit grows back between cuts while other requests are answered, so without a bound a
        request a host refuses for good would be retried for as long as the others run."""
        return self.ceiling.bit_length() - 1

    def answered(self, ticket: Ticket, status: int) -> bool:
        """Adapt to one answer: a throttling status cuts the limit (once per round, with one
        WARNING line), ``limit`` other answers in a row raise it by one. True for a throttling
        answer that came while more requests were in flight than the limit now allows (cut by it
        or before): the overload was ours, and the retry goes out at the lower limit
        (``RegistryError.eased``), at most ``halvings`` times per request. A lone request's is
        never eased."""
        if status not in THROTTLING:
            self._good += 1
            if self._good >= self.limit and self.limit < self.ceiling:
                self.limit += 1
                self._good = 0
                self._wake()
            return False
        self._good = 0
        if ticket.round == self._round and self.limit > 1:
            self.limit = max(1, min(self.limit, self.in_flight) // 2)
            self._round += 1
            log.warning("%s is throttling (%d): %d request%s at a time from now on", self.host, status,
                        self.limit, "" if self.limit == 1 else "s")
        return self.in_flight > self.limit

    async def lending(self, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``body``, iterated by the request's writer task as a holder of this host: whatever it
        opens on this host (the source of a blob copied within the registry) shares the slot."""
        task = asyncio.current_task()
        if task is not None:
            self._holders[task] = self._holders.get(task, 0) + 1
        try:
            async for chunk in body:
                yield chunk
        finally:
            try:
                await close_stream(body)
            finally:
                if task is not None:
                    self.release(Ticket(task, False, self._round))

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
