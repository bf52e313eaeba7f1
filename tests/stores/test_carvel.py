"""Carvel tarballs (imgpkg copy --to-tar, kbld pkg): digests kept, layers by member, what is refused."""

from __future__ import annotations

import io
import json
import random
import tarfile
from pathlib import Path

import pytest

from relocator.commands.verify import verify
from relocator.errors import BadArchive, InputError, UnsafeTarMember
from relocator.stores.layout_source import open_layout
from tests.images import OCI_CONFIG, OCI_MANIFEST, Image, random_index, sha256, valid_image
from tests.stores.archives import all_blobs, read_blob, write_carvel


def _images() -> dict[str, Image]:
    rng = random.Random(30)
    inner = random_index([valid_image(rng, (300,)), valid_image(rng, (400,))])
    return {"registry.example/app:v1": valid_image(rng, (3000, 1000)),
            "registry.example/docker:v2": valid_image(rng, (2000,), docker=True),
            "registry.example/multi:v3": random_index([valid_image(rng, (600,)), valid_image(rng, (700,))]),
            "registry.example/nested:v4": random_index([inner, valid_image(rng, (500,))], docker=True)}


@pytest.mark.parametrize("kbld", [False, True], ids=["imgpkg", "kbld"])
async def test_carvel_tarball_keeps_digests_and_streams_every_blob(tmp_path: Path, kbld: bool) -> None:
    images = _images()
    out = write_carvel(tmp_path / "bundle.tar", images, kbld=kbld)
    with open_layout(out) as source:
        assert (source.kind, source.notes) == ("Carvel tarball", [])
        # imgpkg and kbld sort manifest.json by SortKey: the entries come in that order.
        expected = sorted((f"{n.rsplit(':', 1)[0]}@{image.digest}", image) for n, image in images.items())
        got = sorted((e.ref_name, e) for e in source.entries)  # type: ignore[type-var]
        assert [name for name, _ in got] == [name for name, _ in expected]
        for (_, entry), (_, image) in zip(got, expected, strict=True):
            assert str(entry.descriptor.digest) == image.digest
            assert entry.descriptor.media_type == image.media_type
            assert (await source.read_manifest(entry.descriptor.digest)).raw == image.raw
        for image in images.values():
            for digest, data in all_blobs(image).items():
                assert await read_blob(source, digest, len(data)) == data
    result = await verify(out)
    assert result.problems == [] and result.references == 4 and result.manifests == 10


async def test_bytes_that_go_json_escapes_come_back_exactly(tmp_path: Path) -> None:
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Labels": {"a": "<b> & \u2028 \u00e9 \U0001f600"}}},
                        ensure_ascii=False).encode()
    layer = b"layer bytes"
    raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                      "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
                      "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                  "digest": sha256(layer), "size": len(layer)}],
                      "annotations": {"note": "<&>"}}, ensure_ascii=False).encode()
    image = Image(raw, OCI_MANIFEST, {sha256(config): config, sha256(layer): layer})
    out = write_carvel(tmp_path / "escaped.tar", {"registry.example/app:v1": image})
    assert b"\\u003c" in out.read_bytes() and b"\\u2028" in out.read_bytes()
    with open_layout(out) as source:
        [entry] = source.entries
        assert str(entry.descriptor.digest) == image.digest
        assert (await source.read_manifest(entry.descriptor.digest)).raw == raw
        assert await read_blob(source, sha256(config), len(config)) == config


async def test_a_left_out_non_distributable_layer_is_fine(tmp_path: Path) -> None:
    rng = random.Random(31)
    foreign = rng.randbytes(500)
    image = valid_image(rng, (800,))
    doc = json.loads(image.raw)
    doc["layers"].insert(0, {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                             "digest": sha256(foreign), "size": len(foreign),
                             "urls": ["https://mcr.example/foreign"]})
    raw = json.dumps(doc).encode()
    image = Image(raw, OCI_MANIFEST, {**image.blobs, sha256(foreign): foreign})
    out = write_carvel(tmp_path / "foreign.tar", {"registry.example/win:v1": image},
                       leave_out=frozenset({sha256(foreign)}))
    with open_layout(out) as source:
        assert sha256(foreign) not in {str(d) for d in source.digests}
    assert (await verify(out)).problems == []


