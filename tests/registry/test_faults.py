"""Resume, rate limits and give-up, shown against the fault server."""

from __future__ import annotations

import logging
import random
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from relocator.config import RetryPolicy
from relocator.errors import RegistryError, TransportError
from relocator.oci import Descriptor, Digest, Reference, Repository
from relocator.registry import RegistryClient
from tests.conftest import settings_for
from tests.faults import FaultServer, serve
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


async def test_429_waits_for_retry_after(faults: FaultServer, make_client: MakeClient,
                                         caplog: pytest.LogCaptureFixture) -> None:
    faults.throttle_first = 1  # with Retry-After: 2
    client = make_client()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # records the wait asked for, and does not wait
        waits.append(seconds)

    client.transport.sleep = sleep
    with caplog.at_level(logging.WARNING):
        got = await client.head_manifest(Reference.parse(f"{faults.host}/f/img:v1"))
    assert got is None  # the second answer is a 404: the request went through
    assert faults.hits["manifest"] == 2
    # The retry waits the 2 seconds asked for (what is left of them when the host's pause is
    # checked), not a backoff of the policy's (0.05-0.2 s), and once: the host's pause is the
    # retry's wait, not a second one after it.
    assert len(waits) == 1 and 0.2 < waits[0] <= 2.0, waits
    assert f"retrying {faults.host} (1/2) in 2.0 s: 429 Too Many Requests" in caplog.messages


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


def retry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "relocator.registry.retry"]


async def test_each_retry_logs_one_line_with_host_and_status(
    faults: FaultServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    faults.always_503 = True
    settings = settings_for(retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05))
    with pytest.raises(RegistryError):
        await make_client(settings=settings).get_manifest(Reference.parse(f"{faults.host}/f/img:v1"))
    lines = retry_lines(caplog)
    assert len(lines) == faults.hits["manifest"] - 1 == 3
    for n, line in enumerate(lines, start=1):  # retry n of the 3 that 4 attempts allow
        expected = rf"retrying {re.escape(faults.host)} \({n}/3\) in 0\.\d s: 503 Service Unavailable"
        assert re.fullmatch(expected, line), line
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name.endswith(".retry"))


async def test_429_retry_after_beats_the_backoff_cap(
    faults: FaultServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    faults.throttle_first, faults.retry_after = 2, "0.3"
    settings = settings_for(retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05))
    client = make_client(settings=settings)
    assert await client.head_manifest(Reference.parse(f"{faults.host}/f/img:v1")) is None
    assert retry_lines(caplog) == [
        f"retrying {faults.host} (1/2) in 0.3 s: 429 Too Many Requests",
        f"retrying {faults.host} (2/2) in 0.3 s: 429 Too Many Requests",
    ]


class RetryAfter503(FaultServer):
    """The first manifest request gets 503 with Retry-After; the next a 404."""

    async def manifest(self, request: web.Request) -> web.Response:
        self.hits["manifest"] += 1
        if self.hits["manifest"] == 1:
            return web.json_response({"errors": [{"code": "UNAVAILABLE", "message": "maintenance"}]},
                                     status=503, headers={"Retry-After": "0.4"})
        return web.Response(status=404)


async def test_503_retry_after_is_honoured(make_client: MakeClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    server = await RetryAfter503().start()
    try:
        settings = settings_for(retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05))
        client = make_client(settings=settings)
        assert await client.head_manifest(Reference.parse(f"{server.host}/f/img:v1")) is None
    finally:
        await server.stop()
    assert server.hits["manifest"] == 2
    assert retry_lines(caplog) == [f"retrying {server.host} (1/2) in 0.4 s: 503 Service Unavailable"]


async def test_resumed_download_logs_the_connection_error_without_the_url(
    faults: FaultServer, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    faults.reset_after = 700_000
    desc = Descriptor("application/octet-stream", Digest.parse(faults.digest), len(faults.blob))
    assert await collect(make_client(), Repository(faults.host, "f/blob"), desc) == faults.blob
    [line] = retry_lines(caplog)
    assert line.startswith(f"retrying {faults.host} (1/2) in ")
    assert ": connection failed (" in line
    assert "/v2/" not in line and "http" not in line


@dataclass
class FlakyUploads:
    """POST opens a session whose Location carries a secret; the first PUTs or POSTs get 503."""

    fail_puts: int = 1
    fail_posts: int = 0
    blobs: dict[str, bytes] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> FlakyUploads:
        app = web.Application()
        app.router.add_get("/v2/", self.ping)
        app.router.add_post("/v2/{repo:.+}/blobs/uploads/", self.post)
        app.router.add_put("/v2/{repo:.+}/blobs/uploads/{id}", self.put)
        app.router.add_delete("/v2/{repo:.+}/blobs/uploads/{id}", self.delete)
        self.runner, self.port = await serve(app)
        return self

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def post(self, request: web.Request) -> web.Response:
        self.hits["POST"] += 1
        n = self.hits["POST"]
        if n <= self.fail_posts:
            return web.json_response({"errors": [{"code": "UNAVAILABLE", "message": "busy"}]}, status=503)
        location = f"/v2/{request.match_info['repo']}/blobs/uploads/u{n}?_state=SECRET-{n}"
        return web.Response(status=202, headers={"Location": location})

    async def put(self, request: web.Request) -> web.Response:
        self.hits["PUT"] += 1
        body = await request.read()
        if self.hits["PUT"] <= self.fail_puts:
            return web.json_response({"errors": [{"code": "UNAVAILABLE", "message": "busy"}]}, status=503)
        self.blobs[request.query["digest"]] = body
        return web.Response(status=201)

    async def delete(self, request: web.Request) -> web.Response:
        self.hits["DELETE"] += 1
        return web.Response(status=204)


async def test_upload_retry_logs_once_and_keeps_the_session_secret(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="relocator")
    data = random.Random(3).randbytes(100_000)
    desc = Descriptor("application/octet-stream", Digest.parse(sha256(data)), len(data))
    server = await FlakyUploads().start()
    try:
        await make_client().push_blob(Repository(server.host, "f/up"), desc, opener_for(data))
    finally:
        if server.runner is not None:
            await server.runner.cleanup()
    assert server.blobs == {str(desc.digest): data}
    assert server.hits == Counter(POST=2, PUT=2, DELETE=1)  # the dead session was cancelled
    [line] = retry_lines(caplog)
    expected = rf"retrying {re.escape(server.host)} \(1/2\) in 0\.\d s: 503 Service Unavailable"
    assert re.fullmatch(expected, line), line
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("relocator")]
    assert any("_state=<redacted>" in m for m in ours)  # the session URL was logged, redacted
    assert not any("SECRET" in m for m in ours)


