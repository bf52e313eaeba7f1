"""Carvel tarballs (``imgpkg copy --to-tar``, ``kbld pkg``) as Contents.

Manifests and configs come from ``manifest.json`` byte for byte (oci/carvel.py), so digests are
kept; layers are the ``<alg>-<hex>.tar.gz`` members. A layer manifest.json describes but the tar
lacks (imgpkg leaves non-distributable layers out) is simply absent: verify reports it only when
its descriptor has no URLs. The tar may hold nothing else: no links, no directories but the root,
no other names.
"""

from __future__ import annotations

from typing import Any

from relocator.errors import InputError, UnsafeTarMember
from relocator.oci.carvel import layer_member_name, parse_carvel_manifest
from relocator.stores.archive import Contents, Member, TarIndex

__all__ = ["KIND", "MANIFEST_JSON", "read_carvel"]

KIND = "Carvel tarball"
MANIFEST_JSON = "manifest.json"


def read_carvel(index: TarIndex, manifest_json: Any) -> Contents:
    """Inline manifests and configs plus the layer members of a Carvel tarball, from its
    decoded ``manifest.json``.

    Raises UnsafeTarMember for a member the format does not have, InputError for a malformed
    manifest.json or a layer member whose size disagrees with manifest.json.
    """
    where = index.where
    archive = parse_carvel_manifest(manifest_json, where)
    by_name = {layer_member_name(d): d for d in archive.layers}
    members = {d: Member.inline(MANIFEST_JSON, raw) for d, raw in archive.inline.items()}
    for name, found in index.members.items():
        if found.kind == "directory" and name == "":
            continue
        if found.kind != "file":
            raise UnsafeTarMember(f"{where}: member {name!r} is a {found.kind}, not a regular file")
        if name == MANIFEST_JSON:
            continue
        digest = by_name.get(name)
        if digest is None:
            raise UnsafeTarMember(f"{where}: member {name!r} is not a layer manifest.json describes")
        if found.size != archive.layers[digest]:
            raise InputError(f"{where}: member {name} has {found.size} bytes, manifest.json says "
                             f"{archive.layers[digest]}")
        members[digest] = Member(name, found.size, found.offset)
    return Contents(KIND, members, archive.entries, archive.media_types)
