"""pkg, verify, unpkg and copy with --platform against the multi-platform fixture
(tests/platforms.py): what the tarball's index.json names in each mode, a sparse tarball's record
of the entries it left out (verify accepts it, unpkg knows it), and what lands in the registry;
checked with skopeo (oci-archive: and docker://) and plain tar."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from ruamel.yaml import YAML

from tests import reports
from tests.commands.test_pkg import cli
from tests.images import sha256, skopeo
from tests.platforms import Multi, multi, raw, seed_multi
from tests.referrers import by_tag, legacy_tag, tagged_digest
from tests.registries import Registry
from tests.stores.archives import REF_NAME

OMITTED = "dev.relocator.platforms.omitted"


def _named(out: Path) -> list[dict[str, object]]:
    """The named entries of a tarball's (or layout's) index.json."""
    if out.is_dir():
        entries = json.loads((out / "index.json").read_text())["manifests"]
    else:
        with tarfile.open(out) as tar:
            member = tar.extractfile("index.json")
            assert member is not None
            entries = json.load(member)["manifests"]
    return [e for e in entries if REF_NAME in e.get("annotations", {})]


def _members(out: Path) -> set[str]:
    with tarfile.open(out) as tar:
        return {m.name.removeprefix("blobs/sha256/") for m in tar.getmembers()}


def _pkg(registry: Registry, repo: str, fix: Multi, out: Path, *args: str) -> str:
    seed_multi(registry, repo, "v1", fix)
    src = f"{registry.host}/{repo}:v1"
    proc = cli("pkg", "-i", src, "-o", str(out), *args)
    assert proc.returncode == 0, proc.stderr
    return src


def test_pkg_filter_names_the_new_index_and_unpkg_pushes_it(registry: Registry, tmp_path: Path) -> None:
    fix = multi(301)
    out, lock = tmp_path / "f.tar", tmp_path / "pkg.lock"
    src = _pkg(registry, "pkgplat/filter", fix, out, "--platform", "linux/amd64", "--lock-output", str(lock))
    [entry] = _named(out)
    new = skopeo("inspect", "--raw", f"oci-archive:{out}:{src}").encode()
    assert entry["digest"] == sha256(new) != fix.index.digest
    assert [m["digest"] for m in json.loads(new)["manifests"]] == [fix.images[0].digest,
                                                                   fix.attestations[0].digest]
    members = _members(out)
    assert fix.images[1].digest.split(":")[1] not in members  # arm64 left behind
    assert fix.sboms[0].digest.split(":")[1] in members  # the kept image's SBOM travels
    [over] = YAML(typ="safe").load(lock.read_text())["overrides"]
    assert over["newImage"] == f"{registry.host}/pkgplat/filter@{sha256(new)}"
    origin = over["origins"][0]["platformSelected"]
    assert origin["index"] == f"{registry.host}/pkgplat/filter@{fix.index.digest}"
    assert cli("verify", str(out)).returncode == 0
    proc = cli("unpkg", "-i", str(out), "--prefix", f"{registry.host}/back", "--json")
    assert proc.returncode == 0, proc.stderr
    assert raw(registry, "back/pkgplat/filter:v1") == new
    assert set(by_tag(registry, "back/pkgplat/filter", fix.images[0].digest)) == {fix.sboms[0].digest}
    relock = tmp_path / "unpkg.lock"  # kbld's flow: unpkg -f LOCK keeps where the image was chosen from
    proc = cli("unpkg", "-i", str(out), "-f", str(lock), "--repository", f"{registry.host}/back-locked",
               "--lock-output", str(relock))
    assert proc.returncode == 0, proc.stderr
    [again] = YAML(typ="safe").load(relock.read_text())["overrides"]
    assert again["image"] == src and again["newImage"] == f"{registry.host}/back-locked@{sha256(new)}"
    assert again["origins"] == over["origins"]


def test_pkg_sparse_records_what_it_left_out_verify_accepts_unpkg_knows(registry: Registry,
                                                                         tmp_path: Path) -> None:
    fix = multi(302)
    out = tmp_path / "s.tar"
    src = _pkg(registry, "pkgplat/sparse", fix, out, "--platform", "linux/amd64", "--platform-mode", "sparse")
    [entry] = _named(out)
    left_out = sorted([fix.images[1].digest, fix.attestations[1].digest])
    assert entry["digest"] == fix.index.digest  # the source's own bytes
    assert entry["annotations"][OMITTED] == ",".join(left_out)  # type: ignore[index]
    assert skopeo("inspect", "--raw", f"oci-archive:{out}:{src}").encode() == fix.index.raw
    assert not {d.split(":")[1] for d in left_out} & _members(out)
    proc = cli("verify", str(out))
    assert proc.returncode == 0, proc.stdout
    assert "2 platform manifests left out on purpose" in proc.stdout
    # ls names the platforms it holds, and apart those it lists but left out.
    rows = reports.load(cli("ls", str(out), "--json").stdout)["details"]["entries"]
    [row] = [r for r in rows if "referrer" not in r]
    assert (row["platforms"], row["left_out"]) == (["linux/amd64"], ["linux/arm64"])
    assert "linux/amd64 (left out: linux/arm64)" in cli("ls", str(out)).stdout
    # Into a registry that checks an index's entries: the one refusal line, nothing tagged.
    proc = cli("unpkg", "-i", str(out), "--prefix", f"{registry.host}/back")
    assert proc.returncode == 1
    assert (f"refuses the index {fix.index.digest} without the platforms left out (MANIFEST_BLOB_UNKNOWN)"
            in proc.stderr)
    assert tagged_digest(registry, "back/pkgplat/sparse", "v1") is None
    # The platforms it holds can still be filtered out of it into a new index.
    proc = cli("unpkg", "-i", str(out), "--prefix", f"{registry.host}/back", "--platform", "linux/amd64")
    assert proc.returncode == 0, proc.stderr
    pushed = json.loads(raw(registry, "back/pkgplat/sparse:v1"))
    assert [m["digest"] for m in pushed["manifests"]] == [fix.images[0].digest, fix.attestations[0].digest]
    # A layout keeps it sparse, and says so again.
    layout = tmp_path / "layout"
    proc = cli("copy", f"oci-archive:{out}", f"oci:{layout}")
    assert proc.returncode == 0, proc.stderr
    [copied] = _named(layout)
    assert copied["digest"] == fix.index.digest
    assert copied["annotations"][OMITTED] == ",".join(left_out)  # type: ignore[index]
    assert cli("verify", str(layout)).returncode == 0


def test_verify_still_reports_a_missing_entry_that_is_not_recorded(registry: Registry,
                                                                   tmp_path: Path) -> None:
    fix = multi(303)
    out = tmp_path / "s.tar"
    _pkg(registry, "pkgplat/unrecorded", fix, out, "--platform", "linux/amd64", "--platform-mode", "sparse")
    cut = tmp_path / "cut.tar"
    with tarfile.open(out) as tar, tarfile.open(cut, "w") as new:
        for member in tar.getmembers():
            data = tar.extractfile(member)
            if member.name == "index.json" and data is not None:
                doc = json.load(data)
                for e in doc["manifests"]:
                    e.get("annotations", {}).pop(OMITTED, None)
                body = json.dumps(doc).encode()
                member.size = len(body)
                new.addfile(member, io.BytesIO(body))
            else:
                new.addfile(member, data)
    proc = cli("verify", str(cut))
    assert proc.returncode == 1
    assert sorted(proc.stdout.splitlines()) == sorted(
        f"{cut}: manifest {d}: missing" for d in (fix.images[1].digest, fix.attestations[1].digest))


def test_a_layer_listed_as_left_out_is_still_a_missing_blob(registry: Registry, tmp_path: Path) -> None:
    # The annotation names index entries left out on purpose; a tarball that lists an image's
    # layer there (and lacks it) is missing a blob, named before anything is pushed.
    fix = multi(306)
    out = tmp_path / "s.tar"
    _pkg(registry, "pkgplat/layer", fix, out, "--platform", "linux/amd64", "--platform-mode", "sparse")
    layer = json.loads(fix.images[0].raw)["layers"][0]["digest"]
    cut = tmp_path / "cut.tar"
    with tarfile.open(out) as tar, tarfile.open(cut, "w") as new:
        for member in tar.getmembers():
            data = tar.extractfile(member)
            if member.name == "blobs/sha256/" + layer.split(":")[1]:
                continue
            if member.name == "index.json" and data is not None:
                doc = json.load(data)
                for e in doc["manifests"]:
                    if OMITTED in e.get("annotations", {}):
                        e["annotations"][OMITTED] += "," + layer
                body = json.dumps(doc).encode()
                member.size = len(body)
                new.addfile(member, io.BytesIO(body))
            else:
                new.addfile(member, data)
    proc = cli("unpkg", "-i", str(cut), "--prefix", f"{registry.host}/cut", "--platform", "linux/amd64")
    assert proc.returncode in (1, 2)
    assert layer in proc.stderr and "refuses the index" not in proc.stderr, proc.stderr
    assert tagged_digest(registry, "cut/pkgplat/layer", "v1") is None


def test_pkg_single_names_the_platform_image(registry: Registry, tmp_path: Path) -> None:
    fix = multi(304)
    out = tmp_path / "one.tar"
    src = _pkg(registry, "pkgplat/single", fix, out, "--platform", "linux/arm64", "--platform-mode", "single")
    [entry] = _named(out)
    assert entry["digest"] == fix.images[1].digest
    assert skopeo("inspect", "--raw", f"oci-archive:{out}:{src}").encode() == fix.images[1].raw
    proc = cli("unpkg", "-i", str(out), "--repository", f"{registry.host}/single-back")
    assert proc.returncode == 0, proc.stderr
    assert raw(registry, f"single-back@{fix.images[1].digest}") == fix.images[1].raw


def test_copy_filter_between_registries(registry: Registry) -> None:
    fix = multi(305)
    seed_multi(registry, "copyplat/src", "v1", fix)
    proc = cli("copy", f"docker://{registry.host}/copyplat/src:v1", f"docker://{registry.host}/copyplat/dst:v2",
               "--platform", "linux/arm64", "--json")
    assert proc.returncode == 0, proc.stderr
    new = raw(registry, "copyplat/dst:v2")
    assert [m["digest"] for m in json.loads(new)["manifests"]] == [fix.images[1].digest,
                                                                   fix.attestations[1].digest]
    report = reports.load(proc.stdout)
    assert reports.sources(report) == {f"docker://{registry.host}/copyplat/src:v1": fix.index.digest}
    assert list(reports.copied(report).values()) == [f"{registry.host}/copyplat/dst@{sha256(new)}"]


def test_every_platform_attestation_and_referrer_travels_through_pkg_unpkg_and_copy(
        registry: Registry, tmp_path: Path) -> None:
    # Issue 11's fixture end to end without --platform: the index, both images, the buildx
    # attestation manifests inside it, each image's SBOM and the index's cosign signature arrive
    # with their own digests, found the way a verifier finds them (fallback tag, legacy tag).
    fix = multi(320)
    seed_multi(registry, "allplat/src", "v1", fix)
    out = tmp_path / "all.tar"
    assert cli("pkg", "-i", f"{registry.host}/allplat/src:v1", "-o", str(out)).returncode == 0
    assert cli("verify", str(out)).returncode == 0
    unpkg = cli("unpkg", "-i", str(out), "--repository", f"{registry.host}/allplat/back")
    assert unpkg.returncode == 0, unpkg.stderr
    copied = cli("copy", f"oci-archive:{out}", f"docker://{registry.host}/allplat/copied:v1")
    assert copied.returncode == 0, copied.stderr
    for repo in ("allplat/back", "allplat/copied"):
        assert raw(registry, f"{repo}@{fix.index.digest}") == fix.index.raw
        for manifest in (*fix.images, *fix.attestations):
            assert raw(registry, f"{repo}@{manifest.digest}") == manifest.raw
        for image, sbom in zip(fix.images, fix.sboms, strict=True):
            assert set(by_tag(registry, repo, image.digest)) == {sbom.digest}
        assert tagged_digest(registry, repo, legacy_tag(fix.index)) == fix.sig.digest
