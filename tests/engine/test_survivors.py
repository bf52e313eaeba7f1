"""Survivors without a network: which digests only lost images needed, as images are lost."""

from __future__ import annotations

from relocator.engine.plan import Kind, Node, Plan
from relocator.engine.survivors import Survivors, kept_digests
from relocator.engine.target import Target
from relocator.oci import Descriptor, Digest, Reference

REPO = "127.0.0.1:1/app"


def _blob(seed: bytes) -> Node:
    return Node(Descriptor("x", Digest.of(seed), len(seed)), Kind.BLOB)


def _plan() -> tuple[Plan, dict[str, Digest]]:
    """Images a and b share a layer; c is an index over a's manifest and its own image."""
    shared, a_only, b_only, c_only = _blob(b"shared"), _blob(b"a"), _blob(b"b"), _blob(b"c")
    a = Node(Descriptor("m", Digest.of(b"ma"), 2), Kind.MANIFEST, (shared.digest, a_only.digest))
    b = Node(Descriptor("m", Digest.of(b"mb"), 2), Kind.MANIFEST, (shared.digest, b_only.digest))
    c_image = Node(Descriptor("m", Digest.of(b"mc"), 2), Kind.MANIFEST, (c_only.digest,))
    c = Node(Descriptor("i", Digest.of(b"ic"), 2), Kind.INDEX, (a.digest, c_image.digest))
    plan = Plan(nodes={n.digest: n for n in (shared, a_only, b_only, c_only, a, b, c_image, c)})
    for label, root in (("a", a), ("b", b), ("c", c)):
        ref = Reference.parse(f"{REPO}:{label}").with_digest(root.digest)
        plan.targets.append(Target(label, ref, ref, root.digest))
    names = {"shared": shared.digest, "a_only": a_only.digest, "b_only": b_only.digest,
             "c_only": c_only.digest, "a": a.digest, "b": b.digest, "c_image": c_image.digest, "c": c.digest}
    return plan, names


def test_a_failed_blob_loses_every_image_needing_it_and_frees_only_what_they_alone_needed() -> None:
    plan, d = _plan()
    survivors = Survivors(plan)
    # b_only fails: b is lost; the shared layer is still needed by a (and by c through a).
    assert survivors.lose_digest(d["b_only"]) == {d["b_only"], d["b"]}
    # a_only fails: a and c are lost (c's index holds a), so everything left goes.
    assert survivors.lose_digest(d["a_only"]) == {d["shared"], d["a_only"], d["a"], d["c_only"],
                                                  d["c_image"], d["c"]}
    assert survivors.lose_digest(d["shared"]) == set()  # nothing newly freed twice
    assert survivors.lose_image("b") == set()


def test_a_lost_image_frees_its_own_digests_and_keep_is_what_finished_images_need() -> None:
    plan, d = _plan()
    survivors = Survivors(plan)
    assert survivors.lose_image("c") == {d["c"], d["c_image"], d["c_only"]}  # a's manifest stays: a needs it
    assert survivors.lose_image("nonexistent") == set()
    assert kept_digests(plan, {"a", "b"}) == {d["shared"], d["a_only"], d["b_only"], d["a"], d["b"]}
    assert kept_digests(plan, set()) == frozenset()
