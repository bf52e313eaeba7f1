"""A reference with no tag means ``:latest`` in every command; the label stays as typed."""

from __future__ import annotations

import json
import random
import tarfile
from pathlib import Path

from tests.commands.test_pkg import cli
from tests.images import random_image, seed, sha256, skopeo, skopeo_raw_manifest
from tests.registries import Registry


def _tags(reg: Registry, repo: str) -> list[str]:
    out = skopeo("list-tags", "--tls-verify=false", f"docker://{reg.host}/{repo}")
    return list(json.loads(out)["Tags"])


def test_no_tag_means_latest_in_relocate_pkg_and_unpkg(registry: Registry, fresh_registry: Registry,
                                                       tmp_path: Path) -> None:
    image = random_image(random.Random(100), (2000,))
    seed(registry, "ref/app", "latest", image)
    typed = f"{registry.host}/ref/app"
    lock = tmp_path / "relocate.lock"

    moved = cli("relocate", "-i", typed, "--prefix", f"{fresh_registry.host}/ip", "--lock-output", str(lock))
    assert moved.returncode == 0, moved.stderr
    assert _tags(fresh_registry, "ip/ref/app") == ["latest"]
    assert sha256(skopeo_raw_manifest(fresh_registry, "ip/ref/app:latest")) == image.digest
    assert f"- image: {typed}\n" in lock.read_text()  # the label as the user typed it

    out = tmp_path / "app.tar"
    packed = cli("pkg", "-i", typed, "-o", str(out))
    assert packed.returncode == 0, packed.stderr
    with tarfile.open(out) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] == [
        f"{typed}:latest"]

    back = cli("unpkg", "-i", str(out), "--prefix", f"{fresh_registry.host}/back")
    assert back.returncode == 0, back.stderr
    assert _tags(fresh_registry, "back/ref/app") == ["latest"]
    assert sha256(skopeo_raw_manifest(fresh_registry, "back/ref/app:latest")) == image.digest
