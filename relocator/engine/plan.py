"""The plan: every manifest and index walked into one DAG keyed by digest, in a stable order.

Referrers (engine.referrers) are planned with the images they refer to: each found referrer is a
node of its own (its blobs, then it), linked to its subject in ``Plan.referrers``, and it
``follows`` the subject: written after it. A target's closure holds the referrers of every
manifest in it, so they go wherever their subject goes.

Platforms (engine.platforms) are chosen at an image's top index, before its walk: ``filter`` walks
a new index built here (its bytes in ``Plan.manifests``, pushed like any other), ``single`` the
chosen entry's image (chosen again inside a nested index), ``sparse`` the source index with its
other entries in ``Plan.omitted``.
The referrers of a source index that is not copied are not either (a note says how many).
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from relocator.engine.imagecheck import check_image
from relocator.engine.platforms import (
    ALL_PLATFORMS,
    Mode,
    PlatformSelection,
    choose,
    clashes,
    filtered_index,
)
from relocator.engine.referrers import ALL, NONE, ReferrerPolicy, kinds_of
from relocator.engine.target import ImageInput, Target
from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.oci.referrers import Referrer, referrer_descriptor
from relocator.stores.base import KnowsOmitted, ListsReferrers, ReferrerLookup

__all__ = ["Kind", "ManifestSource", "Node", "Plan", "build_plan", "wanted_children"]


class Kind(enum.Enum):
    """What a node is: a blob, an image manifest, or an index."""

    BLOB = "blob"
    MANIFEST = "manifest"
    INDEX = "index"


class ManifestSource(Protocol):
    """Where manifests are read from while planning."""

    async def get_manifest(self, ref: Reference) -> Manifest: ...


_WHAT = {Mode.FILTER: "filtered index", Mode.SINGLE: "single-platform image", Mode.SPARSE: "index"}


@dataclass(frozen=True, slots=True)
class Node:
    """One digest in the DAG, the children it needs first, where it can be read from, and the
    subject a referrer is written after (``follows``)."""

    descriptor: Descriptor
    kind: Kind
    children: tuple[Digest, ...] = ()
    origins: frozenset[Repository] = frozenset()
    follows: Digest | None = None

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest


@dataclass(slots=True)
class Plan:
    """Nodes, the raw manifests to push, targets, and the images that could not be planned;
    ``referrers`` maps a subject to what refers to it, ``notes`` says what was found but ignored;
    ``omitted`` maps an index copied without some of its entries (sparse) to those entries."""

    nodes: dict[Digest, Node] = field(default_factory=dict)
    manifests: dict[Digest, Manifest] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    referrers: dict[Digest, dict[Digest, Referrer]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    omitted: dict[Digest, frozenset[Digest]] = field(default_factory=dict)

    def omitted_under(self, root: Digest) -> frozenset[Digest]:
        """The entries left out of every index an image (by its ``root``) copies."""
        return frozenset(d for i in self.closure(root) for d in self.omitted.get(i, ()))

    def closure(self, root: Digest) -> list[Digest]:
        """Every digest reachable from ``root``, children before parents, each referrer after its
        subject (and its own children), ties by digest."""
        order: list[Digest] = []
        seen: set[Digest] = set()

        def visit(d: Digest) -> None:
            if d in seen:
                return
            seen.add(d)
            for child in sorted(self.nodes[d].children):
                visit(child)
            order.append(d)
            for referrer in sorted(self.referrers.get(d, ())):
                visit(referrer)

        visit(root)
        return order

    def referrer_count(self) -> int:
        """How many distinct referrer manifests the plan copies."""
        return len({r for found in self.referrers.values() for r in found})

    def placements(self) -> dict[tuple[Repository, Digest], Node]:
        """Every (destination repository, digest) the targets need, in a stable order."""
        wanted: dict[tuple[Repository, Digest], Node] = {}
        for target in self.targets:
            for digest in self.closure(target.root):
                wanted[(target.destination.repository, digest)] = self.nodes[digest]
        return wanted


async def build_plan(
    source: ManifestSource,
    inputs: Iterable[ImageInput],
    destination: Callable[[Reference], Reference],
    *,
    include_non_distributable: bool = False,
    referrers: ReferrerPolicy = NONE,
    platforms: PlatformSelection = ALL_PLATFORMS,
) -> Plan:
    """Resolve every input concurrently and walk its manifests into one deduplicated plan, with
    the referrers of each manifest the ``referrers`` policy (or an input's own) selects, found
    where ``source`` ``ListsReferrers``, and of each index the entries ``platforms`` (or the
    input's own selection) chooses (see the module docstring). A failed lookup fails the image,
    as a failed GET does, and so does a named platform an index lacks (InputError naming it)."""
    plan = Plan()
    fetches: dict[Digest, asyncio.Future[Manifest]] = {}
    lookups: dict[tuple[Repository, Digest, str | None], asyncio.Task[ReferrerLookup]] = {}

    async def fetch(ref: Reference) -> Manifest:
        assert ref.digest is not None
        task = fetches.get(ref.digest)
        if task is None:
            task = fetches[ref.digest] = asyncio.ensure_future(source.get_manifest(ref))
        return await task

    async def walk(repo: Repository, manifest: Manifest, parents: frozenset[Digest], policy: ReferrerPolicy,
                   follows: Digest | None = None, *, own_referrers: bool = True) -> None:
        digest = manifest.digest
        if digest in parents:
            raise RelocatorError(f"{repo}@{digest}: index refers to itself")
        plan.manifests[digest] = manifest
        children = wanted_children(manifest, include_non_distributable)
        # Only an index's entries are left out on purpose (a sparse copy's); an image's layers never.
        skip = ((plan.omitted.get(digest, frozenset()) | absent(digest)) & {c.digest for c in children}
                if manifest.is_index else frozenset())
        if skip:
            plan.omitted[digest] = skip
            children = tuple(c for c in children if c.digest not in skip)
        if manifest.is_index:
            subs = await asyncio.gather(*(
                fetch(Reference(repo, digest=c.digest)) for c in children
            ))
            await asyncio.gather(*(walk(repo, m, parents | {digest}, policy) for m in subs))
        else:
            for c in children:
                _add(plan.nodes, Node(c, Kind.BLOB, origins=frozenset({repo})))
        kind = Kind.INDEX if manifest.is_index else Kind.MANIFEST
        _add(plan.nodes, Node(manifest.descriptor, kind, tuple(sorted({c.digest for c in children})),
                              frozenset({repo}), follows))
        if own_referrers and policy.enabled and isinstance(source, ListsReferrers):
            await refer(repo, manifest, parents | {digest}, policy)

    def absent(digest: Digest) -> frozenset[Digest]:
        return source.omitted(digest) if isinstance(source, KnowsOmitted) else frozenset()

    async def select(repo: Repository, top: Manifest, selection: PlatformSelection, policy: ReferrerPolicy,
                     where: str) -> Manifest:
        """What is copied of ``top`` under ``selection``: it, a new index, or one entry's image."""
        if not top.is_index:
            await check_image(source, repo, top, selection)
            return top
        choice = choose(top, selection, absent(top.digest))
        if selection.mode is Mode.SPARSE:
            plan.omitted[top.digest] = choice.omitted
            return top
        if not choice.omitted and selection.mode is Mode.FILTER:
            return top  # every entry chosen: the index as it is, its digest kept
        if selection.mode is Mode.SINGLE:
            root = await fetch(Reference(repo, digest=choice.kept[0].digest))
            if root.is_index:
                # The entry chosen is a nested index: single promises one platform's image, so
                # choose again inside it, as crane does (remote.Descriptor.Image resolves an
                # index child with the same platform).
                root = await select(repo, root, selection, policy, where)
        else:
            root = filtered_index(top, choice.kept)
        if policy.enabled and isinstance(source, ListsReferrers):
            found = await lookup(repo, top.descriptor, policy.api_filter)
            if found.referrers:
                plan.notes.append(
                    f"{where}: {len(found.referrers)} referrers of the source index {top.digest} not "
                    f"copied: they refer to the whole index, not to the {_WHAT[selection.mode]} "
                    f"{root.digest} (the referrers of each platform copied travel with it)")
        return root

    async def lookup(repo: Repository, subject: Descriptor, hint: str | None) -> ReferrerLookup:
        assert isinstance(source, ListsReferrers)
        key = (repo, subject.digest, hint)
        task = lookups.get(key)
        if task is None:
            task = lookups[key] = asyncio.ensure_future(source.list_referrers(repo, subject, hint))
        return await task

    async def refer(repo: Repository, subject: Manifest, chain: frozenset[Digest],
                    policy: ReferrerPolicy) -> None:
        """Plan what refers to ``subject``: those ``policy`` selects, then all that refers to them."""
        found = await lookup(repo, subject.descriptor, policy.api_filter)
        plan.notes.extend(n for n in found.notes if n not in plan.notes)

        async def one(referrer: Referrer) -> None:
            if referrer.digest in chain:  # a legacy tag naming an ancestor: no loops
                return
            if referrer.manifest is not None:
                fetches.setdefault(referrer.digest, _done(referrer.manifest))
            manifest = await fetch(Reference(repo, digest=referrer.digest))
            if not policy.wants(kinds_of(referrer, manifest)):
                return
            # What refers to a selected referrer comes along whatever its type (engine.referrers).
            await walk(repo, manifest, chain, ALL, follows=subject.digest)
            link = Referrer(referrer_descriptor(manifest), referrer.tag)
            plan.referrers.setdefault(subject.digest, {}).setdefault(referrer.digest, link)

        await asyncio.gather(*(one(r) for r in found.referrers))

    async def one(item: ImageInput) -> Target | None:
        selection = item.platforms or platforms
        policy = item.referrers or referrers
        try:
            # A pinned input shares the single flight: images named by several tags of one
            # digest cost one GET (a pull, on rate-limited registries).
            top = await (fetch(item.ref) if item.ref.digest is not None else source.get_manifest(item.ref))
            root = top
            if not selection.all:
                root = await select(item.ref.repository, top, selection, policy, item.text)
            if root is top and top.is_index:  # the source index itself: whole, or sparse
                sparse = not selection.all and selection.mode is Mode.SPARSE
                uses.setdefault(top.digest, {})[item.text] = str(selection) if sparse else "all"
            # A filtered index is not at the source: nothing there refers to it.
            await walk(item.ref.repository, root, frozenset(), policy,
                       own_referrers=root is top or selection.mode is not Mode.FILTER)
        except RelocatorError as exc:
            # Name where the reference came from, unless the error does already (a layout's).
            named = item.origin == "-i" or str(exc).startswith(f"{item.origin}: ")
            plan.failed[item.text] = str(exc) if named else f"{item.origin}: {exc}"
            return None
        pinned = item.ref.with_digest(top.digest)
        place = destination(pinned) if item.destination is None else item.destination
        return Target(item.text, pinned, place.with_digest(root.digest), root.digest,
                      None if root is top else top.digest)

    # Which inputs copy each source index as it is, and with which platforms: one plan holds an
    # index's entries once, so one run cannot copy it whole for one input and sparse for another.
    uses: dict[Digest, dict[str, str]] = {}
    items = list(inputs)
    results = await asyncio.gather(*(one(i) for i in items))
    clashing = clashes(uses)
    plan.failed.update(clashing)
    plan.targets = [t for t in results if t is not None and t.label not in clashing]
    return plan


def wanted_children(manifest: Manifest, include_non_distributable: bool) -> tuple[Descriptor, ...]:
    """What a manifest needs copied: every child, except a layer with ``urls`` (non-distributable:
    Docker's foreign layers, and any layer meant to be fetched from elsewhere) unless asked for.

    Every command applies this one rule, so a tarball written without those layers unpacks the
    way relocate pushes the same image: the manifest alone names them.
    """
    if include_non_distributable or manifest.config is None:
        return manifest.children
    return (manifest.config, *(layer for layer in manifest.layers if not layer.urls))


def _add(nodes: dict[Digest, Node], node: Node) -> None:
    old = nodes.get(node.digest)
    if old is not None:
        node = Node(old.descriptor, old.kind, old.children, old.origins | node.origins,
                    old.follows or node.follows)
    nodes[node.digest] = node


def _done(manifest: Manifest) -> asyncio.Future[Manifest]:
    """A fetch that already happened (a legacy tag's manifest, read by tag)."""
    future: asyncio.Future[Manifest] = asyncio.get_running_loop().create_future()
    future.set_result(manifest)
    return future
