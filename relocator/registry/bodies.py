"""Bodies: whole response bodies, read to their end and bounded (manifests, tag lists, tokens,
errors); a streamed request body, closed when its request ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp

from relocator.oci.digest import close_stream
from relocator.registry.stalls import SpeedFloor

__all__ = ["RequestBody", "close_stream", "read_body", "size_text"]


class RequestBody:
    """A streamed request body that the transport closes when its request ends, however it ends.

    aiohttp iterates an async-iterable body in the request's writer task and never closes it
    (aiohttp 3.14 ``AsyncIterablePayload.write_with_length``): when a write fails (the peer reset
    the connection, or answered early) or the writer task is cancelled (the response released),
    the body's generators stay suspended at their ``yield`` until nothing references them, and
    an error raised from the request references them through its traceback (aiohttp's request
    holds the body). Whatever they hold stays held till then: for a blob copied between
    registries, the source GET and its slot of the source host (throttle.py). Issue 13: at 30%
    injected faults the source host's last slot was held by a writer task that had ended, and
    every later request to that host waited for it for good.

    ``aclose`` closes ``chunks`` at once when no task is inside them; otherwise the task that is
    (the writer, which aiohttp cancels with the request) closes them as it leaves. A chunk asked
    for after ``aclose`` raises ConnectionAbortedError (aiohttp fails the dead request with it).
    """

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks
        self._inside: asyncio.Task[object] | None = None  # the task waiting for a chunk now
        self._closed = False

    def __aiter__(self) -> RequestBody:
        return self

    async def __anext__(self) -> bytes:
        if self._closed:
            raise ConnectionAbortedError("the request has ended: its body is closed")
        self._inside = asyncio.current_task()
        try:
            return await anext(self._chunks)
        finally:
            self._inside = None
            if self._closed:
                await close_stream(self._chunks)

    async def aclose(self) -> None:
        """Close the body's chunks now, or as soon as the task inside them leaves (idempotent)."""
        self._closed = True
        if self._inside is None:
            await close_stream(self._chunks)


async def read_body(resp: aiohttp.ClientResponse, limit: int, floor: SpeedFloor) -> bytes | None:
    """Every byte of the body, or None when it is (or says it will be) over ``limit`` bytes.

    ``resp.content.read(n)`` returns what has arrived so far, which for a body sent in several
    TCP segments is only its start; this reads until the end of the body (Content-Length,
    last chunk, or close). A Content-Length over the limit answers None before reading a byte.
    ``floor`` raises TransportError for a body that trickles. aiohttp errors pass through: call
    it inside ``translate_errors``.
    """
    if resp.content_length is not None and resp.content_length > limit:
        return None
    body = bytearray()
    async for piece in resp.content.iter_any():
        floor.moved(len(piece))
        body += piece
        if len(body) > limit:
            return None
    return bytes(body)


def size_text(n: int) -> str:
    """``n`` bytes in the largest binary unit that divides it: ``16 MiB``, ``64 KiB``, ``100 bytes``."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"
