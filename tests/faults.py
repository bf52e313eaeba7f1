"""An aiohttp registry stand-in for faults a real registry will not produce on demand."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import struct
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on 127.0.0.1 with an ephemeral port."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@dataclass
class FaultServer:
    """Serves one blob and a few endpoints, misbehaving as configured; counts requests."""

    blob: bytes = b""
    reset_after: int | None = None  # bytes sent before the first full GET is cut off
    throttle_first: int = 0  # this many manifest requests get 429 + Retry-After
    retry_after: str = "2"
    always_503: bool = False
    tags: list[str] = field(default_factory=list)
    hits: Counter[str] = field(default_factory=Counter)
    ranges: list[str] = field(default_factory=list)
    range_answer: str = "206"  # to a Range: "206", "200" (ignores it) or "late" (a 206 from 1 byte on)
    runner: web.AppRunner | None = None
    port: int = 0

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.blob).hexdigest()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> FaultServer:
        app = web.Application()
        app.router.add_get("/v2/", self.ping)
        app.router.add_get("/v2/{repo:.+}/blobs/{digest}", self.get_blob)
        app.router.add_route("*", "/v2/{repo:.+}/manifests/{ref}", self.manifest)
        app.router.add_get("/v2/{repo:.+}/tags/list", self.tag_list)
        self.runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    async def get_blob(self, request: web.Request) -> web.StreamResponse:
        self.hits["blob"] += 1
        rng = request.headers.get("Range")
        if rng:
            self.ranges.append(rng)
            start = int(rng.removeprefix("bytes=").split("-")[0])
            if self.range_answer == "200":
                return web.Response(body=self.blob)
            start += self.range_answer == "late"
            body = self.blob[start:]
            return web.Response(status=206, body=body, headers={
                "Content-Range": f"bytes {start}-{len(self.blob) - 1}/{len(self.blob)}"})
        if self.reset_after is not None and self.hits["blob"] == 1:
            resp = web.StreamResponse(headers={"Content-Length": str(len(self.blob))})
            await resp.prepare(request)
            await resp.write(self.blob[: self.reset_after])
            await resp.drain()
            assert request.transport is not None
            request.transport.abort()  # a connection reset in the middle of the body
            return resp
        return web.Response(body=self.blob)

    async def manifest(self, request: web.Request) -> web.Response:
        self.hits["manifest"] += 1
        if self.always_503:
            return web.json_response({"errors": [{"code": "UNAVAILABLE", "message": "try later"}]},
                                     status=503)
        if self.hits["manifest"] <= self.throttle_first:
            return web.json_response({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]},
                                     status=429, headers={"Retry-After": self.retry_after})
        return web.Response(status=404)

    async def tag_list(self, request: web.Request) -> web.Response:
        self.hits["tags"] += 1
        n = int(request.query.get("n", "1000"))
        last = request.query.get("last", "")
        rest = [t for t in self.tags if t > last][:n]
        headers = {}
        if rest and rest[-1] != self.tags[-1]:
            repo = request.match_info["repo"]
            headers["Link"] = f'</v2/{repo}/tags/list?n={n}&last={rest[-1]}>; rel="next"'
        return web.json_response({"name": request.match_info["repo"], "tags": rest}, headers=headers)


@dataclass
class DeadServer:
    """A host that accepts connections and then never answers (``reset=False``: reads and stays
    silent, like a hung process or a black-holed link) or resets each one at once (``reset=True``).
    ``plain=True``: a TLS handshake is answered in plain HTTP, as a plain-HTTP registry would, so
    a client falls back to http and meets the silence there.

    Counts the connections it accepted and those it left unanswered: what a client's retries and
    circuit breaker cost the host.
    """

    reset: bool = False
    plain: bool = False
    connections: int = 0
    unanswered: int = 0
    server: asyncio.Server | None = None
    port: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> DeadServer:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        if self.reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # linger 0: the close is an RST, a "connection reset by peer"
            return
        self._writers.append(writer)
        first = await reader.read(65536)
        if self.plain and first[:1] == b"\x16":
            writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            writer.close()
            return
        self.unanswered += 1
        while await reader.read(65536):  # take what is sent, answer nothing
            pass


@dataclass
class DeafServer:
    """Answers requests without a body (``/v2/`` 200, an upload POST 202 with a Location,
    anything else 404) and stops reading at the head of any request that has one: a peer whose
    TCP window stays shut mid-upload. Counts the bodies it left unread."""

    unread: int = 0
    server: asyncio.Server | None = None
    port: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> DeafServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._stopped.set()
        for writer in self._writers:
            writer.transport.abort()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._answer(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        first = await reader.readexactly(1)
        if first == b"\x16":  # a TLS handshake: answer in plain HTTP, as a plain server would
            writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            writer.close()
            return
        while head := first + await reader.readuntil(b"\r\n\r\n"):
            first = b""
            method, path, _ = head.split(b" ", 2)
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if length:
                self.unread += 1
                await self._stopped.wait()  # never read again
                return
            if path == b"/v2/":
                status, extra = b"200 OK", b""
            elif method == b"POST" and path.endswith(b"/blobs/uploads/"):
                status, extra = b"202 Accepted", b"Location: " + path + b"1\r\n"
            else:
                status, extra = b"404 Not Found", b""
            writer.write(b"HTTP/1.1 " + status + b"\r\n" + extra + b"Content-Length: 0\r\n\r\n")
            await writer.drain()
