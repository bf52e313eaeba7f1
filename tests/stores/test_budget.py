"""ByteBudget following a writer's order: blobs start only inside the window, which always holds
the writer's next member and slides as the writer takes members."""

from __future__ import annotations

import asyncio

import pytest

from relocator.oci import Digest
from relocator.stores.budget import ByteBudget

A, B, C, D = (Digest.of(x) for x in (b"a", b"b", b"c", b"d"))


async def _started(budget: ByteBudget, digest: Digest, n: int) -> asyncio.Future[None]:
    task = asyncio.ensure_future(budget.acquire(n, digest))
    await asyncio.sleep(0.01)
    return task


async def test_only_the_window_starts_and_it_slides_with_the_writer() -> None:
    budget = ByteBudget(100)
    budget.follow([(A, 60), (B, 30), (C, 20), (D, 5)])
    a, b, c, d = [await _started(budget, x, n) for x, n in ((A, 60), (B, 30), (C, 20), (D, 5))]
    assert a.done() and b.done()
    # D's 5 bytes would fit beside A and B, but D is past C, which does not: taking D first could
    # fill the room C needs while D waits in the spool for C to be written.
    assert not c.done() and not d.done()
    await budget.release(60)  # A downloaded: it still waits for the writer, so nothing moves
    await asyncio.sleep(0.01)
    assert not c.done()
    await budget.passed(A)  # the writer took A: the window is now B, C, D
    await asyncio.wait_for(asyncio.gather(c, d), 1)
    assert budget.in_flight == 55


async def test_the_next_member_starts_even_when_larger_than_the_limit() -> None:
    budget = ByteBudget(100)
    budget.follow([(A, 500), (B, 10)])
    a = await _started(budget, A, 500)
    b = await _started(budget, B, 10)
    assert a.done() and not b.done()  # alone, as without an order
    await budget.release(500)
    await budget.passed(A)
    await asyncio.wait_for(b, 1)


async def test_unfollow_lets_everything_start_by_size() -> None:
    budget = ByteBudget(100)
    budget.follow([(A, 60), (B, 50), (C, 10)])
    await budget.acquire(60, A)
    c = await _started(budget, C, 10)
    assert not c.done()
    await budget.unfollow()  # the writer stopped: order no longer matters, only bytes
    await asyncio.wait_for(c, 1)
    with pytest.raises(RuntimeError, match="out of order"):
        budget.follow([(A, 1), (B, 1)])
        await budget.passed(B)
