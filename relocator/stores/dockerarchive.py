"""Docker archives (``docker save`` before Docker 25, skopeo's docker-archive) as Contents.

Each ``manifest.json`` item gets a rebuilt Docker v2 schema 2 manifest (oci/dockerarchive.py) and
one entry per RepoTags name (one unnamed entry when it has none). A layer's digest is the sha256 of
its member: for an uncompressed layer that is the config's diff_id at the same position, so nothing
is hashed up front; a gzip layer (go-containerregistry's tarballs), or any layer when the diff_ids
do not line up with the layers, is hashed once here. Either way
every blob is verified again while it streams. Links are followed only to regular members inside
the archive (Docker links a layer saved twice); other members are never read.
"""

from __future__ import annotations

from typing import Any

from relocator.errors import InputError
from relocator.oci import Descriptor, Digest
from relocator.oci.dockerarchive import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_LAYER_GZIP,
    ArchiveImage,
    entry_annotations,
    parse_archive_manifest,
    parse_config,
    rebuild_manifest,
    rebuilt_note,
)
from relocator.oci.layout import IndexEntry
from relocator.oci.mediatypes import DOCKER_MANIFEST
from relocator.stores.archive import Contents, Member, TarIndex
from relocator.stores.files import hash_range

__all__ = ["KIND", "read_docker_archive"]

KIND = "Docker archive"
_MAX_CONFIG = 16 << 20
_GZIP_MAGIC = b"\x1f\x8b"


def read_docker_archive(index: TarIndex, manifest_json: Any) -> Contents:
    """Rebuilt manifests, configs and layers of a Docker archive, from its decoded
    ``manifest.json``, with the note that says so.

    Raises InputError naming the archive for a malformed manifest.json or a missing config or
    layer; UnsafeTarMember for a link that leaves the archive or leads to no regular member.
    """
    members: dict[Digest, Member] = {}
    entries: list[IndexEntry] = []
    for i, image in enumerate(parse_archive_manifest(manifest_json, index.where)):
        raw, desc = _rebuild(index, image, members, f"{index.where}: manifest.json[{i}]")
        members[desc.digest] = Member.inline(f"manifest.json[{i}] (rebuilt)", raw)
        for tag in image.repo_tags or (None,):
            annotations = entry_annotations(tag) if tag is not None else {}
            entries.append(IndexEntry(Descriptor(desc.media_type, desc.digest, desc.size,
                                                 platform=desc.platform, annotations=annotations), tag, i))
    media_types = {e.descriptor.digest: DOCKER_MANIFEST for e in entries}
    return Contents(KIND, members, tuple(entries), media_types, (rebuilt_note(index.where),))


def _rebuild(index: TarIndex, image: ArchiveImage, members: dict[Digest, Member],
             what: str) -> tuple[bytes, Descriptor]:
    config_member = _member(index, image.config, what)
    config_raw = index.read(config_member, _MAX_CONFIG)
    config = parse_config(config_raw)
    config_desc = Descriptor(DOCKER_CONFIG, Digest.of(config_raw), len(config_raw))
    members.setdefault(config_desc.digest, config_member)
    layers = []
    for j, name in enumerate(image.layers):
        member = _member(index, name, what)
        gzipped = member.size >= 2 and index.read(Member(member.name, 2, member.offset), 2) == _GZIP_MAGIC
        if gzipped or len(config.diff_ids) != len(image.layers):
            digest = Digest("sha256", _hash(index, member))
        else:
            digest = config.diff_ids[j]
        layers.append(Descriptor(DOCKER_LAYER_GZIP if gzipped else DOCKER_LAYER, digest, member.size))
        members.setdefault(digest, member)
    raw = rebuild_manifest(config_desc, layers)
    return raw, Descriptor(DOCKER_MANIFEST, Digest.of(raw), len(raw), platform=config.platform)


def _member(index: TarIndex, name: str, what: str) -> Member:
    member = index.follow(name)
    if member is None:
        raise InputError(f"{what} names {name!r}, which the archive does not hold")
    return member


def _hash(index: TarIndex, member: Member) -> str:
    digest = hash_range(index.fd, member.offset, member.size)
    if digest is None:
        raise InputError(f"{index.where}: file ends inside member {member.name}")
    return digest

