"""Referrers through tarballs and layouts: pkg stores them (unnamed, subject annotated), verify checks
their subjects, unpkg and copy restore them where a verifier finds them; layouts other tools wrote
(oras-go's unnamed referrers, regclient's referrers tag) are read the same way."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests import reports
from tests.commands.test_pkg import ENV, cli
from tests.images import OCI_INDEX, _request, sha256, skopeo_raw_manifest
from tests.referrers import (
    Attached,
    ReferrersFront,
    attached,
    by_api,
    by_tag,
    descriptor_of,
    fallback_tag,
    legacy_tag,
    seed_attached,
    tagged_digest,
)
from tests.registries import Registry
from tests.stores.archives import REF_NAME, all_blobs, total_size

SUBJECT = "dev.relocator.referrer.subject"
TAG = "dev.relocator.referrer.tag"


def _assert_found(reg: Registry, repo: str, fix: Attached, *, api: bool) -> None:
    for subject, referrer in fix.linked:
        listed = by_api(reg, repo, subject) if api else by_tag(reg, repo, subject)
        assert listed[referrer.digest] == descriptor_of(referrer)
        assert tagged_digest(reg, repo, referrer.digest) == referrer.digest
    assert tagged_digest(reg, repo, legacy_tag(fix.index)) == fix.sig.digest


def _index(out: Path) -> list[dict[str, object]]:
    if out.is_dir():
        return json.loads((out / "index.json").read_text())["manifests"]  # type: ignore[no-any-return]
    with tarfile.open(out) as tar:
        return json.load(tar.extractfile("index.json"))["manifests"]  # type: ignore[arg-type,no-any-return]


def _assert_stored(out: Path, fix: Attached, ref: str) -> None:
    """One named image; every referrer listed unnamed with its subject (and the .sig its tag)."""
    entries = _index(out)
    named = [e for e in entries if REF_NAME in e.get("annotations", {})]  # type: ignore[operator]
    assert [(e["digest"], e["annotations"][REF_NAME]) for e in named] == [(fix.index.digest, ref)]  # type: ignore[index]
    referrers = {e["digest"]: e for e in entries if e not in named}
    subjects = {r.digest: s for s, r in fix.linked} | {fix.sig.digest: fix.index.digest}
    assert {d: e["annotations"][SUBJECT] for d, e in referrers.items()} == subjects  # type: ignore[index]
    assert referrers[fix.sig.digest]["annotations"][TAG] == legacy_tag(fix.index)  # type: ignore[index]
    assert referrers[fix.sboms[0].digest]["artifactType"] == "application/spdx+json"


@pytest.mark.parametrize("api", [True, False], ids=["api", "fallback-tag"])
def test_pkg_verify_unpkg_keep_every_referrer(api: bool, registry: Registry, fresh_registry: Registry,
                                             referrers_front: ReferrersFront, tmp_path: Path) -> None:
    src = referrers_front.registry() if api else registry
    fix = attached(120 + api)
    seed_attached(src, "tar/app", "v1", fix, fallback=not api)
    ref, out = f"{src.host}/tar/app:v1", tmp_path / "app.tar"
    proc = cli("pkg", "-i", ref, "-o", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    assert reports.load(proc.stdout)["counts"]["referrers"] == 6
    _assert_stored(out, fix, ref)
    ok = cli("verify", str(out))
    assert ok.returncode == 0 and "ok: 1 references, 6 referrers" in ok.stdout, ok.stdout + ok.stderr
    # Another tool still reads the image by its name, the referrers next to it notwithstanding.
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"oci-archive:{out}:{ref}"], capture_output=True,
                         check=True).stdout
    assert sha256(raw) == fix.index.digest

    # Back into a registry without the API (fallback lists written), and one with it, either mode.
    dst = ReferrersFront(fresh_registry).start()
    try:
        for reg, flags, repo, with_api in (
                (fresh_registry, ("--prefix", f"{fresh_registry.host}/back"), "back/tar/app", False),
                (dst.registry(), ("--repository", f"{dst.host}/all/one"), "all/one", True)):
            unpkg = cli("unpkg", "-i", str(out), *flags, "--json")
            assert unpkg.returncode == 0, unpkg.stderr
            assert reports.load(unpkg.stdout)["counts"]["referrers"] == 6
            _assert_found(reg, repo, fix, api=with_api)
    finally:
        dst.stop()
    assert sha256(skopeo_raw_manifest(fresh_registry, "back/tar/app:v1")) == fix.index.digest


def test_copy_through_a_layout_directory_and_back(registry: Registry, fresh_registry: Registry,
                                                  tmp_path: Path) -> None:
    fix = attached(122)
    seed_attached(registry, "dir/app", "v1", fix, fallback=True)
    layout = tmp_path / "layout"
    there = cli("copy", f"{registry.host}/dir/app:v1", f"oci:{layout}")
    assert there.returncode == 0, there.stderr
    _assert_stored(layout, fix, f"{registry.host}/dir/app:v1")
    back = cli("copy", f"oci:{layout}", f"docker://{fresh_registry.host}/dir/back:v1")
    assert back.returncode == 0, back.stderr
    _assert_found(fresh_registry, "dir/back", fix, api=False)
    direct = cli("copy", f"{registry.host}/dir/app:v1", f"{fresh_registry.host}/dir/direct:v1", "--json")
    assert direct.returncode == 0, direct.stderr
    assert reports.load(direct.stdout)["counts"]["referrers"] == 6
    _assert_found(fresh_registry, "dir/direct", fix, api=False)


def _foreign_layout(root: Path, fix: Attached, *, regclient: bool) -> Path:
    """The fixture as oras-go lays it out (referrers unnamed, found by their subject field) or as
    regclient does (each subject's referrers list under its referrers tag); the .sig by its tag."""
    (root / "blobs/sha256").mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    for image in (fix.index, *fix.all):
        for digest, data in all_blobs(image).items():
            (root / "blobs/sha256" / digest.split(":")[1]).write_bytes(data)
    entries = [{**fix.index.descriptor(), "annotations": {REF_NAME: "v1"}},
               {**fix.sig.descriptor(), "annotations": {REF_NAME: legacy_tag(fix.index)}}]
    lists: dict[str, list[dict[str, object]]] = {}
    for subject, referrer in fix.linked:
        if regclient:
            lists.setdefault(subject, []).append(descriptor_of(referrer))
        else:
            entries.append(referrer.descriptor())
    for subject, listed in lists.items():
        raw = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": listed}).encode()
        (root / "blobs/sha256" / sha256(raw).split(":")[1]).write_bytes(raw)
        entries.append({"mediaType": OCI_INDEX, "digest": sha256(raw), "size": len(raw),
                        "annotations": {REF_NAME: fallback_tag(subject)}})
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": entries}))
    return root


@pytest.mark.parametrize("regclient", [False, True], ids=["oras", "regclient"])
def test_layouts_other_tools_wrote_give_up_their_referrers(regclient: bool, fresh_registry: Registry,
                                                           tmp_path: Path) -> None:
    fix = attached(123 + regclient)
    layout = _foreign_layout(tmp_path / "layout", fix, regclient=regclient)
    listing = cli("ls", str(layout), "--json")
    assert listing.returncode == 0, listing.stderr
    rows = reports.load(listing.stdout)["details"]["entries"]
    assert [(e["name"], e["digest"]) for e in rows if "referrer" not in e] == [("v1", fix.index.digest)]
    assert _listed_referrers(rows) == _expected_referrers(fix)
    ok = cli("verify", str(layout))
    assert ok.returncode == 0 and "1 references, " in ok.stdout, ok.stdout + ok.stderr
    repo = f"foreign/{'regclient' if regclient else 'oras'}"
    unpkg = cli("unpkg", "-i", str(layout), "--repository", f"{fresh_registry.host}/{repo}")
    assert unpkg.returncode == 0, unpkg.stderr
    _assert_found(fresh_registry, repo, fix, api=False)
    assert tagged_digest(fresh_registry, repo, "v1") == fix.index.digest


def test_verify_names_a_referrer_whose_subject_is_missing(registry: Registry, tmp_path: Path) -> None:
    fix = attached(125)
    seed_attached(registry, "gone/app", "v1", fix, fallback=True)
    layout = tmp_path / "layout"
    assert cli("copy", f"{registry.host}/gone/app:v1", f"oci:{layout}").returncode == 0
    child = fix.index.children[1].digest
    (layout / "blobs/sha256" / child.split(":")[1]).unlink()
    bad = cli("verify", str(layout))
    assert bad.returncode == 1
    for referrer in (fix.sboms[1], fix.provenance[1]):
        line = f"referrer {referrer.digest}: its subject {child} is not in the layout"
        assert line in bad.stdout, bad.stdout


def test_a_referrer_that_cannot_be_read_fails_its_image_alone(registry: Registry, tmp_path: Path) -> None:
    good, bad = attached(127), attached(128)
    seed_attached(registry, "half/good", "v1", good, fallback=True)
    seed_attached(registry, "half/bad", "v1", bad, fallback=True)
    payload = json.loads(bad.provenance[1].raw)["layers"][0]["digest"]
    _request(registry, "DELETE", f"/v2/half/bad/blobs/{payload}")
    out = tmp_path / "half.tar"
    proc = cli("pkg", "-i", f"{registry.host}/half/good:v1", "-i", f"{registry.host}/half/bad:v1",
               "-o", str(out), "--json")
    assert proc.returncode == 1, proc.stderr
    report = reports.load(proc.stdout)
    why = reports.errors(report)[f"{registry.host}/half/bad:v1"]
    assert f"referrer {bad.provenance[1].digest} of {bad.index.children[1].digest}" in why and "404" in why
    # The tarball holds the good image and its referrers; nothing of the other is listed.
    _assert_stored(out, good, f"{registry.host}/half/good:v1")
    assert cli("verify", str(out)).returncode == 0


def test_the_tar_stream_lists_the_referrers_too(registry: Registry, tmp_path: Path) -> None:
    fix = attached(129)
    seed_attached(registry, "stream/app", "v1", fix, fallback=True)
    out = tmp_path / "stream.tar"
    with out.open("wb") as sink:
        args = ["pkg", "-i", f"{registry.host}/stream/app:v1", "-o", "-"]
        proc = subprocess.run([sys.executable, "-m", "relocator", *args], stdout=sink, stderr=subprocess.PIPE,
                              env=ENV, timeout=300)
    assert proc.returncode == 0, proc.stderr
    _assert_stored(out, fix, f"{registry.host}/stream/app:v1")
    assert cli("verify", str(out)).returncode == 0


def test_referrers_none_stores_none(registry: Registry, tmp_path: Path) -> None:
    fix = attached(126)
    seed_attached(registry, "bare/app", "v1", fix, fallback=True)
    out = tmp_path / "bare.tar"
    proc = cli("pkg", "-i", f"{registry.host}/bare/app:v1", "-o", str(out), "--referrers", "none")
    assert proc.returncode == 0, proc.stderr
    assert [e["digest"] for e in _index(out)] == [fix.index.digest]
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert not any(f"blobs/sha256/{r.digest.split(':')[1]}" in names for r in fix.all)


def _expected_referrers(fix: Attached) -> dict[str, tuple[str, str, str | None, int]]:
    """Digest -> (subject, artifactType, legacy tag, size) of every referrer of the fixture."""
    out = {r.digest: (s, descriptor_of(r)["artifactType"], None, total_size(r)) for s, r in fix.linked}
    sig_type = json.loads(fix.sig.raw)["config"]["mediaType"]  # no artifactType: its config's type
    return out | {fix.sig.digest: (fix.index.digest, sig_type, legacy_tag(fix.index), total_size(fix.sig))}


def _listed_referrers(rows: list[dict[str, Any]]) -> dict[str, tuple[str, str, str | None, int]]:
    referrers = [r for r in rows if "referrer" in r]
    assert all(r["name"] is None and r["platforms"] == [] for r in referrers)
    listed = {r["digest"]: (r["referrer"]["subject"], r["referrer"]["artifactType"], r["referrer"]["tag"],
                            r["size"]) for r in referrers}
    assert len(listed) == len(referrers)
    return listed


def test_ls_lists_the_referrers_a_tarball_holds(registry: Registry, tmp_path: Path) -> None:
    fix = attached(130)
    seed_attached(registry, "lsref/app", "v1", fix, fallback=True)
    ref, out = f"{registry.host}/lsref/app:v1", tmp_path / "app.tar"
    assert cli("pkg", "-i", ref, "-o", str(out)).returncode == 0
    listing = cli("ls", str(out), "--json")
    assert listing.returncode == 0 and listing.stderr == "", listing.stderr
    report = reports.load(listing.stdout)
    rows = report["details"]["entries"]
    assert [(r["name"], r["digest"]) for r in rows if "referrer" not in r] == [(ref, fix.index.digest)]
    assert [i["reference"] for i in report["images"]] == [ref]  # referrers are entries, not images
    assert _listed_referrers(rows) == _expected_referrers(fix)
    # The text: the images' table, a blank line, then one line per referrer under its own header.
    text = cli("ls", str(out))
    assert text.returncode == 0, text.stderr
    images, referrers = text.stdout.split("\n\n")
    assert images.splitlines()[1].split()[:2] == [ref, fix.index.digest]
    header, *lines = referrers.splitlines()
    assert header.split() == ["REFERRER", "SUBJECT", "ARTIFACT", "TYPE", "TAG", "SIZE"]
    expected = _expected_referrers(fix)
    assert {line.split()[0]: tuple(line.split()[1:4]) for line in lines} == {
        digest: (subject, kind, tag or "-") for digest, (subject, kind, tag, _) in expected.items()}
