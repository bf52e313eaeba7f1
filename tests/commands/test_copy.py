"""`relocator copy SRC DST` between stores, against real registries, checked with skopeo."""

from __future__ import annotations

import io
import json
import random
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests import reports
from tests.commands.test_pkg import cli
from tests.commands.test_unpkg_names import edit_index, skopeo_layout
from tests.images import random_index, seed, sha256, skopeo, skopeo_raw_manifest, valid_image
from tests.registries import Registry
from tests.stores.archives import rebuilt_docker_manifest, write_carvel
from tests.stores.helpers import NESTED, assert_valid_store, contract_images

REF_NAME = "org.opencontainers.image.ref.name"


def test_copy_registry_to_registry_and_through_an_oci_archive(registry: Registry, fresh_registry: Registry,
                                                              tmp_path: Path) -> None:
    rng = random.Random(70)
    image = random_index([valid_image(rng, (3000,)), valid_image(rng, (4000,), docker=True)])
    seed(registry, "copy/app", "v1", image)
    src = f"{registry.host}/copy/app:v1"

    direct = cli("copy", f"docker://{src}", f"docker://{fresh_registry.host}/direct/app:v2")
    assert direct.returncode == 0, direct.stderr
    assert sha256(skopeo_raw_manifest(fresh_registry, "direct/app:v2")) == image.digest

    no_tag = cli("copy", src, f"{fresh_registry.host}/bare/app")  # bare references; no tag is latest
    assert no_tag.returncode == 0, no_tag.stderr
    assert sha256(skopeo_raw_manifest(fresh_registry, "bare/app:latest")) == image.digest

    archive = tmp_path / "app.tar"
    out = cli("copy", src, f"oci-archive:{archive}:app:v1")
    assert out.returncode == 0, out.stderr
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{archive}:app:v1"], capture_output=True,
                         check=True).stdout
    assert sha256(raw) == image.digest

    back = cli("copy", f"oci-archive:{archive}:app:v1", f"docker://{fresh_registry.host}/back/app:v1",
               "--json")
    assert back.returncode == 0, back.stderr
    assert reports.errors(reports.load(back.stdout)) == {}
    assert sha256(skopeo_raw_manifest(fresh_registry, "back/app:v1")) == image.digest


STORES = ("docker", "oci", "oci-archive")


@pytest.mark.parametrize("dst_kind", STORES)
@pytest.mark.parametrize("src_kind", STORES)
def test_copy_between_every_pair_of_stores(src_kind: str, dst_kind: str, registry: Registry,
                                           fresh_registry: Registry, tmp_path: Path) -> None:
    """The shared store-contract images (a nested index mixing Docker and OCI media types, and a
    Docker image) through ``copy SRC DST`` for every pair of stores, then on to a fresh registry:
    every manifest and blob byte-exact there."""
    images = contract_images(registry)

    def place(kind: str, side: str, i: int, name: str) -> str:
        if kind == "docker":
            host = registry.host if side == "src" else fresh_registry.host
            return f"docker://{host}/{name}" if side == "src" else f"docker://{host}/{side}/{name}"
        return f"{kind}:{tmp_path / f'{side}-{i}'}"

    for i, name in enumerate(images):
        src = place(src_kind, "src", i, name)
        if src_kind != "docker":  # the source layout is written by copy itself, named by reference
            assert cli("copy", f"docker://{registry.host}/{name}", src).returncode == 0
        dst = place(dst_kind, "dst", i, name)
        proc = cli("copy", src, dst)
        assert proc.returncode == 0, (src, dst, proc.stderr)
        if dst_kind != "docker":
            proc = cli("copy", dst, f"docker://{fresh_registry.host}/dst/{name}")
            assert proc.returncode == 0, (dst, proc.stderr)
    assert_valid_store(fresh_registry, {f"dst/{name}": image for name, image in images.items()})
    if dst_kind != "docker":  # skopeo reads what copy wrote: the OCI-typed index, by its name
        raw = skopeo("inspect", "--raw", f"{place(dst_kind, 'dst', 0, NESTED)}:{registry.host}/{NESTED}")
        assert sha256(raw.encode()) == images[NESTED].digest


