"""An upload cut off mid-body goes on from the offset the registry reports (GET on the session's
Location), within the run; a registry that dropped the session (distribution 2.8 does, for a
request cut mid-body) gets a new one, and the blob still arrives whole."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web

from relocator.config import RetryPolicy
from relocator.errors import RegistryError, TransportError
from relocator.oci import Descriptor, Digest, Repository
from relocator.registry import RegistryClient
from relocator.registry.sessions import RESUMABLE_SIZE, parse_range
from relocator.stores.uploadbook import UploadBook
from tests.conftest import settings_for
from tests.faults import serve
from tests.images import sha256
from tests.proxy import FaultProxy, RefusingProxy
from tests.registries import Registry
from tests.registry.test_client import collect, opener_for
from tests.sessions import KeepingFront
from tests.stores.test_uploadbook import holder as _holder

MakeClient = Callable[..., RegistryClient]
MiB = 1024 * 1024


def _blob(seed: int, size: int) -> tuple[bytes, Descriptor]:
    data = random.Random(seed).randbytes(size)
    return data, Descriptor("application/octet-stream", Digest.parse(sha256(data)), len(data))


async def _stored(make_client: MakeClient, reg: Registry, path: str, desc: Descriptor) -> bytes:
    """The blob as the registry itself serves it (not through the front)."""
    return await collect(make_client(reg), Repository(reg.host, path), desc)


@pytest.mark.parametrize(("value", "held"), [
    ("0-1048575", MiB), ("0-0", 0), (None, 0), ("", 0), ("bytes=0-9", 10), ("5-9", 0), ("0-x", 0),
])
def test_range_header(value: str | None, held: int) -> None:
    assert parse_range(value) == held


async def test_put_cut_mid_body_resumes_where_the_registry_kept_it(
        fresh_registry: Registry, make_client: MakeClient) -> None:
    data, desc = _blob(1, 12 * MiB + 5)
    front = await KeepingFront(fresh_registry, reset_after=5 * MiB).start()
    try:
        await make_client().push_blob(Repository(front.host, "u/put"), desc, opener_for(data))
    finally:
        await front.stop()
    assert await _stored(make_client, fresh_registry, "u/put", desc) == data
    # The second PUT carried only what the session lacked, from the registry's offset: the
    # pieces forwarded before the reset (about 5 MiB); at most one piece was sent twice.
    (first, _), (second, resumed) = front.uploads
    assert (first, second) == ("PUT", "PUT")
    start = int(resumed.partition("-")[0])
    assert 4 * MiB <= start <= 5 * MiB + 64 * 1024
    assert resumed == f"{start}-{len(data) - 1}"
    assert front.received - len(data) <= front.piece + 64 * 1024


async def test_patch_lost_before_the_registry_goes_on_in_the_same_session(
        fresh_registry: Registry, make_client: MakeClient) -> None:
    """A PATCH reset before the registry saw a byte of it: the session's status says where it
    stands, and the upload goes on in it."""
    data, desc = _blob(2, 5 * MiB + 3)
    proxy = await FaultProxy(fresh_registry, patch_resets=1, upload_fault_after=512 * 1024).start()
    try:
        await make_client().push_blob(Repository(proxy.host, "u/patch"), desc, opener_for(data),
                                      chunk_size=2 * MiB)
    finally:
        await proxy.stop()
    assert await _stored(make_client, fresh_registry, "u/patch", desc) == data
    assert fresh_registry.requests("GET", "u/patch/blobs/uploads/.*") == 1
    assert fresh_registry.requests("POST", "u/patch/blobs/uploads/.*") == 1
    assert fresh_registry.requests("PATCH", "u/patch/blobs/uploads/.*") == 3


async def test_session_the_registry_dropped_gives_way_to_a_new_one(
        fresh_registry: Registry, make_client: MakeClient) -> None:
    """distribution drops a session whose PATCH was cut mid-body (its status answers 404
    BLOB_UPLOAD_INVALID): the upload starts over in a new session instead of failing the blob."""
    data, desc = _blob(4, 3 * MiB)
    client = make_client(fresh_registry)
    repo = Repository(fresh_registry.host, "u/dropped")
    location = await client.uploader.start(repo)

    async def cut() -> AsyncIterator[bytes]:
        yield data[:MiB]
        raise RuntimeError("cut off")

    with pytest.raises(TransportError):
        async with client.transport.stream("PATCH", repo.registry, location, body=cut, ok=(202,),
                                           retry=False):
            pass
    await client.push_blob(repo, desc, opener_for(data), location=location)
    assert await collect(client, repo, desc) == data
    assert fresh_registry.requests("GET", "u/dropped/blobs/uploads/.*") == 1  # asked: gone
    assert fresh_registry.requests("POST", "u/dropped/blobs/uploads/.*") == 2


@pytest.mark.parametrize("held_elsewhere", [False, True])
async def test_session_kept_by_an_earlier_run_is_resumed(
        fresh_registry: Registry, make_client: MakeClient, tmp_path: Path, held_elsewhere: bool) -> None:
    """``held_elsewhere``: another live run holds the entry (it is pushing the same blob there
    now): this upload leaves it alone, in a session of its own."""
    data, desc = _blob(3, RESUMABLE_SIZE + 3 * MiB)
    repo_path = f"u/kept-{str(held_elsewhere).lower()}"
    front = await KeepingFront(fresh_registry).start()
    book = UploadBook(tmp_path / "uploads")
    holder = None
    try:
        client = make_client()
        repo = Repository(front.host, repo_path)
        # An earlier run: its session got 4 MiB, then the run died.
        location = await client.uploader.start(repo)
        book.keep(repo.registry, repo.path, str(desc.digest), location)
        await client.uploader._patch(repo, location, 0, data[:4 * MiB])
        if held_elsewhere:
            holder = _holder(book.directory, (repo.registry, repo.path, str(desc.digest)))
        await client.push_blob(repo, desc, opener_for(data), sessions=book)
    finally:
        await front.stop()
        book.close()
        if holder is not None:
            holder.kill()
            holder.communicate()
    assert await _stored(make_client, fresh_registry, repo_path, desc) == data
    if held_elsewhere:
        assert front.uploads[-1] == ("PUT", "")
        assert book.find(repo.registry, repo.path, str(desc.digest)) == location
    else:
        assert front.uploads[-1] == ("PUT", f"{4 * MiB}-{len(data) - 1}")
        assert list(book.directory.iterdir()) == []  # the finished session is forgotten


@pytest.mark.parametrize("chunk_size", [None, 2 * MiB])
async def test_session_holding_the_whole_blob_is_only_committed(
        fresh_registry: Registry, make_client: MakeClient, tmp_path: Path, chunk_size: int | None) -> None:
    """An earlier run sent every byte in PATCHes and was killed before its closing PUT (distribution
    keeps such a session): the next run commits it, and asks the source for nothing (a Range GET
    from the blob's end answers 416)."""
    data, desc = _blob(5, RESUMABLE_SIZE + 5)
    client = make_client(fresh_registry)
    source = Repository(fresh_registry.host, "u/whole-src")
    await client.push_blob(source, desc, opener_for(data))
    repo = Repository(fresh_registry.host, "u/whole")
    book = UploadBook(tmp_path / "uploads")
    location = await client.uploader.start(repo)
    location = await client.uploader._patch(repo, location, 0, data)
    book.keep(repo.registry, repo.path, str(desc.digest), location)
    await client.push_blob(repo, desc, client.blob_opener(source, desc), chunk_size=chunk_size,
                           sessions=book)
    assert await collect(client, repo, desc) == data
    assert fresh_registry.requests("PATCH", "u/whole/blobs/uploads/.*") == 1
    assert fresh_registry.requests("GET", "u/whole-src/blobs/.*") == 0
    assert list(book.directory.iterdir()) == []


@pytest.mark.parametrize("location", ["http://[x", "http://127.0.0.1:1/v2/u/bad/blobs/uploads/x", ""])
async def test_kept_entry_that_is_no_session_of_ours_is_dropped(
        fresh_registry: Registry, make_client: MakeClient, tmp_path: Path, location: str) -> None:
    """A hand-edited or foreign entry (not a URL, another origin, empty): the upload goes on in a
    new session, and the entry is gone."""
    data, desc = _blob(6, RESUMABLE_SIZE)
    repo = Repository(fresh_registry.host, "u/bad")
    book = UploadBook(tmp_path / "uploads")
    book.keep(repo.registry, repo.path, str(desc.digest), location)
    await make_client(fresh_registry).push_blob(repo, desc, opener_for(data), sessions=book)
    assert await _stored(make_client, fresh_registry, "u/bad", desc) == data
    assert fresh_registry.requests("POST", "u/bad/blobs/uploads/.*") == 1
    assert '"GET / HTTP' not in fresh_registry.log()  # "" is the registry's root, no session
    assert list(book.directory.iterdir()) == []


async def test_foreign_location_is_never_kept(fresh_registry: Registry, tmp_path: Path) -> None:
    book = UploadBook(tmp_path / "uploads")
    book.keep("127.0.0.1:1", "r", "sha256:" + "0" * 64, "/v2/r/blobs/uploads/x")
    assert (tmp_path / "uploads").stat().st_mode & 0o777 == 0o700
    (entry,) = (tmp_path / "uploads").iterdir()
    assert entry.stat().st_mode & 0o777 == 0o600
    assert book.find("127.0.0.1:1", "r", "sha256:" + "0" * 64) == "/v2/r/blobs/uploads/x"
    assert book.find("127.0.0.1:1", "other", "sha256:" + "0" * 64) is None


async def test_upload_given_up_on_a_temporary_error_keeps_its_session(
        fresh_registry: Registry, make_client: MakeClient, tmp_path: Path) -> None:
    """The registry 503s every PUT until the retries are spent: the run fails that blob, but the
    session stays kept (no DELETE) for the next run, which resumes it."""
    data, desc = _blob(5, RESUMABLE_SIZE + MiB)
    book = UploadBook(tmp_path / "uploads")
    proxy = await RefusingProxy(fresh_registry, matching=r"^PUT .*/blobs/uploads/",
                                refuse=lambda n: n <= 2).start()
    settings = settings_for(retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02))
    repo = Repository(proxy.host, "u/outage")
    try:
        with pytest.raises(RegistryError):
            await make_client(settings=settings).push_blob(repo, desc, opener_for(data), sessions=book)
        assert book.find(repo.registry, repo.path, str(desc.digest)) is not None
        assert proxy.hits["DELETE"] == 0
        await make_client().push_blob(repo, desc, opener_for(data), sessions=book)
    finally:
        await proxy.stop()
        book.close()
    assert await _stored(make_client, fresh_registry, "u/outage", desc) == data
    assert fresh_registry.requests("POST", "u/outage/blobs/uploads/.*") == 1  # one session, resumed
    assert list(book.directory.iterdir()) == []


async def test_a_location_that_is_no_url_is_the_registrys_error(
        fresh_registry: Registry, make_client: MakeClient) -> None:
    """A registry answering the POST with ``Location: http://[x``: that blob fails with a
    RegistryError naming the host (never a ValueError, which a command reports as an internal
    error), and the bad value is not echoed."""
    data, desc = _blob(6, 1000)

    async def answer(request: web.Request) -> web.Response:
        if request.path == "/v2/":
            return web.Response()
        return web.Response(status=202, headers={"Location": "http://[x/v2/u/bad/blobs/uploads/1"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner, port = await serve(app)
    try:
        with pytest.raises(RegistryError, match="Location that is not a URL") as info:
            await make_client().push_blob(Repository(f"127.0.0.1:{port}", "u/bad"), desc, opener_for(data))
    finally:
        await runner.cleanup()
    assert "[x" not in str(info.value)
