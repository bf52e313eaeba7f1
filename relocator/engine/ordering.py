"""The scheduler's pure policies: the order blob placements start in, which destination repository
uploads a blob and which mount it, and where a mount may come from. No I/O: unit-tested on literal
plans (tests/engine/test_scheduling.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from relocator.engine.plan import Kind, Node, Plan
from relocator.oci import Digest, Repository

__all__ = ["Key", "image_order", "image_ranks", "mount_origins", "primaries", "transfer_order"]

Key = tuple[Repository, Digest]


def transfer_order(wanted: Mapping[Key, Node]) -> list[Key]:
    """Blob placements, largest first, ties by digest then repository: a pure, stable policy."""
    blobs = [k for k, n in wanted.items() if n.kind is Kind.BLOB]
    return sorted(blobs, key=lambda k: (-wanted[k].descriptor.size, k[1], k[0]))


def image_ranks(plan: Plan) -> dict[Key, int]:
    """For each placement the plan needs, the index of the first target (in the plan's order)
    whose closure (referrers included) holds it."""
    ranks: dict[Key, int] = {}
    for i, target in enumerate(plan.targets):
        repo = target.destination.repository
        for digest in plan.closure(target.root):
            ranks.setdefault((repo, digest), i)
    return ranks


def image_order(wanted: Mapping[Key, Node], ranks: Mapping[Key, int]) -> list[Key]:
    """Blob placements image by image (by ``ranks``: the first image needing one), largest first
    within an image, ties by digest then repository: images complete one after another instead
    of all near the end, while every slot still has work (benchmarks/order.py measures both)."""
    last = len(ranks)
    blobs = [k for k, n in wanted.items() if n.kind is Kind.BLOB]
    return sorted(blobs, key=lambda k: (ranks.get(k, last), -wanted[k].descriptor.size, k[1], k[0]))


def primaries(order: list[Key]) -> dict[Digest, Repository]:
    """The first destination repository of each blob uploads it; the others mount from it."""
    first: dict[Digest, Repository] = {}
    for repo, digest in order:
        first.setdefault(digest, repo)
    return first


def mount_origins(repo: Repository, node: Node, primary: Repository) -> list[Repository]:
    """Where ``repo`` may mount a blob from: this run's primary upload, then a source repository,
    each only if on the same registry."""
    return [o for o in (primary, *sorted(node.origins)) if o != repo and o.registry == repo.registry]
