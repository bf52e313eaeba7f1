"""Plan sharding: images sharing blobs stay in one shard, every image in exactly one shard."""

from __future__ import annotations

import hashlib

import pytest

from relocator.engine.plan import Kind, Node, Plan
from relocator.engine.sharding import shard_plan
from relocator.engine.target import Target
from relocator.errors import InputError
from relocator.oci import Descriptor, Digest, Reference

LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest(name: str) -> Digest:
    return Digest.parse("sha256:" + hashlib.sha256(name.encode()).hexdigest())


def plan_of(images: dict[str, list[tuple[str, int]]]) -> Plan:
    """Each image: a manifest over the named blobs (name, size); equal names are shared blobs."""
    plan = Plan()
    for label, blobs in images.items():
        for name, size in blobs:
            plan.nodes[digest(name)] = Node(Descriptor(LAYER, digest(name), size), Kind.BLOB)
        root = digest("manifest " + label)
        plan.nodes[root] = Node(Descriptor(MANIFEST, root, 100), Kind.MANIFEST,
                                tuple(sorted(digest(n) for n, _ in blobs)))
        ref = Reference.parse(f"src.example/{label}:v1")
        plan.targets.append(Target(label, ref, Reference.parse(f"dst.example/{label}:v1"), root))
    plan.failed = {f"broken{i}": "manifest unknown" for i in range(6)}
    return plan


IMAGES = {
    "debian-a": [("debian", 5000), ("a", 10)],
    "debian-b": [("debian", 5000), ("b", 10)],
    "alpine-c": [("alpine", 3000), ("c", 10)],
    "alpine-d": [("alpine", 3000), ("d", 10)],
    "lone-e": [("e", 2000)],
    "lone-f": [("f", 1000)],
}


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_every_image_in_one_shard_and_shared_blobs_together(count: int) -> None:
    plan = plan_of(IMAGES)
    shards = [shard_plan(plan, i, count) for i in range(count)]
    labels = [t.label for s in shards for t in s.targets]
    assert sorted(labels) == sorted(IMAGES)  # each image exactly once
    failed = [k for s in shards for k in s.failed]
    assert sorted(failed) == sorted(plan.failed)  # each failure reported by one shard
    for s in shards:
        names = {t.label for t in s.targets}
        assert ("debian-a" in names) == ("debian-b" in names)
        assert ("alpine-c" in names) == ("alpine-d" in names)
        wanted = {d for t in s.targets for d in plan.closure(t.root)}
        assert set(s.nodes) == wanted  # only what its images need
    # The same plan gives every worker the same split.
    assert [[t.label for t in shard_plan(plan, i, count).targets] for i in range(count)] == \
        [[t.label for t in s.targets] for s in shards]


def test_a_components_shard_does_not_depend_on_the_others() -> None:
    """A later shard sees a smaller plan (an earlier one copied its part): what is left must stay
    where it was, or it could be skipped by every shard."""
    full = {i: {t.label for t in shard_plan(plan_of(IMAGES), i, 3).targets} for i in range(3)}
    for gone in ("debian", "alpine", "lone-e"):  # one component copied by an earlier shard
        rest = {k: v for k, v in IMAGES.items() if not k.startswith(gone)}
        later = {i: {t.label for t in shard_plan(plan_of(rest), i, 3).targets} for i in range(3)}
        assert all(later[i] == full[i] & set(rest) for i in range(3)), gone


def test_bad_shard_is_refused() -> None:
    with pytest.raises(InputError, match="--shard 2/2"):
        shard_plan(plan_of(IMAGES), 2, 2)


def test_a_shard_keeps_what_its_sparse_indexes_leave_out() -> None:
    plan = plan_of(IMAGES)
    left = frozenset({digest("arm64 image")})
    for target in plan.targets:
        plan.omitted[target.root] = left
    shards = [shard_plan(plan, i, 3) for i in range(3)]
    for shard in shards:
        assert shard.omitted == {t.root: left for t in shard.targets}
    assert sum(len(s.omitted) for s in shards) == len(IMAGES)
