"""OCI image layout names: ``oci-layout``, blob paths, ``index.json``, member-name safety.

Layout: OCI image-spec image-layout.md. ``docker save`` from Docker 25 on writes an OCI layout
plus ``manifest.json`` and ``repositories`` (moby image/tarexport/save.go); those two are allowed
next to a layout and never read as part of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from relocator.errors import InputError, UnsafeTarMember
from relocator.oci.digest import Digest
from relocator.oci.manifest import Descriptor

__all__ = ["DOCKER_EXTRAS", "INDEX_JSON", "LAYOUT_FILE", "OCI_LAYOUT", "REF_NAME", "IndexEntry",
           "build_index", "clean_member_name", "is_layout_dir", "member_digest", "parse_index"]

LAYOUT_FILE = "oci-layout"
INDEX_JSON = "index.json"
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
REF_NAME = "org.opencontainers.image.ref.name"
DOCKER_EXTRAS = frozenset({"manifest.json", "repositories"})


@dataclass(frozen=True, slots=True)
class IndexEntry:
    """One ``index.json`` descriptor and the reference name it carries (if any)."""

    descriptor: Descriptor
    ref_name: str | None


def clean_member_name(name: str) -> str:
    """A tar member's name relative to the archive's root: ``./`` prefixes, empty and ``.``
    components dropped, ``""`` for the root itself (``.`` or ``./``).

    Raises UnsafeTarMember for an absolute name or one with a ``..`` component.
    """
    parts = name.split("/")
    if name.startswith("/") or ".." in parts:
        raise UnsafeTarMember(f"member {name!r} points outside the layout")
    return "/".join(p for p in parts if p not in ("", "."))


def is_layout_dir(clean: str) -> bool:
    """True for the directories an OCI layout tar may hold: the root, ``blobs``, ``blobs/ALG``."""
    parts = clean.split("/")
    return clean in ("", "blobs") or (len(parts) == 2 and parts[0] == "blobs")


def member_digest(name: str) -> Digest | None:
    """The digest a ``blobs/ALG/HEX`` member holds; None for oci-layout, index.json and the
    files ``docker save`` adds (``manifest.json``, ``repositories``).

    Anything else (absolute paths, ``..``, other names) is refused: a layout has no other members.
    """
    clean = clean_member_name(name)
    if clean in (LAYOUT_FILE, INDEX_JSON) or clean in DOCKER_EXTRAS:
        return None
    parts = clean.split("/")
    if len(parts) != 3 or parts[0] != "blobs":
        raise UnsafeTarMember(f"member {name!r} is not part of an OCI image layout")
    try:
        return Digest(parts[1], parts[2])
    except InputError:
        raise UnsafeTarMember(f"member {name!r} is not named by a valid digest") from None


def build_index(entries: list[IndexEntry]) -> bytes:
    """``index.json``: one descriptor per entry, annotated with its reference name."""
    manifests = []
    for entry in entries:
        desc = entry.descriptor.to_json()
        if entry.ref_name is not None:
            desc["annotations"] = {**desc.get("annotations", {}), REF_NAME: entry.ref_name}
        manifests.append(desc)
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
           "manifests": manifests}
    return json.dumps(doc, indent=2).encode() + b"\n"


def parse_index(raw: bytes, where: str) -> list[IndexEntry]:
    """The entries of an ``index.json``."""
    try:
        doc = json.loads(raw)
        manifests = doc["manifests"]
    except (ValueError, KeyError, TypeError):
        raise InputError(f"{where}: index.json is not an OCI image index") from None
    entries = []
    for i, obj in enumerate(manifests):
        desc = Descriptor.from_json(obj, f"{where}: index.json manifests[{i}]")
        entries.append(IndexEntry(desc, desc.annotations.get(REF_NAME)))
    return entries
