"""What a sync has to do: each kept tag's source and target digests, by HEAD only.

Docker Hub counts a manifest GET as a pull and a HEAD as free, so the diff never GETs a
manifest: it lists tags (``Link`` pagination, client.list_tags), applies the entry's rules
(frontends.tagfilter), and HEADs the source and the target of every kept tag. Equal digests mean
nothing to do. A tag present at the target with another digest is updated, unless the entry
keeps it (``immutableTags``, ``skipExisting``): then it is left alone and reported.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from relocator.errors import InputError, RelocatorError
from relocator.frontends.syncconfig import SyncEntry
from relocator.frontends.tagfilter import keep_tags
from relocator.oci import Digest, Reference
from relocator.oci.referrers import is_referrer_tag
from relocator.stores.written import Written

if TYPE_CHECKING:  # a type only: the client is handed in; aiohttp loads with open_client
    from relocator.registry import RegistryClient

__all__ = ["Action", "TagState", "diff", "expand", "kept_tags", "settled"]


class Action(enum.Enum):
    """What the sync does with one tag."""

    ADD = "add"  # absent at the target
    UPDATE = "update"  # present with another digest
    UNCHANGED = "unchanged"  # present with the same digest
    KEPT = "kept"  # present with another digest, left alone by immutableTags or skipExisting
    FAILED = "failed"  # the source could not be listed or read


@dataclass(frozen=True, slots=True)
class TagState:
    """One tag of one entry: ``source`` and ``target`` are ``repo:tag`` (``source`` is the bare
    repository when listing it failed), with the digests the HEADs found."""

    entry: SyncEntry
    source: Reference
    target: Reference
    action: Action
    source_digest: Digest | None = None
    target_digest: Digest | None = None
    error: str | None = None

    @property
    def pinned(self) -> Reference:
        """The source pinned to the digest the diff saw: what the copy reads."""
        assert self.source_digest is not None
        return self.source.with_digest(self.source_digest)


async def kept_tags(client: RegistryClient, entry: SyncEntry) -> list[str]:
    """The entry's tags: its one tag, or every tag of the source its rules keep, leaving out the
    tags that only keep referrers (``sha256-<hex>`` lists, cosign's ``.sig``, ``.att``, ``.sbom``):
    those travel with their images as ``--referrers`` says, merged at the target rather than
    copied over what it lists. Raises RelocatorError when the source cannot be listed,
    InputError for a bad rule."""
    if entry.tag is not None:
        return [entry.tag]
    tags = [t for t in await client.list_tags(entry.source) if not is_referrer_tag(t)]
    return keep_tags(tags, entry.rules)


async def diff(client: RegistryClient, entries: Sequence[SyncEntry], concurrency: int) -> list[TagState]:
    """Every kept tag of every entry with its action, in entry then tag order; at most
    ``concurrency`` requests at once. Raises InputError before any copy when two entries would
    write one target tag (one source tag may go to several targets)."""
    gate = asyncio.Semaphore(concurrency)

    async def listed(entry: SyncEntry) -> list[str] | TagState:
        try:
            async with gate:
                return await kept_tags(client, entry)
        except InputError:
            raise
        except RelocatorError as exc:
            source = Reference(entry.source)
            return TagState(entry, source, Reference(entry.target), Action.FAILED, error=str(exc))

    async def state(entry: SyncEntry, tag: str) -> TagState:
        source, target = Reference(entry.source, tag), Reference(entry.target, tag)
        try:
            async with gate:
                found = await client.head_manifest(source)
            if found is None:
                return TagState(entry, source, target, Action.FAILED, error=f"{source}: tag not found")
            async with gate:
                there = await client.head_manifest(target)
        except RelocatorError as exc:
            return TagState(entry, source, target, Action.FAILED, error=str(exc))
        have = there.digest if there is not None else None
        if have is None:
            action = Action.ADD
        elif have == found.digest:
            action = Action.UNCHANGED
        else:
            action = Action.KEPT if entry.is_immutable(tag) else Action.UPDATE
        return TagState(entry, source, target, action, found.digest, have)

    expanded = await expand(client, entries, gate)
    entries = [e for e in expanded if isinstance(e, SyncEntry)]
    unreadable = [e for e in expanded if isinstance(e, TagState)]
    lists = [*await asyncio.gather(*(listed(e) for e in entries)), *unreadable]
    entries = [*entries, *(s.entry for s in unreadable)]
    _refuse_collisions([(e, t) for e, tags in zip(entries, lists, strict=True)
                        if not isinstance(tags, TagState) for t in tags])
    async def done(value: TagState) -> TagState:
        return value

    return list(await asyncio.gather(*(
        coro for entry, tags in zip(entries, lists, strict=True)
        for coro in ([done(tags)] if isinstance(tags, TagState) else [state(entry, t) for t in tags]))))


def settled(states: Sequence[TagState], written: Mapping[str, Written],
            selection: Callable[[TagState], str]) -> list[TagState]:
    """``states`` with each tag whose digests differ only because this job chose platforms made
    unchanged: the target still holds what the job wrote (stores.written) from this same source
    digest with the same ``selection`` (its text, engine.platforms), so a copy would write the
    same bytes again."""
    def one(s: TagState) -> TagState:
        record = written.get(str(s.target))
        if s.action not in (Action.UPDATE, Action.KEPT) or record is None:
            return s
        if (record.source, record.written, record.selection) != (
                str(s.source_digest), str(s.target_digest), selection(s)):
            return s
        return replace(s, action=Action.UNCHANGED)

    return [one(s) for s in states]


async def expand(client: RegistryClient, entries: Sequence[SyncEntry],
                    gate: asyncio.Semaphore) -> list[SyncEntry | TagState]:
    """Whole-registry entries become one entry per repository of the source's catalog; one whose
    catalog cannot be read becomes a failed state naming the registry."""
    async def one(entry: SyncEntry) -> list[SyncEntry | TagState]:
        if not entry.whole_registry:
            return [entry]
        try:
            async with gate:
                paths = await client.list_repositories(entry.source.registry)
        except RelocatorError as exc:
            return [TagState(entry, Reference(entry.source), Reference(entry.target), Action.FAILED,
                             error=str(exc))]
        return [entry.for_repository(p) for p in sorted(paths)]

    return [e for group in await asyncio.gather(*(one(e) for e in entries)) for e in group]


def _refuse_collisions(pairs: list[tuple[SyncEntry, str]]) -> None:
    # Two writers of one target tag would race; one source tag going to several targets is fine
    # (regsync fan-out): each pair is its own engine input, the blobs read once.
    targets: dict[Reference, SyncEntry] = {}
    for entry, tag in pairs:
        target = Reference(entry.target, tag)
        other = targets.setdefault(target, entry)
        if other is not entry:
            raise InputError(f"{entry.where}: {target} is also the target of {other.where}")
