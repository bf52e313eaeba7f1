"""Random images and indexes, and a seeder that pushes them with plain urllib.

The seeder is deliberately independent of relocator's client, so a bug there cannot
hide a bug in what the tests check.
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import urllib.request
from dataclasses import dataclass, field

from tests.registries import Registry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Image:
    """A manifest (or index) with every blob it needs, children included."""

    raw: bytes
    media_type: str
    blobs: dict[str, bytes] = field(default_factory=dict)
    children: list[Image] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return sha256(self.raw)

    def descriptor(self, platform: dict[str, str] | None = None) -> dict[str, object]:
        d: dict[str, object] = {"mediaType": self.media_type, "digest": self.digest, "size": len(self.raw)}
        if platform:
            d["platform"] = platform
        return d


def _desc(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": sha256(data), "size": len(data)}


def random_image(rng: random.Random, layer_sizes: tuple[int, ...] = (1024,), *, docker: bool = False,
                 config_media_type: str | None = None, shared_layers: tuple[bytes, ...] = ()) -> Image:
    """An image of random layers; ``config_media_type`` makes it an OCI artifact."""
    layers = list(shared_layers) + [rng.randbytes(n) for n in layer_sizes]
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": rng.random(),
                         "rootfs": {"type": "layers", "diff_ids": [sha256(x) for x in layers]}}).encode()
    layer_type = DOCKER_LAYER if docker else OCI_LAYER
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": _desc(config_media_type or (DOCKER_CONFIG if docker else OCI_CONFIG), config),
        "layers": [_desc(layer_type, x) for x in layers],
    }
    raw = json.dumps(manifest, indent=3).encode()
    blobs = {sha256(x): x for x in [config, *layers]}
    return Image(raw, DOCKER_MANIFEST if docker else OCI_MANIFEST, blobs)


def random_index(images: list[Image], *, docker: bool = False) -> Image:
    """An index over ``images`` (which may themselves be indexes)."""
    archs = ["amd64", "arm64", "ppc64le", "s390x", "riscv64", "386"]
    manifests = [img.descriptor({"os": "linux", "architecture": archs[i % len(archs)]})
                 for i, img in enumerate(images)]
    doc = {"schemaVersion": 2, "mediaType": DOCKER_LIST if docker else OCI_INDEX, "manifests": manifests}
    return Image(json.dumps(doc, indent=2).encode(), DOCKER_LIST if docker else OCI_INDEX,
                 children=images)


def _request(reg: Registry, method: str, url: str, data: bytes | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str]]:
    if not url.startswith("http"):
        url = reg.url + url
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return resp.status, dict(resp.headers)


def seed(reg: Registry, repo: str, tag: str | None, image: Image) -> str:
    """Push ``image`` and its children into an anonymous plain-HTTP registry; return its digest."""
    for child in image.children:
        seed(reg, repo, None, child)
    for digest, data in image.blobs.items():
        _, headers = _request(reg, "POST", f"/v2/{repo}/blobs/uploads/")
        location = headers["Location"]
        sep = "&" if "?" in location else "?"
        _request(reg, "PUT", f"{location}{sep}digest={digest}", data,
                 {"Content-Type": "application/octet-stream"})
    _request(reg, "PUT", f"/v2/{repo}/manifests/{tag or image.digest}", image.raw,
             {"Content-Type": image.media_type})
    return image.digest


def skopeo(*args: str) -> str:
    """Run skopeo, failing the test with its stderr if it fails."""
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def skopeo_raw_manifest(reg: Registry, ref: str) -> bytes:
    """The manifest bytes as skopeo fetches them, to compare digests independently."""
    out = subprocess.run(["skopeo", "inspect", "--raw", *reg.skopeo_args(), f"docker://{reg.host}/{ref}"],
                         capture_output=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"skopeo inspect {ref} failed: {out.stderr.decode().strip()}")
    return out.stdout


def valid_image(rng: random.Random, layer_sizes: tuple[int, ...] = (1024,), *, docker: bool = False,
                shared_layers: tuple[bytes, ...] = ()) -> Image:
    """An image other tools accept as is: gzip layers and a config whose diff_ids match.

    skopeo re-writes manifests whose layers are not what their media type says, which would
    change digests; tests that hand images to skopeo use these.
    """
    import gzip

    layers = list(shared_layers) + [gzip.compress(rng.randbytes(n), compresslevel=0, mtime=0)
                                    for n in layer_sizes]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {}, "seed": rng.random(),
                         "rootfs": {"type": "layers",
                                    "diff_ids": [sha256(gzip.decompress(x)) for x in layers]}}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": _desc(DOCKER_CONFIG if docker else OCI_CONFIG, config),
        "layers": [_desc(DOCKER_LAYER if docker else OCI_LAYER, x) for x in layers],
    }
    raw = json.dumps(manifest, indent=3).encode()
    return Image(raw, DOCKER_MANIFEST if docker else OCI_MANIFEST, {sha256(x): x for x in [config, *layers]})
