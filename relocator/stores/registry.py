"""RegistryStore: a RegistryClient as source, sink and mounter, and where referrers are found."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence, Set
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from relocator.config import RESUMABLE_SIZE
from relocator.errors import NotFound, RegistryError, RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.referrers import (
    Referrer,
    fallback_tag,
    legacy_tags,
    listed_referrers,
    referrer_descriptor,
    referrers_list_problem,
)
from relocator.stores.base import Opener, ReferrerLookup, close_stream
from relocator.stores.fallback import FallbackLists
from relocator.stores.uploadbook import UploadBook

if TYPE_CHECKING:  # a type only: the client is handed in; aiohttp loads with open_client
    from relocator.registry import RegistryClient
    from relocator.registry.sessions import SessionBook

__all__ = ["RegistryStore"]


class RegistryStore:
    """Reads from and writes to any registry the client can reach."""

    def __init__(self, client: RegistryClient, *, chunk_size: int | None = None,
                 sessions: SessionBook | None = None) -> None:
        """``sessions``: where upload sessions are kept for the next run (default: the state
        directory's UploadBook, written only when a large blob's upload starts)."""
        self.client = client
        self.chunk_size = chunk_size
        self.upload_book = sessions if sessions is not None else UploadBook()
        # A declined mount's 202 opened an upload session: the upload reuses it.
        self._declined_mounts: dict[tuple[Repository, Digest], str] = {}
        # Each source repository's tags, listed once per run (None: the listing was refused).
        self._tags: dict[Repository, asyncio.Task[frozenset[str] | None]] = {}
        self._fallback = FallbackLists(client)

    async def prepare(self, blobs: Sequence[Descriptor], manifests: Sequence[Manifest]) -> None:
        """Nothing to prepare: the registry takes writes as they come."""

    async def get_manifest(self, ref: Reference) -> Manifest:
        """The manifest, verified against the reference's digest."""
        return await self.client.get_manifest(ref)

    async def list_referrers(self, repo: Repository, subject: Descriptor,
                             artifact_type: str | None = None) -> ReferrerLookup:
        """What refers to ``subject`` in ``repo``: the Referrers API where the registry serves it,
        else the list under the subject's fallback tag (distribution-spec "Unavailable Referrers
        API"); plus the manifests under cosign's legacy tags. Tags are looked up in the
        repository's tag list, read once per run (HEADs instead where listing is refused).
        A fallback tag that holds no referrers list is noted and ignored (the spec's "assume
        there are no referrers"). Raises RelocatorError for any other failed request."""
        found: dict[Digest, Referrer] = {}
        notes: list[str] = []
        listed = await self.client.list_referrers(repo, subject.digest, artifact_type)
        if listed is None:
            tag = fallback_tag(subject.digest)
            held = await self._tagged(repo, tag)
            if held is not None:
                problem = referrers_list_problem(held, subject.digest)
                if problem is None:
                    listed = list(listed_referrers(held, subject.digest))
                else:
                    notes.append(f"{repo}:{tag} is not a list of referrers ({problem}): ignored")
        for desc in listed or ():
            if desc.digest != subject.digest:
                found.setdefault(desc.digest, Referrer(desc))
        for tag in legacy_tags(subject.digest):
            held = await self._tagged(repo, tag)
            if held is not None and held.digest != subject.digest:
                found.setdefault(held.digest, Referrer(referrer_descriptor(held), tag, held))
        return ReferrerLookup(tuple(found.values()), tuple(notes))

    async def _tagged(self, repo: Repository, tag: str) -> Manifest | None:
        """The manifest under ``tag``, None if there is no such tag."""
        tags = await self._tag_list(repo)
        ref = Reference(repo, tag=tag)
        if tags is not None and tag not in tags:
            return None
        if tags is None and await self.client.head_manifest(ref) is None:
            return None
        try:
            return await self.client.get_manifest(ref)
        except NotFound:  # deleted since it was listed
            return None

    async def _tag_list(self, repo: Repository) -> frozenset[str] | None:
        task = self._tags.get(repo)
        if task is None:
            task = self._tags[repo] = asyncio.ensure_future(self._list_tags(repo))
        return await task

    async def _list_tags(self, repo: Repository) -> frozenset[str] | None:
        try:
            return frozenset(await self.client.list_tags(repo))
        except RegistryError as exc:
            if exc.temporary:
                raise
            return None  # listing refused (some registries keep it from pull-only users)

    def open_blob(self, repo: Repository, desc: Descriptor) -> AbstractAsyncContextManager[
            AsyncIterator[bytes]]:
        """Verified chunks of the blob."""
        return self.client.open_blob(repo, desc)

    def blob_opener(self, repo: Repository, desc: Descriptor) -> Opener:
        """Streams of the blob from an offset; an error names the repository and the blob
        (``HOST/REPO: blob DIGEST: 404 Not Found (BLOB_UNKNOWN) ...``)."""
        opener = self.client.blob_opener(repo, desc)

        async def named(offset: int) -> AsyncIterator[bytes]:
            chunks = opener(offset)  # a generator: errors come from its iteration, named below
            try:
                async for chunk in chunks:
                    yield chunk
            except RelocatorError as exc:
                raise _naming(exc, repo, desc.digest) from None
            finally:
                await close_stream(chunks)  # closed with this stream, not by the garbage collector

        return named

    async def has_blob(self, repo: Repository, desc: Descriptor) -> bool:
        """HEAD the blob; one there already ends any session kept for it (``_settled``)."""
        present = await self.client.head_blob(repo, desc.digest) is not None
        if present:
            self._settled(repo, desc)
        return present

    async def has_manifest(self, ref: Reference) -> bool:
        """HEAD the manifest (free on registries that count pulls)."""
        return await self.client.head_manifest(ref) is not None

    async def mount_blob(self, repo: Repository, desc: Descriptor, origin: Repository) -> bool:
        """Cross-repository mount; remembers a 202's session for the upload."""
        result = await self.client.mount_blob(repo, desc.digest, origin)
        if result.mounted:
            self._settled(repo, desc)
        if not result.mounted and result.location:
            self._declined_mounts.setdefault((repo, desc.digest), result.location)
        return result.mounted

    def _settled(self, repo: Repository, desc: Descriptor) -> None:
        """The blob is in ``repo``: an upload session kept for it is stale (a run killed between
        its closing PUT and forgetting the session, or the blob came another way); drop the entry
        so it does not outlive the run in the state directory. Only blobs that can have one
        (RESUMABLE_SIZE) are looked up: a re-run finding thousands of small blobs there costs no
        file system call. An entry another live run holds is its own."""
        if desc.size < RESUMABLE_SIZE:
            return
        key = (repo.registry, repo.path, str(desc.digest))
        if self.upload_book.claim(*key):
            self.upload_book.forget(*key)
            self.upload_book.release(*key)

    async def write_blob(self, repo: Repository, desc: Descriptor, opener: Opener) -> None:
        """Upload, monolithic or chunked, into a reused or new session."""
        location = self._declined_mounts.pop((repo, desc.digest), None)
        await self.client.push_blob(repo, desc, opener, chunk_size=self.chunk_size, location=location,
                                    sessions=self.upload_book)

    async def write_manifest(self, ref: Reference, manifest: Manifest) -> None:
        """PUT the exact bytes."""
        await self.client.put_manifest(ref, manifest)

    async def add_referrer(self, subject: Reference, referrer: Referrer, manifest: Manifest) -> str | None:
        """A cosign legacy referrer gets its tag. A linked one needs nothing more where the registry
        lists referrers itself (its PUT was answered with ``OCI-Subject``; for a manifest that was
        there already, the API answers); elsewhere it is added to the subject's fallback list
        (stores.fallback), whose note, if any, is returned."""
        repo = subject.repository
        if referrer.tag is not None:
            await self.client.put_manifest(Reference(repo, tag=referrer.tag), manifest)
            return None
        if await self._lists_referrers(repo, subject):
            return None
        return await self._fallback.add(subject, [referrer.descriptor])

    async def _lists_referrers(self, repo: Repository, subject: Reference) -> bool:
        state = self.client.transport.host(repo.registry)
        if state.subject_acknowledged is not None:
            return state.subject_acknowledged
        assert subject.digest is not None
        return await self.client.list_referrers(repo, subject.digest) is not None

    async def write_tag(self, ref: Reference, manifest: Manifest) -> None:
        """PUT the tag (tags last); a destination by digest alone is already written."""
        if ref.tag is not None:
            await self.client.put_manifest(Reference(ref.repository, tag=ref.tag), manifest)

    async def close(self, keep: Set[Digest] | None) -> None:
        """Nothing to commit: every write is already durable at the registry. Gives back the
        upload-session claims."""
        self.upload_book.close()


def _naming(exc: RelocatorError, repo: Repository, digest: Digest) -> RelocatorError:
    """``exc`` (same type and attributes) with ``HOST/REPO: blob DIGEST`` in front, once: the host
    the transport put first and the ``blob DIGEST`` a verifier put first are not repeated."""
    text = str(exc).removeprefix(f"{repo.registry}: ").removeprefix(f"blob {digest}: ")
    exc.args = (f"{repo}: blob {digest}: {text}",)
    return exc
