"""RegistryClient against a real registry: manifests, blobs, mounts, uploads, tags."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable

import pytest

from relocator.errors import DigestMismatch, NotFound, RegistryError, UnsupportedMediaType
from relocator.oci import Descriptor, Digest, Manifest, Reference, Repository
from relocator.registry import RegistryClient
from tests.images import (
    DOCKER_LAYER,
    random_image,
    random_index,
    seed,
    sha256,
    skopeo,
    skopeo_raw_manifest,
)
from tests.registries import Registry

MakeClient = Callable[..., RegistryClient]


def ref(reg: Registry, text: str) -> Reference:
    return Reference.parse(f"{reg.host}/{text}")


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def opener_for(data: bytes) -> Callable[[int], AsyncIterator[bytes]]:
    return lambda offset: chunks_of(data[offset:])


async def collect(client: RegistryClient, repo: Repository, desc: Descriptor) -> bytes:
    out = bytearray()
    async with client.open_blob(repo, desc) as chunks:
        async for chunk in chunks:
            out += chunk
    return bytes(out)


@pytest.mark.parametrize("docker", [False, True])
async def test_get_manifest_keeps_bytes_and_children(registry: Registry, make_client: MakeClient,
                                                     docker: bool) -> None:
    rng = random.Random(1 + docker)
    image = random_image(rng, (100, 200), docker=docker)
    seed(registry, "client/manifest", "v1", image)
    client = make_client(registry)
    manifest = await client.get_manifest(ref(registry, "client/manifest:v1"))
    assert manifest.raw == image.raw
    assert str(manifest.digest) == image.digest
    assert [str(c.digest) for c in manifest.children] == list(image.blobs)
    head = await client.head_manifest(ref(registry, "client/manifest:v1"))
    assert head is not None and str(head.digest) == image.digest and head.size == len(image.raw)
    assert head.media_type == image.media_type


async def test_index_children_and_absent_manifest(registry: Registry, make_client: MakeClient) -> None:
    rng = random.Random(3)
    index = random_index([random_image(rng), random_image(rng)])
    seed(registry, "client/index", "multi", index)
    client = make_client(registry)
    manifest = await client.get_manifest(ref(registry, f"client/index@{index.digest}"))
    assert manifest.is_index
    assert [str(c.digest) for c in manifest.children] == [c.digest for c in index.children]
    assert await client.head_manifest(ref(registry, "client/index:missing")) is None
    with pytest.raises(NotFound, match="client/index/manifests/missing"):
        await client.get_manifest(ref(registry, "client/index:missing"))


async def test_put_manifest_then_skopeo_sees_same_digest(registry: Registry, make_client: MakeClient) -> None:
    rng = random.Random(4)
    image = random_image(rng, (300,))
    client = make_client(registry)
    repo = Repository(registry.host, "client/put")
    for digest, data in image.blobs.items():
        desc = Descriptor("application/octet-stream", Digest.parse(digest), len(data))
        await client.push_blob(repo, desc, opener_for(data))
    manifest = Manifest.parse(image.raw, image.media_type)
    pushed = await client.put_manifest(ref(registry, "client/put:v1"), manifest)
    assert str(pushed) == image.digest
    assert sha256(skopeo_raw_manifest(registry, "client/put:v1")) == image.digest


async def test_blob_roundtrip_monolithic_and_chunked(fresh_registry: Registry,
                                                    make_client: MakeClient) -> None:
    data = random.Random(5).randbytes(3 * 1024 * 1024 + 17)
    desc = Descriptor(DOCKER_LAYER, Digest.parse(sha256(data)), len(data))
    client = make_client(fresh_registry)
    mono, chunked = Repository(fresh_registry.host, "b/mono"), Repository(fresh_registry.host, "b/chunked")
    await client.push_blob(mono, desc, opener_for(data))
    await client.push_blob(chunked, desc, opener_for(data), chunk_size=1024 * 1024)
    assert fresh_registry.requests("PATCH", "b/chunked/blobs/uploads/.*") == 4
    assert fresh_registry.requests("PATCH", "b/mono/blobs/uploads/.*") == 0
    for repo in (mono, chunked):
        assert await client.head_blob(repo, desc.digest) == len(data)
        assert await collect(client, repo, desc) == data


async def test_wrong_digest_put_is_refused(registry: Registry, make_client: MakeClient) -> None:
    data = b"the bytes we send"
    wrong = Descriptor(DOCKER_LAYER, Digest.parse(sha256(b"other bytes")), len(data))
    client = make_client(registry)
    with pytest.raises(RegistryError, match="DIGEST_INVALID") as info:
        await client.push_blob(Repository(registry.host, "client/wrong"), wrong, opener_for(data))
    assert info.value.status == 400
    assert "\n" not in str(info.value)


async def test_read_verifies_digest(registry: Registry, make_client: MakeClient) -> None:
    data = b"x" * 1000
    digest = Digest.parse(sha256(data))
    client = make_client(registry)
    repo = Repository(registry.host, "client/verify")
    await client.push_blob(repo, Descriptor(DOCKER_LAYER, digest, len(data)), opener_for(data))
    # Ask for the right blob but claim another size: the read must fail, not return bytes.
    with pytest.raises(Exception, match="expected 999 bytes"):
        await collect(client, repo, Descriptor(DOCKER_LAYER, digest, 999))


async def test_mount_moves_no_bytes(fresh_registry: Registry, make_client: MakeClient) -> None:
    data = random.Random(6).randbytes(200_000)
    desc = Descriptor(DOCKER_LAYER, Digest.parse(sha256(data)), len(data))
    client = make_client(fresh_registry)
    src, dst = Repository(fresh_registry.host, "m/src"), Repository(fresh_registry.host, "m/dst")
    await client.push_blob(src, desc, opener_for(data))
    result = await client.mount_blob(dst, desc.digest, src)
    assert result.mounted
    assert await client.head_blob(dst, desc.digest) == len(data)
    assert fresh_registry.requests("POST", r"m/dst/blobs/uploads/") == 1
    assert fresh_registry.requests("PUT", r"m/dst/blobs/uploads/.*") == 0
    assert fresh_registry.requests("PATCH", r"m/dst/blobs/uploads/.*") == 0
    missing = await client.mount_blob(dst, Digest.parse(sha256(b"absent")), src)
    assert not missing.mounted and missing.location  # a 202 session to reuse


async def test_upload_resumes_from_session_status(fresh_registry: Registry, make_client: MakeClient) -> None:
    data = random.Random(7).randbytes(3 * 1024 * 1024)
    desc = Descriptor(DOCKER_LAYER, Digest.parse(sha256(data)), len(data))
    client = make_client(fresh_registry)
    repo = Repository(fresh_registry.host, "r/resume")
    location = await client.uploader.start(repo)
    # Send the first MiB ourselves, as an earlier run that died would have.
    async with client.transport.stream(
        "PATCH", repo.registry, location, scopes=(), body=data[: 1024 * 1024], ok=(202,),
        headers={"Content-Range": f"0-{1024 * 1024 - 1}", "Content-Length": str(1024 * 1024)},
    ) as resp:
        location = resp.headers["Location"]
    offset, _ = await client.uploader.status(repo, location)
    assert offset == 1024 * 1024
    await client.push_blob(repo, desc, opener_for(data), chunk_size=1024 * 1024, location=location)
    assert await collect(client, repo, desc) == data
    assert fresh_registry.requests("PATCH", "r/resume/blobs/uploads/.*") == 3


async def test_list_tags(registry: Registry, make_client: MakeClient) -> None:
    # distribution 2.8.2 ignores ?n=, so Link pagination is shown against the fault server.
    image = random_image(random.Random(8))
    tags = [f"t{i:02d}" for i in range(12)]
    for tag in tags:
        seed(registry, "client/tags", tag, image)
    client = make_client(registry)
    got = await client.list_tags(Repository(registry.host, "client/tags"), page_size=5)
    assert sorted(got) == tags


async def test_schema1_is_refused(registry: Registry, make_client: MakeClient) -> None:
    raw = b'{"schemaVersion": 1, "name": "x", "tag": "v1", "fsLayers": [], "history": []}'
    with pytest.raises(UnsupportedMediaType, match="schema 1"):
        Manifest.parse(raw, "application/vnd.docker.distribution.manifest.v1+prettyjws", "x:v1")


async def test_manifest_digest_mismatch_detected(registry: Registry, make_client: MakeClient) -> None:
    image = random_image(random.Random(9))
    seed(registry, "client/mismatch", "v1", image)
    client = make_client(registry)
    other = Digest.parse(sha256(b"not this manifest"))
    with pytest.raises((DigestMismatch, NotFound)):
        await client.get_manifest(ref(registry, f"client/mismatch@{other}"))


def test_skopeo_sees_seeded_index(registry: Registry) -> None:
    rng = random.Random(10)
    index = random_index([random_image(rng), random_image(rng)], docker=True)
    seed(registry, "client/skopeo", "v1", index)
    out = skopeo("inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/client/skopeo:v1")
    assert sha256(out.encode()) == index.digest


async def test_blob_get_from_an_offset_is_a_206_of_the_rest(registry: Registry,
                                                            make_client: MakeClient) -> None:
    # What a resumed pkg relies on: distribution 2.8.2 answers Range on a blob GET with 206.
    image = random_image(random.Random(62), (300_000,))
    seed(registry, "client/range", "v1", image)
    data = max(image.blobs.values(), key=len)
    client = make_client(registry)
    repo = Repository(registry.host, "client/range")
    desc = Descriptor(DOCKER_LAYER, Digest.parse(sha256(data)), len(data))
    mark = len(registry.log())
    got = b"".join([c async for c in client.blob_opener(repo, desc)(123_457)])
    assert got == data[123_457:]
    wanted = f"GET /v2/client/range/blobs/{desc.digest}"
    lines = [ln for ln in registry.log()[mark:].splitlines() if wanted in ln]
    assert len(lines) == 1 and '" 206 ' in lines[0], lines
