"""skopeo's ``docker://REF`` spelling works wherever one reference or repository is given on the
command line (oci/reference.py ``without_transport``): copy, inspect, bench, sync, -i, --repository."""

from __future__ import annotations

import random

from tests import reports
from tests.commands.test_pkg import cli
from tests.images import seed, sha256, skopeo_raw_manifest, valid_image
from tests.registries import Registry


def test_docker_transport_spelling_everywhere(registry: Registry, fresh_registry: Registry) -> None:
    image = valid_image(random.Random(90), (2000,))
    seed(registry, "spell/app", "v1", image)
    src = f"docker://{registry.host}/spell/app:v1"

    shown = cli("inspect", src, "--json")
    assert shown.returncode == 0, shown.stderr
    assert reports.load(shown.stdout)["details"]["digest"] == image.digest
    assert reports.load(shown.stdout)["details"]["reference"] == f"{registry.host}/spell/app:v1"

    moved = cli("relocate", "-i", src, "--repository", f"docker://{fresh_registry.host}/spell/into", "--json")
    assert moved.returncode == 0, moved.stderr
    assert reports.copied(reports.load(moved.stdout)) == {
        f"{registry.host}/spell/app:v1": f"{fresh_registry.host}/spell/into@{image.digest}"}
    assert sha256(skopeo_raw_manifest(fresh_registry, f"spell/into@{image.digest}")) == image.digest

    measured = cli("bench", f"docker://{fresh_registry.host}/spell/bench", "--blob-size", "4KiB",
                   "--count", "1", "--warmup", "0", "--json")
    assert measured.returncode == 0, measured.stderr
    assert fresh_registry.requests("POST", "spell/bench/blobs/uploads/") >= 1

    listed = cli("sync", src.rsplit(":", 1)[0], f"docker://{fresh_registry.host}/spell/mirror", "--list-tags",
                 "--json")
    assert listed.returncode == 0, listed.stderr
    assert reports.load(listed.stdout)["details"]["tags"] == {
        f"{registry.host}/spell/app -> {fresh_registry.host}/spell/mirror": ["v1"]}
