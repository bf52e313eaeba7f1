"""The upload session: POST, then one streamed PUT or PATCHes with Content-Range, then PUT.

A session that already holds part of the blob is resumed from the offset the registry reports:
``GET`` on its Location answers 204 with ``Range: 0-<last byte>`` (OCI distribution-spec, "Pushing
a blob in chunks" and "Upload status"; DESIGN: Registry behaviour). That happens within a run
after a failed request, and in the next run after a kill through a ``SessionBook`` (see
sessions.py). distribution 2.8 drops a session whose stored bytes run past its last acknowledged
request (a request cut mid-body): its GET answers 404 ``BLOB_UPLOAD_INVALID``, and a new session
starts from the first byte. Registries that keep what they received resume where it stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from relocator.auth import repository_scope
from relocator.errors import RegistryError, RelocatorError, SizeMismatch
from relocator.oci.manifest import Descriptor
from relocator.oci.reference import Repository
from relocator.registry.bodies import close_stream
from relocator.registry.sessions import Book, SessionBook, parse_range
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
        sessions: SessionBook | None = None,
    ) -> None:
        """Upload ``desc`` into ``repo``; retry temporary failures.

        ``location``: a session opened already (a declined mount's 202), used instead of a POST
        from the offset the registry reports for it. ``sessions``: where sessions are kept between
        runs; a kept one for this blob is resumed the same way.

        This loop owns the retries of every request in it (one attempt budget, not one per
        request), so each request below is sent once. An error of the source's stream is raised
        as it is, never retried here: the source has spent its own retries on it, and its 404 or
        wrong bytes will not change (the caller names it as the source's). A session that cannot
        be resumed, or whose resumed upload the registry refuses, costs no attempt: the upload
        starts over in a new session, once. Given up on a temporary error, the session is kept
        (not deleted) for the next run; on any other, it is deleted and forgotten.
        """
        book = Book(self.transport, sessions, repo, desc)
        book.claim()
        try:
            await self._push(repo, desc, opener, chunk_size, location, book)
        finally:
            book.release()

    async def _push(self, repo: Repository, desc: Descriptor, opener: ChunkOpener,
                    chunk_size: int | None, location: str | None, book: Book) -> None:
        retrier = self.transport.retrier(repo.registry)
        # A session of unknown progress: handed in, kept by an earlier run, or left by a failure.
        kept = await book.find()
        unknown, location = location or kept, None
        if unknown is not None and unknown != kept:
            await book.keep(unknown)
        source_errors: list[RelocatorError] = []
        opener = _recording(opener, source_errors)
        fresh_start_left = True
        while True:
            offset, resumed = 0, unknown is not None
            try:
                if unknown is not None:
                    progress, unknown = await self._progress(repo, unknown), None
                    if progress is not None:
                        offset, location = progress
                if location is None:
                    resumed = False
                    location = await self.start(repo, retry=False)
                    await book.keep(location)
                # A session that holds every byte (a run killed before its closing PUT) is only
                # committed: the source has nothing left to read (its Range GET would answer 416).
                # Else chunked when asked or the registry demands a minimum chunk; otherwise one
                # streamed PUT (from the offset a resumed session holds), the cheapest path on
                # every registry.
                min_chunk = self.transport.host(repo.registry).chunk_min
                if offset >= desc.size:
                    await self._commit(repo, desc, location, {"Content-Length": "0"}, None)
                elif chunk_size or min_chunk:
                    size = max(chunk_size or 0, min_chunk)
                    await self._chunked(repo, desc, opener, location, offset, size, book)
                else:
                    await self._monolithic(repo, desc, opener, location, offset)
                await book.forget()
                return
            except RelocatorError as exc:
                ours = not any(exc is e for e in source_errors)
                if ours and resumed and fresh_start_left and not exc.temporary:
                    # The registry refused what a resumed session led to (an offset it disowns,
                    # a session it had half dropped): start over rather than fail the blob.
                    fresh_start_left = False
                    await self._drop(repo, book, location)
                    location = None
                    continue
                delay = retrier.failed(exc) if ours else None
                if delay is None:
                    # Given up on a registry that may answer again (5xx, 429, no answer): the
                    # session stays kept, for the next run to resume (a nightly mirror after an
                    # outage). Anything else ends it.
                    if not (ours and exc.temporary):
                        await self._drop(repo, book, location)
                    raise
                # Keep the session: its status tells where to go on (or that it is gone).
                unknown, location = location or unknown, None
                await retrier.wait(delay, exc)

    async def _progress(self, repo: Repository, location: str) -> tuple[int, str] | None:
        """The offset and current Location of a session of unknown progress, or None (after a
        best-effort DELETE) when the registry no longer has it as it was: any 4xx status."""
        try:
            return await self.status(repo, location, retry=False)
        except RegistryError as exc:
            if exc.status is None or not 400 <= exc.status < 500 or exc.status == 429:
                raise
            await self.cancel(repo, location)
            return None

    async def _drop(self, repo: Repository, book: Book, location: str | None) -> None:
        await book.forget()
        if location is not None:
            await self.cancel(repo, location)

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
        """Bytes the session already holds, and its current Location; ``retry=False``: one try.
        Raises RegistryError with the status when the registry refuses (404: no such session)."""
        async with self.transport.stream(
            "GET", repo.registry, location, scopes=self._scopes(repo), ok=(204, 200), retry=retry,
        ) as resp:
            held = parse_range(resp.headers.get("Range"))
            location = resp.headers.get("Location", location)
        return held, location

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
        self, repo: Repository, desc: Descriptor, opener: ChunkOpener, location: str, offset: int
    ) -> None:
        headers = {"Content-Length": str(desc.size - offset), "Content-Type": "application/octet-stream"}
        if offset:
            # The closing PUT may carry the final chunk, with its range (distribution-spec).
            headers["Content-Range"] = f"{offset}-{desc.size - 1}"
        await self._commit(repo, desc, location, headers, lambda: opener(offset))

    async def _chunked(
        self,
        repo: Repository,
        desc: Descriptor,
        opener: ChunkOpener,
        location: str,
        offset: int,
        chunk_size: int,
        book: Book,
    ) -> None:
        buffer = bytearray()
        stream = opener(offset)
        try:
            async for piece in stream:
                buffer += piece
                while len(buffer) >= chunk_size:
                    location = await self._patch(repo, location, offset, bytes(buffer[:chunk_size]))
                    offset += chunk_size
                    del buffer[:chunk_size]
                    await book.keep(location)
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
