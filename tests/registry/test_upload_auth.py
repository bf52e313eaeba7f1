"""Credentials go only to the origin they were issued for, whatever an upload Location says."""

from __future__ import annotations

import base64
import dataclasses
import io
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from relocator.errors import AuthError
from relocator.oci import Descriptor, Digest, Repository
from relocator.registry import RegistryClient
from relocator.registry.sessions import RESUMABLE_SIZE
from relocator.stores.uploadbook import UploadBook
from tests.faults import serve
from tests.images import DOCKER_LAYER, sha256
from tests.registries import Registry
from tests.registry.test_client import collect, opener_for

MakeClient = Callable[..., RegistryClient]

_HOP = {"host", "content-length", "transfer-encoding", "connection", "authorization"}


def basic(reg: Registry) -> str:
    return "Basic " + base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()


@dataclass
class Recorder:
    """A proxy to ``upstream`` that records each request's Authorization header.

    ``location_host``: upstream Locations are rewritten to point there (default: this proxy).
    ``own_auth``: what this proxy sends upstream instead of the client's Authorization, as
    storage behind a presigned URL carries its authority in the URL, not in our header.
    ``refuse``: answer every request with 401 and this WWW-Authenticate instead of forwarding.
    """

    upstream: Registry
    location_host: str = ""
    own_auth: str | None = None
    refuse: str = ""
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # (method, Authorization)
    session: aiohttp.ClientSession | None = None
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def auth_of(self, method: str) -> set[str | None]:
        return {auth for m, auth in self.seen if m == method}

    async def start(self) -> Recorder:
        self.session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self.runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
        if self.session is not None:
            await self.session.close()

    async def forward(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        self.seen.append((request.method, auth))
        if self.refuse:
            await request.read()
            return web.json_response({"errors": [{"code": "UNAUTHORIZED", "message": "storage"}]},
                                     status=401, headers={"WWW-Authenticate": self.refuse})
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        if "Content-Length" in request.headers:
            headers["Content-Length"] = request.headers["Content-Length"]
        upstream_auth = self.own_auth if self.own_auth is not None else auth
        if upstream_auth:
            headers["Authorization"] = upstream_auth
        # BytesIO: aiohttp warns (an error under the test settings) about large raw bytes bodies.
        data = io.BytesIO(await request.read()) if request.body_exists else None
        async with self.session.request(request.method, f"{self.upstream.url}{request.path_qs}",
                                        headers=headers, data=data, allow_redirects=False) as up:
            out = {k: v for k, v in up.headers.items() if k.lower() not in _HOP}
            if "Location" in out:
                out["Location"] = out["Location"].replace(self.upstream.host, self.location_host or self.host)
            return web.Response(status=up.status, headers=out, body=await up.read())


@pytest.fixture
async def recorders() -> AsyncIterator[list[Recorder]]:
    started: list[Recorder] = []
    yield started
    for recorder in started:
        await recorder.stop()


async def upload_everything(client: RegistryClient, repo: Repository) -> list[bytes]:
    """A monolithic PUT, chunked PATCHes and their PUT, and a cancelled session's DELETE."""
    rng = random.Random(repo.path)
    blobs = [rng.randbytes(300_000), rng.randbytes(2 * 1024 * 1024 + 9)]
    for data, chunk_size in zip(blobs, (None, 1024 * 1024), strict=True):
        desc = Descriptor(DOCKER_LAYER, Digest.parse(sha256(data)), len(data))
        await client.push_blob(repo, desc, opener_for(data), chunk_size=chunk_size)
    await client.uploader.cancel(repo, await client.uploader.start(repo))
    return blobs


async def test_upload_location_on_another_host_gets_no_credentials(
    basic_registry: Registry, make_client: MakeClient, recorders: list[Recorder]
) -> None:
    storage = await Recorder(basic_registry, own_auth=basic(basic_registry)).start()
    front = await Recorder(basic_registry, location_host=storage.host).start()
    recorders += [storage, front]
    client = make_client(dataclasses.replace(basic_registry, host=front.host))
    repo = Repository(front.host, "auth/elsewhere")
    blobs = await upload_everything(client, repo)
    # Every upload request went to the other host, and none of them carried alice's password.
    assert {m for m, _ in front.seen} == {"GET", "POST"}
    assert {"PUT", "PATCH", "DELETE"} <= {m for m, _ in storage.seen}
    assert {auth for _, auth in storage.seen} == {None}
    # The registry itself still gets them: every session was opened with them.
    assert front.auth_of("POST") == {basic(basic_registry)}
    for data in blobs:
        desc = Descriptor(DOCKER_LAYER, Digest.parse(sha256(data)), len(data))
        assert await collect(client, repo, desc) == data
    assert front.auth_of("GET") == {None, basic(basic_registry)}  # the /v2/ ping, then blob GETs


async def test_upload_location_on_the_same_host_keeps_credentials(
    basic_registry: Registry, make_client: MakeClient, recorders: list[Recorder]
) -> None:
    front = await Recorder(basic_registry).start()
    recorders.append(front)
    client = make_client(dataclasses.replace(basic_registry, host=front.host))
    await upload_everything(client, Repository(front.host, "auth/samehost"))
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        assert front.auth_of(method) == {basic(basic_registry)}, method


async def test_another_hosts_challenge_does_not_redirect_credentials(
    basic_registry: Registry, make_client: MakeClient, recorders: list[Recorder]
) -> None:
    # Storage that answers 401 with a Bearer realm of its own must not become the registry's
    # challenge: alice's password would then be sent to that realm for a token.
    realm = await Recorder(basic_registry, refuse='Basic realm="nothing here"').start()
    storage = await Recorder(basic_registry, refuse=f'Bearer realm="http://{realm.host}/token",'
                                                    'service="storage"').start()
    front = await Recorder(basic_registry, location_host=storage.host).start()
    recorders += [realm, storage, front]
    client = make_client(dataclasses.replace(basic_registry, host=front.host))
    data = b"a blob storage will refuse"
    desc = Descriptor(DOCKER_LAYER, Digest.parse(sha256(data)), len(data))
    with pytest.raises(AuthError) as info:
        await client.push_blob(Repository(front.host, "auth/refused"), desc, opener_for(data))
    assert realm.seen == []
    assert {auth for _, auth in storage.seen} == {None}
    text = str(info.value)
    assert storage.host in text and "never sent" in text and basic_registry.password not in text


class _Book(UploadBook):
    """An UploadBook that also records every Location it was asked to keep."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.kept: list[str] = []

    def keep(self, registry: str, repository: str, digest: str, location: str) -> None:
        self.kept.append(location)
        super().keep(registry, repository, digest, location)


@pytest.mark.parametrize("elsewhere", [True, False])
async def test_only_the_registrys_own_locations_are_kept_for_a_resume(
    basic_registry: Registry, make_client: MakeClient, recorders: list[Recorder], tmp_path: Path,
    elsewhere: bool,
) -> None:
    """A Location on another host may carry a signed storage capability: never written to disk."""
    storage = await Recorder(basic_registry, own_auth=basic(basic_registry)).start()
    front = await Recorder(basic_registry, location_host=storage.host if elsewhere else "").start()
    recorders += [storage, front]
    client = make_client(dataclasses.replace(basic_registry, host=front.host))
    data = random.Random(11).randbytes(RESUMABLE_SIZE + 1)
    desc = Descriptor(DOCKER_LAYER, Digest.parse(sha256(data)), len(data))
    book = _Book(tmp_path / "uploads")
    await client.push_blob(Repository(front.host, "auth/kept"), desc, opener_for(data),
                           chunk_size=4 * 1024 * 1024, sessions=book)
    if elsewhere:
        assert book.kept == []
    else:  # after the POST and after each of the first two PATCHes (the third ends the upload)
        assert len(book.kept) == 3
        assert all(f"127.0.0.1:{front.port}" in loc or loc.startswith("/v2/") for loc in book.kept)
    assert not (tmp_path / "uploads").exists() or list((tmp_path / "uploads").iterdir()) == []
