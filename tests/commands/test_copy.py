"""`relocator copy SRC DST` between stores, against real registries, checked with skopeo."""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path

import pytest

from tests.commands.test_pkg import cli
from tests.images import random_index, seed, sha256, skopeo, skopeo_raw_manifest, valid_image
from tests.registries import Registry
from tests.stores.archives import rebuilt_docker_manifest, write_carvel


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
    assert json.loads(back.stdout)["images"]["failed"] == 0
    assert sha256(skopeo_raw_manifest(fresh_registry, "back/app:v1")) == image.digest


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
    assert "is a Docker archive: it holds no manifest bytes" in proc.stdout  # in the summary
    assert skopeo_raw_manifest(fresh_registry, "saved/app:v1") == rebuilt_docker_manifest(saved)

    carvel = write_carvel(tmp_path / "bundle.tar", {f"{registry.host}/copy/carvel:v1": image})
    proc = cli("copy", str(carvel), f"{fresh_registry.host}/carvel/app:v1")
    assert proc.returncode == 0, proc.stderr
    assert sha256(skopeo_raw_manifest(fresh_registry, "carvel/app:v1")) == image.digest


@pytest.mark.parametrize(("src", "dst", "message"), [
    ("docker-archive:/nonexistent.tar", "oci-archive:/tmp/x.tar", "/nonexistent.tar"),
    ("127.0.0.1:1/a:v1", "docker-archive:/tmp/out.tar", "docker-archive is read only"),
    ("127.0.0.1:1/a:v1", "out.tar", "looks like a file: write oci-archive:out.tar"),
    ("docker:/x", "oci-archive:/tmp/x.tar", "docker: takes docker://"),
    ("127.0.0.1:1/A:v1", "oci-archive:/tmp/x.tar", "source '127.0.0.1:1/A:v1': repository name must be"),
])
def test_bad_locations_are_refused_before_any_transfer(src: str, dst: str, message: str) -> None:
    proc = cli("copy", src, dst)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
