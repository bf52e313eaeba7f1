"""A 429's Retry-After pauses its host: every request to it waits the pause out, once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from relocator.config import Limits
from relocator.oci import Reference
from relocator.registry import RegistryClient
from tests.conftest import settings_for
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

