"""DryRunSink: the real scheduler over a sink that only looks and counts, so a dry run's plan
can never disagree with what a real run does."""

from __future__ import annotations

from collections.abc import Sequence, Set

from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.referrers import Referrer
from relocator.stores.base import BlobSink, Mounter, Opener

__all__ = ["DryRunSink"]


class DryRunSink:
    """Asks ``inner`` what it already has (HEAD for a registry) and counts the rest; writes nothing
    and never reads a source byte. A blob the scheduler would mount counts as mounted if ``inner``
    can mount at all."""

    def __init__(self, inner: BlobSink) -> None:
        self.inner = inner
        self.bytes_present = 0
        self.manifests = 0

    async def prepare(self, blobs: Sequence[Descriptor], manifests: Sequence[Manifest]) -> None:
        """Nothing: a dry run creates no file."""

    async def has_blob(self, repo: Repository, desc: Descriptor) -> bool:
        """What the real sink says; bytes already there are counted."""
        here = await self.inner.has_blob(repo, desc)
        if here:
            self.bytes_present += desc.size
        return here

    async def has_manifest(self, ref: Reference) -> bool:
        """Always False, so every planned manifest is counted once per repository."""
        return False

    async def mount_blob(self, repo: Repository, desc: Descriptor, origin: Repository) -> bool:
        """A mount the real sink would be asked for (assumed to work)."""
        return isinstance(self.inner, Mounter)

    async def write_blob(self, repo: Repository, desc: Descriptor, opener: Opener) -> None:
        """Counted by the scheduler's report; the source is never opened."""

    async def write_manifest(self, ref: Reference, manifest: Manifest) -> None:
        """Counted."""
        self.manifests += 1

    async def write_tag(self, ref: Reference, manifest: Manifest) -> None:
        """Nothing."""

    async def add_referrer(self, subject: Reference, referrer: Referrer, manifest: Manifest) -> str | None:
        """Nothing: the scheduler counts the referrer."""
        return None

    async def close(self, keep: Set[Digest] | None) -> None:
        """Nothing to commit."""
