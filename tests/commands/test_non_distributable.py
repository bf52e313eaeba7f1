"""Layers with ``urls`` (non-distributable, foreign) are treated alike by relocate, pkg, verify and
unpkg: skipped without --include-non-distributable-layers; with it, copied, and read from their
URLs when the source has no copy.

Debian's distribution 2.8.2 refuses any manifest with a layer URL unless its config allows URLs
(with no ``validation.manifests.urls`` it allows none: a 500 with MANIFEST_BLOB_UNKNOWN, even when
the layer is present); with ``allow: ["^https?://"]`` it takes such a manifest whether or not it
holds the layer. These registries are configured that way, as a registry holding Windows images
is.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web

from tests import reports
from tests.commands.test_pkg import ENV
from tests.faults import serve
from tests.images import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    Image,
    seed,
    sha256,
    skopeo_raw_manifest,
)
from tests.registries import Registry, start_registry


async def cli(*args: str, env: dict[str, str] = ENV) -> subprocess.CompletedProcess[str]:
    """The CLI in a thread: the layer server answers on this test's event loop meanwhile."""
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "relocator", *args],
                                   capture_output=True, text=True, timeout=300, env=env)


FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
ALLOW_URLS = {"validation": {"manifests": {"urls": {"allow": ["^https?://"]}}}}


