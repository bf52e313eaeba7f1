"""Adaptive per-host concurrency: a host answering 429/503 gets fewer requests at once (AIMD)."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator

import pytest

from relocator.commands.relocate import RelocateOptions, relocate
from relocator.config import Limits, RetryPolicy
from relocator.errors import RegistryError
from relocator.frontends.inputs import collect_inputs
from relocator.registry.retry import Retrier
from relocator.registry.throttle import HostLimit
from relocator.ui.render import QuietReporter
from tests.conftest import settings_for
from tests.images import random_image, seed, skopeo_raw_manifest
from tests.proxy import ThrottlingProxy
from tests.registries import Registry


async def test_a_throttling_answer_halves_the_flight_once_per_round_down_to_1() -> None:
    limit = HostLimit("h", 20)
    # Each from a task of its own: a task holding a slot already would not take another.
    tickets = await asyncio.gather(*(limit.acquire() for _ in range(16)))
    eased = [limit.answered(ticket, 429) for ticket in tickets]  # sixteen 429s of one round
    assert limit.limit == 8  # one cut, to half the sixteen in flight (not of the 20 allowed)
    assert all(eased)  # each came with more in flight than the 8 now allowed: retried freely
    for ticket in tickets:
        limit.release(ticket)
    tickets = await asyncio.gather(*(limit.acquire() for _ in range(6)))
    assert limit.answered(tickets[0], 503) and limit.limit == 3
    for ticket in tickets:
        limit.release(ticket)
    for _ in range(2):  # alone in flight: cut to the floor, and not eased (it was alone already)
        ticket = await limit.acquire()
        assert not limit.answered(ticket, 429) and limit.limit == 1
        limit.release(ticket)


async def test_the_limit_grows_by_one_per_limit_answers_in_a_row() -> None:
    limit = HostLimit("h", 4)
    ticket = await limit.acquire()
    limit.answered(ticket, 429)
    limit.release(ticket)
    assert limit.limit == 1
    grown = []
    for _ in range(1 + 2 + 3 + 1):
        ticket = await limit.acquire()
        limit.answered(ticket, 200)
        limit.release(ticket)
        grown.append(limit.limit)
    assert grown == [2, 2, 3, 3, 3, 4, 4]  # 1 answer to reach 2, 2 more to reach 3...: 4 is the ceiling


async def test_at_limit_1_a_task_under_its_own_slot_and_a_body_it_streams_do_not_wait() -> None:
    limit = HostLimit("h", 2)
    ticket = await limit.acquire()
    limit.answered(ticket, 429)
    assert limit.limit == 1
    # The same task, and a writer task streaming its body (the PUT whose body is a GET of the
    # same host), open requests on the host: neither may wait for the slot the task holds.
    async with asyncio.timeout(1):
        nested = await limit.acquire()

    async def source() -> AsyncIterator[bytes]:
        inner = await limit.acquire()
        limit.release(inner)
        yield b"x"

    async def writer() -> list[bytes]:
        return [chunk async for chunk in limit.lending(source())]

    assert await asyncio.wait_for(asyncio.ensure_future(writer()), 1) == [b"x"]
    limit.release(nested)
    # Another task waits until the slot is given back.
    other = asyncio.ensure_future(limit.acquire())
    await asyncio.sleep(0.05)
    assert not other.done() and limit.in_flight == 1
    limit.release(ticket)
    limit.release(await asyncio.wait_for(other, 1))
    assert limit.in_flight == 0


async def test_relocate_into_a_throttling_registry_lowers_its_concurrency_and_completes(
        registry: Registry, fresh_registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(71)
    refs = []
    for i in range(8):
        seed(registry, f"throttle/app{i}", "v1", random_image(rng, (20_000, 30_000, 40_000)))
        refs.append(f"{registry.host}/throttle/app{i}:v1")
    proxy = await ThrottlingProxy(fresh_registry, most=3).start()
    settings = settings_for(limits=Limits(concurrency=16),
                            retry=RetryPolicy(attempts=6, base_delay=0.05, max_delay=0.5))
    try:
        with caplog.at_level(logging.WARNING):
            _, report = await relocate(settings, collect_inputs([], refs), RelocateOptions(prefix=proxy.host),
                                       QuietReporter())
    finally:
        await proxy.stop()
    assert report.failed == {}
    for ref in refs:
        assert skopeo_raw_manifest(fresh_registry, ref.split("/", 1)[1])
    # Sixteen blob HEADs go out at once: the first half of the requests holds that burst. By the
    # second half the host's limit has been cut (the ceiling is 20): fewer are sent at once.
    arrivals = proxy.arrivals
    half = len(arrivals) // 2
    before, after = max(n for n, _ in arrivals[:half]), max(n for n, _ in arrivals[half:])
    assert before > 10 >= after, (before, after, len(arrivals))
    # Without the cuts every image fails here: each request's attempts run out on 429s.
    assert sum(r for _, r in arrivals) < half
    cuts = [re.fullmatch(rf"{proxy.host} is throttling \(429\): (\d+) requests? at a time from now on",
                         r.getMessage()) for r in caplog.records if "is throttling" in r.getMessage()]
    assert cuts and all(cuts) and int(cuts[0][1]) <= before // 2, [c and c[0] for c in cuts]


def test_a_retry_at_a_lowered_limit_spends_no_attempt() -> None:
    retrier = Retrier(RetryPolicy(attempts=2, base_delay=0.01), "h", rand=lambda: 0.5)
    eased = RegistryError("h: 429", status=429, temporary=True)
    eased.eased = True
    assert all(retrier.failed(eased) == 0.005 for _ in range(5))  # as often as the limit is cut
    plain = RegistryError("h: 429", status=429, temporary=True)
    assert retrier.failed(plain) is not None and retrier.failed(plain) is None  # two attempts
