"""Whole response bodies, read to their end and bounded: manifests, tag lists, tokens, errors."""

from __future__ import annotations

import aiohttp

from relocator.registry.stalls import SpeedFloor

__all__ = ["read_body", "size_text"]


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