class DropsBlobRequests(FaultServer):
    """Every blob GET loses its connection before an answer."""

    async def get_blob(self, request: web.Request) -> web.StreamResponse:
        self.hits["blob"] += 1
        assert request.transport is not None
        request.transport.abort()
        return web.Response()


async def test_download_attempts_are_not_multiplied(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    # The transport retries opening the blob; the resume loop must not retry those tries again.
    caplog.set_level(logging.WARNING)
    server = await DropsBlobRequests(blob=b"some bytes").start()
    try:
        desc = Descriptor("application/octet-stream", Digest.parse(server.digest), len(server.blob))
        with pytest.raises(TransportError):
            await collect(make_client(), Repository(server.host, "f/blob"), desc)
    finally:
        await server.stop()
    # settings_for: attempts=3, so two retries in all. (Counting hits would count aiohttp's own
    # one retry of an idempotent request on a dropped connection too, RFC 9112 section 9.3.1.1.)
    # No try got an answer, so the host is given up on, once.
    assert [line.split(" in ")[0] for line in retry_lines(caplog)] == [
        f"retrying {server.host} (1/2)", f"retrying {server.host} (2/2)",
        f"{server.host}: not answering (connection failed (ServerDisconnectedError: Server disconnected));"
        " giving up on its remaining work"]


async def test_upload_attempts_are_not_multiplied(make_client: MakeClient) -> None:
    # The upload ladder retries its POST itself; the transport must not retry it as well.
    data = b"a small blob"
    desc = Descriptor("application/octet-stream", Digest.parse(sha256(data)), len(data))
    server = await FlakyUploads(fail_puts=0, fail_posts=99).start()
    try:
        with pytest.raises(RegistryError) as info:
            await make_client().push_blob(Repository(server.host, "f/up"), desc, opener_for(data))
    finally:
        if server.runner is not None:
            await server.runner.cleanup()
    assert info.value.status == 503
    assert server.hits == Counter(POST=3)  # settings_for: attempts=3


class RedirectLoop(FaultServer):
    """Every manifest request is sent on to a presigned-looking URL that redirects again."""

    async def manifest(self, request: web.Request) -> web.Response:
        self.hits["manifest"] += 1
        raise web.HTTPFound(f"{request.path}?X-Amz-Signature=SECRET-{self.hits['manifest']}")


async def test_a_redirect_loop_names_no_url_query(make_client: MakeClient,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    # aiohttp's TooManyRedirects prints the whole URL; neither the error nor a log line may.
    caplog.set_level(logging.DEBUG, logger="relocator")
    server = await RedirectLoop().start()
    try:
        client = make_client()
        with pytest.raises(TransportError) as info:
            async with client.transport.stream("GET", server.host, "/v2/f/img/manifests/v1?_state=SECRET"):
                pass
    finally:
        await server.stop()
    assert "TooManyRedirects" in str(info.value) and "SECRET" not in str(info.value)
    assert len(retry_lines(caplog)) == 2
    assert not any("SECRET" in r.getMessage() for r in caplog.records if r.name.startswith("relocator"))


@pytest.mark.parametrize("answer", ["206", "200"])
async def test_blob_from_an_offset_takes_a_206_or_skips_a_whole_200(
        faults: FaultServer, make_client: MakeClient, answer: str) -> None:
    faults.range_answer = answer
    client = make_client()
    desc = Descriptor("application/octet-stream", Digest.parse(faults.digest), len(faults.blob))
    got = b"".join([c async for c in client.blob_opener(Repository(faults.host, "f/blob"), desc)(1000)])
    assert got == faults.blob[1000:]
    assert faults.ranges == ["bytes=1000-"]


async def test_a_206_that_starts_after_the_offset_asked_for_is_refused(
        faults: FaultServer, make_client: MakeClient) -> None:
    faults.range_answer = "late"
    client = make_client()
    desc = Descriptor("application/octet-stream", Digest.parse(faults.digest), len(faults.blob))
    with pytest.raises(RegistryError, match=r"asked for bytes 1000- and got Content-Range 'bytes 1001-"):
        async for _ in client.blob_opener(Repository(faults.host, "f/blob"), desc)(1000):
            pass
    assert faults.hits["blob"] == 1  # not retried: the server's answer will not change
