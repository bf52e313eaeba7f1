"""Docker archives: ``manifest.json`` items and the Docker v2 schema 2 manifest rebuilt from them.

No I/O. Format: moby image/tarexport (save.go, load.go) before Docker 25, and skopeo's
docker-archive transport: ``manifest.json`` is
``[{"Config": "<hex>.json", "RepoTags": ["name:tag"], "Layers": ["<id>/layer.tar", ...]}]``,
the layers uncompressed tars (go-containerregistry's tarball package writes gzip layers, with the
same ``manifest.json``). An archive holds no manifest bytes, so each manifest is rebuilt, always
the same way: one archive always gives one digest, which can differ from the registry's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from relocator.errors import BadReference, InputError
from relocator.oci.digest import Digest
from relocator.oci.layout import REF_NAME
from relocator.oci.manifest import Descriptor, Platform
from relocator.oci.mediatypes import DOCKER_MANIFEST
from relocator.oci.reference import Reference

__all__ = [
    "CONTAINERD_NAME",
    "DOCKER_CONFIG",
    "DOCKER_LAYER",
    "DOCKER_LAYER_GZIP",
    "ArchiveImage",
    "ImageConfig",
    "entry_annotations",
    "parse_archive_manifest",
    "parse_config",
    "rebuild_manifest",
    "rebuilt_note",
]

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# The full image name Docker 25's ``docker save`` puts on each index.json entry (containerd's
# images.AnnotationImageName); the OCI ref.name annotation beside it holds the tag alone.
CONTAINERD_NAME = "io.containerd.image.name"


@dataclass(frozen=True, slots=True)
class ArchiveImage:
    """One ``manifest.json`` item: the member names of its config and layers, and the
    ``name:tag`` references it was saved under (none when it was saved by ID)."""

    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """What a rebuilt manifest takes from the image config: the layers' uncompressed digests
    (``rootfs.diff_ids``, empty when absent or unreadable) and the platform."""

    diff_ids: tuple[Digest, ...]
    platform: Platform | None


def rebuilt_note(where: str) -> str:
    """The one-line warning a reader of a Docker archive carries in its ``notes``."""
    return (f"{where} is a Docker archive: it holds no manifest bytes, so each manifest is rebuilt "
            "and its digest can differ from the registry's")


def parse_archive_manifest(doc: Any, where: str) -> list[ArchiveImage]:
    """The items of a Docker archive's decoded ``manifest.json``; InputError naming ``where``
    if malformed."""
    if not isinstance(doc, list):
        raise InputError(f"{where}: manifest.json is not a list of images")
    images = []
    for i, item in enumerate(doc):
        what = f"{where}: manifest.json[{i}]"
        if not isinstance(item, dict):
            raise InputError(f"{what} is not an object")
        config, layers, tags = item.get("Config"), item.get("Layers"), item.get("RepoTags") or []
        if not isinstance(config, str) or not _strings(layers) or not _strings(tags):
            raise InputError(f"{what} needs a Config name, a Layers list and RepoTags strings")
        images.append(ArchiveImage(config, tuple(tags), tuple(layers)))
    return images


def parse_config(raw: bytes) -> ImageConfig:
    """The diff_ids and platform of an image config; what cannot be read is left out."""
    try:
        doc = json.loads(raw)
    except ValueError:
        return ImageConfig((), None)
    if not isinstance(doc, dict):
        return ImageConfig((), None)
    rootfs = doc.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    try:
        diff_ids = tuple(Digest.parse(d) for d in ids) if _strings(ids) else ()
    except InputError:
        diff_ids = ()
    os_name, arch = doc.get("os"), doc.get("architecture")
    platform = None
    if isinstance(os_name, str) and isinstance(arch, str) and os_name and arch:
        platform = Platform.from_json(doc)  # image-spec config.md: the index entry's field names
    return ImageConfig(diff_ids, platform)


def rebuild_manifest(config: Descriptor, layers: Sequence[Descriptor]) -> bytes:
    """A Docker v2 schema 2 manifest over these blobs, compact, in the field order of
    go-containerregistry's v1.Manifest: the bytes ``crane push`` of the same tarball sends
    (pkg/v1/tarball builds the manifest, partial.RawManifest is ``json.Marshal``), so a crane
    tarball of gzip layers gets the digest crane pushed. ``docker push`` (distribution's schema2,
    3-space indent) and skopeo (which lists a gzip layer by its uncompressed digest) make other
    bytes, hence the note. The same blobs always give the same bytes; none of the values need
    Go's HTML escaping."""
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"mediaType": DOCKER_CONFIG, "size": config.size, "digest": str(config.digest)},
        "layers": [{"mediaType": d.media_type, "size": d.size, "digest": str(d.digest)} for d in layers],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def entry_annotations(repo_tag: str) -> dict[str, str]:
    """The annotations Docker 25's ``docker save`` writes on an index.json entry for this name:
    the full name and the tag (moby image/tarexport/save.go); none if the name does not parse."""
    try:
        ref = Reference.parse(repo_tag)
    except BadReference:
        return {}
    tag = ref.tag or "latest"
    return {CONTAINERD_NAME: str(ref.with_tag(tag)), REF_NAME: tag}


def _strings(value: Any) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)
