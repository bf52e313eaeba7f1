"""A streaming aiohttp proxy in front of a real registry that can misbehave on purpose."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from tests.faults import serve
from tests.registries import Registry

_HOP = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass
class FaultProxy:
    """Forwards to ``upstream`` except: mounts refused (if set), canned manifests served."""

    upstream: Registry
    refuse_mounts: bool = False
    chunk_min: int | None = None  # advertise OCI-Chunk-Min-Length on new upload sessions
    canned: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # path -> (type, body)
    hits: Counter[str] = field(default_factory=Counter)
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
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        if "Content-Length" in request.headers:
            headers["Content-Length"] = request.headers["Content-Length"]
        data = request.content if request.body_exists else None
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
            await resp.write_eof()
            return resp
