"""Split a plan between N workers so that images sharing blobs land in the same shard.

A mirror split by name uploads a shared base layer once per shard; split by blobs, each shard
keeps the one-upload-per-blob saving (issue 12, "Scale"). Images are grouped into connected
components: two images are in one component when they share any blob or manifest. A component
goes to the shard its first label (in sort order) hashes to. That choice depends on the component
alone, not on the others: shards started at different moments see different plans (what an
earlier shard copied no longer needs copying), and a component no other shard touched must land
in the same shard in every one of them, or it could be skipped by all. Byte balance is left to the
hash over many components. Every image of a plan is in exactly one shard. Pure: no I/O.

Blobs under 1 KiB do not join images: every OCI 1.1 artifact (an SBOM, a signature) has the same
2-byte empty config ``{}``, and letting it join would put every image with a referrer in one
shard. A blob that small costs less uploaded by two shards than a lopsided split does.
"""

from __future__ import annotations

import hashlib

from relocator.engine.plan import Kind, Plan
from relocator.errors import InputError
from relocator.oci import Digest

__all__ = ["bucket_of", "shard_plan"]

_JOINS = 1024  # the smallest blob that keeps the images sharing it in one shard


def shard_plan(plan: Plan, index: int, count: int) -> Plan:
    """The part of ``plan`` that shard ``index`` of ``count`` copies: its targets, the nodes and
    manifests they need, and the planning failures whose label hashes to it (so each failure is
    reported by one shard). Raises InputError unless ``0 <= index < count``."""
    if not 0 <= index < count:
        raise InputError(f"--shard {index}/{count}: want I/N with 0 <= I < N")
    closures = {t.label: plan.closure(t.root) for t in plan.targets}
    parent = {t.label: t.label for t in plan.targets}

    def find(label: str) -> str:
        while parent[label] != label:
            parent[label] = parent[parent[label]]
            label = parent[label]
        return label

    owner: dict[Digest, str] = {}
    for target in plan.targets:
        for digest in closures[target.label]:
            node = plan.nodes[digest]
            if node.kind is Kind.BLOB and node.descriptor.size < _JOINS:
                continue
            first = owner.setdefault(digest, target.label)
            a, b = find(first), find(target.label)
            if a != b:
                parent[max(a, b)] = min(a, b)
    # find() returns a component's smallest label: union() always keeps the smaller root.
    mine = [t for t in plan.targets if bucket_of(find(t.label), count) == index]
    wanted = {d for t in mine for d in closures[t.label]}
    labels = {t.label for t in mine}
    return Plan(
        nodes={d: n for d, n in plan.nodes.items() if d in wanted},
        manifests={d: m for d, m in plan.manifests.items() if d in wanted},
        targets=[t for t in plan.targets if t.label in labels],
        failed={k: v for k, v in plan.failed.items() if bucket_of(k, count) == index},
        referrers={d: found for d, found in plan.referrers.items() if d in wanted},
        notes=list(plan.notes),
        omitted={d: left for d, left in plan.omitted.items() if d in wanted},
    )


def bucket_of(label: str, count: int) -> int:
    """The shard of ``label`` by a stable hash (sha256, first 8 bytes): ``relocate --shard``
    splits inputs with it, and sync's shards report tags that move nothing with it."""
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big") % count
