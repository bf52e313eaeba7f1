"""skopeo's ``docker://REF`` spelling works wherever one reference or repository is given on the
command line (oci/reference.py ``without_transport``): copy, inspect, bench, sync, -i, --repository."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

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


LOCAL = "relocator copy, unpkg, ls and verify read layouts and archives"
TARBALL = "relocator copy, unpkg, ls and verify read tarballs"


@pytest.mark.parametrize(("args", "error"), [
    (["inspect", "oci-archive:app.tar:v1"],
     "invalid image reference 'oci-archive:app.tar:v1': oci-archive: names local storage, not a registry: "
     + LOCAL),
    (["inspect", "app.tar"], "invalid image reference 'app.tar': a file name, not a registry image: "
                             f"{TARBALL} (write docker://app.tar for a repository so named)"),
    (["relocate", "-i", "oci:layout:v1", "--repository", "127.0.0.1:1/x"],
     f"-i: invalid image reference 'oci:layout:v1': oci: names local storage, not a registry: {LOCAL}"),
    (["pkg", "-i", "images.tar.gz", "-o", "out.tar"],
     "-i: invalid image reference 'images.tar.gz': a file name, not a registry image: "
     f"{TARBALL} (write docker://images.tar.gz for a repository so named)"),
    (["relocate", "-i", "127.0.0.1:1/a:v1", "--repository", "oci:layout"],
     "--repository: invalid image reference 'oci:layout': oci: names local storage, not a registry: "
     + LOCAL),
    # A layout is no registry: this was the "registry" oci:layout, an internal error on its port.
    (["sync", "oci:layout", "127.0.0.1:1/x"], "command line: invalid image reference 'oci:layout': "
                                              f"oci: names local storage, not a registry: {LOCAL}"),
    (["sync", "127.0.0.1:1/a", "docker-archive:out.tar"],
     "command line: invalid image reference 'docker-archive:out.tar': docker-archive: names local "
     f"storage, not a registry: {LOCAL}"),
    (["sync", "localhost:abc", "127.0.0.1:1/x"], "command line: SRC_REPO: 'localhost:abc': invalid registry "
                                                 "host 'localhost:abc'"),
    (["bench", "dir:/tmp/x", "--count", "1"],
     f"bench: invalid image reference 'dir:/tmp/x': dir: names local storage, not a registry: {LOCAL}"),
    (["copy", "missing.tar", "oci:/tmp/x"],
     "source 'missing.tar': no such file (write docker://missing.tar for a registry repository so named)"),
])
def test_local_spellings_are_refused_where_a_registry_is_meant(tmp_path: Path, args: list[str],
                                                               error: str) -> None:
    # Read as references they went to Docker Hub (a "cannot connect" after four retries for a
    # file the user has right here) or, as sync's registry oci:layout, crashed.
    done = cli(*args, cwd=tmp_path)
    assert (done.returncode, done.stderr.splitlines()[-1:]) == (2, [f"relocator: error: {error}"])
    assert done.stdout == ""
    assert not (tmp_path / "out.tar").exists()