def test_copy_into_an_oci_directory_skopeo_reads_and_back(registry: Registry, fresh_registry: Registry,
                                                         tmp_path: Path) -> None:
    rng = random.Random(71)
    image = random_index([valid_image(rng, (2000,)), valid_image(rng, (2500,))])
    seed(registry, "copy/dir", "v1", image)
    layout = tmp_path / "layout"
    out = cli("copy", f"docker://{registry.host}/copy/dir:v1", f"oci:{layout}:v1")
    assert out.returncode == 0, out.stderr
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci:{layout}:v1"], capture_output=True,
                         check=True).stdout
    assert sha256(raw) == image.digest
    back = cli("copy", f"oci:{layout}:v1", f"{fresh_registry.host}/from-dir/app:v1")
    assert back.returncode == 0, back.stderr
    assert sha256(skopeo_raw_manifest(fresh_registry, "from-dir/app:v1")) == image.digest
    missing = cli("copy", f"oci:{layout}:v9", f"{fresh_registry.host}/x:v1")
    assert missing.returncode == 2 and f"source 'oci:{layout}:v9': no image named 'v9'" in missing.stderr


def test_copy_from_docker_and_carvel_archives(registry: Registry, fresh_registry: Registry,
                                              tmp_path: Path) -> None:
    rng = random.Random(72)
    image = valid_image(rng, (3000,), docker=True)
    seed(registry, "copy/saved", "v1", image)
    saved = tmp_path / "saved.tar"
    skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/copy/saved:v1",
           f"docker-archive:{saved}:example.com/saved:v1")
    proc = cli("copy", f"docker-archive:{saved}", f"{fresh_registry.host}/saved/app:v1")
    assert proc.returncode == 0, proc.stderr
    note = f"{saved} is a Docker archive: it holds no manifest bytes"
    assert proc.stdout.count(note) == 1 and note not in proc.stderr  # once, in the summary
    assert skopeo_raw_manifest(fresh_registry, "saved/app:v1") == rebuilt_docker_manifest(saved)
    as_json = cli("copy", f"docker-archive:{saved}", f"{fresh_registry.host}/saved/app:v1", "--json")
    assert [n for n in reports.load(as_json.stdout)["notes"] if n.startswith(note)] == [
        f"{note}, so each manifest is rebuilt and its digest can differ from the registry's"]
    assert note not in as_json.stderr

    # skopeo saves a short name as docker.io/library/app:v1 in RepoTags, and reads NAME the same
    # way: `app:v1` and the full name pick the same image; no tag means latest.
    short = tmp_path / "short.tar"
    skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/copy/saved:v1",
           f"docker-archive:{short}:app:v1")
    for name in ("app:v1", "docker.io/library/app:v1", "index.docker.io/app:v1"):
        proc = cli("copy", f"docker-archive:{short}:{name}", f"{fresh_registry.host}/short/app:v1", "--json")
        assert proc.returncode == 0, (name, proc.stderr)
        assert list(reports.copied(reports.load(proc.stdout))) == ["docker.io/library/app:v1"]
    # A two-component name is on Docker Hub (docker.io/docker/img), and no tag is latest, both
    # when skopeo writes RepoTags and when NAME is read.
    for saved_as, picks in (("docker/img:v2", ("docker/img:v2", "docker.io/docker/img:v2")),
                            ("other/name", ("other/name", "other/name:latest", "docker.io/other/name"))):
        two = tmp_path / f"{saved_as.replace('/', '-').replace(':', '-')}.tar"
        skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/copy/saved:v1",
               f"docker-archive:{two}:{saved_as}")
        for name in picks:
            proc = cli("copy", f"docker-archive:{two}:{name}", f"{fresh_registry.host}/two/app:v1")
            assert proc.returncode == 0, (name, proc.stderr)
    missing = cli("copy", f"docker-archive:{short}:app", f"{fresh_registry.host}/short/app:v2")
    assert missing.returncode == 2
    assert missing.stderr == f"relocator: error: source 'docker-archive:{short}:app': no image named 'app'\n"

    carvel = write_carvel(tmp_path / "bundle.tar", {f"{registry.host}/copy/carvel:v1": image})
    proc = cli("copy", str(carvel), f"{fresh_registry.host}/carvel/app:v1")
    assert proc.returncode == 0, proc.stderr
    assert sha256(skopeo_raw_manifest(fresh_registry, "carvel/app:v1")) == image.digest


