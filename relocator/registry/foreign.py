"""Non-distributable layers read from the ``urls`` of their descriptors (image-spec descriptor.md).

Only ``http`` and ``https`` URLs are fetched. The request goes out on the run's session but never
through the Transport: it carries no registry credentials, whatever host it names. The bytes are
verified against the descriptor's digest and size while they stream.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from urllib.parse import urlsplit

import aiohttp

from relocator.config import Settings
from relocator.errors import NotFound, RelocatorError
from relocator.oci.digest import AsyncVerifier
from relocator.oci.manifest import Descriptor
from relocator.registry.errormap import error_from, redact_url, translate_errors
from relocator.registry.stalls import SpeedFloor

__all__ = ["url_chunks"]


async def url_chunks(
    session: aiohttp.ClientSession, settings: Settings, desc: Descriptor, offset: int = 0
) -> AsyncGenerator[bytes, None]:
    """The blob's bytes from ``offset``, from the first of ``desc.urls`` that serves them.

    Every byte from 0 is hashed (bytes before ``offset`` are read and dropped), so a resumed
    stream is verified too. When no URL serves the blob, raises the last URL's error (NotFound
    if none was tried) with every URL's reason in its message; a URL that fails after bytes went
    out raises its own error (a retry reopens the stream).
    """
    reasons: list[str] = []
    last: RelocatorError = NotFound("", status=404)
    for url in desc.urls:
        parts = urlsplit(url)
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            reasons.append(f"{redact_url(url)}: not an http or https URL")
            continue
        host = parts.netloc.rpartition("@")[2]
        started = False
        try:
            with translate_errors("GET", url, host):
                async with session.get(url, allow_redirects=True) as resp:
                    floor = SpeedFloor(host, settings)
                    if resp.status != 200:
                        raise await error_from(resp, "GET", url, host, floor)
                    verifier = AsyncVerifier(desc.digest, desc.size,
                                             threaded=settings.limits.hash_in_threads)
                    skip = offset
                    async for chunk in resp.content.iter_chunked(settings.limits.read_chunk):
                        floor.moved(len(chunk))
                        await verifier.feed(chunk)
                        if skip >= len(chunk):
                            skip -= len(chunk)
                            continue
                        started = True
                        yield chunk[skip:]
                        skip = 0
                    await verifier.finish()
            return
        except RelocatorError as exc:
            if started:
                raise
            reasons.append(str(exc))
            last = exc
    last.args = ("; ".join(reasons) or "the descriptor has no urls",)
    raise last
