"""The upload session: POST, then one streamed PUT or PATCHes with Content-Range, then PUT."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from relocator.auth import repository_scope
from relocator.errors import RegistryError, RelocatorError, SizeMismatch
from relocator.oci.manifest import Descriptor
from relocator.oci.reference import Repository
from relocator.registry.bodies import close_stream
from relocator.registry.transport import Transport

__all__ = ["ChunkOpener", "Uploader"]

# Opens the blob's bytes from an offset: every retry reopens its source.
ChunkOpener = Callable[[int], AsyncIterator[bytes]]


class Uploader:
    """Pushes blobs; one method reads the whole ladder top to bottom."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    async def push(
        self,
        repo: Repository,
        desc: Descriptor,
        opener: ChunkOpener,
        *,
        chunk_size: int | None = None,
        location: str | None = None,
    ) -> None:
        """Upload ``desc`` into ``repo``; resume ``location`` if given; retry temporary failures.

        This loop owns the retries of every request in it (one attempt budget, not one per
        request), so each request below is sent once. An error of the source's stream is raised
        as it is, never retried here: the source has spent its own retries on it, and its 404 or
        wrong bytes will not change (the caller names it as the source's).
        """
        retrier = self.transport.retrier(repo.registry)
        resume = location is not None
        source_errors: list[RelocatorError] = []
        opener = _recording(opener, source_errors)
        while True:
            try:
                # 1. Open a session, unless a mount's 202 or the caller handed us one.
                if location is None:
                    location = await self.start(repo, retry=False)
                # 2. Chunked when asked or the registry demands a minimum chunk;
                #    otherwise one streamed PUT, the cheapest path on every registry.
                min_chunk = self.transport.host(repo.registry).chunk_min
                if chunk_size or min_chunk:
                    size = max(chunk_size or 0, min_chunk)
                    await self._chunked(repo, desc, opener, location, size, resume)
                else:
                    await self._monolithic(repo, desc, opener, location)
                return
            except RelocatorError as exc:
                delay = None if any(exc is e for e in source_errors) else retrier.failed(exc)
                if delay is None:
                    if location is not None:
                        await self.cancel(repo, location)
                    raise
                if chunk_size and location is not None:
                    resume = True  # keep the session: its status tells where to go on
                else:
                    if location is not None:
                        await self.cancel(repo, location)
                    location, resume = None, False
                await retrier.wait(delay, exc)

    async def start(self, repo: Repository, *, retry: bool = True) -> str:
        """POST a new upload session and return its Location; ``retry=False``: one try."""
        async with self.transport.stream(
            "POST", repo.registry, f"/v2/{repo.path}/blobs/uploads/", scopes=self._scopes(repo),
            headers={"Content-Length": "0"}, ok=(202,), retry=retry,
        ) as resp:
            location = resp.headers.get("Location")
            min_len = resp.headers.get("OCI-Chunk-Min-Length")
        if not location:
            raise RegistryError(f"{repo.registry}: upload session for {repo} has no Location")
        if min_len and min_len.isdigit():
            state = self.transport.host(repo.registry)
            state.chunk_min = max(state.chunk_min, int(min_len))
        return location

    async def status(self, repo: Repository, location: str, *, retry: bool = True) -> tuple[int, str]:
        """Bytes the session already holds, and its current Location; ``retry=False``: one try."""
        async with self.transport.stream(
            "GET", repo.registry, location, scopes=self._scopes(repo), ok=(204, 200), retry=retry,
        ) as resp:
            rng = resp.headers.get("Range", "")
            location = resp.headers.get("Location", location)
        _, _, end = rng.partition("-")
        return (int(end) + 1 if end.isdigit() else 0), location

    async def cancel(self, repo: Repository, location: str) -> None:
        """Best-effort DELETE of a dead session so the registry can free it."""
        try:
            async with self.transport.stream(
                "DELETE", repo.registry, location, scopes=self._scopes(repo), ok=(204, 200, 202, 404),
                retry=False,
            ):
                pass
        except RelocatorError:
            pass

    async def _monolithic(
        self, repo: Repository, desc: Descriptor, opener: ChunkOpener, location: str
    ) -> None:
        headers = {"Content-Length": str(desc.size), "Content-Type": "application/octet-stream"}
        await self._commit(repo, desc, location, headers, lambda: opener(0))

    async def _chunked(
        self,
        repo: Repository,
        desc: Descriptor,
        opener: ChunkOpener,
        location: str,
        chunk_size: int,
        resume: bool,
    ) -> None:
        offset = 0
        if resume:
            offset, location = await self.status(repo, location, retry=False)
        buffer = bytearray()
        stream = opener(offset)
        try:
            async for piece in stream:
                buffer += piece
                while len(buffer) >= chunk_size:
                    location = await self._patch(repo, location, offset, bytes(buffer[:chunk_size]))
                    offset += chunk_size
                    del buffer[:chunk_size]
        finally:
            await close_stream(stream)
        if buffer:
            location = await self._patch(repo, location, offset, bytes(buffer))
            offset += len(buffer)
        if offset != desc.size:
            # The source's stream ended early without an error of its own: the source's fault.
            raise SizeMismatch(f"source of {desc.digest} gave {offset} of {desc.size} bytes")
        await self._commit(repo, desc, location, {"Content-Length": "0"}, None)

    async def _patch(self, repo: Repository, location: str, offset: int, data: bytes) -> str:
        headers = {
            "Content-Range": f"{offset}-{offset + len(data) - 1}",
            "Content-Length": str(len(data)),
            "Content-Type": "application/octet-stream",
        }
        # ECR answers a PATCH with 201 instead of 202 (aws/containers-roadmap#2831).
        async with self.transport.stream(
            "PATCH", repo.registry, location, scopes=self._scopes(repo), headers=headers,
            body=data, ok=(202, 201, 204), retry=False,
        ) as resp:
            return resp.headers.get("Location", location)

    async def _commit(
        self,
        repo: Repository,
        desc: Descriptor,
        location: str,
        headers: dict[str, str],
        body: Callable[[], AsyncIterator[bytes]] | None,
    ) -> None:
        async with self.transport.stream(
            "PUT", repo.registry, location, scopes=self._scopes(repo), headers=headers,
            params={"digest": str(desc.digest)}, body=body, ok=(201, 204), retry=False,
        ):
            pass

    @staticmethod
    def _scopes(repo: Repository) -> tuple[str, ...]:
        return (repository_scope(repo.path, ("pull", "push")),)


def _recording(opener: ChunkOpener, errors: list[RelocatorError]) -> ChunkOpener:
    """``opener``, keeping in ``errors`` each error its streams raise (the source's own)."""

    async def stream(offset: int) -> AsyncIterator[bytes]:
        chunks = opener(offset)
        try:
            async for chunk in chunks:
                yield chunk
        except RelocatorError as exc:
            errors.append(exc)
            raise
        finally:
            await close_stream(chunks)

    return stream
