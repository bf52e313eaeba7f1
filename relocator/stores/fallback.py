"""Referrers lists under fallback tags, kept at a registry that does not serve the Referrers API.

distribution-spec "Pushing Manifests with Subject": when a manifest PUT with a ``subject`` is not
answered with ``OCI-Subject``, the client reads the list under the subject's fallback tag
(``<alg>-<hex>``), starts an empty one on a 404, refuses to touch one that is not a referrers list,
adds its entry unless listed, and writes it back, optionally with a conditional request.

Here: every entry already there is kept as it is (oci.referrers.merge_referrers); the write carries
``If-Match`` with the ETag read (``If-None-Match: *`` to create), and a 412 means someone wrote in
between: read, merge and write again. A registry may ignore both headers (distribution 2.8.2 does),
so the list is read back after the write: if another writer's list replaced ours meanwhile, ours is
merged into theirs. Writes of one run to one list are serialized, and entries that arrive while
one is being written go up together in the next: a subject's referrers cost one write, not one each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from relocator.errors import NotFound, RegistryError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci import mediatypes as mt
from relocator.oci.referrers import fallback_tag, merge_referrers, referrers_list_problem

if TYPE_CHECKING:  # a type only: the client is handed in; aiohttp loads with open_client
    from relocator.registry import RegistryClient

__all__ = ["FallbackLists"]

_ATTEMPTS = 5  # read-merge-write rounds before giving up on a list that keeps changing
_Result = asyncio.Future[str | None]


class FallbackLists:
    """Adds entries to the referrers lists under fallback tags of one registry client."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self._locks: dict[tuple[Repository, Digest], asyncio.Lock] = {}
        # Entries waiting for the lock, each with the future its caller awaits.
        self._queued: dict[tuple[Repository, Digest], list[tuple[list[Descriptor], _Result]]] = {}

    async def add(self, subject: Reference, entries: Sequence[Descriptor]) -> str | None:
        """List ``entries`` (referrers-list descriptors: artifactType and annotations kept) under
        ``subject``'s fallback tag in its repository, keeping every entry there. Returns a note
        when the tag holds something that is not a referrers list: it is left alone. Raises
        RegistryError for a failed request, or when the list changed under every attempt."""
        assert subject.digest is not None
        key = (subject.repository, subject.digest)
        mine: _Result = asyncio.get_running_loop().create_future()
        self._queued.setdefault(key, []).append((list(entries), mine))
        async with self._locks.setdefault(key, asyncio.Lock()):
            batch = self._queued.pop(key, [])  # empty when an earlier holder took ours along
            try:
                if batch:
                    note = await self._write(subject, [e for queued, _ in batch for e in queued])
                    for _, waiting in batch:
                        waiting.set_result(note)
            except BaseException as exc:
                for _, waiting in batch:
                    if waiting.done():
                        continue
                    if isinstance(exc, Exception):
                        waiting.set_exception(exc)
                    else:
                        waiting.cancel()  # interrupted: the others stop too
                raise
        return await mine

    async def _write(self, subject: Reference, entries: Sequence[Descriptor]) -> str | None:
        assert subject.digest is not None
        ref = Reference(subject.repository, tag=fallback_tag(subject.digest))
        conditional = True
        for _ in range(_ATTEMPTS):
            current, etag = await self._read(ref)
            if current is not None:
                problem = referrers_list_problem(current, subject.digest)
                if problem is not None:
                    return (f"{ref} is not a list of referrers ({problem}): left alone, so it does not "
                            f"list {', '.join(str(e.digest) for e in entries)}")
            merged = merge_referrers(current, entries)
            if merged is None:
                return None  # every entry is listed already
            try:
                await self.client.put_manifest(
                    ref, Manifest.parse(merged, mt.OCI_INDEX, str(ref)),
                    if_match=etag if conditional and current is not None else None,
                    if_none_match=conditional and current is None)
            except RegistryError as exc:
                if exc.status != 412:
                    raise
                # Changed since we read it: merge again. If it did not change, the registry
                # cannot answer our condition (an ETag it will not match): write without.
                conditional = (await self._read(ref))[1] != etag
                continue
            if await self._listed(ref, entries):
                return None
        raise RegistryError(f"{ref}: the referrers list kept changing while {len(entries)} entries were "
                            f"added; gave up after {_ATTEMPTS} attempts")

    async def _read(self, ref: Reference) -> tuple[Manifest | None, str | None]:
        try:
            return await self.client.get_manifest_etag(ref)
        except NotFound:
            return None, None

    async def _listed(self, ref: Reference, entries: Sequence[Descriptor]) -> bool:
        """Read back: True when the list holds every entry (no other writer replaced it)."""
        after, _ = await self._read(ref)
        listed = {c.digest for c in after.children} if after is not None else set()
        return all(e.digest in listed for e in entries)
