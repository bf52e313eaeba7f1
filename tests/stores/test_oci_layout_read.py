"""OCI layouts other tools write: ``./`` names and directory members (tar, umoci), ``docker save``'s
extra files (Docker 25), gzip, and the members that stay refused."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import tarfile
import tempfile
import tracemalloc
from pathlib import Path

import pytest

from relocator.commands.verify import verify
from relocator.errors import BadArchive, InputError, UnsafeTarMember
from relocator.stores.layout_source import open_layout
from tests.images import Image, random_index, sha256, valid_image
from tests.stores.archives import (
    CONTAINERD_NAME,
    REF_NAME,
    all_blobs,
    read_blob,
    tar_dir,
    umoci_layout,
    untar,
    write_docker25,
    write_layout,
)


def _images() -> dict[str, Image]:
    rng = random.Random(7)
    return {"example.com/app:v1": valid_image(rng, (3000, 2000)),
            "example.com/multi:v1": random_index([valid_image(rng, (500,)), valid_image(rng, (700,))])}


def _blobs(images: dict[str, Image]) -> dict[str, bytes]:
    return {d: b for image in images.values() for d, b in all_blobs(image).items()}


async def test_tar_of_a_layout_directory_reads_with_dot_prefixed_names(tmp_path: Path) -> None:
    images = _images()
    out = tar_dir(write_layout(tmp_path / "layout", images), tmp_path / "dot.tar")
    with tarfile.open(out) as tar:
        dirs = {m.name for m in tar.getmembers() if m.isdir()}
    assert dirs == {".", "./blobs", "./blobs/sha256"}  # what tar -C DIR -cf F.tar . writes
    with open_layout(out) as source:
        assert (source.kind, source.notes) == ("OCI layout", [])
        assert [(e.ref_name, str(e.descriptor.digest)) for e in source.entries] == [
            (name, image.digest) for name, image in images.items()]
        for digest, data in _blobs(images).items():
            assert await read_blob(source, digest, len(data)) == data
    result = await verify(out)
    assert result.problems == [] and result.blobs == len(_blobs(images)) and result.manifests == 4


async def test_umoci_layout_as_tar_gz(tmp_path: Path) -> None:
    layout = tmp_path / "umoci"
    raw = umoci_layout(layout, "v1")
    out = tar_dir(layout, tmp_path / "umoci.tar.gz", gz=True)
    with open_layout(out) as source:
        [entry] = source.entries
        assert entry.ref_name == "v1" and str(entry.descriptor.digest) == sha256(raw)
        manifest = await source.read_manifest(entry.descriptor.digest)
        assert manifest.raw == raw
    result = await verify(out)
    assert result.problems == [] and result.manifests == 1 and result.blobs == 2


@pytest.mark.parametrize("as_dir", [False, True], ids=["tar", "directory"])
async def test_docker25_save_reads_as_a_layout_and_keeps_annotations(tmp_path: Path, as_dir: bool) -> None:
    rng = random.Random(8)
    images = {"busybox:latest": valid_image(rng, (1200,)), "example.com/app:v2": valid_image(rng, (900,))}
    path = write_docker25(tmp_path / "saved.tar", images)
    if as_dir:
        path = untar(path, tmp_path / "saved")
    with open_layout(path) as source:
        assert (source.kind, source.notes) == ("OCI layout", [])
        got = {str(e.descriptor.digest): (e.ref_name, dict(e.descriptor.annotations)) for e in source.entries}
        assert got == {
            images["busybox:latest"].digest: ("latest", {CONTAINERD_NAME: "docker.io/library/busybox:latest",
                                                         REF_NAME: "latest"}),
            images["example.com/app:v2"].digest: ("v2", {CONTAINERD_NAME: "example.com/app:v2",
                                                        REF_NAME: "v2"}),
        }
        for digest, data in _blobs(images).items():
            assert await read_blob(source, digest, len(data)) == data
    assert (await verify(path)).problems == []


async def test_corrupt_blob_names_the_tarball_and_the_member(tmp_path: Path) -> None:
    images = _images()
    out = tar_dir(write_layout(tmp_path / "layout", images), tmp_path / "dot.tar")
    layer = list(images["example.com/app:v1"].blobs)[-1]
    name = f"./blobs/sha256/{layer.split(':')[1]}"
    with tarfile.open(out) as tar:
        offset = tar.getmember(name).offset_data
    data = bytearray(out.read_bytes())
    data[offset + 5] ^= 0xFF
    out.write_bytes(bytes(data))
    size = len(images["example.com/app:v1"].blobs[layer])
    with open_layout(out) as source, pytest.raises(BadArchive) as caught:
        await read_blob(source, layer, size)
    assert str(caught.value).startswith(f"{out}: member blobs/sha256/{layer.split(':')[1]}: content does not "
                                        f"match its digest (blob {layer}")
    problems = (await verify(out)).problems
    assert len(problems) == 1 and problems[0].startswith(f"{out}: member blobs/sha256/")


def _layout_tar(path: Path, extra: list[tarfile.TarInfo], data: bytes = b"") -> Path:
    with tarfile.open(path, "w") as tar:
        for name, body in (("./oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
                           ("./index.json", b'{"schemaVersion":2,"manifests":[]}')):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        for info in extra:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize(("member", "message"), [
    (_info("./etc", tarfile.DIRTYPE), "member 'etc' is a directory outside the layout's blobs"),
    (_info("./blobs/sha256/../../../evil"), "points outside the layout"),
    (_info(f"./blobs/sha256/{'a' * 64}", tarfile.SYMTYPE, "/etc/passwd"), "is a symbolic link, not a"),
    (_info(f"./blobs/sha256/{'a' * 64}", tarfile.LNKTYPE, "oci-layout"), "is a hard link, not a regular"),
    (_info("./fifo", tarfile.FIFOTYPE), "is a fifo, not a regular file"),
    (_info("./manifest.jsonx"), "is not part of an OCI image layout"),
])
def test_refused_members(tmp_path: Path, member: tarfile.TarInfo, message: str) -> None:
    path = _layout_tar(tmp_path / "bad.tar", [member], b"x")
    with pytest.raises(UnsafeTarMember) as caught:
        open_layout(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_accepted_directories_and_identical_duplicates(tmp_path: Path) -> None:
    blob = b"some blob"
    name = f"blobs/sha256/{sha256(blob).split(':')[1]}"
    members = [_info(".", tarfile.DIRTYPE), _info("blobs", tarfile.DIRTYPE),
               _info("./blobs/sha512", tarfile.DIRTYPE), _info(name), _info(f"./{name}"),
               _info("manifest.json"), _info("repositories")]
    with open_layout(_layout_tar(tmp_path / "ok.tar", members, blob)) as source:
        assert {str(d) for d in source.digests} == {sha256(blob)}


def test_member_cut_short_by_the_end_of_the_file(tmp_path: Path) -> None:
    path = _layout_tar(tmp_path / "cut.tar", [_info("blobs/sha256/" + "b" * 64)], b"y" * 5000)
    with tarfile.open(path) as tar:
        end = tar.getmember("blobs/sha256/" + "b" * 64).offset_data + 100
    path.write_bytes(path.read_bytes()[:end])
    with pytest.raises(InputError, match="is cut short by the end of the file"):
        open_layout(path)


def _deleted_temp_fds() -> list[str]:
    """Open descriptors of unnamed files in the temp dir (O_TMPFILE, or created and unlinked)."""
    links = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            links.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue
    return [link for link in links if link.startswith(tempfile.gettempdir()) and link.endswith("(deleted)")]


async def test_gzip_is_decompressed_once_into_an_unnamed_temp_file(tmp_path: Path) -> None:
    images = _images()
    plain = tar_dir(write_layout(tmp_path / "layout", images), tmp_path / "dot.tar")
    packed = tmp_path / "dot.tar.gz"  # no name hints: detection is by the magic bytes
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    before, held = set(os.listdir(tempfile.gettempdir())), _deleted_temp_fds()
    source = open_layout(packed)
    assert set(os.listdir(tempfile.gettempdir())) == before  # nothing named on disk
    assert len(_deleted_temp_fds()) == len(held) + 1
    for digest, data in _blobs(images).items():
        assert await read_blob(source, digest, len(data)) == data
    source.close()
    source.close()
    assert _deleted_temp_fds() == held
    renamed = tmp_path / "layout.bin"
    renamed.write_bytes(packed.read_bytes())
    with open_layout(renamed) as again:
        assert [e.descriptor for e in again.entries] == [e.descriptor for e in source.entries]
    assert _deleted_temp_fds() == held


def test_gzip_decompression_keeps_memory_flat(tmp_path: Path) -> None:
    layer = bytes(64 << 20)
    layout = write_layout(tmp_path / "layout", {"big:v1": Image(
        json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                               "digest": sha256(b"{}"), "size": 2},
                    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                "digest": sha256(layer), "size": len(layer)}]}).encode(),
        "application/vnd.oci.image.manifest.v1+json", {sha256(b"{}"): b"{}", sha256(layer): layer})})
    packed = tar_dir(layout, tmp_path / "big.tar.gz", gz=True)
    del layer
    tracemalloc.start()
    try:
        with open_layout(packed) as source:
            assert len(source.digests) == 3
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"decompressing a 64 MiB layer held {peak} bytes at once"


@pytest.mark.parametrize(("data", "message"), [
    (b"\x1f\x8b\x08\x00garbage", "not a valid gzip file"),
    (gzip.compress(random.Random(1).randbytes(100_000))[:2000], "not a valid gzip file"),
    (gzip.compress(b"not a tar at all" * 100), "not a tar file"),
    (b"plain text, neither tar nor gzip", "not a tar file"),
    (b"", "not a tar file"),
])
def test_bad_input_is_an_input_error_naming_the_file(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "input.tar"
    path.write_bytes(data)
    held = _deleted_temp_fds()
    with pytest.raises(InputError) as caught:
        open_layout(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert _deleted_temp_fds() == held


def test_a_tar_that_is_no_image_archive(tmp_path: Path) -> None:
    path = tmp_path / "other.tar"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("README")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InputError, match=r"not an image archive: no oci-layout or index\.json"):
        open_layout(path)
