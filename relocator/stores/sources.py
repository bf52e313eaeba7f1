"""ForeignLayers: a BlobSource that reads a non-distributable layer from its URLs when the source
has no copy of it (``--include-non-distributable-layers``)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from relocator.errors import InputError, NotFound, RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.stores.base import (
    BlobSource,
    ListsReferrers,
    Opener,
    Preflight,
    ReferrerLookup,
    close_stream,
)

if TYPE_CHECKING:  # a type only: the client is handed in; aiohttp loads with open_client
    from relocator.registry import RegistryClient

__all__ = ["ForeignLayers"]


class ForeignLayers:
    """``inner``, except that a layer with ``urls`` it has no copy of (a registry's 404, a layout
    without the member) is read from those URLs through ``client``, verified, without credentials.

    Layers ``inner`` has come from ``inner``. When the URLs fail too, the source's error says so,
    with each URL's reason.
    """

    def __init__(self, inner: BlobSource, client: RegistryClient) -> None:
        self.inner = inner
        self.client = client

    async def get_manifest(self, ref: Reference) -> Manifest:
        """The inner source's manifest."""
        return await self.inner.get_manifest(ref)

    def preflight(self, failed: Mapping[str, str], needs: Mapping[Digest, Sequence[Descriptor]]) -> None:
        """The inner source's check (if it has one), but for layers with ``urls``: those the
        source lacks come from their URLs."""
        if isinstance(self.inner, Preflight):
            self.inner.preflight(failed, {m: [d for d in blobs if not d.urls] for m, blobs in needs.items()})

    async def list_referrers(self, repo: Repository, subject: Descriptor,
                             artifact_type: str | None = None) -> ReferrerLookup:
        """The inner source's referrers; none if it cannot list them."""
        if isinstance(self.inner, ListsReferrers):
            return await self.inner.list_referrers(repo, subject, artifact_type)
        return ReferrerLookup()

    def open_blob(self, repo: Repository, desc: Descriptor) -> AbstractAsyncContextManager[
            AsyncIterator[bytes]]:
        """Verified chunks of the blob, from the source or, for a layer it lacks, its URLs."""
        if not desc.urls:
            return self.inner.open_blob(repo, desc)

        @asynccontextmanager
        async def ctx() -> AsyncIterator[AsyncIterator[bytes]]:
            chunks = self._either(repo, desc, 0)
            try:
                yield chunks
            finally:
                await chunks.aclose()

        return ctx()

    def blob_opener(self, repo: Repository, desc: Descriptor) -> Opener:
        """The source's streams; for a layer with ``urls`` it lacks, the URLs' streams."""
        if not desc.urls:
            return self.inner.blob_opener(repo, desc)
        return lambda offset: self._either(repo, desc, offset)

    async def _either(self, repo: Repository, desc: Descriptor, offset: int) -> AsyncGenerator[bytes, None]:
        moved = False
        chunks: AsyncIterator[bytes] | None = None
        try:
            # Opened inside the try: an archive's opener refuses a missing blob as it is called.
            chunks = self.inner.blob_opener(repo, desc)(offset)
            async for chunk in chunks:
                moved = True
                yield chunk
            return
        except (NotFound, InputError) as exc:
            if moved:
                raise
            missing = exc
        finally:
            if chunks is not None:
                await close_stream(chunks)  # closed with this stream, not by the garbage collector
        chunks = None
        try:
            chunks = self.client.url_blob_opener(desc)(offset)
            async for chunk in chunks:
                moved = True
                yield chunk
        except RelocatorError as exc:
            if moved:
                raise  # a URL broke off: its own error, temporary or not
            missing.args = (f"{missing}; from its urls: {exc}",)
            raise missing from None
        finally:
            if chunks is not None:
                await close_stream(chunks)