def test_layout_to_layout_keeps_tag_only_and_unnamed_entries(registry: Registry, tmp_path: Path) -> None:
    """skopeo's ``oci:DIR:v1`` names are tags: a copied layout says ``v1`` again, not a made-up
    repository, and an entry with no name stays unnamed (case 1 of issue 10, layout to layout)."""
    rng = random.Random(73)
    images = {"v1": valid_image(rng, (3000,)), "v2": valid_image(rng, (2000,)),
              "gone": valid_image(rng, (1000,))}
    layout = tmp_path / "layout"
    skopeo_layout(registry, layout, images)
    edit_index(layout, lambda entries: entries[2].pop("annotations"))

    for dst in (f"oci:{tmp_path / 'copy'}", f"oci-archive:{tmp_path / 'copy.tar'}"):
        proc = cli("copy", f"oci:{layout}", dst, "--json")
        assert proc.returncode == 0, proc.stderr
        # A tag alone, or no name, is reported with the layout it came from.
        assert set(reports.copied(reports.load(proc.stdout))) == {
            f"oci:{layout}:v1", f"oci:{layout}:v2", f"oci:{layout}@{images['gone'].digest}"}
        for tag in ("v1", "v2"):
            raw = subprocess.run(["skopeo", "inspect", "--raw", f"{dst}:{tag}"], capture_output=True,
                                 check=True).stdout
            assert sha256(raw) == images[tag].digest
    index = json.loads((tmp_path / "copy" / "index.json").read_text())
    names = {m["digest"]: m.get("annotations", {}).get(REF_NAME) for m in index["manifests"]}
    assert names == {images["v1"].digest: "v1", images["v2"].digest: "v2", images["gone"].digest: None}

    one = cli("copy", f"oci:{layout}:v2", f"oci:{tmp_path / 'one'}:renamed")
    assert one.returncode == 0, one.stderr
    index = json.loads((tmp_path / "one" / "index.json").read_text())
    assert [(m["digest"], m["annotations"][REF_NAME]) for m in index["manifests"]] == [
        (images["v2"].digest, "renamed")]


def test_outputs_that_cannot_be_written_are_refused_before_any_transfer(
        registry: Registry, tmp_path: Path) -> None:
    seed(registry, "copy/out", "v1", valid_image(random.Random(74), (1000,)))
    src = f"{registry.host}/copy/out:v1"
    (tmp_path / "afile").write_text("x")
    cases = [
        (("copy", src, f"oci-archive:{tmp_path}"), f"{tmp_path} is a directory: write oci:{tmp_path}"),
        (("copy", src, f"oci:{tmp_path / 'afile'}"),
         f"afile is a file: write oci-archive:{tmp_path / 'afile'}\n"),
        (("copy", src, f"oci:{tmp_path / 'afile'}:v1"),
         f"afile is a file: write oci-archive:{tmp_path / 'afile'}:v1\n"),
        (("copy", src, f"oci-archive:{tmp_path}:app:v1"), f"is a directory: write oci:{tmp_path}:app:v1\n"),
        (("copy", src, f"oci:{tmp_path / 'afile' / 'sub'}"), "afile is a file, not a directory"),
        (("copy", src, f"oci:{tmp_path / 'new'}", "--lock-output", str(tmp_path / "no" / "l.yml")),
         f"directory {tmp_path / 'no'} does not exist"),
        (("pkg", "-i", src, "-o", str(tmp_path)), f"{tmp_path}: is a directory, not a file"),
    ]
    for args, message in cases:
        proc = cli(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert message in proc.stderr, (args, proc.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing made, nothing partial
    read = [line for line in registry.log().splitlines() if '"relocator"' in line and "copy/out" in line]
    assert read == []  # nothing was read either


@pytest.mark.parametrize(("src", "dst", "message"), [
    ("docker-archive:/nonexistent.tar", "oci-archive:/tmp/x.tar", "/nonexistent.tar"),
    ("127.0.0.1:1/a:v1", "docker-archive:/tmp/out.tar", "docker-archive is read only"),
    ("127.0.0.1:1/a:v1", "out.tar", "looks like a file: write oci-archive:out.tar"),
    ("docker:/x", "oci-archive:/tmp/x.tar", "docker: takes docker://"),
    ("127.0.0.1:1/A:v1", "oci-archive:/tmp/x.tar", "source '127.0.0.1:1/A:v1': repository name must be"),
    ("127.0.0.1:1/a:v1", "dir:/tmp/out", "destination 'dir:/tmp/out': relocator does not do the dir:"),
    ("docker-daemon:foo:1", "oci:/tmp/x", "does not do the docker-daemon: transport"),
    ("127.0.0.1:1/a:v1", "127.0.0.1:1", "destination '127.0.0.1:1': a registry host and port, not an image"),
])
def test_bad_locations_are_refused_before_any_transfer(src: str, dst: str, message: str) -> None:
    proc = cli("copy", src, dst)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_destination_names_and_digests_are_checked_before_any_transfer(
        registry: Registry, fresh_registry: Registry, tmp_path: Path) -> None:
    """A layout NAME goes into index.json as a ref.name: one the readers refuse would make the whole
    layout unreadable, so it is refused up front, like a destination digest other than the
    source's (skopeo: the copy keeps the source's bytes, so it cannot make another digest)."""
    image = valid_image(random.Random(75), (1000,))
    seed(registry, "copy/named", "v1", image)
    src = f"docker://{registry.host}/copy/named:v1"
    zeros = "sha256:" + "0" * 64
    out = tmp_path / "out"
    out.mkdir()
    cases = [
        (src, f"oci:{out / 'lt'}:bad name with space",
         f"destination 'oci:{out / 'lt'}:bad name with space': name 'bad name with space': neither a tag"),
        (src, f"oci-archive:{out / 'a.tar'}:v1!", "name 'v1!': neither a tag"),
        (src, f"oci-archive:{out / 'a.tar'}:up/Per", "name 'up/Per': repository name must be lowercase"),
        (src, f"oci:{out / 'lt'}:x/y@{image.digest}", "a destination names a tag, not a digest"),
        (src, f"docker://{fresh_registry.host}/dd/img@{zeros}",
         f"a destination names a tag, not a digest (write {fresh_registry.host}/dd/img;"),
        (src, f"docker://{fresh_registry.host}/dd/img:v1@{image.digest}", "a destination names a tag, not"),
    ]
    for source, dst, message in cases:
        proc = cli("copy", source, dst)
        assert proc.returncode == 2, (dst, proc.stderr)
        assert message in proc.stderr and len(proc.stderr.splitlines()) == 1, (dst, proc.stderr)
    assert list(out.iterdir()) == []
    read = [line for line in registry.log().splitlines() if '"relocator"' in line and "copy/named" in line]
    assert read == []

    # The source's own digest is no conflict: pushed by digest, as skopeo does.
    same = cli("copy", f"docker://{registry.host}/copy/named@{image.digest}",
               f"docker://{fresh_registry.host}/dd/img@{image.digest}")
    assert same.returncode == 0, same.stderr
    assert sha256(skopeo_raw_manifest(fresh_registry, f"dd/img@{image.digest}")) == image.digest


def test_pkg_takes_the_oci_archive_spelling_copy_takes(registry: Registry, tmp_path: Path) -> None:
    """``pkg -o oci-archive:FILE`` writes FILE, not a file called ``oci-archive:FILE``."""
    image = valid_image(random.Random(76), (1000,))
    seed(registry, "copy/pkg", "v1", image)
    proc = cli("pkg", "-i", f"{registry.host}/copy/pkg:v1", "-o", f"oci-archive:{tmp_path / 'x.tar'}")
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["x.tar"]
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{tmp_path / 'x.tar'}:"
                          f"{registry.host}/copy/pkg:v1"], capture_output=True, check=True).stdout
    assert sha256(raw) == image.digest


