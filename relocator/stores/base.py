"""The store protocols: where the scheduler reads bytes from and writes them to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence, Set
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.digest import close_stream
from relocator.oci.referrers import Referrer

__all__ = ["Abandons", "BlobSink", "BlobSource", "Commits", "KeepsPartial", "KeepsReferrers", "KnowsOmitted",
           "ListsReferrers", "Mounter", "Opener", "Preflight", "RecordsOmitted", "ReferrerLookup",
           "close_stream"]

# Opens a blob's verified bytes from an offset; every retry calls it again.
Opener = Callable[[int], AsyncIterator[bytes]]


class BlobSource(Protocol):
    """Reads manifests and blobs by digest."""

    async def get_manifest(self, ref: Reference) -> Manifest:
        """The manifest's exact bytes, verified against the reference's digest."""
        ...

    def open_blob(self, repo: Repository, desc: Descriptor) -> AbstractAsyncContextManager[
            AsyncIterator[bytes]]:
        """The blob's chunks, verified while they stream."""
        ...

    def blob_opener(self, repo: Repository, desc: Descriptor) -> Opener:
        """A factory of streams from an offset, for sinks that may retry."""
        ...


class BlobSink(Protocol):
    """Checks for and writes blobs and manifests; commits or discards at close.

    The engine calls ``prepare`` once, then the writes (a manifest only after its children),
    then ``write_tag`` for each finished image (tags last), then ``close`` once.
    """

    async def prepare(self, blobs: Sequence[Descriptor], manifests: Sequence[Manifest]) -> None:
        """Everything the run may write, before the first write (a tarball lays itself out here).

        Raises InputError when the sink cannot take it (no room, locked by another run).
        """
        ...

    async def has_blob(self, repo: Repository, desc: Descriptor) -> bool:
        """True if the blob is already there, so it can be skipped."""
        ...

    async def has_manifest(self, ref: Reference) -> bool:
        """True if the manifest (by digest) is already there."""
        ...

    async def write_blob(self, repo: Repository, desc: Descriptor, opener: Opener) -> None:
        """Write one blob from ``opener``'s stream."""
        ...

    async def write_manifest(self, ref: Reference, manifest: Manifest) -> None:
        """Write a manifest by digest; every child is already present."""
        ...

    async def write_tag(self, ref: Reference, manifest: Manifest) -> None:
        """Name a finished image: ``ref`` is its destination (a tag, a digest or both) and the
        manifest is already written by digest. A registry PUTs the tag; a layout records the
        name for ``index.json``."""
        ...

    async def close(self, keep: Set[Digest] | None) -> None:
        """Commit the images named by ``write_tag``, which need exactly the digests (blobs and
        manifests) in ``keep``; with None commit nothing (an interrupted run, or one that is all or
        nothing and lost an image). Raises RelocatorError if the commit fails: then nothing is
        committed."""
        ...


@runtime_checkable
class Commits(Protocol):
    """Sinks whose writes take effect only when ``close`` commits them (a tarball, a layout's
    ``index.json``): an image is in ``location`` once the commit is, not when its tag is written."""

    location: str  # the file or directory written, "-" for stdout


@runtime_checkable
class Abandons(Protocol):
    """Sinks that can leave out what no image still able to finish needs (the tar writers).

    Their side of the bargain: a digest whose write failed stays failed for the run (a second
    write of it raises), so every image needing it is lost, whatever repository places it.
    """

    def abandon(self, digests: Set[Digest]) -> None:
        """No image that can still finish needs ``digests``: skip them from now on. ``has_blob``
        may answer True for them (no download), and whatever of them is already written may stay
        as an unreferenced blob. Does not block: the engine calls it the moment an image is lost."""
        ...


@runtime_checkable
class Mounter(Protocol):
    """Sinks that can link a blob from another repository without moving bytes."""

    async def mount_blob(self, repo: Repository, desc: Descriptor, origin: Repository) -> bool:
        """True if mounted; False means upload instead."""
        ...


@runtime_checkable
class KeepsPartial(Protocol):
    """Sinks that may leave a partial file behind when a run fails or is interrupted."""

    @property
    def kept(self) -> Path | None:
        """After ``close(None)``: the partial file kept for a resume, if any."""


@runtime_checkable
class Preflight(Protocol):
    """Sources that are the user's input as a whole (a tarball, a layout directory): what a plan
    needs from them is checked before anything moves, so a broken archive is bad input (exit 2)
    with nothing written, not a run that fails half way."""

    def preflight(self, failed: Mapping[str, str], needs: Mapping[Digest, Sequence[Descriptor]]) -> None:
        """``failed``: images that could not be planned from this source (label to reason);
        ``needs``: the blobs each image manifest (by digest) will have read. Reads no blob bytes.

        Raises InputError naming the archive: the first image that could not be planned, or the
        first blob that is missing or of another size than its descriptor says.
        """


@dataclass(frozen=True, slots=True)
class ReferrerLookup:
    """What a source knows refers to one manifest, and notes for the user (one line each: a
    referrers tag that holds something else, ignored)."""

    referrers: tuple[Referrer, ...] = ()
    notes: tuple[str, ...] = ()


@runtime_checkable
class ListsReferrers(Protocol):
    """Sources that can say what refers to a manifest (OCI 1.1 referrers and cosign legacy tags)."""

    async def list_referrers(self, repo: Repository, subject: Descriptor,
                             artifact_type: str | None = None) -> ReferrerLookup:
        """Every referrer of ``subject`` in ``repo``, each once. ``artifact_type`` is a hint the
        source may use to list fewer (the caller filters what it gets anyway). Raises
        RelocatorError when the source fails to answer (not when it has no referrers)."""
        ...


@runtime_checkable
class KeepsReferrers(Protocol):
    """Sinks that record what refers to what, beyond writing the referrer's manifest: a registry
    without the Referrers API keeps a referrers list under the subject's fallback tag, a cosign
    legacy referrer needs its tag, a layout lists each referrer in ``index.json``."""

    async def add_referrer(self, subject: Reference, referrer: Referrer, manifest: Manifest) -> str | None:
        """Make ``referrer`` (already written by digest, as is ``subject``, a reference by digest)
        findable from its subject. Returns a note for the user when the sink left something alone
        (a fallback tag that holds no referrers list); raises RelocatorError when it fails."""
        ...


@runtime_checkable
class KnowsOmitted(Protocol):
    """Sources that lack some entries of an index on purpose (a layout written with
    ``--platform-mode sparse``, oci.layout.OMITTED): the plan leaves those entries out instead
    of failing to read them."""

    def omitted(self, index: Digest) -> frozenset[Digest]:
        """The entries of the index ``index`` this source left out on purpose (empty: none)."""
        ...


@runtime_checkable
class RecordsOmitted(Protocol):
    """Sinks that can record, with a named image, the index entries it lacks on purpose (a layout's
    ``index.json`` annotation, oci.layout.OMITTED), so a reader accepts and knows them. A registry
    cannot: it takes such an index or refuses it."""

    def record_omitted(self, root: Digest, omitted: Set[Digest]) -> None:
        """The image whose manifest is ``root`` lacks ``omitted`` (entries of it or of an index in it)."""
        ...
