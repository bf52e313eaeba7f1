"""Scheduling policy without a network: transfer order and the byte budget."""

from __future__ import annotations

import asyncio

from relocator.engine.plan import Kind, Node
from relocator.engine.scheduler import ByteBudget, transfer_order
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