def _merged_archive(parts: list[Path], out: Path) -> Path:
    """One Docker archive holding every image of ``parts`` (as `docker save a b` writes it): the
    members of all, manifest.json the items of each in order."""
    items: list[object] = []
    seen: set[str] = set()
    with tarfile.open(out, "w") as merged:
        for part in parts:
            with tarfile.open(part) as tar:
                for member in tar.getmembers():
                    data = tar.extractfile(member)
                    if member.name == "manifest.json":
                        assert data is not None
                        items.extend(json.load(data))
                    elif member.name not in seen:
                        seen.add(member.name)
                        merged.addfile(member, data)
        body = json.dumps(items).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(body)
        merged.addfile(info, io.BytesIO(body))
    return out


def test_docker_archive_items_are_picked_by_position(registry: Registry, fresh_registry: Registry,
                                                     tmp_path: Path) -> None:
    # skopeo's docker-archive:FILE:@N names the Nth item of manifest.json, 0-based, tagged or not.
    rng = random.Random(73)
    parts = []
    for i in range(2):
        seed(registry, f"copy/pos{i}", "v1", valid_image(rng, (1000 + i,), docker=True))
        parts.append(tmp_path / f"p{i}.tar")
        skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{registry.host}/copy/pos{i}:v1",
               f"docker-archive:{parts[-1]}:example.com/pos{i}:v1")
    both = _merged_archive(parts, tmp_path / "both.tar")
    for n in range(2):
        proc = cli("copy", f"docker-archive:{both}:@{n}", f"{fresh_registry.host}/pos/app:v{n}")
        assert proc.returncode == 0, proc.stderr
        assert skopeo_raw_manifest(fresh_registry, f"pos/app:v{n}") == rebuilt_docker_manifest(both, n)
    for bad, why in (("@2", "no item @2: manifest.json lists 2 (@0 to @1)"),
                     ("@x", "@x is no item number (@0 is the first)")):
        proc = cli("copy", f"docker-archive:{both}:{bad}", f"{fresh_registry.host}/pos/app:v9")
        assert proc.returncode == 2
        assert proc.stderr == f"relocator: error: source 'docker-archive:{both}:{bad}': {why}\n"
