"""unpkg of layouts other tools wrote: skopeo's tag-only names, Docker 25 ``docker save``
annotations, unnamed entries, and two entries claiming one name; checked on the real registry."""

from __future__ import annotations

import json
import random
import urllib.request
from pathlib import Path
from typing import Any

from tests import reports
from tests.commands.test_pkg import cli
from tests.images import Image, seed, sha256, skopeo, skopeo_raw_manifest, valid_image
from tests.registries import Registry
from tests.stores.archives import write_docker25

REF_NAME = "org.opencontainers.image.ref.name"


def skopeo_layout(reg: Registry, layout: Path, images: dict[str, Image]) -> None:
    """``skopeo copy docker://… oci:LAYOUT:TAG`` for each tag: entries named by the tag only."""
    for tag, image in images.items():
        seed(reg, f"names/{tag}", tag, image)
        skopeo("copy", "-q", "--src-tls-verify=false", f"docker://{reg.host}/names/{tag}:{tag}",
               f"oci:{layout}:{tag}")


def edit_index(layout: Path, edit: Any) -> None:
    index = json.loads((layout / "index.json").read_text())
    edit(index["manifests"])
    (layout / "index.json").write_text(json.dumps(index))


def _catalog(reg: Registry) -> list[str]:
    with urllib.request.urlopen(f"{reg.url}/v2/_catalog", timeout=30) as resp:
        return list(json.load(resp)["repositories"])


def _relocator_requests(reg: Registry) -> int:
    """Requests relocator sent (the fixture's own start-up probe is not one)."""
    return sum(1 for line in reg.log().splitlines() if '"relocator"' in line)


def test_skopeo_tags_are_tags(registry: Registry, fresh_registry: Registry, tmp_path: Path) -> None:
    rng = random.Random(90)
    images = {"v1": valid_image(rng, (3000,)), "v2": valid_image(rng, (4000,))}
    layout = tmp_path / "layout"
    skopeo_layout(registry, layout, images)

    refused = cli("unpkg", "-i", str(layout), "--prefix", f"{fresh_registry.host}/pre")
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert f"{layout}: index.json entry 'v1' ({images['v1'].digest}) names a tag only" in refused.stderr
    assert "use --repository HOST/REPO" in refused.stderr
    assert _relocator_requests(fresh_registry) == 0  # refused before any transfer

    done = cli("unpkg", "-i", str(layout), "--repository", f"{fresh_registry.host}/names/all", "--json")
    assert done.returncode == 0, done.stderr
    for tag, image in images.items():
        assert sha256(skopeo_raw_manifest(fresh_registry, f"names/all:{tag}")) == image.digest
    assert reports.copied(reports.load(done.stdout)) == {
        tag: f"{fresh_registry.host}/names/all@{image.digest}" for tag, image in images.items()}
    assert _catalog(fresh_registry) == ["names/all"]  # nothing under library/v1 or library/v2


def test_docker_save_names_are_kept(fresh_registry: Registry, tmp_path: Path) -> None:
    rng = random.Random(91)
    app, tool = valid_image(rng, (3000,)), valid_image(rng, (2000,))
    # Docker 25's docker save: ref.name is the tag, io.containerd.image.name the full name.
    saved = write_docker25(tmp_path / "saved.tar", {"app:v2": app, "example.com/team/tool:1.0": tool})

    mirrored = cli("unpkg", "-i", str(saved), "--prefix", f"{fresh_registry.host}/pre")
    assert mirrored.returncode == 0, mirrored.stderr
    assert sha256(skopeo_raw_manifest(fresh_registry, "pre/library/app:v2")) == app.digest
    assert sha256(skopeo_raw_manifest(fresh_registry, "pre/team/tool:1.0")) == tool.digest

    bundled = cli("unpkg", "-i", str(saved), "--repository", f"{fresh_registry.host}/bundle", "--json")
    assert bundled.returncode == 0, bundled.stderr
    assert sha256(skopeo_raw_manifest(fresh_registry, "bundle:v2")) == app.digest
    assert sha256(skopeo_raw_manifest(fresh_registry, "bundle:1.0")) == tool.digest
    labels = set(reports.copied(reports.load(bundled.stdout)))
    assert labels == {"docker.io/library/app:v2", "example.com/team/tool:1.0"}


def test_unnamed_entries_go_by_digest(registry: Registry, fresh_registry: Registry, tmp_path: Path) -> None:
    rng = random.Random(93)
    named, unnamed = valid_image(rng, (3000,)), valid_image(rng, (2000,))
    layout = tmp_path / "layout"
    skopeo_layout(registry, layout, {"v1": named, "v2": unnamed})
    edit_index(layout, lambda entries: entries[1].pop("annotations"))

    refused = cli("unpkg", "-i", str(layout), "--prefix", f"{fresh_registry.host}/pre")
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert f"{layout}: index.json entry 'v1' ({named.digest}) names a tag only" in refused.stderr
    edit_index(layout, lambda entries: entries[0].pop("annotations"))
    refused = cli("unpkg", "-i", str(layout), "--prefix", f"{fresh_registry.host}/pre")
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert f"{layout}: index.json entry {named.digest} has no name" in refused.stderr
    assert "use --repository HOST/REPO" in refused.stderr
    assert _relocator_requests(fresh_registry) == 0

    done = cli("unpkg", "-i", str(layout), "--repository", f"{fresh_registry.host}/bundle")
    assert done.returncode == 0, done.stderr
    for image in (named, unnamed):
        assert sha256(skopeo_raw_manifest(fresh_registry, f"bundle@{image.digest}")) == image.digest


def test_two_digests_under_one_name_are_refused(registry: Registry, fresh_registry: Registry,
                                                tmp_path: Path) -> None:
    rng = random.Random(92)
    images = {"v1": valid_image(rng, (3000,)), "v2": valid_image(rng, (4000,))}
    layout = tmp_path / "layout"
    skopeo_layout(registry, layout, images)

    def rename(entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            entry["annotations"][REF_NAME] = "v1"

    edit_index(layout, rename)
    refused = cli("unpkg", "-i", str(layout), "--repository", f"{fresh_registry.host}/clash")
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert images["v1"].digest in refused.stderr and images["v2"].digest in refused.stderr
    assert f"would both be {fresh_registry.host}/clash:v1" in refused.stderr
    assert _relocator_requests(fresh_registry) == 0
