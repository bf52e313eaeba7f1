"""FallbackLists on a real registry: entries that arrive together go up in one write."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from relocator.oci import Descriptor, Digest, Reference, Repository
from relocator.registry import RegistryClient
from relocator.stores.fallback import FallbackLists
from tests.images import OCI_MANIFEST, seed, valid_image
from tests.referrers import by_tag, fallback_tag
from tests.registries import Registry


async def test_concurrent_entries_share_a_write(registry: Registry,
                                                make_client: Callable[..., RegistryClient]) -> None:
    rng = random.Random(110)
    subject, *referrers = [valid_image(rng) for _ in range(4)]
    for image in (subject, *referrers):
        seed(registry, "fallback/batch", None, image)
    lists = FallbackLists(make_client())
    ref = Reference(Repository(registry.host, "fallback/batch"), digest=Digest.parse(subject.digest))
    entries = [Descriptor(OCI_MANIFEST, Digest.parse(r.digest), len(r.raw),
                          artifact_type=f"application/x-{i}") for i, r in enumerate(referrers)]
    notes = await asyncio.gather(*(lists.add(ref, [e]) for e in entries))
    assert notes == [None, None, None]
    listed = by_tag(registry, "fallback/batch", subject.digest)
    assert {d: e["artifactType"] for d, e in listed.items()} == {
        r.digest: f"application/x-{i}" for i, r in enumerate(referrers)}
    # The first write took the entry that was there; the two that queued behind it went up together.
    tag = fallback_tag(subject.digest)
    assert registry.requests("PUT", f"fallback/batch/manifests/{tag}") == 2
