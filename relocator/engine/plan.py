"""The plan: every manifest and index walked into one DAG keyed by digest, in a stable order."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from relocator.engine.target import ImageInput, Target
from relocator.errors import RelocatorError
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository

__all__ = ["Kind", "ManifestSource", "Node", "Plan", "build_plan", "wanted_children"]


class Kind(enum.Enum):
    """What a node is: a blob, an image manifest, or an index."""

    BLOB = "blob"
    MANIFEST = "manifest"
    INDEX = "index"


class ManifestSource(Protocol):
    """Where manifests are read from while planning."""

    async def get_manifest(self, ref: Reference) -> Manifest: ...


@dataclass(frozen=True, slots=True)
class Node:
    """One digest in the DAG, the children it needs first, and where it can be read from."""

    descriptor: Descriptor
    kind: Kind
    children: tuple[Digest, ...] = ()
    origins: frozenset[Repository] = frozenset()

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest


@dataclass(slots=True)
class Plan:
    """Nodes, the raw manifests to push, targets, and the images that could not be planned."""

    nodes: dict[Digest, Node] = field(default_factory=dict)
    manifests: dict[Digest, Manifest] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def closure(self, root: Digest) -> list[Digest]:
        """Every digest reachable from ``root``, children before parents, ties by digest."""
        order: list[Digest] = []
        seen: set[Digest] = set()

        def visit(d: Digest) -> None:
            if d in seen:
                return
            seen.add(d)
            for child in sorted(self.nodes[d].children):
                visit(child)
            order.append(d)

        visit(root)
        return order

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
) -> Plan:
    """Resolve every input concurrently and walk its manifests into one deduplicated plan."""
    plan = Plan()
    fetches: dict[Digest, asyncio.Task[Manifest]] = {}

    async def fetch(ref: Reference) -> Manifest:
        assert ref.digest is not None
        task = fetches.get(ref.digest)
        if task is None:
            task = fetches[ref.digest] = asyncio.ensure_future(source.get_manifest(ref))
        return await task

    async def walk(repo: Repository, manifest: Manifest, parents: frozenset[Digest]) -> None:
        digest = manifest.digest
        if digest in parents:
            raise RelocatorError(f"{repo}@{digest}: index refers to itself")
        plan.manifests[digest] = manifest
        children = wanted_children(manifest, include_non_distributable)
        if manifest.is_index:
            subs = await asyncio.gather(*(
                fetch(Reference(repo, digest=c.digest)) for c in children
            ))
            await asyncio.gather(*(walk(repo, m, parents | {digest}) for m in subs))
        else:
            for c in children:
                _add(plan.nodes, Node(c, Kind.BLOB, origins=frozenset({repo})))
        kind = Kind.INDEX if manifest.is_index else Kind.MANIFEST
        _add(plan.nodes, Node(manifest.descriptor, kind, tuple(sorted({c.digest for c in children})),
                              frozenset({repo})))

    async def one(item: ImageInput) -> Target | None:
        try:
            # A pinned input shares the single flight: images named by several tags of one
            # digest cost one GET (a pull, on rate-limited registries).
            top = await (fetch(item.ref) if item.ref.digest is not None else source.get_manifest(item.ref))
            await walk(item.ref.repository, top, frozenset())
        except RelocatorError as exc:
            # Name where the reference came from, unless the error does already (a layout's).
            named = item.origin == "-i" or str(exc).startswith(f"{item.origin}: ")
            plan.failed[item.text] = str(exc) if named else f"{item.origin}: {exc}"
            return None
        pinned = item.ref.with_digest(top.digest)
        return Target(item.text, pinned, destination(pinned), top.digest)

    items = list(inputs)
    results = await asyncio.gather(*(one(i) for i in items))
    plan.targets = [t for t in results if t is not None]
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
        node = Node(old.descriptor, old.kind, old.children, old.origins | node.origins)
    nodes[node.digest] = node
