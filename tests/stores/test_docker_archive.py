"""Docker archives: skopeo's docker-archive and docker save before Docker 25 (links between layer
directories), manifests rebuilt the same way every time, layers verified while they stream."""

from __future__ import annotations

import gzip
import io
import json
import random
import tarfile
from pathlib import Path

import pytest

from relocator.commands.verify import verify
from relocator.errors import BadArchive, InputError, UnsafeTarMember
from relocator.oci import Digest, Platform
from relocator.stores.layout_source import open_layout
from tests.images import Image, sha256, skopeo, valid_image
from tests.stores.archives import (
    CONTAINERD_NAME,
    REF_NAME,
    go_json,
    read_blob,
    rebuilt_docker_manifest,
    sha256_file_member,
    write_layout,
)

DOCKER_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
TAR_LAYER = "application/vnd.docker.image.rootfs.diff.tar"


def _note(path: Path) -> str:
    return (f"{path} is a Docker archive: it holds no manifest bytes, so each manifest is rebuilt "
            "and its digest can differ from the registry's")


def _skopeo_archive(tmp_path: Path, image: Image, name: str = "archive.tar") -> Path:
    layout = write_layout(tmp_path / "layout", {"v1": image})
    out = tmp_path / name
    skopeo("copy", "-q", f"oci:{layout}:v1", f"docker-archive:{out}:example.com/app:v1",
           "--additional-tag", "busybox:latest")
    return out


async def test_skopeo_docker_archive_gets_a_rebuilt_manifest_per_repo_tag(tmp_path: Path) -> None:
    out = _skopeo_archive(tmp_path, valid_image(random.Random(20), (3000, 2000)))
    expected = rebuilt_docker_manifest(out)
    with open_layout(out) as source:
        assert (source.kind, source.notes) == ("Docker archive", [_note(out)])
        # skopeo writes full names in RepoTags; docker writes familiar ones (the legacy test below).
        names = ["example.com/app:v1", "docker.io/library/busybox:latest"]
        assert [e.ref_name for e in source.entries] == names
        assert {str(e.descriptor.digest) for e in source.entries} == {sha256(expected)}
        first, second = source.entries
        assert first.descriptor.media_type == DOCKER_V2 and first.descriptor.size == len(expected)
        assert first.descriptor.platform == Platform("linux", "amd64")
        assert dict(second.descriptor.annotations) == {CONTAINERD_NAME: "docker.io/library/busybox:latest",
                                                       REF_NAME: "latest"}
        manifest = await source.read_manifest(first.descriptor.digest)
        assert manifest.raw == expected
        for child in manifest.children:
            data = await read_blob(source, str(child.digest), child.size)
            assert sha256(data) == str(child.digest)
    result = await verify(out)
    assert result.problems == [] and result.notes == [_note(out)] and result.blobs == 4


async def test_the_same_archive_always_gives_the_same_digest(tmp_path: Path) -> None:
    image = valid_image(random.Random(21), (1500,))
    one = _skopeo_archive(tmp_path / "a", image)
    two = _skopeo_archive(tmp_path / "b", image, "again.tar")
    packed = tmp_path / "again.tar.gz"
    packed.write_bytes(gzip.compress(two.read_bytes()))
    digests = []
    for path in (one, one, two, packed):
        with open_layout(path) as source:
            digests.append({e.descriptor.digest for e in source.entries})
    assert digests[0] == digests[1] == digests[2] == digests[3] and len(digests[0]) == 1


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE,
         link: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


def _legacy_save(path: Path, layer_link: str | None = None) -> tuple[Path, list[bytes]]:
    """docker save before Docker 25 (moby image/tarexport/save.go): one directory per v1 layer
    ID with VERSION, json and layer.tar; a layer saved twice is a link to the first copy."""
    rng = random.Random(22)
    layers = [rng.randbytes(2048), rng.randbytes(1024)]
    config = json.dumps({"architecture": "arm64", "variant": "v8", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256(x) for x in layers]}}).encode()
    other = json.dumps({"architecture": "amd64", "os": "linux",
                        "rootfs": {"type": "layers", "diff_ids": [sha256(layers[0])]}}).encode()
    ids = ["1" * 64, "2" * 64, "3" * 64]
    items = [{"Config": f"{sha256(config)[7:]}.json", "RepoTags": ["registry.example:5000/team/app:1.0",
                                                                                "busybox:1.36"],
              "Layers": [f"{ids[0]}/layer.tar", f"{ids[1]}/layer.tar"]},
             {"Config": f"{sha256(other)[7:]}.json", "RepoTags": None, "Layers": [f"{ids[2]}/layer.tar"]}]
    with tarfile.open(path, "w") as tar:
        for i, data in ((0, layers[0]), (1, layers[1])):
            _add(tar, ids[i], kind=tarfile.DIRTYPE)
            _add(tar, f"{ids[i]}/VERSION", b"1.0")
            _add(tar, f"{ids[i]}/json", b"{}")
            _add(tar, f"{ids[i]}/layer.tar", data)
        _add(tar, ids[2], kind=tarfile.DIRTYPE)
        _add(tar, f"{ids[2]}/layer.tar", kind=tarfile.SYMTYPE, link=layer_link or f"../{ids[0]}/layer.tar")
        _add(tar, items[0]["Config"], config)  # type: ignore[arg-type]
        _add(tar, items[1]["Config"], other)  # type: ignore[arg-type]
        _add(tar, "manifest.json", json.dumps(items).encode())
        _add(tar, "repositories", b'{"registry.example:5000/team/app":{"1.0":"' + ids[1].encode() + b'"}}')
    return path, layers


