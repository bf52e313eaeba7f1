"""A 429's Retry-After pauses its host: every request to it waits the pause out, once."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

from relocator.config import Limits
from relocator.oci import Reference
from relocator.registry import RegistryClient
from tests.conftest import settings_for
from tests.images import random_image, seed
from tests.proxy import RefusingProxy
from tests.registries import Registry

MakeClient = Callable[..., RegistryClient]


class Retrying(logging.Handler):
    """Sets ``event`` at the first retry line logged."""

    def __init__(self, event: asyncio.Event) -> None:
        super().__init__(logging.WARNING)
        self.event = event

    def emit(self, record: logging.LogRecord) -> None:
        self.event.set()


async def test_requests_queued_for_a_slot_wait_out_a_pause_set_meanwhile(
        fresh_registry: Registry, make_client: MakeClient) -> None:
    # Concurrency 1 lets 5 requests out at once (the pool's per-host size); three more queue for a
    # slot. The fifth to arrive gets 429 with Retry-After: 1 once all five are at the proxy; the
    # other four are held until the client has taken up the pause, then answered, freeing slots.
    go = asyncio.Event()
    proxy = await RefusingProxy(fresh_registry, matching=r"^HEAD .*/manifests/", status=429,
                                retry_after="1", refuse=lambda n: n == 5, go=go).start()
    client = make_client(settings=settings_for(limits=Limits(concurrency=1)))
    paused = Retrying(go)  # the refused request's retry line: by then its 429 paused the host
    retry_log = logging.getLogger("relocator.registry.retry")
    level = retry_log.level
    retry_log.setLevel(logging.WARNING)  # whatever the root's level: without the line, no answers
    retry_log.addHandler(paused)
    ref = Reference.parse(f"{proxy.host}/f/app:v1")
    try:
        got = await asyncio.gather(*(client.head_manifest(ref) for _ in range(8)))
    finally:
        retry_log.removeHandler(paused)
        retry_log.setLevel(level)
        go.set()
        await proxy.stop()
    assert got == [None] * 8  # each went through (a 404: nothing is pushed there)
    assert proxy.hits["refused"] == 1 and proxy.hits["HEAD"] == 8
    # None of them was sent before the Retry-After ran out, those that waited for a slot included.
    assert proxy.hits["early"] == 0


async def test_a_pause_extended_while_a_request_waits_it_out_holds_that_request_too(
        fresh_registry: Registry, make_client: MakeClient) -> None:
    # Four requests go at once. The last to arrive gets 429 with Retry-After: 1 and is retried
    # (its limit cut to 2, one slot free once the next two are answered); the first gets the
    # same 0.3 s later, while that retry waits out the pause: the retry must wait for the end
    # the second 429 moved the pause to.
    proxy = await RefusingProxy(fresh_registry, matching=r"^HEAD .*/manifests/", status=429,
                                retry_after="1", refuse=lambda n: n in (1, 4),
                                hold=lambda n: {1: 0.3, 2: 0.05, 3: 0.05}.get(n, 0)).start()
    client = make_client()
    ref = Reference.parse(f"{proxy.host}/f/app:v1")
    try:
        got = await asyncio.gather(*(client.head_manifest(ref) for _ in range(4)))
    finally:
        await proxy.stop()
    assert got == [None] * 4
    assert proxy.hits["refused"] == 2 and proxy.hits["HEAD"] == 4 and proxy.hits["early"] == 0


async def test_a_429_with_retry_after_is_one_wait(fresh_registry: Registry,
                                                  make_client: MakeClient) -> None:
    # A manifest GET gets 429 with Retry-After: 1. Its retry's wait and the host's pause are one
    # wait. The transport's sleep only records here (no time passes in it), so each wait asked
    # for shows, even one a real clock would find over already.
    proxy = await RefusingProxy(fresh_registry, matching=r"^GET .*/manifests/", status=429,
                                retry_after="1", refuse=lambda n: n == 1).start()
    client = make_client()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    client.transport.sleep = sleep
    image = random_image(random.Random(5), (1000,))
    seed(fresh_registry, "f/paused", "v1", image)
    try:
        got = await client.get_manifest(Reference.parse(f"{proxy.host}/f/paused:v1"))
    finally:
        await proxy.stop()
    assert got.raw == image.raw
    assert proxy.hits["refused"] == 1 and proxy.hits["GET"] == 2  # the ping, the retry
    # One wait, what is left of the Retry-After when the pause is checked (not a backoff of the
    # policy's, 0.05-0.2 s); it was two: the retry's sleep, then the pause again.
    assert len(waits) == 1 and 0.2 < waits[0] <= 1.0, waits
