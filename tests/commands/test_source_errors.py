"""An error names the side it came from: a source's 404 or a corrupt tar member is the source's
error, however the destination's upload saw it, and is not retried as a connection failure."""

from __future__ import annotations

import random
import tarfile
from pathlib import Path

import pytest

from tests import reports
from tests.commands.test_pkg import cli, run_cli
from tests.images import random_image, seed
from tests.proxy import FaultProxy
from tests.registries import Registry, start_registry


def _drop_blob(reg: Registry, digest: str) -> None:
    """Delete a blob's bytes from the registry's storage: its manifest still names it."""
    hex_ = digest.split(":")[1]
    (reg.storage / "docker/registry/v2/blobs/sha256" / hex_[:2] / hex_ / "data").unlink()


def test_a_blob_the_source_lacks_is_the_sources_404(fresh_registry: Registry, tmp_path: Path) -> None:
    src = start_registry(tmp_path / "src")
    try:
        image = random_image(random.Random(70), (3000,))
        seed(src, "gone/app", "v1", image)
        layer = list(image.blobs)[-1]
        _drop_blob(src, layer)
        ref = f"{src.host}/gone/app:v1"
        want = f"source {src.host}/gone/app: blob {layer}: 404 Not Found (BLOB_UNKNOWN)"

        moved = cli("relocate", "-i", ref, "--prefix", fresh_registry.host, "--json")
        assert moved.returncode == 1, moved.stderr
        error = reports.errors(reports.load(moved.stdout))[ref]
        assert error.startswith(want), error
        assert "connection failed" not in error and fresh_registry.host not in error
        # One upload session per blob: the source's 404 is not retried as a broken upload.
        assert fresh_registry.requests("POST", "gone/app/blobs/uploads/") == 2
        assert fresh_registry.requests("PUT", "gone/app/manifests/.*") == 0

        packed = cli("pkg", "-i", ref, "-o", str(tmp_path / "gone.tar"), "--json")
        assert packed.returncode == 1, packed.stderr
        assert reports.errors(reports.load(packed.stdout))[ref].startswith(want)
        # The config blob came through before the layer failed, so the partial file stays for a
        # resume; the tarball itself never appears.
        assert not (tmp_path / "gone.tar").exists()
    finally:
        src.stop()


def test_a_corrupt_member_names_the_tarball_and_the_member(registry: Registry, fresh_registry: Registry,
                                                           tmp_path: Path) -> None:
    image = random_image(random.Random(71), (5000,))
    seed(registry, "torn/app", "v1", image)
    ref = f"{registry.host}/torn/app:v1"
    good, torn = tmp_path / "good.tar", tmp_path / "torn.tar"
    assert cli("pkg", "-i", ref, "-o", str(good)).returncode == 0
    layer = list(image.blobs)[-1]
    member = f"blobs/sha256/{layer.split(':')[1]}"
    with tarfile.open(good) as tar:
        offset = tar.getmember(member).offset_data
    data = bytearray(good.read_bytes())
    data[offset + 100] ^= 0xFF
    torn.write_bytes(bytes(data))

    # The tarball is at fault, not the network: bad input (exit 2), named in one error line, with
    # the upload streamed whole (monolithic) or in PATCHes (chunked) alike.
    want = (f"source {torn}: member {member}: content does not match its digest (blob {layer}: "
            "content hashes to ")
    for repo, chunked in (("torn", ()), ("torn-chunked", ("--chunk-size", "1KiB"))):
        proc = cli("unpkg", "-i", str(torn), "--repository", f"{fresh_registry.host}/{repo}", "--json",
                   *chunked)
        assert proc.returncode == 2, proc.stderr
        error = reports.errors(reports.load(proc.stdout))[ref]
        assert error.startswith(want), error
        assert proc.stderr.splitlines() == [f"relocator: error: {error}"]
        assert "connection failed" not in proc.stderr
        assert fresh_registry.requests("POST", f"{repo}/blobs/uploads/") == 2  # no retry of the torn layer
        assert fresh_registry.requests("PUT", f"{repo}/manifests/.*") == 0


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize(("fault", "says"), [
    ("404", "404 Not Found (BLOB_UNKNOWN)"),
    ("corrupt", "content hashes to sha256:"),
    ("short", "expected 3000 bytes, got 2990"),
])
async def test_a_blob_the_source_serves_wrong_is_its_error_and_fetched_once(
        registry: Registry, fresh_registry: Registry, fault: str, says: str, chunked: bool) -> None:
    rng = random.Random(72)
    images = [random_image(rng, (3000,)) for _ in range(2)]
    for i, image in enumerate(images):
        seed(registry, f"wrong/app{i}", "v1", image)
    layer = list(images[0].blobs)[-1]
    proxy = await FaultProxy(registry, blob_faults={layer: fault}).start()
    refs = [f"{proxy.host}/wrong/app{i}:v1" for i in range(2)]
    chunks = ["--chunk-size", "1024"] if chunked else []
    try:
        proc = await run_cli("relocate", "-i", refs[0], "-i", refs[1], "--prefix", fresh_registry.host,
                             *chunks, "--json")
    finally:
        await proxy.stop()
    assert proc.returncode == 1, proc.stderr
    report = reports.load(proc.stdout)
    assert list(reports.copied(report)) == [refs[1]]
    why = reports.errors(report)[refs[0]]
    assert why.startswith(f"source {proxy.host}/wrong/app0: blob {layer}: {says}"), why
    assert "connection failed" not in why and fresh_registry.host not in why
    assert proxy.hits["blob"] == 4  # each of the 4 blobs fetched once: the wrong one never again
    assert "retrying" not in proc.stderr


async def test_a_source_body_that_keeps_breaking_is_tried_as_often_as_retries_allow(
        registry: Registry, fresh_registry: Registry) -> None:
    image = random_image(random.Random(73), (3000,))
    seed(registry, "broken/app", "v1", image)
    layer = list(image.blobs)[-1]
    proxy = await FaultProxy(registry, blob_faults={layer: "reset"}).start()
    ref = f"{proxy.host}/broken/app:v1"
    try:
        proc = await run_cli("relocate", "-i", ref, "--prefix", fresh_registry.host, "--retries", "2",
                             "--json")
    finally:
        await proxy.stop()
    assert proc.returncode == 1, proc.stderr
    why = reports.errors(reports.load(proc.stdout))[ref]
    assert why.startswith(f"source {proxy.host}/broken/app: blob {layer}: connection failed ("), why
    # The config once, the layer three times (its download resumed twice): the upload that was
    # streaming it does not start the source's retries over again (that made it nine).
    assert proxy.hits["blob"] == 1 + 3
    assert fresh_registry.requests("POST", "broken/app/blobs/uploads/") == 2  # an upload session each