async def test_legacy_docker_save_with_linked_layers_and_an_untagged_image(tmp_path: Path) -> None:
    path, layers = _legacy_save(tmp_path / "legacy.tar")
    with open_layout(path) as source:
        tagged, familiar, untagged = source.entries
        assert tagged.ref_name == "registry.example:5000/team/app:1.0" and untagged.ref_name is None
        assert familiar.ref_name == "busybox:1.36" and familiar.descriptor.digest == tagged.descriptor.digest
        assert dict(familiar.descriptor.annotations) == {CONTAINERD_NAME: "docker.io/library/busybox:1.36",
                                                         REF_NAME: "1.36"}
        assert tagged.descriptor.platform == Platform("linux", "arm64", "v8")
        assert dict(tagged.descriptor.annotations) == {
            CONTAINERD_NAME: "registry.example:5000/team/app:1.0", REF_NAME: "1.0"}
        assert dict(untagged.descriptor.annotations) == {}
        inner = await source.read_manifest(untagged.descriptor.digest)
        [layer] = inner.layers
        assert (str(layer.digest), layer.size, layer.media_type) == (sha256(layers[0]), 2048, TAR_LAYER)
        assert await read_blob(source, str(layer.digest), layer.size) == layers[0]
    assert (await verify(path)).problems == []


@pytest.mark.parametrize(("link", "error", "message"), [
    ("../../etc/passwd", UnsafeTarMember, f"link '{'3' * 64}/layer.tar' points outside the archive"),
    ("/etc/passwd", UnsafeTarMember, "points outside the archive"),
    ("../nothing/layer.tar", InputError, f"names '{'3' * 64}/layer.tar', which the archive does not hold"),
    (f"../{'1' * 64}", UnsafeTarMember, "is a directory, not a regular file"),
])
def test_links_that_leave_the_archive_or_lead_nowhere(tmp_path: Path, link: str, error: type[Exception],
                                                      message: str) -> None:
    path, _ = _legacy_save(tmp_path / "bad.tar", layer_link=link)
    with pytest.raises(error) as caught:
        open_layout(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


async def test_a_corrupt_layer_names_the_archive_and_the_member(tmp_path: Path) -> None:
    out = _skopeo_archive(tmp_path, valid_image(random.Random(23), (4000,)))
    with tarfile.open(out) as tar:
        item = json.load(tar.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
        target = item["Layers"][0]
        offset = tar.getmember(target).offset_data
    digest = sha256_file_member(out, target)
    data = bytearray(out.read_bytes())
    data[offset + 100] ^= 0xFF
    out.write_bytes(bytes(data))
    with open_layout(out) as source, pytest.raises(BadArchive) as caught:
        await read_blob(source, digest, 4000)
    assert str(caught.value).startswith(
        f"{out}: member {target}: content does not match its digest (blob {digest}: content hashes to")
    problems = (await verify(out)).problems
    assert len(problems) == 1 and problems[0].startswith(f"{out}: member {target}: ")


async def test_gzip_layers_are_hashed_and_typed_as_gzip(tmp_path: Path) -> None:
    """go-containerregistry's tarball package: Config ``sha256:<hex>``, gzip ``<hex>.tar.gz`` layers."""
    rng = random.Random(24)
    raw = rng.randbytes(3000)
    layer = gzip.compress(raw, mtime=0)
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha256(raw)]}}).encode()
    path = tmp_path / "crane.tar"
    with tarfile.open(path, "w") as tar:
        _add(tar, sha256(config), config)
        _add(tar, f"{sha256(layer)[7:]}.tar.gz", layer)
        _add(tar, "manifest.json", json.dumps([{"Config": sha256(config), "RepoTags": ["app:v1"],
                                                "Layers": [f"{sha256(layer)[7:]}.tar.gz"]}]).encode())
    with open_layout(path) as source:
        [entry] = source.entries
        manifest = await source.read_manifest(entry.descriptor.digest)
        [desc] = manifest.layers
        assert (str(desc.digest), desc.size, desc.media_type) == (
            sha256(layer), len(layer), "application/vnd.docker.image.rootfs.diff.tar.gzip")
        assert await read_blob(source, sha256(layer), len(layer)) == layer
        assert Digest.parse(sha256(config)) in source.digests
    # The bytes crane push makes of this tarball (ggcr's tarball.Image: json.Marshal of v1.Manifest,
    # fields in struct order), so the rebuilt digest is the one crane pushed.
    ggcr = go_json({"schemaVersion": 2, "mediaType": DOCKER_V2,
                    "config": {"mediaType": DOCKER_CONFIG, "size": len(config), "digest": sha256(config)},
                    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                "size": len(layer), "digest": sha256(layer)}]})
    assert manifest.raw == ggcr


def test_malformed_manifest_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.tar"
    with tarfile.open(path, "w") as tar:
        _add(tar, "manifest.json", b'[{"Config": 5, "Layers": []}]')
    with pytest.raises(InputError, match=r"manifest.json\[0\] needs a Config name"):
        open_layout(path)
