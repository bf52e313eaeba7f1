"""Blob downloads: one streamed GET, resumed with ``Range`` where the body broke off."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from relocator.auth import repository_scope
from relocator.errors import RegistryError, SizeMismatch, TransportError
from relocator.oci.digest import AsyncVerifier
from relocator.oci.manifest import Descriptor
from relocator.oci.reference import Repository
from relocator.registry.errormap import translate_errors
from relocator.registry.stalls import SpeedFloor
from relocator.registry.transport import Transport

__all__ = ["blob_chunks"]


def _range_skip(status: int, content_range: str | None, offset: int) -> int | None:
    """Bytes to drop from the front of the answer to ``Range: bytes=OFFSET-`` (none asked at 0):
    a 200 is the whole blob (the server ignored Range, RFC 9110 14.2), a 206 starts where its
    ``Content-Range: bytes FIRST-LAST/SIZE`` says (RFC 9110 14.4: a single-range 206 carries it).
    None when the bytes asked for are not in the answer (a 206 starting after OFFSET, or one
    whose Content-Range cannot be read)."""
    if status != 206 or not offset:
        return offset if status == 200 else 0
    unit, _, spec = (content_range or "").partition(" ")
    first = spec.partition("-")[0].strip()
    if unit.strip().lower() != "bytes" or not first.isdigit() or int(first) > offset:
        return None
    return offset - int(first)


async def blob_chunks(
    transport: Transport, repo: Repository, desc: Descriptor, start: int
) -> AsyncGenerator[bytes, None]:
    """Verified chunks of ``desc`` from byte ``start`` (the digest is checked only from 0: a stream
    from an offset is checked by its consumer, who has the rest). A body that breaks off or trickles
    below the speed floor resumes from the bytes already sent with ``Range`` (RFC 9110 14.2),
    under the host's retry policy; opening is the transport's to retry. Raises the source's own
    errors at once: NotFound, DigestMismatch, SizeMismatch (the blob it serves is not this one),
    RegistryError for a 206 that does not start where asked, and HostDown."""
    threaded = transport.settings.limits.hash_in_threads
    verifier = AsyncVerifier(desc.digest, desc.size, threaded=threaded) if start == 0 else None
    offset = start
    read_chunk = transport.settings.limits.read_chunk
    retrier = transport.retrier(repo.registry)
    path = f"/v2/{repo.path}/blobs/{desc.digest}"
    scopes = (repository_scope(repo.path, ("pull",)),)
    while True:
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        # Opening is the transport's to retry; this loop only mends a body that broke off.
        async with transport.stream(
            "GET", repo.registry, path, scopes=scopes, headers=headers, ok=(200, 206)
        ) as resp:
            skip = _range_skip(resp.status, resp.headers.get("Content-Range"), offset)
            if skip is None:
                raise RegistryError(
                    f"{repo.registry}: {desc.digest}: asked for bytes {offset}- and got "
                    f"Content-Range {resp.headers.get('Content-Range')!r}", status=resp.status,
                    method="GET")
            floor = SpeedFloor(repo.registry, transport.settings)
            try:
                with translate_errors("GET", str(resp.url), repo.registry):
                    async for chunk in resp.content.iter_chunked(read_chunk):
                        floor.moved(len(chunk))
                        if skip:
                            cut, skip = min(skip, len(chunk)), skip - min(skip, len(chunk))
                            chunk = chunk[cut:]
                            if not chunk:
                                continue
                        if verifier is not None:
                            await verifier.feed(chunk)
                        offset += len(chunk)
                        yield chunk
                break
            except TransportError as exc:
                broken = exc
        # Resume from the bytes already verified: the next GET asks for the rest.
        await retrier.wait_or_raise(broken)
    if verifier is not None:
        await verifier.finish()
    elif offset != desc.size:
        # The registry sent a whole answer that ends early: its blob is not this one.
        raise SizeMismatch(f"{repo.registry}: {desc.digest} ended at {offset} of {desc.size} bytes")

