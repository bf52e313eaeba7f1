"""Resume, rate limits and give-up, shown against the fault server."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable

import pytest

from relocator.config import RetryPolicy
from relocator.errors import RegistryError
from relocator.oci import Descriptor, Digest, Reference, Repository
from relocator.registry import RegistryClient
from tests.conftest import settings_for
from tests.faults import FaultServer
from tests.images import sha256
from tests.registries import Registry
from tests.registry.test_client import collect, opener_for

MakeClient = Callable[..., RegistryClient]


@pytest.fixture
async def faults() -> AsyncIterator[FaultServer]:
    server = await FaultServer(blob=random.Random(1).randbytes(2 * 1024 * 1024 + 5)).start()
    yield server
    await server.stop()


async def test_reset_mid_blob_resumes_with_range(faults: FaultServer, make_client: MakeClient) -> None:
    faults.reset_after = 700_000
    client = make_client()
    desc = Descriptor("application/octet-stream", Digest.parse(faults.digest), len(faults.blob))
    data = await collect(client, Repository(faults.host, "f/blob"), desc)
    assert data == faults.blob
    assert faults.hits["blob"] == 2
    assert len(faults.ranges) == 1
    resumed_at = int(faults.ranges[0].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at <= 700_000


async def test_429_waits_for_retry_after(faults: FaultServer, make_client: MakeClient) -> None:
    faults.throttle_first = 1
    client = make_client()
    started = time.monotonic()
    got = await client.head_manifest(Reference.parse(f"{faults.host}/f/img:v1"))
    elapsed = time.monotonic() - started
    assert got is None  # the second answer is a 404: the request went through
    assert faults.hits["manifest"] == 2
    assert 1.9 <= elapsed < 5, elapsed


async def test_persistent_503_gives_up_after_attempts(faults: FaultServer, make_client: MakeClient) -> None:
    faults.always_503 = True
    settings = settings_for(retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05))
    client = make_client(settings=settings)
    with pytest.raises(RegistryError) as info:
        await client.get_manifest(Reference.parse(f"{faults.host}/f/img:v1"))
    assert faults.hits["manifest"] == 4
    assert info.value.status == 503 and info.value.codes == ("UNAVAILABLE",)
    assert "try later" in str(info.value) and faults.host in str(info.value)


async def test_tags_follow_link_pagination(faults: FaultServer, make_client: MakeClient) -> None:
    faults.tags = [f"v{i:02d}" for i in range(23)]
    client = make_client()
    got = await client.list_tags(Repository(faults.host, "f/tags"), page_size=5)
    assert got == faults.tags
    assert faults.hits["tags"] == 5


async def test_chunk_min_length_switches_to_chunks(fresh_registry: Registry, make_client: MakeClient) -> None:
    from tests.proxy import FaultProxy

    data = random.Random(2).randbytes(5 * 1024 * 1024 + 3)
    desc = Descriptor("application/octet-stream", Digest.parse(sha256(data)), len(data))
    proxy = await FaultProxy(fresh_registry, chunk_min=2 * 1024 * 1024).start()
    try:
        client = make_client()
        await client.push_blob(Repository(proxy.host, "f/chunkmin"), desc, opener_for(data))
    finally:
        await proxy.stop()
    # No chunk size was asked for; the registry's minimum of 2 MiB gives three PATCHes.
    assert fresh_registry.requests("PATCH", "f/chunkmin/blobs/uploads/.*") == 3
    assert await collect(client, Repository(fresh_registry.host, "f/chunkmin"), desc) == data
