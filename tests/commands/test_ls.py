"""`relocator ls`, and verify and unpkg, on what other tools write: OCI layouts (``tar -C DIR .``,
gzip, Docker 25's docker save), Docker archives (skopeo docker-archive) and Carvel tarballs."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import random
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import reports
from tests.images import Image, random_image, random_index, sha256, skopeo, skopeo_raw_manifest, valid_image
from tests.registries import Registry
from tests.stores.archives import (
    rebuilt_docker_manifest,
    tar_dir,
    total_size,
    untar,
    write_carvel,
    write_docker25,
    write_layout,
)

ENV = {**os.environ, "DOCKER_CONFIG": "/nonexistent"}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relocator", *args], capture_output=True, text=True,
                          timeout=300, env=ENV)


def _images() -> dict[str, Image]:
    rng = random.Random(50)
    return {"example.com/app:v1": valid_image(rng, (3000, 1000)),
            "example.com/docker:v1": valid_image(rng, (1500,), docker=True),
            "example.com/multi:v1": random_index([valid_image(rng, (600,)), valid_image(rng, (700,))]),
            "example.com/artifact:sig": random_image(rng, (100,),
                                                     config_media_type="application/vnd.example+json")}


_PLATFORMS = {"example.com/app:v1": ["linux/amd64"], "example.com/docker:v1": ["linux/amd64"],
              "example.com/multi:v1": ["linux/amd64", "linux/arm64"], "example.com/artifact:sig": []}


def _ls_json(path: Path) -> tuple[list[dict[str, object]], str]:
    proc = cli("ls", "--json", str(path))
    assert proc.returncode == 0, proc.stderr
    report = reports.load(proc.stdout)
    assert [(i["reference"], i["source_digest"]) for i in report["images"]] == [
        (e["name"], e["digest"]) for e in report["details"]["entries"]]
    return report["details"]["entries"], proc.stderr


def test_ls_an_oci_layout_tar_gz_with_dot_names(tmp_path: Path) -> None:
    images = _images()
    out = tar_dir(write_layout(tmp_path / "layout", images), tmp_path / "images.tgz", gz=True)
    rows, stderr = _ls_json(out)
    assert stderr == ""
    assert rows == [{"name": name, "digest": image.digest, "mediaType": image.media_type,
                     "platforms": _PLATFORMS[name], "size": total_size(image)}
                    for name, image in images.items()]


def test_bzip2_and_xz_are_read_and_zstd_is_named(tmp_path: Path) -> None:
    """Python's standard library reads gzip, bzip2 and xz, so all three are read the same way;
    zstd is named and refused, never reported as a broken tar file."""
    images = _images()
    plain = tar_dir(write_layout(tmp_path / "layout", images), tmp_path / "images.tar").read_bytes()
    expected = [(name, image.digest) for name, image in images.items()]
    for suffix, packed in ((".bz2", bz2.compress(plain)), (".xz", lzma.compress(plain))):
        out = tmp_path / f"images.tar{suffix}"
        out.write_bytes(packed)
        rows, stderr = _ls_json(out)
        assert [(r["name"], r["digest"]) for r in rows] == expected and stderr == ""
        assert cli("verify", str(out)).returncode == 0
        broken = tmp_path / f"broken.tar{suffix}"
        broken.write_bytes(packed[: len(packed) // 2])
        proc = cli("ls", str(broken))
        assert proc.returncode == 2 and proc.stderr.startswith(
            f"relocator: error: {broken}: not a valid {'bzip2' if suffix == '.bz2' else 'xz'} file (")
    zstd = tmp_path / "images.tar.zst"
    zstd.write_bytes(b"\x28\xb5\x2f\xfd" + plain[:100])  # zstd's frame magic, RFC 8878
    for verb in ("ls", "verify"):
        proc = cli(verb, str(zstd))
        assert proc.returncode == 2
        assert proc.stderr == (f"relocator: error: {zstd}: compressed with zstd, which relocator does not "
                               "read: decompress it first (zstd -d)\n")


def test_ls_text_table_with_an_unnamed_entry(tmp_path: Path) -> None:
    images = _images()
    layout = write_layout(tmp_path / "layout", images)
    index = json.loads((layout / "index.json").read_text())
    del index["manifests"][3]["annotations"]  # the artifact: no name, and no platform
    (layout / "index.json").write_text(json.dumps(index))
    proc = cli("ls", str(layout))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    header, *lines = proc.stdout.splitlines()
    assert header.split() == ["NAME", "DIGEST", "MEDIA", "TYPE", "PLATFORMS", "SIZE"]
    rows = [line.split() for line in lines]
    artifact = images["example.com/artifact:sig"]
    assert rows[3][:4] == ["-", artifact.digest, artifact.media_type, "-"]
    assert rows[2][:4] == ["example.com/multi:v1", images["example.com/multi:v1"].digest,
                           images["example.com/multi:v1"].media_type, "linux/amd64,linux/arm64"]
    assert rows[0][4:] == [f"{total_size(images['example.com/app:v1']) / 1000:.1f}", "kB"]


def test_ls_a_docker_archive_shows_rebuilt_digests_and_says_so(tmp_path: Path) -> None:
    image = valid_image(random.Random(51), (2500, 800))
    layout = write_layout(tmp_path / "layout", {"v1": image})
    out = tmp_path / "archive.tar"
    skopeo("copy", "-q", f"oci:{layout}:v1", f"docker-archive:{out}:example.com/app:v1",
           "--additional-tag", "example.com/app:latest")
    manifest = rebuilt_docker_manifest(out)
    doc = json.loads(manifest)
    size = len(manifest) + doc["config"]["size"] + sum(layer["size"] for layer in doc["layers"])
    rows, stderr = _ls_json(out)
    assert rows == [{"name": name, "digest": sha256(manifest), "mediaType": doc["mediaType"],
                     "platforms": ["linux/amd64"], "size": size}
                    for name in ("example.com/app:v1", "example.com/app:latest")]
    assert stderr == (f"relocator: note: {out} is a Docker archive: it holds no manifest bytes, so each "
                      "manifest is rebuilt and its digest can differ from the registry's\n")


def test_ls_a_carvel_tarball_and_a_docker25_save(tmp_path: Path) -> None:
    images = _images()
    carvel = write_carvel(tmp_path / "bundle.tar", images)
    rows, _ = _ls_json(carvel)
    by_digest = {image.digest: (name, image) for name, image in images.items()}
    assert len(rows) == 4
    for row in rows:
        name, image = by_digest[row["digest"]]  # type: ignore[index]
        assert row == {"name": f"{name.rsplit(':', 1)[0]}@{image.digest}", "digest": image.digest,
                       "mediaType": image.media_type, "platforms": _PLATFORMS[name],
                       "size": total_size(image)}
    saved = {"busybox:latest": images["example.com/app:v1"],
             "example.com/docker:v1": images["example.com/docker:v1"]}
    packed = tmp_path / "saved.tar.gz"
    packed.write_bytes(gzip.compress(write_docker25(tmp_path / "saved.tar", saved).read_bytes()))
    rows, stderr = _ls_json(packed)
    assert stderr == ""
    # Docker 25 puts the tag alone in ref.name; ls shows the full name from containerd's annotation.
    assert [(r["name"], r["digest"]) for r in rows] == [
        ("docker.io/library/busybox:latest", saved["busybox:latest"].digest),
        ("example.com/docker:v1", saved["example.com/docker:v1"].digest)]


def _layout_with(path: Path, name: str, kind: bytes) -> Path:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("oci-layout")
        tar.addfile(info)
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, "/etc/passwd"
        tar.addfile(info)
    return path


def _file(data: bytes) -> Callable[[Path], Path]:
    def make(path: Path) -> Path:
        path.write_bytes(data)
        return path
    return make


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize(("make", "cause"), [
    (lambda p: p, "cannot read (No such file or directory)"),
    (_file(b""), "not a tar file"),
    (_file(b"hello\n"), "not a tar file"),
    (_file(b"\x1f\x8b\x08\x00 broken"), "not a valid gzip file"),
    (lambda p: _layout_with(p, "blobs/sha256/" + "a" * 64, tarfile.SYMTYPE), "is a symbolic link"),
    (lambda p: _layout_with(p, "../escape", tarfile.REGTYPE), "points outside the layout"),
    (_dir, "not an OCI image layout (no oci-layout or index.json)"),
])
def test_ls_bad_input_is_one_line_naming_the_file(tmp_path: Path, make: Callable[[Path], Path],
                                                  cause: str) -> None:
    path = make(tmp_path / "input")
    proc = cli("ls", str(path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"relocator: error: {path}: ") and cause in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr


def test_verify_accepts_a_docker_archive_and_a_carvel_tarball(tmp_path: Path) -> None:
    images = _images()
    layout = write_layout(tmp_path / "layout", {"v1": images["example.com/app:v1"]})
    archive = tmp_path / "archive.tar"
    skopeo("copy", "-q", f"oci:{layout}:v1", f"docker-archive:{archive}:example.com/app:v1")
    carvel = write_carvel(tmp_path / "bundle.tar", images)
    for path, counts in ((archive, "1 references, 1 manifests, 4 blobs"),
                         (carvel, "4 references, 6 manifests, 17 blobs")):
        proc = cli("verify", str(path))
        assert proc.returncode == 0 and proc.stdout == f"{path}: ok: {counts} verified\n", proc.stdout


def _docker25_dir(tmp_path: Path, images: dict[str, Image]) -> Path:
    """Docker 25's docker save, extracted (re-tarred below with ./ names and gzip)."""
    saved = write_docker25(tmp_path / "saved.tar", {"busybox:latest": images["example.com/app:v1"]})
    return untar(saved, tmp_path / "saved")


def test_unpkg_from_a_docker_archive_a_carvel_tarball_and_a_docker25_save(registry: Registry,
                                                                           tmp_path: Path) -> None:
    images = _images()
    layout = write_layout(tmp_path / "layout", {"v1": images["example.com/app:v1"]})
    archive = tmp_path / "archive.tar"
    skopeo("copy", "-q", f"oci:{layout}:v1", f"docker-archive:{archive}:example.com/app:v1")
    carvel = write_carvel(tmp_path / "bundle.tar", images)
    saved = tar_dir(_docker25_dir(tmp_path, images), tmp_path / "saved-dir.tar", gz=True)
    cases = [(archive, "ls-docker", [sha256(rebuilt_docker_manifest(archive))]),
             (carvel, "ls-carvel", [image.digest for image in images.values()]),
             (saved, "ls-docker25", [images["example.com/app:v1"].digest])]
    for path, repo, digests in cases:
        proc = cli("unpkg", "-i", str(path), "--repository", f"{registry.host}/{repo}")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        for digest in digests:
            assert sha256(skopeo_raw_manifest(registry, f"{repo}@{digest}")) == digest
