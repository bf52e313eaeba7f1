"""The multi-platform fixture: a linux/amd64 + linux/arm64 index with a buildx-style attestation
manifest inside it for each image, an SBOM on each image (subject-linked), and a cosign legacy
``.sig`` on the index; and a look at an index with plain urllib and skopeo."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from tests.images import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    Image,
    seed,
    sha256,
    skopeo_raw_manifest,
    valid_image,
)
from tests.referrers import SPDX, artifact, cosign_signature, descriptor_of, legacy_tag, put_list
from tests.registries import Registry

INTOTO = "application/vnd.in-toto+json"
AMD64 = {"architecture": "amd64", "os": "linux"}
ARM64 = {"architecture": "arm64", "os": "linux"}


@dataclass
class Multi:
    """``index`` lists ``images`` (amd64, arm64) then ``attestations`` (one per image, in order)."""

    index: Image
    images: list[Image]
    attestations: list[Image]
    sboms: list[Image]  # subject-linked, one per image
    sig: Image  # cosign legacy .sig on the index

    def entries(self) -> list[dict[str, Any]]:
        return list(json.loads(self.index.raw)["manifests"])


def attestation(rng: random.Random, subject: Image) -> Image:
    """What buildx pushes for ``--attest type=provenance``: an image manifest of in-toto layers
    over an ``unknown/unknown`` config, no ``subject`` (it is tied to its image by the index)."""
    statement = json.dumps({"_type": "https://in-toto.io/Statement/v0.1", "n": rng.random(),
                            "subject": [{"digest": {"sha256": subject.digest.split(":")[1]}}]}).encode()
    config = json.dumps({"architecture": "unknown", "os": "unknown", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [sha256(statement)]}}).encode()
    doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
           "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
           "layers": [{"mediaType": INTOTO, "digest": sha256(statement), "size": len(statement),
                       "annotations": {"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"}}]}
    blobs = {sha256(config): config, sha256(statement): statement}
    return Image(json.dumps(doc).encode(), OCI_MANIFEST, blobs)


def multi(seed_value: int) -> Multi:
    rng = random.Random(seed_value)
    amd = valid_image(rng, (300,))
    arm = valid_image(rng, (400,))
    arm = _with_config_platform(arm, "arm64")
    images = [amd, arm]
    attestations = [attestation(rng, i) for i in images]
    entries: list[dict[str, Any]] = [amd.descriptor(AMD64), arm.descriptor(ARM64)]
    for image, att in zip(images, attestations, strict=True):
        entries.append(att.descriptor({"architecture": "unknown", "os": "unknown"})
                       | {"annotations": {"vnd.docker.reference.digest": image.digest,
                                          "vnd.docker.reference.type": "attestation-manifest"}})
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries,
           "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}}
    index = Image(json.dumps(doc, indent=2).encode(), OCI_INDEX, children=[*images, *attestations])
    sboms = [artifact(rng, SPDX, i, **{"org.example.sbom": "spdx"}) for i in images]
    return Multi(index, images, attestations, sboms, cosign_signature(rng, index))


def _with_config_platform(image: Image, arch: str) -> Image:
    """``image`` with its config saying ``linux/<arch>`` (the manifest rewritten to match)."""
    manifest = json.loads(image.raw)
    old = image.blobs.pop(manifest["config"]["digest"])
    config = json.loads(old) | {"architecture": arch}
    raw_config = json.dumps(config).encode()
    image.blobs[sha256(raw_config)] = raw_config
    manifest["config"] |= {"digest": sha256(raw_config), "size": len(raw_config)}
    return Image(json.dumps(manifest, indent=3).encode(), image.media_type, image.blobs)


def seed_multi(reg: Registry, repo: str, tag: str, fix: Multi, *, fallback: bool = True) -> None:
    """Push the fixture; with ``fallback`` each SBOM is listed under its image's fallback tag too."""
    seed(reg, repo, tag, fix.index)
    seed(reg, repo, legacy_tag(fix.index), fix.sig)
    for image, sbom in zip(fix.images, fix.sboms, strict=True):
        seed(reg, repo, None, sbom)
        if fallback:
            put_list(reg, repo, image.digest, [descriptor_of(sbom)])


def raw(reg: Registry, ref: str) -> bytes:
    """The manifest at ``ref`` (``repo:tag`` or ``repo@digest``) as skopeo fetches it."""
    return skopeo_raw_manifest(reg, ref)


def listed(raw_index: bytes) -> list[str]:
    """The digests an index lists, in order."""
    return [m["digest"] for m in json.loads(raw_index)["manifests"]]