@dataclass
class LayerServer:
    """Serves blobs at ``/layers/DIGEST`` like a CDN does for foreign layers; keeps each request."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    seen: list[tuple[str, str | None]] = field(default_factory=list)  # (digest, Authorization)
    challenge: bool = False  # answer 401 with a Basic challenge, as a registry would
    port: int = 0

    def url(self, digest: str) -> str:
        return f"http://127.0.0.1:{self.port}/layers/{digest}"

    def hits(self, digest: str) -> int:
        return sum(1 for d, _ in self.seen if d == digest)

    async def get(self, request: web.Request) -> web.Response:
        digest = request.match_info["digest"]
        self.seen.append((digest, request.headers.get("Authorization")))
        if self.challenge:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="cdn"'})
        if digest not in self.blobs:
            return web.Response(status=404)
        return web.Response(body=self.blobs[digest])


@pytest.fixture
async def layers() -> AsyncIterator[LayerServer]:
    server = LayerServer()
    app = web.Application()
    app.router.add_get("/layers/{digest}", server.get)
    runner, server.port = await serve(app)
    yield server
    await runner.cleanup()


@pytest.fixture
def url_registries(tmp_path: Path) -> Iterator[tuple[Registry, Registry]]:
    """A source and a destination that accept manifests with layer URLs."""
    src = start_registry(tmp_path / "src", extra=ALLOW_URLS)
    dst = start_registry(tmp_path / "dst", extra=ALLOW_URLS)
    yield src, dst
    src.stop()
    dst.stop()


def _image(rng: random.Random, docker: bool, server: LayerServer) -> tuple[Image, str]:
    """An image with one plain layer and one with ``urls``: an OCI layer the source registry also
    holds, or a Docker foreign layer that only its URL serves. Returns it and the URL layer."""
    plain, remote = rng.randbytes(3000), rng.randbytes(5000)
    config = json.dumps({"architecture": "amd64", "os": "windows", "seed": rng.random()}).encode()
    server.blobs[sha256(remote)] = remote

    def desc(media_type: str, data: bytes) -> dict[str, object]:
        return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}

    url_layer = {**desc(FOREIGN if docker else OCI_LAYER, remote), "urls": [server.url(sha256(remote))]}
    manifest = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
                "config": desc(DOCKER_CONFIG if docker else OCI_CONFIG, config),
                "layers": [url_layer, desc(DOCKER_LAYER if docker else OCI_LAYER, plain)]}
    blobs = {sha256(config): config, sha256(plain): plain}
    if not docker:
        blobs[sha256(remote)] = remote
    media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
    return Image(json.dumps(manifest, indent=2).encode(), media_type, blobs), sha256(remote)


def _blob(reg: Registry, repo: str, digest: str) -> bytes | None:
    try:
        with urllib.request.urlopen(f"{reg.url}/v2/{repo}/blobs/{digest}", timeout=30) as resp:
            return bytes(resp.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def _members(path: Path) -> set[str]:
    with tarfile.open(path) as tar:
        return set(tar.getnames())


def _seed_pair(src: Registry, layers: LayerServer, seed_value: int) -> dict[str, tuple[Image, str]]:
    rng = random.Random(seed_value)
    images = {"win/oci": _image(rng, False, layers), "win/docker": _image(rng, True, layers)}
    for repo, (image, _) in images.items():
        seed(src, repo, "v1", image)
    return images


async def test_without_the_flag_every_command_leaves_them_out(url_registries: tuple[Registry, Registry],
                                                        layers: LayerServer, tmp_path: Path) -> None:
    src, dst = url_registries
    images = _seed_pair(src, layers, 80)
    args = [a for repo in images for a in ("-i", f"{src.host}/{repo}:v1")]

    moved = await cli("relocate", *args, "--prefix", f"{dst.host}/moved")
    assert moved.returncode == 0, moved.stderr
    out = tmp_path / "win.tar"
    packed = await cli("pkg", *args, "-o", str(out))
    assert packed.returncode == 0, packed.stderr
    checked = await cli("verify", str(out))
    assert checked.returncode == 0, checked.stdout
    unpacked = await cli("unpkg", "-i", str(out), "--prefix", f"{dst.host}/unpacked")
    assert unpacked.returncode == 0, unpacked.stderr

    members = _members(out)
    for repo, (image, remote) in images.items():
        for where in ("moved", "unpacked"):
            # The registry took the manifest as it was; the layer with urls stayed behind.
            assert sha256(skopeo_raw_manifest(dst, f"{where}/{repo}:v1")) == image.digest
            assert _blob(dst, f"{where}/{repo}", remote) is None
            assert all(_blob(dst, f"{where}/{repo}", d) == b for d, b in image.blobs.items() if d != remote)
        assert f"blobs/sha256/{remote.split(':')[1]}" not in members
    assert layers.seen == []  # no URL was fetched


async def test_with_the_flag_they_travel_and_missing_ones_come_from_their_urls(
        url_registries: tuple[Registry, Registry], layers: LayerServer, tmp_path: Path) -> None:
    src, dst = url_registries
    images = _seed_pair(src, layers, 81)
    oci_remote, docker_remote = images["win/oci"][1], images["win/docker"][1]
    args = [a for repo in images for a in ("-i", f"{src.host}/{repo}:v1")]
    flag = "--include-non-distributable-layers"

    moved = await cli("relocate", *args, "--prefix", f"{dst.host}/moved", flag)
    assert moved.returncode == 0, moved.stderr
    # The OCI layer came from the source registry, the foreign one from its URL, each verified.
    assert layers.hits(oci_remote) == 0 and layers.hits(docker_remote) == 1
    full = tmp_path / "full.tar"
    assert (await cli("pkg", *args, "-o", str(full), flag)).returncode == 0
    assert layers.hits(docker_remote) == 2
    assert {f"blobs/sha256/{d.split(':')[1]}" for d in (oci_remote, docker_remote)} <= _members(full)
    assert (await cli("verify", str(full))).returncode == 0
    assert (await cli("unpkg", "-i", str(full), "--prefix", f"{dst.host}/from-full", flag)).returncode == 0
    assert layers.hits(docker_remote) == 2  # the tarball had it

    # A tarball written without them: unpkg with the flag fetches both from their URLs.
    slim = tmp_path / "slim.tar"
    assert (await cli("pkg", *args, "-o", str(slim))).returncode == 0
    fetched = await cli("unpkg", "-i", str(slim), "--prefix", f"{dst.host}/fetched", flag)
    assert fetched.returncode == 0, fetched.stderr
    assert layers.hits(oci_remote) == 1 and layers.hits(docker_remote) == 3

    for where in ("moved", "from-full", "fetched"):
        for repo, (image, remote) in images.items():
            assert sha256(skopeo_raw_manifest(dst, f"{where}/{repo}:v1")) == image.digest
            assert _blob(dst, f"{where}/{repo}", remote) == layers.blobs[remote]
    assert all(auth is None for _, auth in layers.seen)


async def test_registry_credentials_never_go_to_a_layer_url(url_registries: tuple[Registry, Registry],
                                                      layers: LayerServer) -> None:
    src, dst = url_registries
    images = _seed_pair(src, layers, 82)
    docker_remote = images["win/docker"][1]
    layers.challenge = True
    # Credentials for every host involved, the layer server's included.
    env = {**ENV, "RELOCATOR_REGISTRY_HOSTNAME_0": f"127.0.0.1:{layers.port},{src.host},{dst.host}",
           "RELOCATOR_REGISTRY_USERNAME_0": "alice", "RELOCATOR_REGISTRY_PASSWORD_0": "s3cret"}
    ref = f"{src.host}/win/docker:v1"
    proc = await cli("relocate", "-i", ref, "--prefix", dst.host, "--include-non-distributable-layers",
               "--json", env=env)
    assert proc.returncode == 1, proc.stderr
    error = reports.errors(reports.load(proc.stdout))[ref]
    assert error.startswith(f"source {src.host}/win/docker: blob {docker_remote}: 404 Not Found"), error
    assert f"from its urls: 127.0.0.1:{layers.port}: 401 Unauthorized" in error
    assert layers.seen == [(docker_remote, None)]  # asked once, with no Authorization
