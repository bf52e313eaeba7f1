"""RegistryStore: a RegistryClient as source, sink and mounter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence, Set
from contextlib import AbstractAsyncContextManager

from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.registry import RegistryClient
from relocator.stores.base import Opener

__all__ = ["RegistryStore"]


class RegistryStore:
    """Reads from and writes to any registry the client can reach."""

    def __init__(self, client: RegistryClient, *, chunk_size: int | None = None) -> None:
        self.client = client
        self.chunk_size = chunk_size
        # A declined mount's 202 opened an upload session: the upload reuses it.
        self._sessions: dict[tuple[Repository, Digest], str] = {}

    async def prepare(self, blobs: Sequence[Descriptor], manifests: Sequence[Manifest]) -> None:
        """Nothing to prepare: the registry takes writes as they come."""

    async def get_manifest(self, ref: Reference) -> Manifest:
        """The manifest, verified against the reference's digest."""
        return await self.client.get_manifest(ref)

    def open_blob(self, repo: Repository, desc: Descriptor) -> AbstractAsyncContextManager[
            AsyncIterator[bytes]]:
        """Verified chunks of the blob."""
        return self.client.open_blob(repo, desc)

    def blob_opener(self, repo: Repository, desc: Descriptor) -> Opener:
        """Streams of the blob from an offset; an error names the repository and the blob
        (``HOST/REPO: blob DIGEST: 404 Not Found (BLOB_UNKNOWN) ...``)."""
        opener = self.client.blob_opener(repo, desc)

        async def named(offset: int) -> AsyncIterator[bytes]:
            try:
                async for chunk in opener(offset):
                    yield chunk
            except RelocatorError as exc:
                raise _naming(exc, repo, desc.digest) from None

        return named

    async def has_blob(self, repo: Repository, desc: Descriptor) -> bool:
        """HEAD the blob."""
        return await self.client.head_blob(repo, desc.digest) is not None

    async def has_manifest(self, ref: Reference) -> bool:
        """HEAD the manifest (free on registries that count pulls)."""
        return await self.client.head_manifest(ref) is not None

    async def mount_blob(self, repo: Repository, desc: Descriptor, origin: Repository) -> bool:
        """Cross-repository mount; remembers a 202's session for the upload."""
        result = await self.client.mount_blob(repo, desc.digest, origin)
        if not result.mounted and result.location:
            self._sessions.setdefault((repo, desc.digest), result.location)
        return result.mounted

    async def write_blob(self, repo: Repository, desc: Descriptor, opener: Opener) -> None:
        """Upload, monolithic or chunked, into a reused or new session."""
        location = self._sessions.pop((repo, desc.digest), None)
        await self.client.push_blob(repo, desc, opener, chunk_size=self.chunk_size, location=location)

    async def write_manifest(self, ref: Reference, manifest: Manifest) -> None:
        """PUT the exact bytes."""
        await self.client.put_manifest(ref, manifest)

    async def write_tag(self, ref: Reference, manifest: Manifest) -> None:
        """PUT the tag (tags last); a destination by digest alone is already written."""
        if ref.tag is not None:
            await self.client.put_manifest(Reference(ref.repository, tag=ref.tag), manifest)

    async def close(self, keep: Set[Digest] | None) -> None:
        """Nothing to commit: every write is already durable at the registry."""


def _naming(exc: RelocatorError, repo: Repository, digest: Digest) -> RelocatorError:
    """``exc`` (same type and attributes) with ``HOST/REPO: blob DIGEST`` in front, once: the host
    the transport put first and the ``blob DIGEST`` a verifier put first are not repeated."""
    text = str(exc).removeprefix(f"{repo.registry}: ").removeprefix(f"blob {digest}: ")
    exc.args = (f"{repo}: blob {digest}: {text}",)
    return exc
