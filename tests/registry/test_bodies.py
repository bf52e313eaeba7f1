"""Whole bodies: manifests, error bodies and tag lists that arrive in many small, late pieces."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from relocator.errors import InputError, RegistryError
from relocator.oci import Reference, Repository
from relocator.registry import RegistryClient
from tests.faults import serve
from tests.images import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, sha256

MakeClient = Callable[..., RegistryClient]

PIECE = 1024
PAUSE = 0.002  # between pieces: every read finds at most a piece or two waiting
MiB = 1024 * 1024


def big_manifest(layers: int) -> bytes:
    """A valid OCI image manifest of ``layers`` layer descriptors (about 140 bytes each)."""
    def desc(media_type: str, n: int) -> dict[str, object]:
        return {"mediaType": media_type, "digest": sha256(n.to_bytes(4, "big")), "size": n + 1}

    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": desc(OCI_CONFIG, 0),
           "layers": [desc(OCI_LAYER, n) for n in range(1, layers + 1)]}
    return json.dumps(doc, indent=1).encode()


def huge_manifest(size: int) -> bytes:
    """A syntactically valid manifest of ``size`` bytes: one enormous annotation."""
    head = big_manifest(1)[:-2] + b',\n "annotations": {"pad": "'
    tail = b'"}\n}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


@dataclass
class SlowServer:
    """Serves manifests, tag lists and errors a little at a time.

    The last path segment of the repository picks the framing: ``length`` sends Content-Length,
    ``chunked`` sends Transfer-Encoding: chunked. ``pause`` is the sleep between pieces.
    """

    manifests: dict[str, bytes] = field(default_factory=dict)  # reference -> body
    tags: list[str] = field(default_factory=list)
    error: bytes = b""
    piece: int = PIECE
    pause: float = PAUSE
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> SlowServer:
        app = web.Application()
        app.router.add_get("/v2/", self.ping)
        app.router.add_get("/v2/{repo:.+}/manifests/{ref}", self.manifest)
        app.router.add_get("/v2/{repo:.+}/tags/list", self.tag_list)
        self.runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def manifest(self, request: web.Request) -> web.StreamResponse:
        if self.error:
            return await self.send(request, 400, self.error, "application/json")
        body = self.manifests[request.match_info["ref"]]
        return await self.send(request, 200, body, OCI_MANIFEST, {"Docker-Content-Digest": sha256(body)})

    async def tag_list(self, request: web.Request) -> web.StreamResponse:
        body = json.dumps({"name": request.match_info["repo"], "tags": self.tags}).encode()
        return await self.send(request, 200, body, "application/json")

    async def send(self, request: web.Request, status: int, body: bytes, media_type: str,
                   headers: dict[str, str] | None = None) -> web.StreamResponse:
        resp = web.StreamResponse(status=status, headers={"Content-Type": media_type, **(headers or {})})
        if request.match_info["repo"].endswith("/chunked"):
            resp.enable_chunked_encoding()
        else:
            resp.content_length = len(body)
        await resp.prepare(request)
        try:
            for i in range(0, len(body), self.piece):
                await resp.write(body[i : i + self.piece])
                if self.pause:
                    await asyncio.sleep(self.pause)
            await resp.write_eof()
        except ConnectionError:
            pass  # the client stopped reading: what a size limit does
        return resp


async def serve_until_close(body: bytes) -> tuple[asyncio.Server, str]:
    """A bare HTTP/1.1 server whose manifest answer has no length and no chunks: it ends at close.

    aiohttp's server always frames an HTTP/1.1 body, so this one is written by hand.
    """
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            first = await reader.read(1)
            head = first + await reader.readuntil(b"\r\n\r\n") if first != b"\x16" else b""
            if not head:  # a TLS ClientHello: the client's HTTPS probe must fail as with any HTTP server
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            elif head.split(b" ", 2)[1] == b"/v2/":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            else:
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Type: {OCI_MANIFEST}\r\n"
                             f"Docker-Content-Digest: {sha256(body)}\r\nConnection: close\r\n\r\n".encode())
                for i in range(0, len(body), PIECE):
                    writer.write(body[i : i + PIECE])
                    await writer.drain()
                    await asyncio.sleep(PAUSE)
            await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"127.0.0.1:{server.sockets[0].getsockname()[1]}"


@pytest.fixture
async def slow() -> AsyncIterator[SlowServer]:
    server = await SlowServer().start()
    yield server
    await server.stop()


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_manifest_in_small_late_pieces(slow: SlowServer, make_client: MakeClient,
                                             framing: str) -> None:
    body = big_manifest(2000)
    assert len(body) > 280_000
    digest = sha256(body)
    slow.manifests = {"v1": body, digest: body}
    client = make_client()
    for ident in (":v1", f"@{digest}"):
        got = await client.get_manifest(Reference.parse(f"{slow.host}/slow/{framing}{ident}"))
        assert got.raw == body
        assert str(got.digest) == digest
        assert len(got.children) == 2001


async def test_manifest_ended_by_close_in_small_late_pieces(make_client: MakeClient) -> None:
    body = big_manifest(2000)
    server, host = await serve_until_close(body)
    try:
        got = await make_client().get_manifest(Reference.parse(f"{host}/slow/close@{sha256(body)}"))
    finally:
        server.close()
        await server.wait_closed()
    assert got.raw == body
    assert str(got.digest) == sha256(body)


@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_oversized_manifest_is_refused_by_the_limit(slow: SlowServer, make_client: MakeClient,
                                                          framing: str) -> None:
    slow.manifests = {"big": huge_manifest(50 * MiB)}
    slow.piece, slow.pause = 256 * 1024, 0
    ref = f"{slow.host}/slow/{framing}:big"
    with pytest.raises(InputError) as info:
        await make_client().get_manifest(Reference.parse(ref))
    text = str(info.value)
    assert text.startswith(f"{ref}: manifest is larger than the 16 MiB limit"), text
    assert "JSON" not in text


async def test_error_body_in_small_late_pieces(slow: SlowServer, make_client: MakeClient) -> None:
    reason = "layer 7 names a blob this repository does not hold " * 100
    slow.error = json.dumps({"errors": [{"code": "MANIFEST_INVALID", "message": reason.strip()}]}).encode()
    slow.piece = 256
    with pytest.raises(RegistryError) as info:
        await make_client().get_manifest(Reference.parse(f"{slow.host}/slow/chunked:v1"))
    assert info.value.status == 400
    assert info.value.codes == ("MANIFEST_INVALID",)
    assert reason.strip() in str(info.value)


async def test_tag_list_in_small_late_pieces(slow: SlowServer, make_client: MakeClient) -> None:
    slow.tags = [f"release-{n:05d}" for n in range(5000)]
    got = await make_client().list_tags(Repository(slow.host, "slow/chunked"))
    assert got == slow.tags


async def test_oversized_tag_list_is_refused_by_the_limit(slow: SlowServer, make_client: MakeClient) -> None:
    slow.tags = [f"nightly-{n:024d}" for n in range(1_100_000)]  # 37 bytes a tag: over 32 MiB
    slow.piece, slow.pause = 256 * 1024, 0
    with pytest.raises(RegistryError) as info:
        await make_client().list_tags(Repository(slow.host, "slow/chunked"))
    assert str(info.value) == f"{slow.host}: tag list of slow/chunked is larger than the 32 MiB limit"