def _rewrite(src: Path, dst: Path, change: dict[str, bytes | None],
             add: dict[str, bytes] | None = None) -> Path:
    with tarfile.open(src) as old, tarfile.open(dst, "w") as new:
        for member in old.getmembers():
            data = old.extractfile(member).read()  # type: ignore[union-attr]
            if member.name in change:
                replaced = change[member.name]
                if replaced is None:
                    continue
                data = replaced
            member.size = len(data)
            new.addfile(member, io.BytesIO(data))
        for name, data in (add or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            new.addfile(info, io.BytesIO(data))
    return dst


async def test_a_corrupt_layer_names_the_tarball_and_the_member(tmp_path: Path) -> None:
    image = valid_image(random.Random(32), (2500,))
    out = write_carvel(tmp_path / "good.tar", {"registry.example/app:v1": image})
    layer = json.loads(image.raw)["layers"][0]["digest"]
    name = layer.replace(":", "-") + ".tar.gz"
    data = bytearray(image.blobs[layer])
    data[50] ^= 0xFF
    bad = _rewrite(out, tmp_path / "bad.tar", {name: bytes(data)})
    with open_layout(bad) as source, pytest.raises(BadArchive) as caught:
        await read_blob(source, layer, len(data))
    assert str(caught.value).startswith(
        f"{bad}: member {name}: content does not match its digest (blob {layer}: content hashes to")
    problems = (await verify(bad)).problems
    assert len(problems) == 1 and problems[0].startswith(f"{bad}: member {name}: ")


async def test_a_manifest_that_does_not_hash_to_its_digest(tmp_path: Path) -> None:
    image = valid_image(random.Random(33), (100,))
    out = write_carvel(tmp_path / "good.tar", {"registry.example/app:v1": image})
    with tarfile.open(out) as tar:
        doc = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    doc[0]["Image"]["Manifest"]["Raw"] += " "
    bad = _rewrite(out, tmp_path / "bad.tar", {"manifest.json": json.dumps(doc).encode()})
    # Refused when opened, by every command alike: the entry does not match its manifest.
    with pytest.raises(BadArchive) as caught:
        await verify(bad)
    assert str(caught.value).startswith(f"{bad}: image registry.example/app@{image.digest}: member "
                                        f"manifest.json does not match its digest {image.digest} (its "
                                        "content hashes to ")


@pytest.mark.parametrize(("change", "add", "error", "message"), [
    ({}, {"evil.sh": b"#!/bin/sh"}, UnsafeTarMember, "'evil.sh' is not a layer manifest.json describes"),
    ({"LAYER": b"short"}, {}, InputError, "has 5 bytes, manifest.json says"),
    ({"manifest.json": b'[{"Image": null, "ImageIndex": null}]'}, {}, InputError,
     "manifest.json[0] needs exactly one of Image and ImageIndex"),
    ({"manifest.json": b'[{"Image": {"Refs": ["a"]}}]'}, {}, InputError, "Config is missing or not a dict"),
])
def test_refused(tmp_path: Path, change: dict[str, bytes], add: dict[str, bytes], error: type[Exception],
                 message: str) -> None:
    image = valid_image(random.Random(34), (100,))
    out = write_carvel(tmp_path / "good.tar", {"registry.example/app:v1": image})
    layer = json.loads(image.raw)["layers"][0]["digest"].replace(":", "-") + ".tar.gz"
    change = {layer if k == "LAYER" else k: v for k, v in change.items()}
    bad = _rewrite(out, tmp_path / "bad.tar", change, add)  # type: ignore[arg-type]
    with pytest.raises(error) as caught:
        open_layout(bad)
    assert str(caught.value).startswith(f"{bad}: ") and message in str(caught.value)
