"""Scheduling policy without a network: transfer orders, priority slots and the byte budget."""

from __future__ import annotations

import asyncio

from relocator.engine.ordering import image_order
from relocator.engine.plan import Kind, Node
from relocator.engine.scheduler import ByteBudget, transfer_order
from relocator.engine.slots import PrioritySlots
from relocator.oci import Descriptor, Digest, Repository


def _node(size: int, seed: bytes, kind: Kind = Kind.BLOB) -> Node:
    return Node(Descriptor("x", Digest.of(seed), size), kind)


def test_largest_first_then_digest_then_repository() -> None:
    a, b = Repository("r", "a"), Repository("r", "b")
    big, small, manifest = _node(100, b"big"), _node(5, b"small"), _node(1000, b"m", Kind.MANIFEST)
    wanted = {(b, small.digest): small, (b, big.digest): big, (a, big.digest): big,
              (a, manifest.digest): manifest}
    assert transfer_order(wanted) == [(a, big.digest), (b, big.digest), (b, small.digest)]
    assert transfer_order(dict(reversed(list(wanted.items())))) == transfer_order(wanted)


async def test_byte_budget_bounds_and_lets_a_big_blob_alone() -> None:
    budget = ByteBudget(100)
    await budget.acquire(60)
    waiter = asyncio.ensure_future(budget.acquire(50))
    await asyncio.sleep(0.01)
    assert not waiter.done() and budget.in_flight == 60
    await budget.release(60)
    await asyncio.wait_for(waiter, 1)
    assert budget.in_flight == 50
    await budget.release(50)
    await asyncio.wait_for(budget.acquire(500), 1)  # larger than the budget: goes alone
    assert budget.in_flight == 500


def test_image_order_takes_images_in_turn_largest_first_within_each() -> None:
    a, b = Repository("r", "a"), Repository("r", "b")
    big, small, other = _node(100, b"big"), _node(5, b"small"), _node(50, b"other")
    wanted = {(a, small.digest): small, (a, big.digest): big, (b, other.digest): other,
              (b, big.digest): big}
    ranks = {(a, small.digest): 0, (a, big.digest): 0, (b, other.digest): 1, (b, big.digest): 1}
    assert image_order(wanted, ranks) == [(a, big.digest), (a, small.digest), (b, big.digest),
                                          (b, other.digest)]
    # By size alone the small blob of the first image would be the run's last transfer.
    assert transfer_order(wanted)[-1] == (a, small.digest)


async def test_priority_slots_admit_the_lowest_priority_first_and_survive_cancellation() -> None:
    slots = PrioritySlots(1)
    admitted: list[str] = []
    release = asyncio.Event()

    async def holder(name: str, priority: int) -> None:
        async with slots.hold(priority):
            admitted.append(name)
            await release.wait()

    first = asyncio.ensure_future(holder("first", 5))
    await asyncio.sleep(0)
    waiters = {n: asyncio.ensure_future(holder(n, p)) for n, p in
               [("blob-7", 7), ("blob-3", 3), ("manifest", -1), ("gone", -2), ("blob-3b", 3)]}
    await asyncio.sleep(0)
    assert slots.waiting == 5
    waiters["gone"].cancel()  # a cancelled waiter must neither run nor keep a slot
    await asyncio.sleep(0)
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *(t for n, t in waiters.items() if n != "gone")), 5)
    assert admitted == ["first", "manifest", "blob-3", "blob-3b", "blob-7"]
    async with slots.hold(0):  # every slot came back
        assert slots.waiting == 0
