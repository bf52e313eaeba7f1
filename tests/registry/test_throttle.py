"""Adaptive per-host concurrency: a host answering 429/503 gets fewer requests at once (AIMD)."""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator, Callable

import pytest

from relocator.commands.relocate import RelocateOptions, relocate
from relocator.config import Limits, RetryPolicy
from relocator.errors import RegistryError
from relocator.frontends.inputs import collect_inputs
from relocator.oci import Reference, Repository
from relocator.registry import RegistryClient
from relocator.registry.retry import Retrier
from relocator.registry.throttle import HostLimit
from relocator.ui.render import QuietReporter
from tests.conftest import settings_for
from tests.images import random_image, seed, skopeo_raw_manifest
from tests.proxy import RefusingProxy, ThrottlingProxy
from tests.registries import Registry

MakeClient = Callable[..., RegistryClient]


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


def test_a_retry_at_a_lowered_limit_spends_no_attempt_up_to_the_halvings_of_the_ceiling() -> None:
    assert [HostLimit("h", n).halvings for n in (1, 2, 5, 8, 20)] == [0, 1, 2, 3, 4]
    retrier = Retrier(RetryPolicy(attempts=2, base_delay=0.01, max_delay=1.0), "h", free_retries=3,
                      rand=lambda: 0.5)
    eased = RegistryError("h: 429", status=429, temporary=True)
    eased.eased = True
    # Free, each a backoff step further; then eased answers spend attempts like any other.
    assert [retrier.failed(eased) for _ in range(3)] == [0.005, 0.01, 0.02]
    assert retrier.failures == 0
    assert retrier.failed(eased) is not None and retrier.failed(eased) is None  # two attempts
    spent = Retrier(RetryPolicy(attempts=2), "h")  # no free retries: each eased answer spends one
    assert spent.failed(eased) is not None and spent.failures == 1 and spent.failed(eased) is None
    # A one-try request's (retry=False: its caller's loop owns the retries) is not retried either.
    assert Retrier(RetryPolicy(attempts=2), "h", attempts=1).failed(eased) is None


async def test_a_request_a_busy_host_refuses_for_good_fails_after_its_attempts(
        fresh_registry: Registry, make_client: MakeClient) -> None:
    # Other requests keep being answered, so the host's limit keeps growing back above the flight
    # and each 503 of the broken request comes while more are in flight than the lowered limit.
    proxy = await RefusingProxy(fresh_registry, matching=r"/manifests/broken$", status=503).start()
    settings = settings_for(limits=Limits(concurrency=4),  # a ceiling of 8: 3 halvings
                            retry=RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.005))
    client = make_client(settings=settings)
    broken = asyncio.ensure_future(client.get_manifest(Reference.parse(f"{proxy.host}/f/app:broken")))

    async def others() -> int:
        sent = 0
        while not broken.done() and sent < 100:
            assert await client.head_manifest(Reference.parse(f"{proxy.host}/f/app:v1")) is None
            sent += 1
        return sent

    try:
        sent = await asyncio.gather(*(others() for _ in range(8)))
        with pytest.raises(RegistryError) as info:
            await broken
    finally:
        await proxy.stop()
    assert info.value.status == 503
    # Its 3 attempts, plus at most one free retry per halving of the ceiling. Without the bound
    # it was retried for as long as the other requests went on (800 of them: 12 to 17 tries).
    assert 3 <= proxy.hits["refused"] <= 3 + 3, (proxy.hits["refused"], sum(sent))


async def test_a_one_try_request_hands_its_eased_throttling_answer_to_the_caller(
        fresh_registry: Registry, make_client: MakeClient) -> None:
    # The upload ladder sends its requests with retry=False: its own loop owns their retries.
    proxy = await ThrottlingProxy(fresh_registry, most=3).start()
    settings = settings_for(limits=Limits(concurrency=16),
                            retry=RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05))
    client = make_client(settings=settings)
    repo = Repository(proxy.host, "f/sessions")
    try:
        await client.transport.base_url(proxy.host)  # the ping, on its own
        results = await asyncio.gather(*(client.uploader.start(repo, retry=False) for _ in range(16)),
                                       return_exceptions=True)
    finally:
        await proxy.stop()
    refused = [r for r in results if not isinstance(r, str)]
    assert all(isinstance(r, RegistryError) and r.status == 429 for r in refused), refused
    # Sixteen calls, sixteen POSTs: a 429 that came while more were in flight than the lowered
    # limit (eased) went back to the caller, not out again.
    assert proxy.hits["POST"] + proxy.hits["refused"] == 16, proxy.hits
    assert len(refused) == proxy.hits["refused"] and any(
        isinstance(r, RegistryError) and r.eased for r in refused)
