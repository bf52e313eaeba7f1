"""A proxy that fails a seeded share of the requests it forwards: tests and benchmarks/faults.py."""

from __future__ import annotations

import random
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from tests.faults import serve


@dataclass
class RandomFaults:
    """An HTTP proxy to ``upstream`` (HOST:PORT) failing a ``rate`` share of requests (seeded):
    a 500, 502 or 503 answer, a reset before the answer, or a reset halfway through its body.
    A request whose path holds ``broken`` (a repository, say) gets a 503 every time: a
    persistent fault. ``faults`` counts what was injected, ``requests`` every request."""

    upstream: str
    rate: float
    rng: random.Random
    broken: str | None = None
    faults: int = 0
    requests: int = 0
    port: int = 0
    session: aiohttp.ClientSession | None = None
    runner: web.AppRunner | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> RandomFaults:
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
        self.requests += 1
        fault = self.rng.random() < self.rate and request.path != "/v2/"
        kind = self.rng.choice(("500", "502", "503", "reset", "reset-body")) if fault else ""
        if self.broken is not None and self.broken in request.path:
            fault, kind = True, "503"
        self.faults += fault
        if kind in ("500", "502", "503"):
            return web.Response(status=int(kind), text="injected")
        if kind == "reset" and request.transport is not None:
            request.transport.abort()
            return web.Response()
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in ("host", "transfer-encoding", "connection")}
        data = request.content if request.body_exists else None
        async with self.session.request(request.method, f"http://{self.upstream}{request.path_qs}",
                                        headers=headers, data=data, allow_redirects=False) as up:
            out = {k: v for k, v in up.headers.items()
                   if k.lower() not in ("content-length", "transfer-encoding", "connection")}
            if "Location" in out:
                out["Location"] = out["Location"].replace(self.upstream, f"127.0.0.1:{self.port}")
            resp = web.StreamResponse(status=up.status, headers=out)
            if up.content_length is not None:
                resp.content_length = up.content_length
            await resp.prepare(request)
            sent = 0
            async for chunk in up.content.iter_chunked(64 * 1024):
                if kind == "reset-body" and sent >= (up.content_length or 0) // 2 and request.transport:
                    request.transport.abort()
                    return resp
                await resp.write(chunk)
                sent += len(chunk)
            await resp.write_eof()
            return resp
