"""A streamed request body is closed when its request ends (issue 13).

A blob copied between two registries is a PUT whose body is a GET of the source, holding one of
the source host's slots (registry/throttle.py). aiohttp never closes a body it stops writing, and
an error raised from the request keeps it reachable (its traceback holds aiohttp's request, which
holds the body): the body, its source GET and that slot stayed held for as long as the error was
referenced, in relocate to the end of the run. At 30% injected faults relocate ran out of source
slots and waited for good."""

from __future__ import annotations

import random

import pytest

from relocator.commands.relocate import RelocateOptions, relocate
from relocator.config import Limits, RetryPolicy
from relocator.errors import RelocatorError
from relocator.frontends.inputs import collect_inputs
from relocator.oci import Descriptor, Digest, Repository
from relocator.ui.render import QuietReporter
from tests.conftest import settings_for
from tests.images import random_image, seed, sha256
from tests.proxy import FaultProxy
from tests.registries import Registry
from tests.registry.test_client import opener_for
from tests.registry.test_faults import MakeClient

_LAYER = 4 * 1024 * 1024  # well past the 256 KiB the proxy reads before its fault


@pytest.mark.parametrize("faults", [["500", "500"], ["reset", "reset"], ["500", "reset"]])
async def test_a_failed_upload_gives_back_the_source_slot_its_body_held(
        registry: Registry, fresh_registry: Registry, make_client: MakeClient, faults: list[str]) -> None:
    data = random.Random(13).randbytes(_LAYER)
    desc = Descriptor("application/octet-stream", Digest.parse(sha256(data)), len(data))
    retry = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05)
    client = make_client(settings=settings_for(retry=retry))
    source = Repository(registry.host, "bodies/source")
    await client.push_blob(source, desc, opener_for(data))
    proxy = await FaultProxy(fresh_registry, upload_faults={"*": faults}).start()
    try:
        with pytest.raises(RelocatorError) as info:  # kept, as a report keeps an image's error
            await client.push_blob(Repository(proxy.host, "bodies/dest"), desc,
                                   client.blob_opener(source, desc))
    finally:
        await proxy.stop()
    assert proxy.hits[f"put {desc.digest}"] == 2
    assert info.value is not None
    # Both PUTs' bodies were GETs of the source: closed, their slots given back.
    limit = client.transport.host(registry.host).limit
    assert (limit.in_flight, dict(limit._holders)) == (0, {})


async def test_relocate_ends_naming_each_image_when_more_uploads_fail_than_the_source_has_slots(
        registry: Registry, fresh_registry: Registry) -> None:
    rng = random.Random(14)
    refs = []
    for i in range(7):
        seed(registry, f"bodies/app{i}", "v1", random_image(rng, (_LAYER,)))
        refs.append(f"{registry.host}/bodies/app{i}:v1")
    # --concurrency 1: 5 slots per host (the pool's size, concurrency + 4). Each layer's upload
    # fails for good (a 500, then a reset: an answer between, so the breaker stays closed); each
    # error kept in the report held a source slot, and the sixth layer's GET waited for good.
    settings = settings_for(limits=Limits(concurrency=1),
                            retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05))
    proxy = await FaultProxy(fresh_registry, upload_faults={"*": ["500", "reset"]}).start()
    try:
        _, report = await relocate(settings, collect_inputs([], refs), RelocateOptions(prefix=proxy.host),
                                   QuietReporter())
    finally:
        await proxy.stop()
    assert sorted(report.failed) == sorted(refs)
    # Each named with the last try's cause: the reset.
    assert all(f"{proxy.host}: connection failed" in str(error) for error in report.failed.values()), \
        report.failed
    assert sum(n for key, n in proxy.hits.items() if key.startswith("put ")) == 2 * 7
