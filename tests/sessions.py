"""A registry front that keeps what an upload received, as a registry on resumable storage does.

distribution 2.8 drops an upload session whose stored bytes run past its last acknowledged request,
so a request cut mid-body leaves nothing to resume. ``KeepingFront`` stands in front of the real
registry and keeps them: it forwards each upload body upstream in ``piece``-sized PATCHes as it
arrives, so when the client goes away mid-body, the upstream session holds every forwarded byte, and
the session's status (``GET`` on its Location: 204, ``Range: 0-<last byte>``) says how many. Its
Locations are path-only (``/v2/NAME/blobs/uploads/ID``). Everything else is forwarded as FaultProxy
forwards it.
"""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import urljoin

from aiohttp import web

from tests.proxy import FaultProxy

_UPLOADS = re.compile(r"/v2/(?P<name>.+)/blobs/uploads/(?P<id>[^/]*)")


@dataclass
class _Session:
    upstream: str  # the real registry's latest Location (absolute)
    held: int = 0


@dataclass
class KeepingFront(FaultProxy):
    """``received``: upload body bytes that reached the front; ``uploads``: each upload request as
    (method, Content-Range or ""); ``reset_after``: once, reset the client's connection after that
    many bytes of one upload body (None: never)."""

    piece: int = 1024 * 1024
    reset_after: int | None = None
    received: int = 0
    uploads: list[tuple[str, str]] = field(default_factory=list)
    sessions: dict[str, _Session] = field(default_factory=dict)

    async def forward(self, request: web.Request) -> web.StreamResponse:
        match = _UPLOADS.fullmatch(request.path)
        if match is None:
            return await super().forward(request)
        if request.method == "POST":
            return await self._open(request, match.group("name"))
        session = self.sessions.get(match.group("id"))
        if session is None:
            return _error(404, "BLOB_UPLOAD_UNKNOWN", "blob upload unknown")
        if request.method == "GET":
            return self._status(request, session, 204)
        if request.method == "DELETE":
            del self.sessions[match.group("id")]
            await self._upstream("DELETE", session.upstream)
            return web.Response(status=204)
        self.uploads.append((request.method, request.headers.get("Content-Range", "")))
        start = request.headers.get("Content-Range", "").partition("-")[0]
        if start and int(start) != session.held:
            return _error(416, "BLOB_UPLOAD_INVALID", f"range starts at {start}, not {session.held}")
        whole = await self._take_body(request, session)
        if request.method == "PATCH" or not whole:
            return self._status(request, session, 202)
        status, headers = await self._upstream("PUT", session.upstream, {"digest": request.query["digest"]})
        if status == 201:
            self.sessions.pop(match.group("id"), None)
        return web.Response(status=status, headers={k: v for k, v in headers.items()
                                                    if k in ("Docker-Content-Digest", "Location")})

    async def _open(self, request: web.Request, name: str) -> web.StreamResponse:
        status, headers = await self._upstream("POST", f"{self.upstream.url}{request.path_qs}")
        if status != 202:
            return web.Response(status=status, headers={k: v for k, v in headers.items() if k == "Location"})
        key = uuid.uuid4().hex
        self.sessions[key] = _Session(urljoin(self.upstream.url, headers["Location"]))
        return web.Response(status=202, headers={"Location": f"/v2/{name}/blobs/uploads/{key}",
                                                 "Range": "0-0", "Content-Length": "0"})

    async def _take_body(self, request: web.Request, session: _Session) -> bool:
        """Forward the body upstream in pieces as it arrives; False if the client went away."""
        buffer = bytearray()
        taken = 0
        while True:
            try:
                chunk = await request.content.read(64 * 1024)
            except Exception:  # the client went away mid-body: keep what was forwarded
                return False
            if not chunk:
                break
            self.received += len(chunk)
            taken += len(chunk)
            self._count(len(chunk))
            buffer += chunk
            if len(buffer) >= self.piece:
                await self._patch(session, bytes(buffer))
                buffer.clear()
            if self.reset_after is not None and taken >= self.reset_after:
                self.reset_after = None
                if request.transport is not None:
                    request.transport.abort()
                return False
        if buffer:
            await self._patch(session, bytes(buffer))
        return True

    async def _patch(self, session: _Session, data: bytes) -> None:
        headers = {"Content-Range": f"{session.held}-{session.held + len(data) - 1}",
                   "Content-Type": "application/octet-stream"}
        assert self.session is not None
        async with self.session.patch(session.upstream, data=io.BytesIO(data), headers=headers) as up:
            assert up.status == 202, await up.text()
            session.upstream = urljoin(self.upstream.url, up.headers["Location"])
        session.held += len(data)

    async def _upstream(self, method: str, url: str,
                        params: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
        assert self.session is not None
        async with self.session.request(method, url, params=params, data=b"") as up:
            await up.read()
            return up.status, dict(up.headers)

    @staticmethod
    def _status(request: web.Request, session: _Session, status: int) -> web.StreamResponse:
        return web.Response(status=status, headers={
            "Location": request.path, "Range": f"0-{max(session.held - 1, 0)}", "Content-Length": "0"})


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"errors": [{"code": code, "message": message}]}, status=status)
