"""Referrers in a plan, without a network: closures, survivors, shards, and the --referrers policy."""

from __future__ import annotations

import json

import pytest

from relocator.engine.plan import Kind, Node, Plan
from relocator.engine.referrers import NONE, ReferrerPolicy, kinds_of
from relocator.engine.sharding import bucket_of, shard_plan
from relocator.engine.survivors import Survivors, kept_digests
from relocator.engine.target import Target
from relocator.errors import InputError
from relocator.oci import Descriptor, Digest, Manifest, Reference
from relocator.oci.referrers import Referrer

EMPTY = Node(Descriptor("application/vnd.oci.empty.v1+json", Digest.of(b"{}"), 2), Kind.BLOB)


def _blob(seed: str, size: int = 5000) -> Node:
    return Node(Descriptor("layer", Digest.of(seed.encode()), size), Kind.BLOB)


def _image(plan: Plan, label: str) -> Node:
    """An image, an SBOM on it (the shared empty config and a layer), a signature on the SBOM."""
    layer, sbom_layer = _blob(f"{label} layer"), _blob(f"{label} sbom")
    sig_layer = _blob(f"{label} sig", 300)
    image = Node(Descriptor("m", Digest.of(f"{label} image".encode()), 9), Kind.MANIFEST, (layer.digest,))
    sbom = Node(Descriptor("m", Digest.of(f"{label} sbom m".encode()), 9), Kind.MANIFEST,
                tuple(sorted((EMPTY.digest, sbom_layer.digest))), follows=image.digest)
    sig = Node(Descriptor("m", Digest.of(f"{label} sig m".encode()), 9), Kind.MANIFEST,
               tuple(sorted((EMPTY.digest, sig_layer.digest))), follows=sbom.digest)
    for node in (EMPTY, layer, sbom_layer, sig_layer, image, sbom, sig):
        plan.nodes[node.digest] = node
    plan.referrers[image.digest] = {sbom.digest: Referrer(sbom.descriptor)}
    plan.referrers[sbom.digest] = {sig.digest: Referrer(sig.descriptor)}
    ref = Reference.parse(f"src.example/{label}:v1").with_digest(image.digest)
    plan.targets.append(Target(label, ref, ref, image.digest))
    return image


def test_a_closure_holds_every_referrer_after_its_subject() -> None:
    plan = Plan()
    image = _image(plan, "a")
    order = plan.closure(image.digest)
    sbom = next(iter(plan.referrers[image.digest]))
    sig = next(iter(plan.referrers[sbom]))
    assert order.index(image.digest) < order.index(sbom) < order.index(sig)
    assert EMPTY.digest in order and len(order) == 7
    assert plan.referrer_count() == 2
    # A tarball keeps the referrers of the images that finished; a failed signature blob loses the image.
    assert sig in kept_digests(plan, {"a"})
    sig_layer = next(c for c in plan.nodes[sig].children if c != EMPTY.digest)
    assert sig in Survivors(plan).lose_digest(sig_layer)


def test_the_empty_config_every_artifact_shares_does_not_join_shards() -> None:
    plan = Plan()
    for label in ("a", "b"):
        _image(plan, label)
    count = next(n for n in range(2, 50) if bucket_of("a", n) != bucket_of("b", n))
    shards = [shard_plan(plan, i, count) for i in range(count)]
    placed = {t.label: i for i, s in enumerate(shards) for t in s.targets}
    assert placed["a"] != placed["b"]
    for s in shards:
        for target in s.targets:
            assert set(s.referrers) >= {target.root}  # each shard keeps its images' referrers
            assert set(plan.closure(target.root)) <= set(s.nodes)


def test_the_policy_reads_all_none_and_types() -> None:
    assert str(ReferrerPolicy.parse("all")) == "all" and ReferrerPolicy.parse("none") == NONE
    typed = ReferrerPolicy.parse("application/spdx+json, application/vnd.in-toto+json")
    assert typed.types == {"application/spdx+json", "application/vnd.in-toto+json"}
    assert typed.api_filter is None and ReferrerPolicy.parse("application/spdx+json").api_filter
    assert typed.wants({"application/spdx+json"}) and not typed.wants({"application/x"})
    assert not NONE.wants({"application/spdx+json"})
    for bad in ("", "spdx", "application/spdx+json,,", "all,none"):
        with pytest.raises(InputError, match="--referrers"):
            ReferrerPolicy.parse(bad)


def test_a_legacy_signature_answers_to_its_layer_type() -> None:
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": str(Digest.of(b"c")),
                      "size": 1},
           "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                       "digest": str(Digest.of(b"l")), "size": 1}]}
    manifest = Manifest.parse(json.dumps(doc).encode(), None)
    legacy = Referrer(manifest.descriptor, "sha256-x.sig")
    assert "application/vnd.dev.cosign.simplesigning.v1+json" in kinds_of(legacy, manifest)
    assert kinds_of(Referrer(manifest.descriptor), manifest) == {"application/vnd.oci.image.config.v1+json"}
