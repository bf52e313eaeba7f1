"""A streaming aiohttp proxy in front of a real registry that can misbehave on purpose."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from tests.faults import serve
from tests.registries import Registry

_HOP = {"host", "content-length", "transfer-encoding", "connection"}
_BLOB = re.compile(r"/v2/.+/blobs/(sha256:[0-9a-f]{64})")

# What a blob GET may get instead of the registry's answer (FaultProxy.blob_faults).
BLOB_FAULTS = ("404", "corrupt", "short", "reset", "slow", "stall")


@dataclass
class FaultProxy:
    """Forwards to ``upstream`` except: mounts refused (if set), canned manifests served, and blob
    GETs answered with a fault (``blob_faults``: digest, or ``*`` for every blob, to one of
    BLOB_FAULTS): a 404, one byte flipped, the last bytes left out (with a matching
    Content-Length), the connection reset halfway through the body, the body at ``slow_rate``
    bytes/s, or no answer at all until ``stop``;
    any request whose path holds ``stall_matching`` gets no answer either. ``hits["blob"]``
    counts blob GETs, faulted or not, ``hits["referrers"]`` Referrers API requests. ``moved``
    counts the body bytes forwarded either way (request and answer), and ``on_moved`` is called
    after each piece with the count."""

    upstream: Registry
    refuse_mounts: bool = False
    chunk_min: int | None = None  # advertise OCI-Chunk-Min-Length on new upload sessions
    canned: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path -> (type, body)
    blob_faults: dict[str, str] = field(default_factory=dict)
    slow_rate: float = 1.0
    stall_matching: str | None = None  # any request whose path holds this gets no answer
    # Blob PUTs with a body over ``upload_fault_after`` bytes, by digest (or "*"): the faults
    # their successive PUTs get, after that many bytes of the body are read. "500": answer 500 and
    # read no more until ``stop`` (the client's writer is left blocked mid-body); "reset": reset
    # the connection (the writer's next write fails). Once a digest's list is spent, forwarded.
    upload_faults: dict[str, list[str]] = field(default_factory=dict)
    upload_fault_after: int = 256 * 1024
    patch_resets: int = 0  # the next this many PATCHes over upload_fault_after bytes: reset
    hits: Counter[str] = field(default_factory=Counter)
    moved: int = 0
    on_moved: Callable[[int], None] | None = None
    released: asyncio.Event = field(default_factory=asyncio.Event)
    faulted: asyncio.Event = field(default_factory=asyncio.Event)  # set at the first fault served
    runner: web.AppRunner | None = None
    session: aiohttp.ClientSession | None = None
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> FaultProxy:
        self.session = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=0)
        app.router.add_route("*", "/{tail:.*}", self.forward)
        self.runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        self.released.set()  # stalled and slow answers end, so the server's shutdown need not wait
        if self.runner is not None:
            await self.runner.cleanup()
        if self.session is not None:
            await self.session.close()

    async def forward(self, request: web.Request) -> web.StreamResponse:
        if request.path in self.canned:
            media_type, body = self.canned[request.path]
            return web.Response(body=body, headers={"Content-Type": media_type})
        if self.refuse_mounts and request.method == "POST" and "mount" in request.query:
            self.hits["refused-mount"] += 1
            return web.json_response({"errors": [{"code": "DENIED", "message": "no mounts here"}]},
                                     status=403)
        self.hits[request.method] += 1
        if "/referrers/" in request.path:
            self.hits["referrers"] += 1
        if self.stall_matching is not None and self.stall_matching in request.path:
            return await self._fault(request, "stall")
        if request.method == "PUT" and (request.content_length or 0) > self.upload_fault_after:
            digest = request.query.get("digest", "")
            self.hits[f"put {digest}"] += 1
            faults = self.upload_faults.get(digest, self.upload_faults.get("*", []))
            if self.hits[f"put {digest}"] <= len(faults):
                return await self._refuse_upload(request, faults[self.hits[f"put {digest}"] - 1])
        if (request.method == "PATCH" and self.patch_resets
                and (request.content_length or 0) > self.upload_fault_after):
            self.patch_resets -= 1
            return await self._refuse_upload(request, "reset")
        blob = _BLOB.fullmatch(request.path) if request.method == "GET" else None
        if blob:
            self.hits["blob"] += 1
            fault = self.blob_faults.get(blob.group(1), self.blob_faults.get("*"))
            if fault is not None:
                return await self._fault(request, fault)
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        if "Content-Length" in request.headers:
            headers["Content-Length"] = request.headers["Content-Length"]
        data = self._counted(request.content) if request.body_exists else None
        url = f"{self.upstream.url}{request.path_qs}"
        async with self.session.request(request.method, url, headers=headers, data=data,
                                        allow_redirects=False) as up:
            out = {k: v for k, v in up.headers.items() if k.lower() not in _HOP}
            if "Location" in out:
                out["Location"] = out["Location"].replace(self.upstream.host, self.host)
            if self.chunk_min is not None and request.method == "POST" and up.status == 202:
                out["OCI-Chunk-Min-Length"] = str(self.chunk_min)
            resp = web.StreamResponse(status=up.status, headers=out)
            if up.headers.get("Content-Length"):
                resp.content_length = int(up.headers["Content-Length"])
            await resp.prepare(request)
            async for chunk in up.content.iter_chunked(64 * 1024):
                await resp.write(chunk)
                self._count(len(chunk))
            await resp.write_eof()
            return resp

    async def _counted(self, body: aiohttp.StreamReader) -> AsyncIterator[bytes]:
        async for chunk in body.iter_chunked(64 * 1024):
            self._count(len(chunk))
            yield chunk

    def _count(self, n: int) -> None:
        self.moved += n
        if self.on_moved is not None:
            self.on_moved(self.moved)

    async def _refuse_upload(self, request: web.Request, fault: str) -> web.StreamResponse:
        self.faulted.set()
        await request.content.readexactly(self.upload_fault_after)
        if fault == "reset":
            if request.transport is not None:
                request.transport.abort()
            return web.Response()
        resp = web.StreamResponse(status=500, headers={"Content-Type": "application/json"})
        body = b'{"errors": [{"code": "UNKNOWN", "message": "injected"}]}'
        resp.content_length = len(body)
        await resp.prepare(request)
        await resp.write(body)
        await resp.write_eof()
        # Returning would let aiohttp drain the rest of the body; holding the handler keeps the
        # client's writer blocked on a full socket, as behind a proxy that stopped reading.
        await self.released.wait()
        return resp

    async def _fault(self, request: web.Request, fault: str) -> web.StreamResponse:
        self.faulted.set()
        if fault == "404":
            return web.json_response({"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]},
                                     status=404)
        if fault == "stall":
            await self.released.wait()
            if request.transport is not None:  # else the client has gone already
                request.transport.abort()
            return web.Response()
        assert self.session is not None
        async with self.session.get(f"{self.upstream.url}{request.path_qs}") as up:
            body = await up.read()
        if fault == "corrupt":
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        elif fault == "short":
            body = body[:-10]
        if fault not in ("slow", "reset"):
            return web.Response(body=body, content_type="application/octet-stream")
        resp = web.StreamResponse(headers={"Content-Length": str(len(body))})
        await resp.prepare(request)
        if fault == "reset":
            await resp.write(body[:len(body) // 2])
            await resp.drain()
            if request.transport is not None:
                request.transport.abort()
            return resp
        for i in range(len(body)):
            try:
                await resp.write(body[i:i + 1])
            except ConnectionError:  # the client gave up on it
                break
            try:
                await asyncio.wait_for(self.released.wait(), 1 / self.slow_rate)
                break
            except TimeoutError:
                pass
        return resp


@dataclass
class ThrottlingProxy(FaultProxy):
    """A FaultProxy that answers 429 (no ``Retry-After``, as a registry's load shedder might) to
    any request arriving while ``most`` are in flight already, after holding it ``shed_after``
    seconds (a queue that gives up: so a refused request stays in flight, and what is in flight
    is what the client sends at once); ``arrivals`` holds, for each request in order, how many
    were in flight with it and whether it was refused; ``hits["refused"]`` counts the refusals
    (``hits[METHOD]`` only what was forwarded)."""

    most: int = 3
    shed_after: float = 0.05
    in_flight: int = 0
    arrivals: list[tuple[int, bool]] = field(default_factory=list)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        try:
            refused = self.in_flight > self.most
            self.arrivals.append((self.in_flight, refused))
            if refused:
                self.hits["refused"] += 1
                await asyncio.sleep(self.shed_after)
                return web.json_response(
                    {"errors": [{"code": "TOOMANYREQUESTS", "message": "too many requests"}]}, status=429)
            return await super().forward(request)
        finally:
            self.in_flight -= 1


def _always(n: int) -> bool:
    return True


def _at_once(n: int) -> float:
    return 0.0


@dataclass
class RefusingProxy(FaultProxy):
    """A FaultProxy that refuses the requests whose ``METHOD path`` matches ``matching`` (a regex)
    with ``status`` (429 or 503, as a registry in maintenance or over its rate limit answers), and
    ``Retry-After: retry_after`` if set: the n-th of them (1-based) if ``refuse(n)``, by default
    every one (a host that refuses them for good). The n-th is held ``hold(n)`` seconds first.

    A matching request it does not refuse waits for ``go`` before it is forwarded, if ``go`` is
    given: the test decides when the client gets its answer. ``hits["refused"]`` counts the
    refusals, ``hits["early"]`` the requests (any) that arrived while a Retry-After it gave was
    still running: requests the client should have held back."""

    matching: str = ""
    status: int = 503
    retry_after: str | None = None
    refuse: Callable[[int], bool] = _always
    hold: Callable[[int], float] = _at_once
    go: asyncio.Event | None = None
    quiet_until: float = 0.0  # loop time the last Retry-After given ends at

    async def forward(self, request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        if loop.time() < self.quiet_until:
            self.hits["early"] += 1
        if not re.search(self.matching, f"{request.method} {request.path}"):
            return await super().forward(request)
        self.hits["matching"] += 1
        n = self.hits["matching"]
        if self.hold(n):
            await asyncio.sleep(self.hold(n))
        if not self.refuse(n):
            if self.go is not None:
                await self.go.wait()
            return await super().forward(request)
        self.hits["refused"] += 1
        headers = {}
        if self.retry_after is not None:
            headers["Retry-After"] = self.retry_after
            self.quiet_until = max(self.quiet_until, loop.time() + float(self.retry_after))
        code = "TOOMANYREQUESTS" if self.status == 429 else "UNAVAILABLE"
        return web.json_response({"errors": [{"code": code, "message": "refused"}]},
                                 status=self.status, headers=headers)
