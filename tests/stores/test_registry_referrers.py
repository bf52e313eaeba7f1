"""RegistryStore.list_referrers on a real registry: through the Referrers API (a front adds it to
distribution 2.8.2), through the fallback tag where the API is not served, and cosign legacy tags."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from relocator.oci import Descriptor, Digest, Repository
from relocator.registry import RegistryClient
from relocator.stores.registry import RegistryStore
from tests.images import OCI_MANIFEST, seed, valid_image
from tests.referrers import SPDX, ReferrersFront, attached, legacy_tag, put_list, seed_attached
from tests.registries import Registry


def _desc(digest: str) -> Descriptor:
    return Descriptor(OCI_MANIFEST, Digest.parse(digest), 1)


@pytest.mark.parametrize("api", [True, False], ids=["api", "fallback-tag"])
async def test_every_referrer_is_found_either_way(api: bool, registry: Registry,
                                                 referrers_front: ReferrersFront,
                                                 make_client: Callable[..., RegistryClient]) -> None:
    reg = referrers_front.registry() if api else registry
    fix = attached(70 if api else 71)
    repo = f"found/{'api' if api else 'tags'}"
    seed_attached(reg, repo, "v1", fix, fallback=not api)
    referrers_front.page_size = 1  # every entry a page of its own: Link is followed
    store = RegistryStore(make_client())
    where = Repository(reg.host, repo)

    top = await store.list_referrers(where, _desc(fix.index.digest))
    sig = (Digest.parse(fix.sig.digest), legacy_tag(fix.index))
    assert [(r.digest, r.tag) for r in top.referrers] == [sig]
    assert top.referrers[0].manifest is not None and top.referrers[0].manifest.raw == fix.sig.raw
    child = await store.list_referrers(where, _desc(fix.index.children[0].digest))
    kinds = {str(r.digest): r.descriptor.artifact_type for r in child.referrers}
    assert kinds == {fix.sboms[0].digest: SPDX, fix.provenance[0].digest: "application/vnd.in-toto+json"}
    sbom = next(r for r in child.referrers if r.descriptor.artifact_type == SPDX)
    assert sbom.tag is None and sbom.descriptor.annotations["org.example.sbom"] == "spdx"
    on_sbom = await store.list_referrers(where, _desc(fix.sboms[0].digest))
    assert [str(r.digest) for r in on_sbom.referrers] == [fix.sbom_sig.digest]
    assert top.notes == child.notes == ()
    if api:
        # The API was asked once per manifest and each page followed: 1 + 2 + 1 GETs.
        assert referrers_front.referrer_gets == 4
    else:
        # distribution 2.8.2 answers the API path 404: asked once for the host, never again.
        assert registry.requests("GET", rf"{repo}/referrers/.*") == 1
        assert registry.requests("GET", rf"{repo}/tags/list") == 1  # one tag list for every lookup


async def test_artifact_type_is_passed_to_the_api(registry: Registry, referrers_front: ReferrersFront,
                                                  make_client: Callable[..., RegistryClient]) -> None:
    fix = attached(72)
    reg = referrers_front.registry()
    seed_attached(reg, "found/filtered", "v1", fix, fallback=False)
    store = RegistryStore(make_client())
    child = await store.list_referrers(Repository(reg.host, "found/filtered"),
                                       _desc(fix.index.children[1].digest), SPDX)
    assert [str(r.digest) for r in child.referrers] == [fix.sboms[1].digest]


async def test_a_fallback_tag_holding_no_list_is_noted_and_ignored(
        registry: Registry, make_client: Callable[..., RegistryClient]) -> None:
    image, other = valid_image(random.Random(73)), valid_image(random.Random(74))
    seed(registry, "found/odd", "v1", image)
    # Some registries answer the referrers tag with the subject itself; here it names another image.
    seed(registry, "found/odd", image.digest.replace(":", "-"), other)
    store = RegistryStore(make_client())
    found = await store.list_referrers(Repository(registry.host, "found/odd"), _desc(image.digest))
    assert found.referrers == ()
    assert found.notes == (f"{registry.host}/found/odd:{image.digest.replace(':', '-')} is not a list of "
                           f"referrers (it is a {OCI_MANIFEST}, not an OCI image index): ignored",)


async def test_a_list_naming_its_own_subject_leaves_that_entry_out(
        registry: Registry, make_client: Callable[..., RegistryClient]) -> None:
    fix = attached(75)
    seed_attached(registry, "found/loop", "v1", fix, fallback=True)
    child = fix.index.children[0]
    put_list(registry, "found/loop", child.digest,
             [{"mediaType": OCI_MANIFEST, "digest": child.digest, "size": len(child.raw)}])
    store = RegistryStore(make_client())
    found = await store.list_referrers(Repository(registry.host, "found/loop"), _desc(child.digest))
    assert found.referrers == ()


async def test_an_answer_that_is_no_index_means_no_api(registry: Registry,
                                                       make_client: Callable[..., RegistryClient]) -> None:
    from tests.proxy import FaultProxy

    image = valid_image(random.Random(76))
    seed(registry, "found/html", "v1", image)
    # A registry whose web front answers unknown paths with a page: 200, but no referrers list.
    proxy = await FaultProxy(registry, canned={
        f"/v2/found/html/referrers/{image.digest}": ("text/html", b"<html>sign in</html>")}).start()
    try:
        client = make_client()
        found = await RegistryStore(client).list_referrers(Repository(proxy.host, "found/html"),
                                                           _desc(image.digest))
        assert found.referrers == ()
        assert client.transport.host(proxy.host).referrers_api is False
        again = await client.list_referrers(Repository(proxy.host, "found/html"), Digest.parse(image.digest))
        assert again is None
        assert proxy.hits["GET"] == 2  # the /v2/ ping and the tag list: the API path is not asked again
    finally:
        await proxy.stop()
